//! The default routes (0.0.0.0/0): the public route table's to the internet gateway, the private
//! one's to the NAT gateway. Recorded under the route table's id; AWS gives routes none.

use async_trait::async_trait;
use aws_sdk_ec2::types::{Route, RouteState, RouteTable};

use super::resource::{Ctx, Need, Needs, Resource, fresh_create};
use super::snapshot::{Health, Observed};
use crate::aws::{self, Policy};
use crate::config::Settings;
use crate::key::Key;
use crate::state::Record;

const DESTINATION: &str = "0.0.0.0/0";

pub struct DefaultRoute {
    key: Key,
    suffix: &'static str,
    table: Key,
    /// The internet gateway or the NAT gateway.
    target: Key,
}

impl DefaultRoute {
    pub fn public() -> DefaultRoute {
        DefaultRoute {
            key: Key::PublicRoute,
            suffix: "public-route-table",
            table: Key::PublicRouteTable,
            target: Key::InternetGateway,
        }
    }

    pub fn private() -> DefaultRoute {
        DefaultRoute {
            key: Key::PrivateRoute,
            suffix: "private-route-table",
            table: Key::PrivateRouteTable,
            target: Key::NatGateway,
        }
    }

    /// The route's target as the route calls take it: (NAT gateway, gateway).
    fn target(&self, ctx: &Ctx) -> anyhow::Result<(Option<String>, Option<String>)> {
        let id = ctx.id(self.target)?;
        Ok(match self.target {
            Key::NatGateway => (Some(id), None),
            _ => (None, Some(id)),
        })
    }

    /// The table's default route, if it has one.
    async fn current(&self, ctx: &Ctx, table_id: &str) -> anyhow::Result<Option<Route>> {
        let table = ctx.described::<RouteTable>(table_id).await?;
        Ok(table.and_then(|t| {
            t.routes()
                .iter()
                .find(|r| r.destination_cidr_block() == Some(DESTINATION))
                .cloned()
        }))
    }
}

#[async_trait]
impl Resource for DefaultRoute {
    fn key(&self) -> Key {
        self.key
    }

    fn name(&self, settings: &Settings) -> String {
        format!("{} {DESTINATION}", settings.name(self.suffix))
    }

    fn needs(&self) -> Needs {
        Needs {
            // Routing to a gateway that is not attached (or available) yet is refused.
            create: vec![Need::Id(self.table), Need::Ready(self.target)],
            ..Needs::default()
        }
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        let table_id = ctx.id(self.table)?;
        Ok(self
            .current(ctx, &table_id)
            .await?
            .map(|_| Record::new(table_id)))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let ec2 = &ctx.aws.ec2;
        let table_id = ctx.id(self.table)?;
        let (nat_gateway, gateway) = self.target(ctx)?;
        aws::call("CreateRoute", &fresh_create(), || {
            ec2.create_route()
                .route_table_id(&table_id)
                .destination_cidr_block(DESTINATION)
                .set_nat_gateway_id(nat_gateway.clone())
                .set_gateway_id(gateway.clone())
                .send()
        })
        .await?;
        Ok(Record::new(table_id))
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        Ok(self
            .current(ctx, &record.id)
            .await?
            .is_some_and(|r| r.state() != Some(&RouteState::Blackhole)))
    }

    fn observe(&self, ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        let table = seen.route_tables.get(&record.id)?;
        let Some(route) = table
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some(DESTINATION))
        else {
            return Some(Health::Missing);
        };
        let target = ctx.id(self.target).ok()?;
        let actual = route
            .nat_gateway_id()
            .or(route.gateway_id())
            .unwrap_or("nothing");
        Some(if actual != target {
            Health::Changed(vec![format!("routes to {actual}, not {target}")])
        } else if route.state() == Some(&RouteState::Blackhole) {
            Health::Changed(vec![format!("{target} no longer carries it (blackhole)")])
        } else {
            Health::Present
        })
    }

    /// Points the route back at its gateway.
    async fn repair(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let ec2 = &ctx.aws.ec2;
        let (nat_gateway, gateway) = self.target(ctx)?;
        aws::call("ReplaceRoute", &Policy::standard(), || {
            ec2.replace_route()
                .route_table_id(&record.id)
                .destination_cidr_block(DESTINATION)
                .set_nat_gateway_id(nat_gateway.clone())
                .set_gateway_id(gateway.clone())
                .send()
        })
        .await?;
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let ec2 = &ctx.aws.ec2;
        aws::absent_ok(
            aws::call("DeleteRoute", &Policy::standard(), || {
                ec2.delete_route()
                    .route_table_id(&record.id)
                    .destination_cidr_block(DESTINATION)
                    .send()
            })
            .await,
        )?;
        Ok(())
    }
}
