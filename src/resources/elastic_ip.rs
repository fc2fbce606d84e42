//! Elastic IPs: one for the NAT gateway, one associated with the bastion.

use async_trait::async_trait;
use aws_sdk_ec2::types::{Address, DomainType, ResourceType};

use super::resource::{Ctx, Need, Needs, Resource, fresh};
use super::snapshot::{Health, Observed};
use crate::aws::{self, Policy};
use crate::config::Settings;
use crate::key::Key;
use crate::state::Record;

pub const PUBLIC_IP: &str = "public_ip";

pub struct ElasticIp {
    key: Key,
    suffix: &'static str,
    /// The instance the address is associated with, if any (the NAT gateway takes its own).
    instance: Option<Key>,
}

impl ElasticIp {
    pub fn nat() -> ElasticIp {
        ElasticIp {
            key: Key::NatEip,
            suffix: "nat-eip",
            instance: None,
        }
    }

    pub fn bastion() -> ElasticIp {
        ElasticIp {
            key: Key::BastionEip,
            suffix: "bastion-eip",
            instance: Some(Key::Bastion),
        }
    }
}

#[async_trait]
impl Resource for ElasticIp {
    fn key(&self) -> Key {
        self.key
    }

    fn name(&self, settings: &Settings) -> String {
        settings.name(self.suffix)
    }

    fn needs(&self) -> Needs {
        Needs {
            complete: self.instance.map(Need::Ready).into_iter().collect(),
            // The internet gateway cannot be detached while addresses in its VPC are mapped.
            delete_before: vec![Key::InternetGateway],
            // A terminating instance lets go of its address by itself.
            delete_independently: self.instance.into_iter().collect(),
            ..Needs::default()
        }
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        let address = ctx.owned::<Address>(&self.name(&ctx.settings)).await?;
        Ok(address
            .and_then(|a| Some(Record::new(a.allocation_id()?).with(PUBLIC_IP, a.public_ip()?))))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let ec2 = &ctx.aws.ec2;
        let out = aws::call("AllocateAddress", &Policy::create(), || {
            ec2.allocate_address()
                .domain(DomainType::Vpc)
                .tag_specifications(
                    ctx.ec2_tags(ResourceType::ElasticIp, &self.name(&ctx.settings)),
                )
                .send()
        })
        .await?;
        Ok(Record::new(out.allocation_id().unwrap_or_default())
            .with(PUBLIC_IP, out.public_ip().unwrap_or_default()))
    }

    async fn complete(&self, ctx: &Ctx, record: Record) -> anyhow::Result<Record> {
        let Some(instance) = self.instance else {
            return Ok(record);
        };
        let ec2 = &ctx.aws.ec2;
        let instance_id = ctx.id(instance)?;
        aws::call("AssociateAddress", &fresh(), || {
            ec2.associate_address()
                .allocation_id(&record.id)
                .instance_id(&instance_id)
                .allow_reassociation(true)
                .send()
        })
        .await?;
        Ok(record)
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        Ok(ctx.described::<Address>(&record.id).await?.is_some())
    }

    fn tag_id(&self, record: &Record) -> Option<String> {
        Some(record.id.clone())
    }

    fn observe(&self, ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        ctx.tagged_health(seen, &record.id, &self.name(&ctx.settings))
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let ec2 = &ctx.aws.ec2;
        // Only an address this tool associated needs looking at first; the NAT gateway's is let go
        // with the gateway.
        if self.instance.is_some() {
            let Some(address) = ctx.described::<Address>(&record.id).await? else {
                return Ok(());
            };
            if let Some(association) = address.association_id() {
                aws::absent_ok(
                    aws::call("DisassociateAddress", &Policy::standard(), || {
                        ec2.disassociate_address()
                            .association_id(association)
                            .send()
                    })
                    .await,
                )?;
            }
        }
        // The NAT gateway's address stays "in use" for a while after the gateway is deleted.
        aws::absent_ok(
            aws::call("ReleaseAddress", &Policy::releasing(), || {
                ec2.release_address().allocation_id(&record.id).send()
            })
            .await,
        )?;
        Ok(())
    }
}
