//! The tags that mark what an environment owns: EC2's, which the other services' resources use too.

pub use crate::ec2::tags::{CLUSTER_TAG, CLUSTER_VALUE_TAG, OWNER_TAG, owned_by};
