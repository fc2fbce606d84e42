//! The refresh's snapshot of what AWS holds and a recorded resource's health, as the resources
//! judge it ([`super::Resource::observe`]); [`crate::refresh`] reads the snapshot.

use std::collections::{BTreeMap, BTreeSet};

use crate::ec2::tags::OWNER_TAG;
use aws_sdk_ec2::types::{Instance, NatGateway, RouteTable, SecurityGroup};
use aws_sdk_elasticloadbalancing::types::LoadBalancerDescription;
use aws_sdk_iam::types::InstanceProfile;

/// A recorded resource as AWS has it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    Present,
    Missing,
    /// There, but not as declared: what differs, one item each.
    Changed(Vec<String>),
}

/// The batched snapshot. Each map holds only what its listing returned.
#[derive(Debug, Default)]
pub struct Observed {
    /// Every tag of the recorded EC2 resources, by resource id.
    pub ec2_tags: BTreeMap<String, BTreeMap<String, String>>,
    pub nat_gateways: BTreeMap<String, NatGateway>,
    pub instances: BTreeMap<String, Instance>,
    pub security_groups: BTreeMap<String, SecurityGroup>,
    pub route_tables: BTreeMap<String, RouteTable>,
    pub load_balancers: BTreeMap<String, LoadBalancerDescription>,
    /// Under the environment's IAM path, by name.
    pub instance_profiles: BTreeMap<String, InstanceProfile>,
    pub roles: BTreeSet<String>,
    /// ARNs.
    pub policies: BTreeSet<String>,
    pub users: BTreeSet<String>,
}

impl Observed {
    /// The health of an EC2 resource by its tags: `None` when the snapshot has no tags for it.
    pub fn tagged(&self, id: &str, env: &str, name: &str) -> Option<Health> {
        let tags = self.ec2_tags.get(id)?;
        let mut changes = Vec::new();
        for (key, value) in [("Name", name), (OWNER_TAG, env)] {
            match tags.get(key) {
                Some(v) if v == value => {}
                Some(v) => changes.push(format!("tag {key} is {v:?}, not {value:?}")),
                None => changes.push(format!("tag {key} is missing")),
            }
        }
        Some(changed_if(changes))
    }
}

/// `Present` when nothing differs.
pub fn changed_if(changes: Vec<String>) -> Health {
    if changes.is_empty() {
        Health::Present
    } else {
        Health::Changed(changes)
    }
}
