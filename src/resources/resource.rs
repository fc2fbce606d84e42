//! The [`Resource`] interface every kind implements, and [`Ctx`], what a resource is given.

use async_trait::async_trait;
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};

use super::snapshot::{Health, Observed};
use crate::aws::{Clients, Policy};
use crate::config::Settings;
use crate::ec2::tags::OWNER_TAG;
use crate::ec2::{self, Described};
use crate::key::Key;
use crate::state::{Origin, Record, StateStore};
use crate::templates::Templates;

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

    pub(super) fn env(&self) -> &str {
        &self.settings.prefix
    }

    /// Puts back an EC2 resource's `Name` and ownership tags.
    pub(super) async fn retag(&self, id: &str, name: &str) -> anyhow::Result<()> {
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
    pub(super) fn tagged_health(&self, seen: &Observed, id: &str, name: &str) -> Option<Health> {
        seen.tagged(id, self.env(), name)
    }

    pub(super) fn cluster_tag(&self) -> String {
        self.state.snapshot().cluster_tag
    }

    /// `Name` and the ownership tag, applied in the create call itself.
    pub(super) fn ec2_tags(&self, resource_type: ResourceType, name: &str) -> TagSpecification {
        self.ec2_tags_with(resource_type, name, &[])
    }

    pub(super) fn ec2_tags_with(
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

    /// This environment's EC2 resource of kind `T` named `name`, by its tags.
    pub(super) async fn owned<T: Described>(&self, name: &str) -> anyhow::Result<Option<T>> {
        let policy = Policy::standard();
        let found = ec2::owned_named(&self.aws.ec2, self.env(), name, None, &policy).await?;
        Ok(found.into_iter().next())
    }

    /// An EC2 resource of kind `T` by its id; `None` when AWS does not know it.
    pub(super) async fn described<T: Described>(&self, id: &str) -> anyhow::Result<Option<T>> {
        Ok(ec2::by_id(&self.aws.ec2, id, &Policy::standard()).await?)
    }
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

/// How long a resource created a moment ago may still be reported as not found: the Terraform AWS
/// provider's `ec2PropagationTimeout` (5 minutes; IAM's is 2), after AWS's "eventual consistency"
/// pages for the EC2 and IAM APIs, which give no bound.
pub const FRESH: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// The policy for a create call (see [`crate::aws::Policy::create`]) that refers to resources
/// created a moment ago.
pub(super) fn fresh_create() -> crate::aws::Policy {
    crate::aws::Policy::create().tolerate(crate::aws::Tolerate::Class(
        crate::aws::ErrorClass::NotFound,
        FRESH,
    ))
}

/// The policy for a call that refers to resources created a moment ago.
pub(super) fn fresh() -> crate::aws::Policy {
    crate::aws::Policy::standard().tolerate(crate::aws::Tolerate::Class(
        crate::aws::ErrorClass::NotFound,
        FRESH,
    ))
}
