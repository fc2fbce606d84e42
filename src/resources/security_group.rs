//! The two security groups: `node-access` (SSH, the API port and everything between members, for
//! the bastion and the BOSH VMs) and `api-access` (the Kubernetes API, for the master ELB).
//! Egress stays at AWS's default: everything to 0.0.0.0/0.

use async_trait::async_trait;
use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, UserIdGroupPair};
use ipnet::Ipv4Net;

use super::{Ctx, Key, Resource};
use crate::aws::{self, Policy};
use crate::config::Settings;
use crate::state::Record;

/// The port the Kubernetes API server listens on, behind the ELB.
pub const API_SERVER_PORT: u16 = 8443;

pub struct SecurityGroup {
    key: Key,
    suffix: &'static str,
    description: &'static str,
}

impl SecurityGroup {
    pub fn node_access() -> SecurityGroup {
        SecurityGroup {
            key: Key::NodeAccessSecurityGroup,
            suffix: "node-access",
            description: "CFCR bastion and BOSH VMs: SSH, Kubernetes API, and all traffic between members",
        }
    }

    pub fn api_access() -> SecurityGroup {
        SecurityGroup {
            key: Key::ApiAccessSecurityGroup,
            suffix: "api-access",
            description: "CFCR master load balancer: Kubernetes API",
        }
    }

    fn ingress(&self, settings: &Settings, own_id: &str) -> Vec<IpPermission> {
        let tcp = |port: u16, cidrs: &[Ipv4Net]| {
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(i32::from(port))
                .to_port(i32::from(port))
                .set_ip_ranges(Some(
                    cidrs
                        .iter()
                        .map(|c| IpRange::builder().cidr_ip(c.to_string()).build())
                        .collect(),
                ))
                .build()
        };
        match self.key {
            Key::NodeAccessSecurityGroup => vec![
                tcp(22, &settings.ssh_allowed_cidrs),
                tcp(API_SERVER_PORT, &settings.api_allowed_cidrs),
                IpPermission::builder()
                    .ip_protocol("-1")
                    .user_id_group_pairs(UserIdGroupPair::builder().group_id(own_id).build())
                    .build(),
            ],
            _ => vec![tcp(
                settings.kubernetes_master_port,
                &settings.api_allowed_cidrs,
            )],
        }
    }
}

#[async_trait]
impl Resource for SecurityGroup {
    fn key(&self) -> Key {
        self.key
    }

    fn name(&self, settings: &Settings) -> String {
        settings.name(self.suffix)
    }

    fn depends_on(&self) -> Vec<Key> {
        vec![Key::Vpc]
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        let ec2 = &ctx.aws.ec2;
        let out = aws::call("DescribeSecurityGroups", &Policy::standard(), || {
            ec2.describe_security_groups()
                .set_filters(Some(ctx.owned_named(&self.name(&ctx.settings))))
                .send()
        })
        .await?;
        Ok(out
            .security_groups()
            .iter()
            .filter(|g| super::tagged(g.tags(), ctx.env(), &self.name(&ctx.settings)))
            .find_map(|g| g.group_id())
            .map(Record::new))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let ec2 = &ctx.aws.ec2;
        let vpc_id = ctx.id(Key::Vpc)?;
        let name = self.name(&ctx.settings);
        let out = aws::call("CreateSecurityGroup", &super::fresh_create(), || {
            ec2.create_security_group()
                .group_name(&name)
                .description(self.description)
                .vpc_id(&vpc_id)
                .tag_specifications(ctx.ec2_tags(ResourceType::SecurityGroup, &name))
                .send()
        })
        .await?;
        Ok(Record::new(out.group_id().unwrap_or_default()))
    }

    async fn complete(&self, ctx: &Ctx, record: Record) -> anyhow::Result<Record> {
        let ec2 = &ctx.aws.ec2;
        let rules = self.ingress(&ctx.settings, &record.id);
        // One call for all rules: AWS applies all or none, so a repeat finds them all duplicate.
        aws::exists_ok(
            aws::call("AuthorizeSecurityGroupIngress", &super::fresh(), || {
                ec2.authorize_security_group_ingress()
                    .group_id(&record.id)
                    .set_ip_permissions(Some(rules.clone()))
                    .send()
            })
            .await
            .map(drop),
        )?;
        Ok(record)
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        let ec2 = &ctx.aws.ec2;
        let out = aws::absent_ok(
            aws::call("DescribeSecurityGroups", &Policy::standard(), || {
                ec2.describe_security_groups().group_ids(&record.id).send()
            })
            .await,
        )?;
        Ok(out.is_some_and(|o| !o.security_groups().is_empty()))
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let ec2 = &ctx.aws.ec2;
        aws::absent_ok(
            aws::call("DeleteSecurityGroup", &super::releasing(), || {
                ec2.delete_security_group().group_id(&record.id).send()
            })
            .await,
        )?;
        Ok(())
    }
}
