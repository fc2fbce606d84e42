//! The AWS resources of a CFCR environment: one module per kind, all behind the same small
//! [`Resource`] interface, and [`inventory`], the list of what an environment is made of.
//!
//! A resource knows how to find itself in AWS (by ownership tag or name, to adopt what a crashed run
//! created but did not record), create itself, finish its follow-up steps, check that it still exists,
//! and delete itself. It does not know the order: that is [`crate::graph`]'s job, from `needs`.

mod ami;
mod elastic_ip;
mod iam;
mod instance;
mod internet_gateway;
mod key_pair;
mod load_balancer;
mod nat_gateway;
mod route;
mod route_table;
mod security_group;
mod snapshot;
mod subnet;
mod vpc;

pub use iam::iam_path;
pub use instance::{instances_matching, not_terminated};
pub use internet_gateway::attached_to as internet_gateway_of;
pub use load_balancer::delete_interfaces as delete_load_balancer_interfaces;
pub use security_group::{owned_by_env as groups_of_env, referencing as groups_referencing};
pub use snapshot::{Health, Observed, changed_if};
pub use subnet::describe as describe_subnet;
pub use vpc::describe as describe_vpc;

use std::fmt;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use serde::{Deserialize, Serialize};

use crate::aws::Clients;
use crate::config::{DirectorCredentials, Settings};
use crate::state::{Origin, Record, StateStore};
use crate::templates::Templates;

/// The tag that marks everything an environment owns, so it can be found without the state.
pub const OWNER_TAG: &str = "cfcr-aws:env";
/// The tag the Kubernetes AWS cloud provider looks for.
pub const CLUSTER_TAG: &str = "KubernetesCluster";
/// The environment's cluster tag value, kept on its own security groups under a key nothing else
/// reads (a `KubernetesCluster` tag there would make them the cloud provider's).
pub const CLUSTER_VALUE_TAG: &str = "cfcr-aws:cluster-tag";

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
    PublicRoute,
    NatEip,
    NatGateway,
    PrivateRouteTable,
    PrivateRoute,
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
            .ok_or_else(|| NotInState(format!("{key} is not in the state yet")).into())
    }

    /// An attribute AWS assigned to a resource this one depends on.
    pub fn attribute(&self, key: Key, name: &str) -> anyhow::Result<String> {
        self.state
            .get(key)
            .and_then(|r| r.attribute(name).map(str::to_string))
            .ok_or_else(|| NotInState(format!("{key} has no {name} in the state")).into())
    }

    pub fn name(&self, suffix: &str) -> String {
        self.settings.name(suffix)
    }

    fn env(&self) -> &str {
        &self.settings.prefix
    }

    /// Puts back an EC2 resource's `Name` and ownership tags.
    async fn retag(&self, id: &str, name: &str) -> anyhow::Result<()> {
        let ec2 = &self.aws.ec2;
        crate::aws::call("CreateTags", &crate::aws::Policy::standard(), || {
            ec2.create_tags()
                .resources(id)
                .tags(Tag::builder().key("Name").value(name).build())
                .tags(Tag::builder().key(OWNER_TAG).value(self.env()).build())
                .send()
        })
        .await?;
        Ok(())
    }

    /// An EC2 resource's health from the snapshot's tags.
    fn tagged_health(&self, seen: &Observed, id: &str, name: &str) -> Option<Health> {
        seen.tagged(id, self.env(), name)
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
    owned_by(tags, env) && has_tag(tags, "Name", name)
}

/// Whether EC2 tags carry environment `env`'s ownership tag.
pub fn owned_by(tags: &[Tag], env: &str) -> bool {
    has_tag(tags, OWNER_TAG, env)
}

fn has_tag(tags: &[Tag], key: &str, value: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some(key) && t.value() == Some(value))
}

/// A resource this one refers to is not recorded: what it needs to find or change itself is
/// unknown (in discovery: its parent was not found).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotInState(String);

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

/// Something a step of a resource's creation uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// The other resource's id (or ARN): it must have been created.
    Id(Key),
    /// The other resource as it will be used: created and its follow-up steps and waits done
    /// (an attached internet gateway, an available NAT gateway, a running instance).
    Ready(Key),
}

/// What a resource's steps use; the graph derives both walks from it. A resource is deleted
/// before everything it needs.
#[derive(Clone, Debug, Default)]
pub struct Needs {
    /// Before `create`.
    pub create: Vec<Need>,
    /// Before `complete`.
    pub complete: Vec<Need>,
    /// Resources neither step uses that AWS will not delete while this one exists (an internet
    /// gateway cannot be detached while addresses in its VPC are mapped).
    pub delete_before: Vec<Key>,
    /// Needed resources that may be deleted while this one still exists, because AWS undoes the
    /// use itself (a terminating instance's address is disassociated; an instance does not hold its
    /// subnet's routes): unpave deletes both at once.
    pub delete_independently: Vec<Key>,
}

