//! The NAT gateway in the public subnet: the private subnet's way out. Slow to create and delete
//! (a minute or two on AWS), so both are waited for.

use std::time::Duration;

use anyhow::bail;
use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, NatGatewayState, ResourceType};

use super::resource::{Ctx, Need, Needs, Resource, fresh, fresh_create};
use super::snapshot::{Health, Observed};
use super::tags::tagged;
use crate::aws::{self, Policy, wait};
use crate::config::Settings;
use crate::key::Key;
use crate::state::Record;

pub struct NatGateway;

const NAME: &str = "nat";
const TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The gateway's state; `None` once AWS no longer knows it. Right after the create, `policy` must
/// tolerate a passing "not found".
async fn current_state(
    ctx: &Ctx,
    id: &str,
    policy: &Policy,
) -> anyhow::Result<Option<NatGatewayState>> {
    Ok(describe(ctx, id, policy)
        .await?
        .and_then(|g| g.state().cloned()))
}

/// The gateway as AWS describes it; `None` once AWS no longer knows it.
async fn describe(
    ctx: &Ctx,
    id: &str,
    policy: &Policy,
) -> anyhow::Result<Option<aws_sdk_ec2::types::NatGateway>> {
    let ec2 = &ctx.aws.ec2;
    let out = aws::absent_ok(
        aws::call("DescribeNatGateways", policy, || {
            ec2.describe_nat_gateways().nat_gateway_ids(id).send()
        })
        .await,
    )?;
    // Matched here too: LocalStack's emulation ignores NatGatewayIds and answers with every gateway.
    Ok(out.and_then(|o| {
        o.nat_gateways()
            .iter()
            .find(|g| g.nat_gateway_id() == Some(id))
            .cloned()
    }))
}

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
        let ec2 = &ctx.aws.ec2;
        let mut filters = ctx.owned_named(&ctx.name(NAME));
        filters.push(
            Filter::builder()
                .name("state")
                .values("pending")
                .values("available")
                .build(),
        );
        let pages = aws::all_pages(
            "DescribeNatGateways",
            &Policy::standard(),
            |token| {
                ec2.describe_nat_gateways()
                    .set_filter(Some(filters.clone()))
                    .set_next_token(token)
                    .send()
            },
            |page| page.next_token(),
        )
        .await?;
        // Matched here too: LocalStack's emulation ignores tag filters on NAT gateways.
        let name = ctx.name(NAME);
        Ok(pages
            .iter()
            .flat_map(|p| p.nat_gateways())
            .filter(|g| tagged(g.tags(), ctx.env(), &name))
            .filter(|g| {
                matches!(
                    g.state(),
                    Some(NatGatewayState::Pending | NatGatewayState::Available)
                )
            })
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
        wait::until(&what, TIMEOUT, || async {
            let gateway = describe(ctx, &record.id, &fresh()).await?;
            match gateway.as_ref().and_then(|g| g.state()) {
                Some(NatGatewayState::Available) => Ok(Some(())),
                Some(NatGatewayState::Pending) | None => Ok(None),
                Some(other) => {
                    let gateway = gateway.as_ref().expect("a state comes with its gateway");
                    bail!(
                        "NAT gateway {} is {}: {}: {}. AWS gives up on a gateway it cannot start (often a passing fault): run `cfcr-aws unpave`, then pave again",
                        record.id,
                        other.as_str(),
                        gateway.failure_code().unwrap_or("no failure code"),
                        gateway.failure_message().unwrap_or("no failure message")
                    )
                }
            }
        })
        .await?;
        Ok(record)
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        Ok(matches!(
            current_state(ctx, &record.id, &Policy::standard()).await?,
            Some(NatGatewayState::Pending | NatGatewayState::Available)
        ))
    }

    fn tag_id(&self, record: &Record) -> Option<String> {
        Some(record.id.clone())
    }

    fn observe(&self, ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        let live = seen.nat_gateways.get(&record.id).is_some_and(|g| {
            matches!(
                g.state(),
                Some(NatGatewayState::Pending | NatGatewayState::Available)
            )
        });
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
        wait::until(&what, TIMEOUT, || async {
            Ok(
                match current_state(ctx, &record.id, &Policy::standard()).await? {
                    None | Some(NatGatewayState::Deleted | NatGatewayState::Failed) => Some(()),
                    Some(_) => None,
                },
            )
        })
        .await
    }
}
