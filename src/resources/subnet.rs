//! The public and private /24 subnets, both in the configured zone and tagged for Kubernetes; or the
//! operator's own subnets, adopted by their ids, to which only the cluster tag is added.

use async_trait::async_trait;
use aws_sdk_ec2::types::{self, ResourceType, Tag};

use super::blockers::{self, Scope};
use super::resource::{Ctx, Need, Needs, Resource, fresh_create};
use super::snapshot::{Health, Observed};
use crate::aws::{self, Policy};
use crate::config::Settings;
use crate::ec2::tags::CLUSTER_TAG;
use crate::ec2::tags::has_tag;
use crate::key::Key;
use crate::state::{CIDR_BLOCK, Origin, Record};

pub struct Subnet {
    key: Key,
    suffix: &'static str,
    public: bool,
}

impl Subnet {
    pub fn public() -> Subnet {
        Subnet {
            key: Key::PublicSubnet,
            suffix: "cfcr-public",
            public: true,
        }
    }

    pub fn private() -> Subnet {
        Subnet {
            key: Key::PrivateSubnet,
            suffix: "cfcr-private",
            public: false,
        }
    }

    fn cidr(&self, settings: &Settings) -> anyhow::Result<String> {
        let configured = if self.public {
            settings.public_subnet_cidr()
        } else {
            settings.private_subnet_cidr()
        };
        configured
            .map(|net| net.to_string())
            .ok_or_else(|| anyhow::anyhow!("no ip prefix to create {} with", self.key))
    }
}

#[async_trait]
impl Resource for Subnet {
    fn key(&self) -> Key {
        self.key
    }

    fn name(&self, settings: &Settings) -> String {
        settings.name(self.suffix)
    }

    fn needs(&self) -> Needs {
        Needs {
            create: vec![Need::Id(Key::Vpc)],
            ..Needs::default()
        }
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        let subnet = ctx
            .owned::<types::Subnet>(&self.name(&ctx.settings))
            .await?;
        Ok(subnet.and_then(|s| s.subnet_id().map(Record::new)))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let ec2 = &ctx.aws.ec2;
        let vpc_id = ctx.id(Key::Vpc)?;
        let cidr = self.cidr(&ctx.settings)?;
        let tags = ctx.ec2_tags_with(
            ResourceType::Subnet,
            &self.name(&ctx.settings),
            &[(CLUSTER_TAG, ctx.cluster_tag())],
        );
        let out = aws::call("CreateSubnet", &fresh_create(), || {
            ec2.create_subnet()
                .vpc_id(&vpc_id)
                .cidr_block(&cidr)
                .availability_zone(&ctx.settings.zone)
                .tag_specifications(tags.clone())
                .send()
        })
        .await?;
        let id = out.subnet().and_then(|s| s.subnet_id()).unwrap_or_default();
        Ok(Record::new(id))
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        Ok(ctx.described::<types::Subnet>(&record.id).await?.is_some())
    }

    fn tag_id(&self, record: &Record) -> Option<String> {
        Some(record.id.clone())
    }

    fn observe(&self, ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        ctx.tagged_health(seen, &record.id, &self.name(&ctx.settings))
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let ec2 = &ctx.aws.ec2;
        blockers::delete_when_free(ctx, Scope::Subnet(&record.id), |policy| async move {
            aws::call("DeleteSubnet", &policy, || {
                ec2.delete_subnet().subnet_id(&record.id).send()
            })
            .await
        })
        .await
    }
}

/// An operator's subnet (`public_subnet_id`, `private_subnet_id`): found by its id; the only change
/// is the cluster tag Kubernetes' cloud provider looks for, recorded with it and taken back by
/// unpave. Preflight has checked its VPC, zone, routes and tags.
pub struct ExistingSubnet {
    key: Key,
    id: String,
}

/// The record attribute naming the cluster tag cfcr-aws added (`KubernetesCluster=<value>`).
const ADDED_TAG: &str = "added_tag";

impl ExistingSubnet {
    pub fn public(id: &str) -> ExistingSubnet {
        ExistingSubnet {
            key: Key::PublicSubnet,
            id: id.to_string(),
        }
    }

