//! The tags that mark what an environment owns, and the checks of them.

use aws_sdk_ec2::types::Tag;

/// The tag that marks everything an environment owns, so it can be found without the state.
pub const OWNER_TAG: &str = "cfcr-aws:env";
/// The tag the Kubernetes AWS cloud provider looks for.
pub const CLUSTER_TAG: &str = "KubernetesCluster";
/// The environment's cluster tag value, kept on its own security groups under a key nothing else
/// reads (a `KubernetesCluster` tag there would make them the cloud provider's).
pub const CLUSTER_VALUE_TAG: &str = "cfcr-aws:cluster-tag";

/// The newer form of the cluster tag: this key, with any value.
pub fn cluster_key(cluster_tag: &str) -> String {
    format!("kubernetes.io/cluster/{cluster_tag}")
}

/// Whether EC2 tags say "this environment's resource named `name`". Describe calls filter by the
/// same tags; checking again costs nothing and guards against emulators that ignore filters.
pub fn tagged(tags: &[Tag], env: &str, name: &str) -> bool {
    owned_by(tags, env) && has_tag(tags, "Name", name)
}

/// Whether EC2 tags carry environment `env`'s ownership tag.
pub fn owned_by(tags: &[Tag], env: &str) -> bool {
    has_tag(tags, OWNER_TAG, env)
}

/// Whether EC2 tags carry `key` = `value`.
pub fn has_tag(tags: &[Tag], key: &str, value: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some(key) && t.value() == Some(value))
}
