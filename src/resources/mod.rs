//! The AWS resources of a CFCR environment: one module per kind, all behind the same small
//! [`Resource`] interface, and [`inventory`], the list of what an environment is made of.
//!
//! A resource knows how to find itself in AWS (by ownership tag or name, to adopt what a crashed run
//! created but did not record), create itself, finish its follow-up steps, check that it still exists,
//! and delete itself. It does not know the order: that is [`crate::graph`]'s job, from `depends_on`.

mod ami;
mod elastic_ip;
mod iam;
mod instance;
mod internet_gateway;
mod key_pair;
mod load_balancer;
mod nat_gateway;
mod route_table;
mod security_group;
mod subnet;
mod vpc;

pub use instance::{instances_matching, not_terminated};

use std::fmt;

use anyhow::anyhow;
use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use serde::{Deserialize, Serialize};

use crate::aws::Clients;
use crate::config::{DirectorCredentials, Settings};
use crate::state::{Record, StateStore};
use crate::templates::Templates;

/// The tag that marks everything an environment owns, so it can be found without the state.
pub const OWNER_TAG: &str = "cfcr-aws:env";
/// The tag the Kubernetes AWS cloud provider looks for.
pub const CLUSTER_TAG: &str = "KubernetesCluster";

/// Identifies one resource of an environment: its node in the graph and its entry in the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Key {
    BastionImage,
    DeployerKeyPair,
    Vpc,
    InternetGateway,
    PublicSubnet,
    PrivateSubnet,
    PublicRouteTable,
    NatEip,
    NatGateway,
    PrivateRouteTable,
    NodeAccessSecurityGroup,
    ApiAccessSecurityGroup,
    MasterLoadBalancer,
    MasterRole,
    MasterInstanceProfile,
    WorkerRole,
    WorkerInstanceProfile,
    DirectorRole,
    DirectorPolicy,
    DirectorInstanceProfile,
    DirectorUser,
    Bastion,
    BastionEip,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_value(self).expect("keys serialise");
        f.write_str(text.as_str().expect("keys serialise as strings"))
    }
}

/// Everything a resource needs while it is created, checked or deleted.
pub struct Ctx {
    pub aws: Clients,
    pub settings: Settings,
    pub state: StateStore,
    pub templates: Templates,
}

impl Ctx {
    /// The id of a resource this one depends on; the graph guarantees it was created first.
    pub fn id(&self, key: Key) -> anyhow::Result<String> {
        self.state
            .get(key)
            .map(|r| r.id)
            .ok_or_else(|| anyhow!("{key} is not in the state yet"))
    }

    /// An attribute AWS assigned to a resource this one depends on.
    pub fn attribute(&self, key: Key, name: &str) -> anyhow::Result<String> {
        self.state
            .get(key)
            .and_then(|r| r.attribute(name).map(str::to_string))
            .ok_or_else(|| anyhow!("{key} has no {name} in the state"))
    }

    pub fn name(&self, suffix: &str) -> String {
        self.settings.name(suffix)
    }

    fn env(&self) -> &str {
        &self.settings.prefix
    }

    fn cluster_tag(&self) -> String {
        self.state.snapshot().cluster_tag
    }

    /// `Name` and the ownership tag, applied in the create call itself.
    fn ec2_tags(&self, resource_type: ResourceType, name: &str) -> TagSpecification {
        self.ec2_tags_with(resource_type, name, &[])
    }

    fn ec2_tags_with(
        &self,
        resource_type: ResourceType,
        name: &str,
        extra: &[(&str, String)],
    ) -> TagSpecification {
        let mut spec = TagSpecification::builder()
            .resource_type(resource_type)
            .tags(Tag::builder().key("Name").value(name).build())
            .tags(Tag::builder().key(OWNER_TAG).value(self.env()).build());
        for (key, value) in extra {
            spec = spec.tags(Tag::builder().key(*key).value(value).build());
        }
        spec.build()
    }

    /// Filters for EC2 describe calls: owned by this environment and named `name`.
    fn owned_named(&self, name: &str) -> Vec<Filter> {
        vec![
            Filter::builder()
                .name(format!("tag:{OWNER_TAG}"))
                .values(self.env())
                .build(),
            Filter::builder().name("tag:Name").values(name).build(),
        ]
    }
}

