//! An existing network, made directly against LocalStack as a network team would hand it out, and
//! a snapshot of everything about it that paving into it must leave as it was.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, ResourceType, Tag, TagSpecification};

use super::{Aws, REGION};

/// A network made by "someone else": a VPC with DNS on and an internet gateway, and subnets.
pub struct Network {
    pub vpc: String,
    pub igw: Option<String>,
    pub subnets: Vec<String>,
    /// Route tables made for it (explicitly associated with a subnet).
    pub tables: Vec<String>,
}

fn name_tag(resource: ResourceType, name: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource)
        .tags(Tag::builder().key("Name").value(name).build())
        .tags(Tag::builder().key("team").value("network").build())
        .build()
}

pub async fn vpc(aws: &Aws, cidr: &str, dns: bool, igw: bool) -> Network {
    let ec2 = &aws.ec2;
    let vpc = ec2
        .create_vpc()
        .cidr_block(cidr)
        .tag_specifications(name_tag(ResourceType::Vpc, "shared-vpc"))
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    let on = AttributeBooleanValue::builder().value(dns).build();
    ec2.modify_vpc_attribute()
        .vpc_id(&vpc)
        .enable_dns_support(on.clone())
        .send()
        .await
        .unwrap();
    ec2.modify_vpc_attribute()
        .vpc_id(&vpc)
        .enable_dns_hostnames(on)
        .send()
        .await
        .unwrap();
    let igw = if igw {
        let id = ec2
            .create_internet_gateway()
            .tag_specifications(name_tag(ResourceType::InternetGateway, "shared-igw"))
            .send()
            .await
            .unwrap()
            .internet_gateway()
            .unwrap()
            .internet_gateway_id()
            .unwrap()
            .to_string();
        ec2.attach_internet_gateway()
            .internet_gateway_id(&id)
            .vpc_id(&vpc)
            .send()
            .await
            .unwrap();
        Some(id)
    } else {
        None
    };
    Network {
        vpc,
        igw,
        subnets: Vec::new(),
        tables: Vec::new(),
    }
}

impl Network {
    pub async fn subnet(
        &mut self,
        aws: &Aws,
        cidr: &str,
        zone: &str,
        tags: &[(&str, &str)],
    ) -> String {
        let mut spec = TagSpecification::builder()
            .resource_type(ResourceType::Subnet)
            .tags(
                Tag::builder()
                    .key("Name")
                    .value(format!("shared-{cidr}"))
                    .build(),
            );
        for (key, value) in tags {
            spec = spec.tags(Tag::builder().key(*key).value(*value).build());
        }
        let id = aws
            .ec2
            .create_subnet()
            .vpc_id(&self.vpc)
            .cidr_block(cidr)
            .availability_zone(zone)
            .tag_specifications(spec.build())
            .send()
            .await
            .unwrap()
            .subnet()
            .unwrap()
            .subnet_id()
            .unwrap()
            .to_string();
        self.subnets.push(id.clone());
        id
    }

    /// Another block for the VPC (a VPC may have several).
    pub async fn add_block(&self, aws: &Aws, cidr: &str) {
        aws.ec2
            .associate_vpc_cidr_block()
            .vpc_id(&self.vpc)
            .cidr_block(cidr)
            .send()
            .await
            .unwrap();
    }

    /// A route table of the network team's for `subnet`, its default route set by `route`.
    pub async fn routed<F>(&mut self, aws: &Aws, subnet: &str, route: F) -> String
    where
        F: FnOnce(
            aws_sdk_ec2::operation::create_route::builders::CreateRouteFluentBuilder,
        )
            -> aws_sdk_ec2::operation::create_route::builders::CreateRouteFluentBuilder,
    {
        let ec2 = &aws.ec2;
        let table = ec2
            .create_route_table()
            .vpc_id(&self.vpc)
            .tag_specifications(name_tag(ResourceType::RouteTable, "shared-routes"))
            .send()
            .await
            .unwrap()
            .route_table()
            .unwrap()
            .route_table_id()
            .unwrap()
            .to_string();
        route(
            ec2.create_route()
                .route_table_id(&table)
                .destination_cidr_block("0.0.0.0/0"),
        )
        .send()
        .await
        .unwrap();
        ec2.associate_route_table()
            .route_table_id(&table)
            .subnet_id(subnet)
            .send()
            .await
            .unwrap();
        self.tables.push(table.clone());
        table
    }

