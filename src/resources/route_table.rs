//! The two route tables, public and private, each associated with its subnet. Their default
//! routes are resources of their own (route.rs): the private one waits for the NAT gateway, the
//! table and its association need not.

use async_trait::async_trait;
use aws_sdk_ec2::types::{self, ResourceType};

use super::resource::{Ctx, Need, Needs, Resource, fresh, fresh_create};
use super::snapshot::{Health, Observed, changed_if};
use crate::aws::{self, Policy};
use crate::config::Settings;
use crate::key::Key;
use crate::state::Record;

pub struct RouteTable {
    key: Key,
    suffix: &'static str,
    subnet: Key,
}

impl RouteTable {
    pub fn public() -> RouteTable {
        RouteTable {
            key: Key::PublicRouteTable,
            suffix: "public-route-table",
            subnet: Key::PublicSubnet,
        }
    }

    pub fn private() -> RouteTable {
        RouteTable {
            key: Key::PrivateRouteTable,
            suffix: "private-route-table",
            subnet: Key::PrivateSubnet,
        }
    }
}

#[async_trait]
impl Resource for RouteTable {
    fn key(&self) -> Key {
        self.key
    }

    fn name(&self, settings: &Settings) -> String {
        settings.name(self.suffix)
    }

    fn needs(&self) -> Needs {
        Needs {
            create: vec![Need::Id(Key::Vpc)],
            complete: vec![Need::Id(self.subnet)],
            ..Needs::default()
        }
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        let table = ctx
            .owned::<types::RouteTable>(&self.name(&ctx.settings))
            .await?;
        Ok(table.and_then(|t| t.route_table_id().map(Record::new)))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let ec2 = &ctx.aws.ec2;
        let vpc_id = ctx.id(Key::Vpc)?;
        let out = aws::call("CreateRouteTable", &fresh_create(), || {
            ec2.create_route_table()
                .vpc_id(&vpc_id)
                .tag_specifications(
                    ctx.ec2_tags(ResourceType::RouteTable, &self.name(&ctx.settings)),
                )
                .send()
        })
        .await?;
        let id = out
            .route_table()
            .and_then(|t| t.route_table_id())
            .unwrap_or_default();
        Ok(Record::new(id))
    }

    async fn complete(&self, ctx: &Ctx, record: Record) -> anyhow::Result<Record> {
        let ec2 = &ctx.aws.ec2;
        let subnet_id = ctx.id(self.subnet)?;
        aws::exists_ok(
            aws::call("AssociateRouteTable", &fresh(), || {
                ec2.associate_route_table()
                    .route_table_id(&record.id)
                    .subnet_id(&subnet_id)
                    .send()
            })
            .await
            .map(drop),
        )?;
        Ok(record)
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        let table = ctx.described::<types::RouteTable>(&record.id).await?;
        Ok(table.is_some())
    }

    fn tag_id(&self, record: &Record) -> Option<String> {
        Some(record.id.clone())
    }

    fn observe(&self, ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        let Some(table) = seen.route_tables.get(&record.id) else {
            return Some(Health::Missing);
        };
        let subnet = ctx.id(self.subnet).ok()?;
        let associated = table
            .associations()
            .iter()
            .any(|a| a.subnet_id() == Some(subnet.as_str()));
        let mut changes = match ctx.tagged_health(seen, &record.id, &self.name(&ctx.settings))? {
            Health::Changed(changes) => changes,
            _ => Vec::new(),
        };
        if !associated {
            changes.push(format!("not associated with subnet {subnet}"));
        }
        Some(changed_if(changes))
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let ec2 = &ctx.aws.ec2;
        let Some(table) = ctx.described::<types::RouteTable>(&record.id).await? else {
            return Ok(());
        };
        let associations: Vec<String> = table
            .associations()
            .iter()
            .filter(|a| a.main() != Some(true))
            .filter_map(|a| a.route_table_association_id().map(str::to_string))
            .collect();
        for association in associations {
            aws::absent_ok(
                aws::call("DisassociateRouteTable", &Policy::standard(), || {
                    ec2.disassociate_route_table()
                        .association_id(&association)
                        .send()
                })
                .await,
            )?;
        }
        aws::absent_ok(
            aws::call("DeleteRouteTable", &Policy::releasing(), || {
                ec2.delete_route_table().route_table_id(&record.id).send()
            })
            .await,
        )?;
        Ok(())
    }
}
