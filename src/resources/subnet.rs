//! The public and private /24 subnets, both in the configured zone and tagged for Kubernetes.

use async_trait::async_trait;
use aws_sdk_ec2::types::ResourceType;

use super::{CLUSTER_TAG, Ctx, Key, Need, Needs, Resource};
use crate::aws::{self, Policy};
use crate::blockers::{self, Scope};
use crate::config::Settings;
use super::{Health, Observed};
use crate::state::Record;

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

    fn cidr(&self, settings: &Settings) -> String {
        if self.public {
            settings.public_subnet_cidr().to_string()
        } else {
            settings.private_subnet_cidr().to_string()
        }
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
        let ec2 = &ctx.aws.ec2;
        let out = aws::call("DescribeSubnets", &Policy::standard(), || {
            ec2.describe_subnets()
                .set_filters(Some(ctx.owned_named(&self.name(&ctx.settings))))
                .send()
        })
        .await?;
        Ok(out
            .subnets()
            .iter()
            .filter(|s| super::tagged(s.tags(), ctx.env(), &self.name(&ctx.settings)))
            .find_map(|s| s.subnet_id())
            .map(Record::new))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let ec2 = &ctx.aws.ec2;
        let vpc_id = ctx.id(Key::Vpc)?;
        let tags = ctx.ec2_tags_with(
            ResourceType::Subnet,
            &self.name(&ctx.settings),
            &[(CLUSTER_TAG, ctx.cluster_tag())],
        );
        let out = aws::call("CreateSubnet", &super::fresh_create(), || {
            ec2.create_subnet()
                .vpc_id(&vpc_id)
                .cidr_block(self.cidr(&ctx.settings))
                .availability_zone(&ctx.settings.zone)
                .tag_specifications(tags.clone())
                .send()
        })
        .await?;
        let id = out.subnet().and_then(|s| s.subnet_id()).unwrap_or_default();
        Ok(Record::new(id))
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        let ec2 = &ctx.aws.ec2;
        let out = aws::absent_ok(
            aws::call("DescribeSubnets", &Policy::standard(), || {
                ec2.describe_subnets().subnet_ids(&record.id).send()
            })
            .await,
        )?;
        Ok(out.is_some_and(|o| !o.subnets().is_empty()))
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
            aws::absent_ok(
                aws::call("DeleteSubnet", &policy, || {
                    ec2.delete_subnet().subnet_id(&record.id).send()
                })
                .await,
            )
            .map(drop)
        })
        .await
    }
}