    /// A public subnet: routed to the internet gateway.
    pub async fn public_subnet(&mut self, aws: &Aws, cidr: &str) -> String {
        let id = self.subnet(aws, cidr, &format!("{REGION}a"), &[]).await;
        let igw = self.igw.clone().unwrap();
        self.routed(aws, &id, |r| r.gateway_id(igw)).await;
        id
    }

    /// Everything about the network that pave and unpave must leave as it was: the VPC's block,
    /// DNS attributes and tags, the gateway's attachments and tags, each subnet's block, zone,
    /// public-address setting and tags, and every route table of the VPC (routes, associations,
    /// tags) but the environment's own.
    pub async fn snapshot(&self, aws: &Aws) -> BTreeMap<String, String> {
        let ec2 = &aws.ec2;
        let mut seen = BTreeMap::new();
        let tags = |tags: &[Tag]| {
            let mut pairs: Vec<String> = tags
                .iter()
                .map(|t| format!("{}={}", t.key().unwrap_or(""), t.value().unwrap_or("")))
                .collect();
            pairs.sort();
            pairs.join(",")
        };
        let vpc = ec2.describe_vpcs().vpc_ids(&self.vpc).send().await.unwrap();
        let vpc = &vpc.vpcs()[0];
        seen.insert(
            format!("vpc {}", self.vpc),
            format!("{:?} {}", vpc.cidr_block(), tags(vpc.tags())),
        );
        for attribute in [
            aws_sdk_ec2::types::VpcAttributeName::EnableDnsSupport,
            aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames,
        ] {
            let out = ec2
                .describe_vpc_attribute()
                .vpc_id(&self.vpc)
                .attribute(attribute.clone())
                .send()
                .await
                .unwrap();
            seen.insert(
                format!("vpc {} {attribute:?}", self.vpc),
                format!(
                    "{:?} {:?}",
                    out.enable_dns_support().and_then(|v| v.value()),
                    out.enable_dns_hostnames().and_then(|v| v.value())
                ),
            );
        }
        if let Some(igw) = &self.igw {
            let out = ec2
                .describe_internet_gateways()
                .internet_gateway_ids(igw)
                .send()
                .await
                .unwrap();
            let g = &out.internet_gateways()[0];
            let attached: Vec<_> = g.attachments().iter().map(|a| a.vpc_id()).collect();
            seen.insert(
                format!("igw {igw}"),
                format!("{attached:?} {}", tags(g.tags())),
            );
        }
        for id in &self.subnets {
            let Ok(out) = ec2.describe_subnets().subnet_ids(id).send().await else {
                seen.insert(format!("subnet {id}"), "gone".to_string());
                continue;
            };
            let s = &out.subnets()[0];
            seen.insert(
                format!("subnet {id}"),
                format!(
                    "{:?} {:?} {:?} {:?} {}",
                    s.vpc_id(),
                    s.cidr_block(),
                    s.availability_zone(),
                    s.map_public_ip_on_launch(),
                    tags(s.tags())
                ),
            );
        }
        let tables = ec2
            .describe_route_tables()
            .filters(Filter::builder().name("vpc-id").values(&self.vpc).build())
            .send()
            .await
            .unwrap();
        for t in tables.route_tables() {
            if t.tags().iter().any(|t| t.key() == Some("cfcr-aws:env")) {
                continue;
            }
            let mut routes: Vec<String> = t
                .routes()
                .iter()
                .map(|r| {
                    format!(
                        "{:?}>{:?}{:?}{:?}",
                        r.destination_cidr_block(),
                        r.gateway_id(),
                        r.nat_gateway_id(),
                        r.network_interface_id()
                    )
                })
                .collect();
            routes.sort();
            let mut associations: Vec<String> = t
                .associations()
                .iter()
                .map(|a| format!("{:?}{:?}", a.subnet_id(), a.main()))
                .collect();
            associations.sort();
            seen.insert(
                format!("rtb {}", t.route_table_id().unwrap()),
                format!("{routes:?} {associations:?} {}", tags(t.tags())),
            );
        }
        seen
    }
}
