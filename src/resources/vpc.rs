//! The VPC, with DNS support and DNS hostnames (BOSH and Kubernetes rely on instance DNS names):
//! created, or the operator's own, adopted by its id.

use async_trait::async_trait;
use aws_sdk_ec2::types::{self, AttributeBooleanValue, ResourceType};

use super::blockers::{self, Scope};
use super::resource::{Ctx, Needs, Resource, fresh};
use super::snapshot::{Health, Observed};
use crate::aws::{self, Policy};
use crate::config::Settings;
use crate::key::Key;
use crate::state::{CIDR_BLOCK, Origin, Record};

pub struct Vpc;

const NAME: &str = "cfcr-vpc";

#[async_trait]
impl Resource for Vpc {
    fn key(&self) -> Key {
        Key::Vpc
    }

    fn name(&self, settings: &Settings) -> String {
        settings.name(NAME)
    }

    fn needs(&self) -> Needs {
        Needs::default()
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        let vpc = ctx.owned::<types::Vpc>(&ctx.name(NAME)).await?;
        Ok(vpc.and_then(|v| v.vpc_id().map(Record::new)))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let ec2 = &ctx.aws.ec2;
        let vpc_cidr = ctx
            .settings
            .vpc_cidr
            .ok_or_else(|| anyhow::anyhow!("no vpc_cidr to create the VPC with"))?;
        let out = aws::call("CreateVpc", &Policy::create(), || {
            ec2.create_vpc()
                .cidr_block(vpc_cidr.to_string())
                .tag_specifications(ctx.ec2_tags(ResourceType::Vpc, &ctx.name(NAME)))
                .send()
        })
        .await?;
        let id = out.vpc().and_then(|v| v.vpc_id()).unwrap_or_default();
        Ok(Record::new(id))
    }

    async fn complete(&self, ctx: &Ctx, record: Record) -> anyhow::Result<Record> {
        let ec2 = &ctx.aws.ec2;
        let on = || AttributeBooleanValue::builder().value(true).build();
        let fresh = fresh();
        // AWS takes one attribute per call.
        aws::call("ModifyVpcAttribute", &fresh, || {
            ec2.modify_vpc_attribute()
                .vpc_id(&record.id)
                .enable_dns_support(on())
                .send()
        })
        .await?;
        aws::call("ModifyVpcAttribute", &fresh, || {
            ec2.modify_vpc_attribute()
                .vpc_id(&record.id)
                .enable_dns_hostnames(on())
                .send()
        })
        .await?;
        Ok(record)
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        Ok(ctx.described::<types::Vpc>(&record.id).await?.is_some())
    }

    fn tag_id(&self, record: &Record) -> Option<String> {
        Some(record.id.clone())
    }

    fn observe(&self, ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        ctx.tagged_health(seen, &record.id, &self.name(&ctx.settings))
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let ec2 = &ctx.aws.ec2;
        blockers::delete_when_free(ctx, Scope::Vpc(&record.id), |policy| async move {
            aws::call("DeleteVpc", &policy, || {
                ec2.delete_vpc().vpc_id(&record.id).send()
            })
            .await
        })
        .await
    }
}

/// The operator's VPC (`vpc_id`): found by its id, never changed or deleted. Preflight has checked
/// its DNS attributes and internet gateway.
pub struct ExistingVpc {
    id: String,
}

impl ExistingVpc {
    pub fn new(id: &str) -> ExistingVpc {
        ExistingVpc { id: id.to_string() }
    }
}

#[async_trait]
impl Resource for ExistingVpc {
    fn key(&self) -> Key {
        Key::Vpc
    }

    fn name(&self, _settings: &Settings) -> String {
        self.id.clone()
    }

    fn origin(&self) -> Origin {
        Origin::Adopted
    }

    fn needs(&self) -> Needs {
        Needs::default()
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        Ok(ctx.described::<types::Vpc>(&self.id).await?.map(|vpc| {
            Record::new(&self.id).with(CIDR_BLOCK, vpc.cidr_block().unwrap_or_default())
        }))
    }

    async fn create(&self, _ctx: &Ctx) -> anyhow::Result<Record> {
        anyhow::bail!(
            "vpc_id: VPC {} does not exist in this region; cfcr-aws does not create what the configuration names as existing",
            self.id
        )
    }

    async fn exists(&self, ctx: &Ctx, _record: &Record) -> anyhow::Result<bool> {
        Ok(ctx.described::<types::Vpc>(&self.id).await?.is_some())
    }

    async fn delete(&self, _ctx: &Ctx, _record: &Record) -> anyhow::Result<()> {
        Ok(())
    }
}
