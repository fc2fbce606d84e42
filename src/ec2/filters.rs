//! The filters of EC2's describe calls, built in one place.

use aws_sdk_ec2::types::Filter;

use super::tags::{CLUSTER_TAG, OWNER_TAG, cluster_key};

/// Matches what has `name` (a filter name: `vpc-id`, `tag:Name`, `attachment.vpc-id`) equal to one
/// of `values`.
pub fn filter(
    name: impl Into<String>,
    values: impl IntoIterator<Item = impl Into<String>>,
) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}

/// Tagged `key` = `value`.
pub fn tag(key: &str, value: &str) -> Filter {
    filter(format!("tag:{key}"), [value])
}

/// Carrying environment `env`'s ownership tag.
pub fn owner(env: &str) -> Filter {
    tag(OWNER_TAG, env)
}

/// Environment `env`'s, named `name`.
pub fn owned_named(env: &str, name: &str) -> Vec<Filter> {
    vec![owner(env), tag("Name", name)]
}

/// In VPC `vpc_id`.
pub fn vpc(vpc_id: &str) -> Filter {
    filter("vpc-id", [vpc_id])
}

/// Tagged for Kubernetes cluster `cluster_tag`, one filter for each of the two ways Kubernetes tags:
/// `KubernetesCluster=<tag>`, and the key `kubernetes.io/cluster/<tag>`.
pub fn cluster(cluster_tag: &str) -> [Filter; 2] {
    [
        tag(CLUSTER_TAG, cluster_tag),
        filter("tag-key", [cluster_key(cluster_tag)]),
    ]
}

/// Instances that exist, or may again: not terminated or being terminated.
pub fn not_terminated() -> Filter {
    filter(
        "instance-state-name",
        ["pending", "running", "stopping", "stopped"],
    )
}
