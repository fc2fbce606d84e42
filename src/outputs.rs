//! The environment's outputs: what the old Terraform template exported, under the names the bastion
//! and the BOSH manifests have always used. Computed from the state alone.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::key::Key;
use crate::state::State;

pub type Outputs = BTreeMap<&'static str, Value>;

pub fn of(state: &State) -> Outputs {
    let s = &state.settings;
    let id = |key: Key| state.resources.get(&key).map(|r| r.id.clone());
    let attribute = |key: Key, name: &str| {
        state
            .resources
            .get(&key)
            .and_then(|r| r.attribute(name).map(str::to_string))
    };
    let mut out = Outputs::new();
    out.insert("prefix", json!(s.prefix));
    out.insert("region", json!(s.region));
    out.insert("zone", json!(s.zone));
    let block = |net: Option<ipnet::Ipv4Net>| net.map(|n| n.to_string());
    // The old template's "ip prefix" outputs: the first three octets of a /24.
    let ip_prefix = |key: Key| {
        state
            .subnet_cidr(key)
            .filter(|n| n.prefix_len() == 24)
            .and_then(|n| {
                let address = n.network().to_string();
                address
                    .rsplit_once('.')
                    .map(|(octets, _)| octets.to_string())
            })
    };
    out.insert("vpc_cidr", json!(block(state.vpc_cidr())));
    out.insert(
        "private_subnet_ip_prefix",
        json!(ip_prefix(Key::PrivateSubnet)),
    );
    out.insert(
        "public_subnet_ip_prefix",
        json!(ip_prefix(Key::PublicSubnet)),
    );
    out.insert(
        "private_subnet_cidr",
        json!(block(state.subnet_cidr(Key::PrivateSubnet))),
    );
    out.insert(
        "public_subnet_cidr",
        json!(block(state.subnet_cidr(Key::PublicSubnet))),
    );
    out.insert("kubernetes_master_port", json!(s.kubernetes_master_port));
    out.insert("kubernetes_cluster_tag", json!(state.cluster_tag));
    out.insert(
        "director_credentials",
        json!(s.director_credentials.to_string()),
    );
    out.insert(
        "bastion_host_public_key",
        json!(state.bastion_host_key.public_key),
    );
    out.insert("vpc_id", json!(id(Key::Vpc)));
    out.insert("public_subnet_id", json!(id(Key::PublicSubnet)));
    out.insert("private_subnet_id", json!(id(Key::PrivateSubnet)));
    out.insert(
        "default_security_groups",
        json!(
            id(Key::NodeAccessSecurityGroup)
                .into_iter()
                .collect::<Vec<_>>()
        ),
    );
    out.insert("default_key_name", json!(id(Key::DeployerKeyPair)));
    out.insert(
        "cfcr_master_target_pool",
        json!(id(Key::MasterLoadBalancer)),
    );
    out.insert(
        "master_lb_ip_address",
        json!(attribute(Key::MasterLoadBalancer, "dns_name")),
    );
    out.insert(
        "bosh_bastion_ip",
        json!(attribute(Key::BastionEip, "public_ip")),
    );
    out.insert("bastion_instance_id", json!(id(Key::Bastion)));
    out.insert("nat_gateway_ip", json!(attribute(Key::NatEip, "public_ip")));
    out.insert(
        "master_iam_instance_profile",
        json!(id(Key::MasterInstanceProfile)),
    );
    out.insert(
        "worker_iam_instance_profile",
        json!(id(Key::WorkerInstanceProfile)),
    );
    out.insert(
        "director_iam_instance_profile",
        json!(id(Key::DirectorInstanceProfile)),
    );
    out
}

/// The formats `outputs` prints in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `name = value` lines, aligned, for people.
    Text,
    /// One JSON object.
    Json,
    /// `export name='value'` lines, for `eval` in a shell (the bastion's variables).
    Env,
    /// A YAML mapping, usable as a BOSH vars file (`bosh -l`).
    Yaml,
}

pub fn render(outputs: &Outputs, format: Format) -> String {
    match format {
        Format::Text => listing(outputs),
        Format::Json => {
            let mut text = serde_json::to_string_pretty(outputs).expect("JSON values");
            text.push('\n');
            text
        }
        Format::Env => outputs
            .iter()
            .map(|(name, value)| format!("export {name}={}\n", shell_quoted(&raw(value))))
            .collect(),
        // JSON scalars and arrays are YAML flow scalars and sequences: exact, whatever the value.
        Format::Yaml => outputs
            .iter()
            .map(|(name, value)| format!("{name}: {value}\n"))
            .collect(),
    }
}

/// One value as a shell or a script wants it: strings bare, lists as `[a,b]` (the bastion's form),
/// absent values empty.
pub fn raw(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(items) => format!("[{}]", items.iter().map(raw).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

fn shell_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `name = value` lines, aligned, for people.
pub fn listing(outputs: &Outputs) -> String {
    let width = outputs.keys().map(|k| k.len()).max().unwrap_or(0);
    outputs
        .iter()
        .map(|(name, value)| {
            let shown = match value {
                Value::String(s) => s.clone(),
                Value::Null => "(not created)".to_string(),
                other => other.to_string(),
            };
            format!("{name:<width$} = {shown}\n")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Outputs {
        let mut out = Outputs::new();
        out.insert("default_security_groups", json!(["sg-1", "sg-2"]));
        out.insert("kubernetes_master_port", json!(8443));
        out.insert("prefix", json!("it's"));
        out.insert("vpc_id", Value::Null);
        out
    }

    #[test]
    fn env_lines_are_quoted_for_eval() {
        assert_eq!(
            render(&sample(), Format::Env),
            "export default_security_groups='[sg-1,sg-2]'\nexport kubernetes_master_port='8443'\nexport prefix='it'\\''s'\nexport vpc_id=''\n"
        );
    }

    #[test]
    fn yaml_is_a_flat_mapping_of_exact_values() {
        assert_eq!(
            render(&sample(), Format::Yaml),
            "default_security_groups: [\"sg-1\",\"sg-2\"]\nkubernetes_master_port: 8443\nprefix: \"it's\"\nvpc_id: null\n"
        );
    }
}
