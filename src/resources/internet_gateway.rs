//! The internet gateway, attached to the VPC: the public subnet's way out. An existing VPC's own
//! gateway is adopted.

use async_trait::async_trait;
use aws_sdk_ec2::types::{self, ResourceType};

use super::resource::{Ctx, Need, Needs, Resource, fresh};
use super::snapshot::{Health, Observed};
use crate::aws::{self, Policy};
use crate::config::Settings;
use crate::ec2::internet_gateway;
use crate::key::Key;
use crate::state::{Origin, Record};

pub struct InternetGateway;

const NAME: &str = "cfcr-igw";

#[async_trait]
impl Resource for InternetGateway {
    fn key(&self) -> Key {
        Key::InternetGateway
    }

    fn name(&self, settings: &Settings) -> String {
        settings.name(NAME)
    }

    fn needs(&self) -> Needs {
        Needs {
            complete: vec![Need::Id(Key::Vpc)],
            ..Needs::default()
        }
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        let gateway = ctx.owned::<types::InternetGateway>(&ctx.name(NAME)).await?;
        Ok(gateway.and_then(|g| g.internet_gateway_id().map(Record::new)))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let ec2 = &ctx.aws.ec2;
        let out = aws::call("CreateInternetGateway", &Policy::create(), || {
            ec2.create_internet_gateway()
                .tag_specifications(ctx.ec2_tags(ResourceType::InternetGateway, &ctx.name(NAME)))
                .send()
        })
        .await?;
        let id = out
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .unwrap_or_default();
        Ok(Record::new(id))
    }

    async fn complete(&self, ctx: &Ctx, record: Record) -> anyhow::Result<Record> {
        let ec2 = &ctx.aws.ec2;
        let vpc_id = ctx.id(Key::Vpc)?;
        // Attaching twice answers Resource.AlreadyAssociated: a re-run after a crash is harmless.
        aws::exists_ok(
            aws::call("AttachInternetGateway", &fresh(), || {
                ec2.attach_internet_gateway()
                    .internet_gateway_id(&record.id)
                    .vpc_id(&vpc_id)
                    .send()
            })
            .await
            .map(drop),
        )?;
        Ok(record)
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        let gateway = ctx.described::<types::InternetGateway>(&record.id).await?;
        Ok(gateway.is_some())
    }

    fn tag_id(&self, record: &Record) -> Option<String> {
        Some(record.id.clone())
    }

    fn observe(&self, ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        ctx.tagged_health(seen, &record.id, &self.name(&ctx.settings))
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let ec2 = &ctx.aws.ec2;
        let Some(gateway) = ctx.described::<types::InternetGateway>(&record.id).await? else {
            return Ok(());
        };
        let vpcs: Vec<String> = gateway
            .attachments()
            .iter()
            .filter_map(|a| a.vpc_id().map(str::to_string))
            .collect();
        for vpc_id in vpcs {
            // Detaching fails while addresses in the VPC are still mapped; they are being released.
            aws::absent_ok(
                aws::call("DetachInternetGateway", &Policy::releasing(), || {
                    ec2.detach_internet_gateway()
                        .internet_gateway_id(&record.id)
                        .vpc_id(&vpc_id)
                        .send()
                })
                .await,
            )?;
        }
        aws::absent_ok(
            aws::call("DeleteInternetGateway", &Policy::releasing(), || {
                ec2.delete_internet_gateway()
                    .internet_gateway_id(&record.id)
                    .send()
            })
            .await,
        )?;
        Ok(())
    }
}

/// The gateway attached to the operator's VPC: found through its attachment, never changed.
pub struct ExistingInternetGateway;

impl ExistingInternetGateway {
    fn vpc_id(settings: &Settings) -> &str {
        settings.vpc_id.as_deref().unwrap_or_default()
    }

    /// The gateway attached to the VPC, if any.
    async fn attached(ctx: &Ctx) -> anyhow::Result<Option<String>> {
        let vpc_id = Self::vpc_id(&ctx.settings);
        Ok(internet_gateway::attached_to(&ctx.aws.ec2, vpc_id, &Policy::standard()).await?)
    }
}

#[async_trait]
impl Resource for ExistingInternetGateway {
    fn key(&self) -> Key {
        Key::InternetGateway
    }

    fn name(&self, settings: &Settings) -> String {
        format!("attached to {}", Self::vpc_id(settings))
    }

    fn origin(&self) -> Origin {
        Origin::Adopted
    }

    fn needs(&self) -> Needs {
        Needs::default()
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        Ok(Self::attached(ctx).await?.map(Record::new))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        anyhow::bail!(
            "vpc_id: VPC {} has no internet gateway attached; attach one (docs/existing-vpc.md)",
            Self::vpc_id(&ctx.settings)
        )
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        Ok(Self::attached(ctx).await? == Some(record.id.clone()))
    }

    async fn delete(&self, _ctx: &Ctx, _record: &Record) -> anyhow::Result<()> {
        Ok(())
    }
}
