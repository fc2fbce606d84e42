//! The NAT gateway in the public subnet: the private subnet's way out. Slow to create and delete
//! (a minute or two on AWS), so both are waited for.

use std::time::Duration;

use anyhow::anyhow;
use async_trait::async_trait;
use aws_sdk_ec2::types::{self, ResourceType};

use super::resource::{Ctx, Need, Needs, Resource, fresh, fresh_create};
use super::snapshot::{Health, Observed};
use crate::aws::{self, Policy};
use crate::config::Settings;
use crate::ec2::filters::filter;
use crate::ec2::{self, nat_gateway};
use crate::key::Key;
use crate::state::Record;

pub struct NatGateway;

const NAME: &str = "nat";
const TIMEOUT: Duration = Duration::from_secs(15 * 60);

#[async_trait]
impl Resource for NatGateway {
    fn key(&self) -> Key {
        Key::NatGateway
    }

    fn name(&self, settings: &Settings) -> String {
        settings.name(NAME)
    }

    fn needs(&self) -> Needs {
        Needs {
            // A public NAT gateway in a VPC without an attached internet gateway fails.
            create: vec![
                Need::Id(Key::PublicSubnet),
                Need::Id(Key::NatEip),
                Need::Ready(Key::InternetGateway),
            ],
            ..Needs::default()
        }
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        let live = filter("state", ["pending", "available"]);
        let found: Vec<types::NatGateway> = ec2::owned_named(
            &ctx.aws.ec2,
            ctx.env(),
            &ctx.name(NAME),
            Some(live),
            &Policy::standard(),
        )
        .await?;
        // Matched here too: LocalStack's emulation ignores the filters on NAT gateways.
        Ok(found
            .iter()
            .filter(|g| nat_gateway::is_live(g))
            .find_map(|g| g.nat_gateway_id())
            .map(Record::new))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let ec2 = &ctx.aws.ec2;
        let subnet_id = ctx.id(Key::PublicSubnet)?;
        let allocation_id = ctx.id(Key::NatEip)?;
        // Same token on a retry after a crash: AWS returns the gateway it already made.
        let token = format!("{}-nat-{}", ctx.env(), ctx.cluster_tag());
        let out = aws::call("CreateNatGateway", &fresh_create(), || {
            ec2.create_nat_gateway()
                .subnet_id(&subnet_id)
                .allocation_id(&allocation_id)
                .client_token(&token)
                .tag_specifications(ctx.ec2_tags(ResourceType::Natgateway, &ctx.name(NAME)))
                .send()
        })
        .await?;
        let id = out
            .nat_gateway()
            .and_then(|g| g.nat_gateway_id())
            .unwrap_or_default();
        Ok(Record::new(id))
    }

    async fn complete(&self, ctx: &Ctx, record: Record) -> anyhow::Result<Record> {
        let what = format!("NAT gateway {} to become available", record.id);
        // Right after the create, AWS may not know the gateway yet.
        ec2::wait_until(&ctx.aws.ec2, &record.id, &fresh(), &what, TIMEOUT, |found| {
            nat_gateway::available(found).polled(|why| {
                anyhow!(
                    "NAT gateway {} is {why}. AWS gives up on a gateway it cannot start (often a passing fault): run `cfcr-aws unpave`, then pave again",
                    record.id
                )
            })
        })
        .await?;
        Ok(record)
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        let gateway = ctx.described::<types::NatGateway>(&record.id).await?;
        Ok(gateway.is_some_and(|g| nat_gateway::is_live(&g)))
    }

    fn tag_id(&self, record: &Record) -> Option<String> {
        Some(record.id.clone())
    }

    fn observe(&self, ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        let live = seen
            .nat_gateways
            .get(&record.id)
            .is_some_and(nat_gateway::is_live);
        if !live {
            return Some(Health::Missing);
        }
        ctx.tagged_health(seen, &record.id, &self.name(&ctx.settings))
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let ec2 = &ctx.aws.ec2;
        aws::absent_ok(
            aws::call("DeleteNatGateway", &Policy::standard(), || {
                ec2.delete_nat_gateway().nat_gateway_id(&record.id).send()
            })
            .await,
        )?;
        let what = format!("NAT gateway {} to be deleted", record.id);
        let policy = Policy::standard();
        ec2::wait_until(ec2, &record.id, &policy, &what, TIMEOUT, |found| {
            Ok(nat_gateway::gone(found).then_some(()))
        })
        .await
    }
}