/// Whether EC2 tags say "this environment's resource named `name`". Describe calls filter by the
/// same tags; checking again costs nothing and guards against emulators that ignore filters.
fn tagged(tags: &[Tag], env: &str, name: &str) -> bool {
    let has = |key: &str, value: &str| {
        tags.iter()
            .any(|t| t.key() == Some(key) && t.value() == Some(value))
    };
    has(OWNER_TAG, env) && has("Name", name)
}

/// A name that belongs to someone else: the environment cannot be paved as configured.
#[derive(Debug, thiserror::Error)]
#[error(
    "{what} {name:?} already exists and does not belong to environment {env:?} (no {OWNER_TAG} tag with that value); choose another prefix or remove it"
)]
pub struct NameTaken {
    pub what: &'static str,
    pub name: String,
    pub env: String,
}

/// The interface every resource kind implements. See the module docs.
#[async_trait]
pub trait Resource: Send + Sync {
    fn key(&self) -> Key;
    /// The resource's name in AWS, for messages.
    fn name(&self, settings: &Settings) -> String;
    /// False for data sources (the bastion's image): looked up and recorded, never created or
    /// deleted.
    fn owned(&self) -> bool {
        true
    }
    /// The resources that must exist before this one can be created (and be deleted after it).
    fn depends_on(&self) -> Vec<Key>;
    /// Looks for the resource in AWS by its ownership tag or name.
    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>>;
    /// Creates the resource with one call; the caller records the result before anything else.
    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record>;
    /// Idempotent follow-up steps and waits after the create call (attributes, rules,
    /// attachments, `available`/`running`). Safe to repeat after a crash.
    async fn complete(&self, _ctx: &Ctx, record: Record) -> anyhow::Result<Record> {
        Ok(record)
    }
    /// Whether the recorded resource still exists.
    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool>;
    /// Deletes the resource and what it owns; a resource already gone counts as deleted.
    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()>;
}

/// Everything an environment is made of, for its settings.
pub fn inventory(settings: &Settings) -> Vec<Box<dyn Resource>> {
    let mut all: Vec<Box<dyn Resource>> = vec![
        Box::new(ami::BastionImage),
        Box::new(key_pair::DeployerKeyPair),
        Box::new(vpc::Vpc),
        Box::new(internet_gateway::InternetGateway),
        Box::new(subnet::Subnet::public()),
        Box::new(subnet::Subnet::private()),
        Box::new(route_table::RouteTable::public()),
        Box::new(elastic_ip::ElasticIp::nat()),
        Box::new(nat_gateway::NatGateway),
        Box::new(route_table::RouteTable::private()),
        Box::new(security_group::SecurityGroup::node_access()),
        Box::new(security_group::SecurityGroup::api_access()),
        Box::new(load_balancer::MasterLoadBalancer),
        Box::new(iam::Role::master()),
        Box::new(iam::InstanceProfile::master()),
        Box::new(iam::Role::worker()),
        Box::new(iam::InstanceProfile::worker()),
        Box::new(iam::Role::director()),
        Box::new(iam::DirectorPolicy),
        Box::new(iam::InstanceProfile::director()),
        Box::new(instance::Bastion),
        Box::new(elastic_ip::ElasticIp::bastion()),
    ];
    if settings.director_credentials == DirectorCredentials::AccessKey {
        all.push(Box::new(iam::DirectorUser));
    }
    all
}

/// How long a resource created a moment ago may still be reported as not found.
const FRESH: std::time::Duration = std::time::Duration::from_secs(60);

/// How long deletes wait for AWS to release dependencies (ELB network interfaces, NAT gateway
/// addresses, terminating instances) before giving up with `DependencyViolation`.
const RELEASE_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

/// The policy for a delete that may hit `DependencyViolation` while AWS releases what used it.
fn releasing() -> crate::aws::Policy {
    crate::aws::Policy::standard().tolerate(crate::aws::Tolerate::Class(
        crate::aws::ErrorClass::DependencyViolation,
        RELEASE_WINDOW,
    ))
}

/// The policy for a create call (see [`crate::aws::Policy::create`]) that refers to resources
/// created a moment ago.
fn fresh_create() -> crate::aws::Policy {
    crate::aws::Policy::create().tolerate(crate::aws::Tolerate::Class(
        crate::aws::ErrorClass::NotFound,
        FRESH,
    ))
}

/// The policy for a call that refers to resources created a moment ago.
fn fresh() -> crate::aws::Policy {
    crate::aws::Policy::standard().tolerate(crate::aws::Tolerate::Class(
        crate::aws::ErrorClass::NotFound,
        FRESH,
    ))
}