    pub fn private(id: &str) -> ExistingSubnet {
        ExistingSubnet {
            key: Key::PrivateSubnet,
            id: id.to_string(),
        }
    }

    fn cluster_tag(ctx: &Ctx) -> Tag {
        Tag::builder()
            .key(CLUSTER_TAG)
            .value(ctx.cluster_tag())
            .build()
    }
}

#[async_trait]
impl Resource for ExistingSubnet {
    fn key(&self) -> Key {
        self.key
    }

    fn name(&self, _settings: &Settings) -> String {
        self.id.clone()
    }

    fn origin(&self) -> Origin {
        Origin::Adopted
    }

    fn needs(&self) -> Needs {
        Needs {
            create: vec![Need::Id(Key::Vpc)],
            ..Needs::default()
        }
    }

    /// Records the block and, before it is added, the tag cfcr-aws will add.
    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        Ok(ctx
            .described::<types::Subnet>(&self.id)
            .await?
            .map(|subnet| {
                Record::new(&self.id)
                    .with(CIDR_BLOCK, subnet.cidr_block().unwrap_or_default())
                    .with(ADDED_TAG, format!("{CLUSTER_TAG}={}", ctx.cluster_tag()))
            }))
    }

    async fn create(&self, _ctx: &Ctx) -> anyhow::Result<Record> {
        anyhow::bail!(
            "subnet {} does not exist in this region; cfcr-aws does not create what the configuration names as existing",
            self.id
        )
    }

    async fn complete(&self, ctx: &Ctx, record: Record) -> anyhow::Result<Record> {
        let ec2 = &ctx.aws.ec2;
        aws::call("CreateTags", &Policy::standard(), || {
            ec2.create_tags()
                .resources(&self.id)
                .tags(Self::cluster_tag(ctx))
                .send()
        })
        .await?;
        Ok(record)
    }

    async fn exists(&self, ctx: &Ctx, _record: &Record) -> anyhow::Result<bool> {
        Ok(ctx.described::<types::Subnet>(&self.id).await?.is_some())
    }

    fn tag_id(&self, record: &Record) -> Option<String> {
        Some(record.id.clone())
    }

    /// Only a wrong or missing cluster tag is judged here; whether the subnet still exists is
    /// asked with its own describe call (the snapshot has no subnets, only tags).
    fn observe(&self, ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        let tags = seen.ec2_tags.get(&record.id)?;
        let wanted = ctx.cluster_tag();
        match tags.get(CLUSTER_TAG) {
            Some(value) if *value == wanted => None,
            Some(value) => Some(Health::Changed(vec![format!(
                "tag {CLUSTER_TAG} is {value:?}, not {wanted:?}"
            )])),
            None => Some(Health::Changed(vec![format!(
                "tag {CLUSTER_TAG} is missing"
            )])),
        }
    }

    fn adoption(&self) -> String {
        format!("the operator's: only the tag {CLUSTER_TAG} is added (unpave takes it back)")
    }

    fn untagged(&self) -> String {
        format!("tag {CLUSTER_TAG} is missing")
    }

    /// Only the cluster tag is put back: the rest of the subnet is the operator's.
    async fn repair(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        self.complete(ctx, record.clone()).await.map(drop)
    }

    /// Takes back the cluster tag, when it still holds the value cfcr-aws gave it (a value drawn
    /// at random for this environment, so it cannot have been there before).
    async fn delete(&self, ctx: &Ctx, _record: &Record) -> anyhow::Result<()> {
        let Some(subnet) = ctx.described::<types::Subnet>(&self.id).await? else {
            return Ok(());
        };
        if !has_tag(subnet.tags(), CLUSTER_TAG, &ctx.cluster_tag()) {
            return Ok(());
        }
        let ec2 = &ctx.aws.ec2;
        aws::absent_ok(
            aws::call("DeleteTags", &Policy::standard(), || {
                ec2.delete_tags()
                    .resources(&self.id)
                    .tags(Self::cluster_tag(ctx))
                    .send()
            })
            .await,
        )?;
        Ok(())
    }
}
