//! Rendering of the files in `templates/`, which are embedded in the binary.

use anyhow::Context;
use minijinja::{Environment, UndefinedBehavior, context};

use crate::keys::KeyMaterial;

const BASTION_CLOUD_INIT: &str = include_str!("../templates/bastion/cloud-init.yaml");

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A template that names a value we do not provide is a bug, never an empty string.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// The bastion's cloud-init user data, pinning its SSH host key.
pub fn bastion_user_data(name: &str, host_key: &KeyMaterial) -> anyhow::Result<String> {
    environment()
        .render_str(
            BASTION_CLOUD_INIT,
            context! {
                name => name,
                host_private_key => host_key.private_key.trim_end(),
                host_public_key => &host_key.public_key,
            },
        )
        .map(|text| text + "\n")
        .context("rendering templates/bastion/cloud-init.yaml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_is_cloud_config_with_the_pinned_host_key() {
        let key = crate::keys::host_key("test").unwrap();
        let text = bastion_user_data("dev-bosh-bastion", &key).unwrap();
        assert!(text.starts_with("#cloud-config\n"));
        assert!(text.contains(&format!("ed25519_public: {}", key.public_key)));
        for line in key.private_key.lines() {
            assert!(text.contains(&format!("    {line}\n")), "{line}");
        }
        assert!(!text.contains("{{"));
    }
}