/// The interface every resource kind implements. See the module docs.
#[async_trait]
pub trait Resource: Send + Sync {
    fn key(&self) -> Key;
    /// The resource's name in AWS, for messages.
    fn name(&self, settings: &Settings) -> String;
    /// Created and deleted by the environment (the default), adopted from the operator's
    /// configuration (found by its id, never deleted), or a data source (looked up).
    fn origin(&self) -> Origin {
        Origin::Created
    }
    /// Whether the environment creates it and unpave deletes it.
    fn owned(&self) -> bool {
        self.origin() == Origin::Created
    }
    /// What its steps use, see [`Needs`].
    fn needs(&self) -> Needs;
    /// Looks for the resource in AWS by its ownership tag or name.
    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>>;
    /// Creates the resource with one call; the caller records the result before anything else.
    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record>;
    /// Idempotent follow-up steps and waits after the create call (attributes, rules,
    /// attachments, `available`/`running`). Safe to repeat after a crash.
    async fn complete(&self, _ctx: &Ctx, record: Record) -> anyhow::Result<Record> {
        Ok(record)
    }
    /// Whether the recorded resource still exists, by its own describe call: the refresh's
    /// fallback when the batched snapshot does not show it.
    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool>;
    /// The id EC2 keeps this resource's tags under, for the refresh's one tag listing; `None`
    /// outside EC2's tagging.
    fn tag_id(&self, _record: &Record) -> Option<String> {
        None
    }
    /// Its health judged from the refresh's snapshot; `None` when the snapshot cannot tell.
    fn observe(&self, _ctx: &Ctx, _record: &Record, _seen: &Observed) -> Option<Health> {
        None
    }
    /// What the environment does to an adopted resource, for `plan`.
    fn adoption(&self) -> String {
        "the operator's: used as it is, never changed or deleted".into()
    }
    /// What the refresh says of a resource that AWS has but that the tag listing did not show.
    fn untagged(&self) -> String {
        format!("tags Name and {OWNER_TAG} are missing")
    }
    /// Brings a resource that drifted back to its declared state: its tags, then its follow-up
    /// steps again (they put back rules, routes, associations and roles, and leave what is right).
    async fn repair(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        if let Some(id) = self.tag_id(record) {
            ctx.retag(&id, &self.name(&ctx.settings)).await?;
        }
        self.complete(ctx, record.clone()).await.map(drop)
    }
    /// Deletes the resource and what it owns; a resource already gone counts as deleted.
    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()>;
}

/// How the private subnet reaches the internet. Decided by the first pave and kept in the state, so
/// that later runs (when the subnet routes through the environment's own NAT gateway) build the
/// same inventory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivateEgress {
    /// Through the environment's NAT gateway and route table.
    #[default]
    OwnNatGateway,
    /// Through the adopted private subnet's own default route (a NAT gateway or instance of the
    /// operator's): the environment adds none.
    Existing,
}

/// Everything an environment is made of, for its settings and the private subnet's way out.
pub fn inventory(settings: &Settings, egress: PrivateEgress) -> Vec<Box<dyn Resource>> {
    let mut all: Vec<Box<dyn Resource>> = vec![
        Box::new(ami::BastionImage),
        Box::new(key_pair::DeployerKeyPair),
    ];
    match &settings.vpc_id {
        Some(id) => {
            all.push(Box::new(vpc::ExistingVpc::new(id)));
            all.push(Box::new(internet_gateway::ExistingInternetGateway));
        }
        None => {
            all.push(Box::new(vpc::Vpc));
            all.push(Box::new(internet_gateway::InternetGateway));
        }
    }
    match &settings.public_subnet_id {
        // An existing public subnet already routes to the internet gateway (preflight checks).
        Some(id) => all.push(Box::new(subnet::ExistingSubnet::public(id))),
        None => {
            all.push(Box::new(subnet::Subnet::public()));
            all.push(Box::new(route_table::RouteTable::public()));
            all.push(Box::new(route::DefaultRoute::public()));
        }
    }
    match &settings.private_subnet_id {
        Some(id) => all.push(Box::new(subnet::ExistingSubnet::private(id))),
        None => all.push(Box::new(subnet::Subnet::private())),
    }
    if egress == PrivateEgress::OwnNatGateway {
        all.push(Box::new(elastic_ip::ElasticIp::nat()));
        all.push(Box::new(nat_gateway::NatGateway));
        all.push(Box::new(route_table::RouteTable::private()));
        all.push(Box::new(route::DefaultRoute::private()));
    }
    all.extend([
        Box::new(security_group::SecurityGroup::node_access()) as Box<dyn Resource>,
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
    ]);
    if settings.director_credentials == DirectorCredentials::AccessKey {
        all.push(Box::new(iam::DirectorUser));
    }
    all
}

/// How long a resource created a moment ago may still be reported as not found: the Terraform AWS
/// provider's `ec2PropagationTimeout` (5 minutes; IAM's is 2), after AWS's "eventual consistency"
/// pages for the EC2 and IAM APIs, which give no bound.
pub const FRESH: std::time::Duration = std::time::Duration::from_secs(5 * 60);

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
