//! The two security groups: `node-access` (SSH, the API port and everything between members, for
//! the bastion and the BOSH VMs) and `api-access` (the Kubernetes API, for the master ELB).
//! Egress stays at AWS's default: everything to 0.0.0.0/0.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_ec2::types::{self, IpPermission, IpRange, ResourceType, UserIdGroupPair};
use ipnet::Ipv4Net;

use super::blockers::{self, Scope};
use super::load_balancer::API_SERVER_PORT;
use super::resource::{Ctx, Need, Needs, Resource, fresh, fresh_create};
use super::snapshot::{Health, Observed, changed_if};
use crate::aws::{self, Policy};
use crate::config::Settings;
use crate::ec2::tags::CLUSTER_VALUE_TAG;
use crate::key::Key;
use crate::state::Record;

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

    /// The declared rules. `api_group` is the api-access group: the master ELB's listener and
    /// health checks reach the API servers from the ELB's own interfaces, which carry that group,
    /// so node-access admits it on the API port whatever `api_allowed_cidrs` says.
    fn ingress(&self, settings: &Settings, own_id: &str, api_group: &str) -> Vec<IpPermission> {
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
                    .ip_protocol("tcp")
                    .from_port(i32::from(API_SERVER_PORT))
                    .to_port(i32::from(API_SERVER_PORT))
                    .user_id_group_pairs(UserIdGroupPair::builder().group_id(api_group).build())
                    .build(),
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

/// Every rule as "protocol/port from source", one per source, to compare declared with actual.
fn rules(permissions: &[IpPermission]) -> BTreeSet<String> {
    let mut rules = BTreeSet::new();
    for p in permissions {
        let protocol = match p.ip_protocol() {
            Some("-1") | None => "all".to_string(),
            Some(proto) => match (p.from_port(), p.to_port()) {
                (Some(from), Some(to)) if from == to => format!("{proto}/{from}"),
                (Some(from), Some(to)) => format!("{proto}/{from}-{to}"),
                _ => proto.to_string(),
            },
        };
        let sources = p
            .ip_ranges()
            .iter()
            .filter_map(|r| r.cidr_ip())
            .chain(p.user_id_group_pairs().iter().filter_map(|g| g.group_id()));
        for source in sources {
            rules.insert(format!("{protocol} from {source}"));
        }
    }
    rules
}

/// The api-access group's id, which node-access admits (recorded before either group's follow-up steps).
fn api_group(ctx: &Ctx) -> anyhow::Result<String> {
    ctx.id(Key::ApiAccessSecurityGroup)
}

#[async_trait]
impl Resource for SecurityGroup {
    fn key(&self) -> Key {
        self.key
    }

    fn name(&self, settings: &Settings) -> String {
        settings.name(self.suffix)
    }

    fn needs(&self) -> Needs {
        let complete = match self.key {
            Key::NodeAccessSecurityGroup => vec![Need::Id(Key::ApiAccessSecurityGroup)],
            _ => Vec::new(),
        };
        Needs {
            create: vec![Need::Id(Key::Vpc)],
            complete,
            ..Needs::default()
        }
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        let group = ctx
            .owned::<types::SecurityGroup>(&self.name(&ctx.settings))
            .await?;
        Ok(group.and_then(|g| g.group_id().map(Record::new)))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let ec2 = &ctx.aws.ec2;
        let vpc_id = ctx.id(Key::Vpc)?;
        let name = self.name(&ctx.settings);
        // The cluster tag's value rides along, so that an environment whose state is lost can take
        // it back from the subnets it added it to (the groups are always the environment's own).
        let tags = ctx.ec2_tags_with(
            ResourceType::SecurityGroup,
            &name,
            &[(CLUSTER_VALUE_TAG, ctx.cluster_tag())],
        );
        let out = aws::call("CreateSecurityGroup", &fresh_create(), || {
            ec2.create_security_group()
                .group_name(&name)
                .description(self.description)
                .vpc_id(&vpc_id)
                .tag_specifications(tags.clone())
                .send()
        })
        .await?;
        Ok(Record::new(out.group_id().unwrap_or_default()))
    }

    async fn complete(&self, ctx: &Ctx, record: Record) -> anyhow::Result<Record> {
        let ec2 = &ctx.aws.ec2;
        let rules = self.ingress(&ctx.settings, &record.id, &api_group(ctx)?);
        // One call for all rules: AWS applies all or none, so a repeat finds them all duplicate.
        aws::exists_ok(
            aws::call("AuthorizeSecurityGroupIngress", &fresh(), || {
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
        let group = ctx.described::<types::SecurityGroup>(&record.id).await?;
        Ok(group.is_some())
    }

    fn tag_id(&self, record: &Record) -> Option<String> {
        Some(record.id.clone())
    }

    fn observe(&self, ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        let Some(group) = seen.security_groups.get(&record.id) else {
            return Some(Health::Missing);
        };
        let mut changes = match ctx.tagged_health(seen, &record.id, &self.name(&ctx.settings)) {
            Some(Health::Changed(changes)) => changes,
            _ => Vec::new(),
        };
        let actual = rules(group.ip_permissions());
        let declared = self.ingress(&ctx.settings, &record.id, &api_group(ctx).ok()?);
        for rule in rules(&declared) {
            if !actual.contains(&rule) {
                changes.push(format!("ingress {rule} is missing"));
            }
        }
        Some(changed_if(changes))
    }

    /// Its tags, and each declared rule that is not there, one call per rule (a call holding a
    /// rule that exists fails whole).
    async fn repair(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let ec2 = &ctx.aws.ec2;
        ctx.retag(&record.id, &self.name(&ctx.settings)).await?;
        for permission in self.ingress(&ctx.settings, &record.id, &api_group(ctx)?) {
            aws::exists_ok(
                aws::call("AuthorizeSecurityGroupIngress", &Policy::standard(), || {
                    ec2.authorize_security_group_ingress()
                        .group_id(&record.id)
                        .ip_permissions(permission.clone())
                        .send()
                })
                .await
                .map(drop),
            )?;
        }
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let ec2 = &ctx.aws.ec2;
        blockers::delete_when_free(ctx, Scope::Group(&record.id), |policy| async move {
            aws::call("DeleteSecurityGroup", &policy, || {
                ec2.delete_security_group().group_id(&record.id).send()
            })
            .await
        })
        .await
    }
}
