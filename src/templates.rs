//! The files in `templates/`: embedded in the binary, or read from the directory given with
//! `--templates` (same layout), and rendered with minijinja. BOSH's own `((variables))` pass through
//! untouched; a template that names a value we do not provide is an error, never an empty string.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use include_dir::{Dir, include_dir};
use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, UndefinedBehavior, context};

use crate::keys::KeyMaterial;

static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

const USER_DATA: &str = "bastion/cloud-init.yaml";
const KUBECONFIG: &str = "kubeconfig.yaml";
const BUNDLE: &str = "bundle";
/// The bundle's directory in the bastion user's home, where the hand-off's steps run and the
/// director's files are written.
pub const BUNDLE_DIR: &str = "cfcr-manifests";

/// Where templates come from.
#[derive(Clone, Debug)]
pub enum Templates {
    Builtin,
    Directory(PathBuf),
}

/// One rendered file of the bastion bundle: its path inside the bundle, its text, its mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedFile {
    pub path: PathBuf,
    pub contents: String,
    pub mode: u32,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Templates are shell and YAML written with their values in mind; no automatic escaping (which
    // minijinja would otherwise apply to .yml files by name).
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env
}

fn render(name: &str, source: &str, ctx: Value) -> anyhow::Result<String> {
    let env = environment();
    let template = env
        .template_from_named_str(name, source)
        .with_context(|| format!("parsing template {name}"))?;
    let mut text = template
        .render(ctx)
        .with_context(|| format!("rendering template {name}"))?;
    // minijinja drops the final newline of a template; files want it back.
    if source.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

impl Templates {
    pub fn new(directory: Option<&Path>) -> anyhow::Result<Templates> {
        match directory {
            None => Ok(Templates::Builtin),
            Some(dir) if dir.join(BUNDLE).is_dir() => Ok(Templates::Directory(dir.to_path_buf())),
            Some(dir) => bail!(
                "--templates {}: not a templates directory (it needs the layout of the project's templates/, with bundle/ inside)",
                dir.display()
            ),
        }
    }

    fn read(&self, relative: &str) -> anyhow::Result<String> {
        match self {
            Templates::Builtin => BUILTIN
                .get_file(relative)
                .and_then(|f| f.contents_utf8())
                .map(str::to_string)
                .with_context(|| format!("built-in template {relative} is missing")),
            Templates::Directory(dir) => std::fs::read_to_string(dir.join(relative))
                .with_context(|| format!("reading {}", dir.join(relative).display())),
        }
    }

    /// Paths (relative to the templates root) of every file under `under`, sorted.
    fn files_under(&self, under: &str) -> anyhow::Result<Vec<String>> {
        let mut paths = Vec::new();
        match self {
            Templates::Builtin => {
                let mut stack = vec![BUILTIN.get_dir(under).context("built-in bundle missing")?];
                while let Some(dir) = stack.pop() {
                    for file in dir.files() {
                        paths.push(file.path().to_string_lossy().into_owned());
                    }
                    stack.extend(dir.dirs());
                }
            }
            Templates::Directory(root) => {
                let mut stack = vec![root.join(under)];
                while let Some(dir) = stack.pop() {
                    for entry in std::fs::read_dir(&dir)
                        .with_context(|| format!("reading {}", dir.display()))?
                    {
                        let path = entry?.path();
                        if path.is_dir() {
                            stack.push(path);
                        } else {
                            let relative = path.strip_prefix(root).expect("under root");
                            paths.push(relative.to_string_lossy().into_owned());
                        }
                    }
                }
            }
        }
        paths.sort();
        Ok(paths)
    }

    /// The bastion's cloud-init user data, pinning its SSH host key.
    pub fn bastion_user_data(&self, name: &str, host_key: &KeyMaterial) -> anyhow::Result<String> {
        render(
            USER_DATA,
            &self.read(USER_DATA)?,
            context! {
                name => name,
                host_private_key => host_key.private_key.trim_end(),
                host_public_key => &host_key.public_key,
            },
        )
    }

    /// A kubeconfig for the cluster.
    pub fn kubeconfig(&self, ctx: Value) -> anyhow::Result<String> {
        render(KUBECONFIG, &self.read(KUBECONFIG)?, ctx)
    }

    /// Every file of the bastion bundle, rendered. Scripts (`#!`) get mode 0700, everything else
    /// 0600: the bundle can hold credentials (env.sh in access-key mode).
    pub fn bundle(&self, ctx: &serde_json::Value) -> anyhow::Result<Vec<RenderedFile>> {
        let ctx = Value::from(Serde(ctx));
        self.files_under(BUNDLE)?
            .into_iter()
            .map(|relative| {
                let contents = render(&relative, &self.read(&relative)?, ctx.clone())?;
                let path = Path::new(&relative)
                    .strip_prefix(BUNDLE)
                    .expect("under the bundle")
                    .to_path_buf();
                let mode = if contents.starts_with("#!") {
                    0o700
                } else {
                    0o600
                };
                Ok(RenderedFile {
                    path,
                    contents,
                    mode,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_is_cloud_config_with_the_pinned_host_key() {
        let key = crate::keys::host_key("test").unwrap();
        let text = Templates::Builtin
            .bastion_user_data("dev-bosh-bastion", &key)
            .unwrap();
        assert!(text.starts_with("#cloud-config\n"));
        assert!(text.ends_with('\n'));
        assert!(text.contains(&format!("ed25519_public: {}", key.public_key)));
        for line in key.private_key.lines() {
            assert!(text.contains(&format!("    {line}\n")), "{line}");
        }
        assert!(!text.contains("{{"));
    }

    #[test]
    fn a_missing_value_is_an_error_not_an_empty_string() {
        let err = render("t", "x={{ nope }}", context! {}).unwrap_err();
        assert!(format!("{err:#}").contains("undefined"), "{err:#}");
    }

    #[test]
    fn a_directory_without_a_bundle_is_refused() {
        let err = Templates::new(Some(Path::new("/nonexistent"))).unwrap_err();
        assert!(err.to_string().contains("--templates"));
    }
}
