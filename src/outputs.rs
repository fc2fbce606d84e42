//! The environment's outputs: what the old Terraform template exported, under the names the bastion
//! and the BOSH manifests have always used. Computed from the state alone.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::resources::Key;
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
    out.insert("vpc_cidr", json!(s.vpc_cidr.to_string()));
    out.insert(
        "private_subnet_ip_prefix",
        json!(s.private_subnet_ip_prefix),
    );
    out.insert("public_subnet_ip_prefix", json!(s.public_subnet_ip_prefix));
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
