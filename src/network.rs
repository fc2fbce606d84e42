//! An existing VPC, read before anything is created: whether cfcr-aws can pave into it as
//! configured, and how the private subnet reaches the internet. Every check that fails names the
//! key and the fix (docs/existing-vpc.md); all are reported together, with the other preflight
//! problems. Read-only.

use aws_sdk_ec2::types::{
    Route, RouteState, RouteTable, Subnet, Vpc, VpcAttributeName, VpcCidrBlockStateCode,
};
use ipnet::Ipv4Net;

use crate::aws::{Clients, Policy};
use crate::config::{DIRECTOR_HOST, DirectorNetwork, Settings};
use crate::ec2::tags::{CLUSTER_TAG, cluster_key, owned_by};
use crate::ec2::{self, filters, internet_gateway, network_interface, vpc};
use crate::key::PrivateEgress;

/// What the survey found.
#[derive(Debug, Default)]
pub struct Survey {
    /// Each would stop the pave.
    pub problems: Vec<String>,
    /// Worth telling the operator, not stopping for (how the private subnet gets out).
    pub notes: Vec<String>,
    pub egress: PrivateEgress,
}

/// The default route's destination.
const ANYWHERE: &str = "0.0.0.0/0";

/// A classic load balancer needs 8 free addresses in its subnet ("Your subnet must have at least 8
/// free IP addresses", Elastic Load Balancing User Guide for Classic Load Balancers, "Subnets for
/// your load balancer"); the bastion and the NAT gateway take one each.
const PUBLIC_ADDRESSES_NEEDED: i32 = 10;

/// How many free /24s a message about a subnet prefix suggests.
const SUGGESTED_PREFIXES: usize = 3;

/// Surveys the VPC the settings name, if any. `cluster_tag` is the environment's own (a re-run
/// finds its tag on the subnets); `new` says nothing of the environment exists yet, so an address
/// in use is someone else's.
pub async fn survey(
    aws: &Clients,
    settings: &Settings,
    cluster_tag: &str,
    new: bool,
) -> anyhow::Result<Survey> {
    let mut survey = Survey::default();
    let Some(vpc_id) = settings.vpc_id.as_deref() else {
        return Ok(survey);
    };
    let Some(vpc) = ec2::by_id::<Vpc>(&aws.ec2, vpc_id, &Policy::standard()).await? else {
        survey.problems.push(format!(
            "vpc_id: VPC {vpc_id} does not exist in {} (or these credentials cannot see it); check the id and the region",
            settings.region
        ));
        return Ok(survey);
    };
    let primary = vpc.cidr_block().and_then(|b| b.parse::<Ipv4Net>().ok());
    // The associations include the primary block; it is added only where they are missing.
    let mut blocks: Vec<Ipv4Net> = vpc
        .cidr_block_association_set()
        .iter()
        .filter(|a| {
            a.cidr_block_state().and_then(|s| s.state()) == Some(&VpcCidrBlockStateCode::Associated)
        })
        .filter_map(|a| a.cidr_block()?.parse().ok())
        .collect();
    if let Some(primary) = primary
        && !blocks.contains(&primary)
    {
        blocks.insert(0, primary);
    }
    let read = read(aws, vpc_id).await?;
    survey.problems.extend(read.vpc_problems(vpc_id));
    let network = Network {
        vpc_id,
        zone: &settings.zone,
        env: &settings.prefix,
        cluster_tag,
        gateway: read.gateway.as_deref(),
        subnets: &read.subnets,
        tables: &read.tables,
    };
    if let Some(id) = &settings.public_subnet_id
        && let Some(subnet) = network
            .subnet(aws, "public_subnet_id", id, &mut survey)
            .await?
    {
        network.check_public(&subnet, new, &mut survey);
    }
    if let Some(id) = &settings.private_subnet_id
        && let Some(subnet) = network
            .subnet(aws, "private_subnet_id", id, &mut survey)
            .await?
    {
        survey.egress = network.private_egress(id, &mut survey);
        check_private_room(aws, &subnet, primary, new, &mut survey).await?;
    }
    let to_create = [
        ("public_subnet_ip_prefix", settings.public_subnet_cidr()),
        ("private_subnet_ip_prefix", settings.private_subnet_cidr()),
    ];
    let configured: Vec<Ipv4Net> = to_create.iter().filter_map(|(_, net)| *net).collect();
    for (field, net) in to_create {
        if let Some(net) = net {
            survey
                .problems
                .extend(network.room_for(field, net, &blocks, &configured));
        }
    }
    Ok(survey)
}

/// What the survey reads of the VPC besides itself, at once.
struct Read {
    dns_support: bool,
    dns_hostnames: bool,
    gateway: Option<String>,
    subnets: Vec<Subnet>,
    tables: Vec<RouteTable>,
}

async fn read(aws: &Clients, vpc_id: &str) -> anyhow::Result<Read> {
    let ec2 = &aws.ec2;
    let policy = Policy::standard();
    let (dns_support, dns_hostnames, gateway, subnets, tables) = futures::try_join!(
        vpc::dns_enabled(ec2, vpc_id, VpcAttributeName::EnableDnsSupport, &policy),
        vpc::dns_enabled(ec2, vpc_id, VpcAttributeName::EnableDnsHostnames, &policy),
        internet_gateway::attached_to(ec2, vpc_id, &policy),
        ec2::matching::<Subnet>(ec2, vec![filters::vpc(vpc_id)], &policy),
        ec2::matching::<RouteTable>(ec2, vec![filters::vpc(vpc_id)], &policy),
    )?;
    // Matched here too: emulators may ignore the filters.
    Ok(Read {
        dns_support,
        dns_hostnames,
        gateway,
        subnets: subnets
            .into_iter()
            .filter(|s| s.vpc_id() == Some(vpc_id))
            .collect(),
        tables: tables
            .into_iter()
            .filter(|t| t.vpc_id() == Some(vpc_id))
            .collect(),
    })
}

impl Read {
    /// DNS off, or no internet gateway: each with the command that fixes it.
    fn vpc_problems(&self, vpc_id: &str) -> Vec<String> {
        let mut problems = Vec::new();
        for (on, flag) in [
            (self.dns_support, "dns-support"),
            (self.dns_hostnames, "dns-hostnames"),
        ] {
            if !on {
                problems.push(format!(
                    "vpc_id: VPC {vpc_id} has DNS {} off; BOSH and Kubernetes need instance DNS names: aws ec2 modify-vpc-attribute --vpc-id {vpc_id} --enable-{flag} '{{\"Value\":true}}'",
                    flag.trim_start_matches("dns-")
                ));
            }
        }
        if self.gateway.is_none() {
            problems.push(format!(
                "vpc_id: VPC {vpc_id} has no internet gateway attached; the bastion, the NAT gateway and the API load balancer need one: aws ec2 create-internet-gateway, then aws ec2 attach-internet-gateway --internet-gateway-id IGW_ID --vpc-id {vpc_id}"
            ));
        }
        problems
    }
}

/// An existing private subnet must hold the director at .252 of its first /24: a /24 or larger,
/// with that address free (checked only before anything exists: later, the director holds it).
async fn check_private_room(
    aws: &Clients,
    subnet: &Subnet,
    primary: Option<Ipv4Net>,
    new: bool,
    survey: &mut Survey,
) -> anyhow::Result<()> {
    let id = subnet.subnet_id().unwrap_or_default();
    let block = subnet.cidr_block().and_then(|b| b.parse::<Ipv4Net>().ok());
    match (block, primary) {
        (Some(block), _) if block.prefix_len() > 24 => survey.problems.push(format!(
            "private_subnet_id: {id} is {block}; the director and the cluster need a /24 or larger (BOSH gives the director .{DIRECTOR_HOST}): use a larger subnet"
        )),
        (Some(block), Some(primary)) if new => {
            let director = DirectorNetwork::new(block, primary).internal_ip;
            if let Some(holder) = address_holder(aws, id, &director.to_string()).await? {
                survey.problems.push(format!(
                    "private_subnet_id: {director}, the address BOSH gives the director, is held by {holder} in {id}: free it, or use another subnet"
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The VPC's subnets and route tables, as read once.
struct Network<'a> {
    vpc_id: &'a str,
    zone: &'a str,
    env: &'a str,
    cluster_tag: &'a str,
    /// The internet gateway attached to the VPC, if any.
    gateway: Option<&'a str>,
    subnets: &'a [Subnet],
    tables: &'a [RouteTable],
}

impl Network<'_> {
    /// The configured subnet, when it exists in the VPC and zone and is no other cluster's.
    async fn subnet(
        &self,
        aws: &Clients,
        field: &str,
        id: &str,
        survey: &mut Survey,
    ) -> anyhow::Result<Option<Subnet>> {
        let subnet = match self.subnets.iter().find(|s| s.subnet_id() == Some(id)) {
            Some(subnet) => subnet.clone(),
            None => {
                // Not in the VPC: elsewhere, or nowhere.
                match ec2::by_id::<Subnet>(&aws.ec2, id, &Policy::standard()).await? {
                    Some(other) => survey.problems.push(format!(
                        "{field}: {id} is in VPC {}, not in vpc_id {}; name a subnet of {}",
                        other.vpc_id().unwrap_or("?"),
                        self.vpc_id,
                        self.vpc_id
                    )),
                    None => survey.problems.push(format!(
                        "{field}: subnet {id} does not exist (or these credentials cannot see it); check the id"
                    )),
                }
                return Ok(None);
            }
        };
        let zone = subnet.availability_zone().unwrap_or_default();
        if zone != self.zone {
            survey.problems.push(format!(
                "{field}: {id} is in zone {zone}, not in zone {}; set zone = \"{zone}\", or name a subnet in {} (both subnets share one zone)",
                self.zone, self.zone
            ));
        }
        for t in subnet.tags() {
            let key = t.key().unwrap_or_default();
            let value = t.value().unwrap_or_default();
            let other = (key == CLUSTER_TAG && value != self.cluster_tag)
                || (key.starts_with("kubernetes.io/cluster/")
                    && key != cluster_key(self.cluster_tag));
            if other {
                survey.problems.push(format!(
                    "{field}: {id} is tagged {key}={value}, for another Kubernetes cluster, whose cloud provider would take this cluster's load balancers for its own: name another subnet"
                ));
            }
        }
        Ok(Some(subnet))
    }

    /// The route table that routes `subnet`: its own association, or the VPC's main table.
    /// `true` with it when the association is explicit.
    fn table_of(&self, subnet: &str) -> Option<(&RouteTable, bool)> {
        let explicit = self.tables.iter().find(|t| {
            t.associations()
                .iter()
                .any(|a| a.subnet_id() == Some(subnet))
        });
        match explicit {
            Some(table) => Some((table, true)),
            None => self
                .tables
                .iter()
                .find(|t| t.associations().iter().any(|a| a.main() == Some(true)))
                .map(|t| (t, false)),
        }
    }

    fn default_route(table: &RouteTable) -> Option<&Route> {
        table
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some(ANYWHERE))
    }

    /// An existing public subnet must route to the gateway and (before anything exists) have room
    /// for the load balancer, the bastion and the NAT gateway.
    fn check_public(&self, subnet: &Subnet, new: bool, survey: &mut Survey) {
        let id = subnet.subnet_id().unwrap_or_default();
        self.check_public_routes(id, survey);
        let free = subnet.available_ip_address_count().unwrap_or(0);
        if new && free < PUBLIC_ADDRESSES_NEEDED {
            survey.problems.push(format!(
                "public_subnet_id: {id} has {free} free addresses; the API load balancer needs 8 (AWS's minimum for a classic load balancer), the bastion and the NAT gateway one each: use a larger or emptier subnet"
            ));
        }
    }

    fn check_public_routes(&self, id: &str, survey: &mut Survey) {
        let found = self.table_of(id);
        let route = found.and_then(|(t, _)| Self::default_route(t));
        let to_gateway = route.is_some_and(|r| {
            r.gateway_id().is_some_and(|g| g.starts_with("igw-"))
                && r.state() != Some(&RouteState::Blackhole)
        });
        if !to_gateway {
            let table = found
                .and_then(|(t, _)| t.route_table_id())
                .unwrap_or("ROUTE_TABLE_ID");
            // Without a gateway, the VPC's own problem says to attach one first.
            let gateway = self.gateway.unwrap_or("IGW_ID");
            survey.problems.push(format!(
                "public_subnet_id: {id} does not route {ANYWHERE} to an internet gateway (route table {table}), so the bastion and the API load balancer could not be reached: aws ec2 create-route --route-table-id {table} --destination-cidr-block {ANYWHERE} --gateway-id {gateway}, or let cfcr-aws create the public subnet (public_subnet_ip_prefix instead of public_subnet_id)"
            ));
        }
    }

    /// How the existing private subnet gets out: its own default route, or (none, and only the
    /// main table routes it) through a NAT gateway cfcr-aws adds.
    fn private_egress(&self, id: &str, survey: &mut Survey) -> PrivateEgress {
        let Some((table, explicit)) = self.table_of(id) else {
            return PrivateEgress::OwnNatGateway;
        };
        let table_id = table.route_table_id().unwrap_or("?");
        if owned_by(table.tags(), self.env) {
            return PrivateEgress::OwnNatGateway;
        }
        match Self::default_route(table) {
            Some(route) if route.state() == Some(&RouteState::Blackhole) => {
                survey.problems.push(format!(
                    "private_subnet_id: {id}'s default route (route table {table_id}) is a blackhole: its NAT gateway or instance is gone; repair the route, or delete it so that cfcr-aws adds a NAT gateway"
                ));
            }
            Some(route) if route.gateway_id().is_some_and(|g| g.starts_with("igw-")) => {
                survey.problems.push(format!(
                    "private_subnet_id: {id} routes {ANYWHERE} to internet gateway {} (route table {table_id}): it is a public subnet, and the cluster's VMs have no public addresses to use it; name a subnet that routes through a NAT gateway or instance, or one without a default route (cfcr-aws then adds a NAT gateway)",
                    route.gateway_id().unwrap_or_default()
                ));
            }
            Some(route) => {
                let target = route
                    .nat_gateway_id()
                    .or(route.instance_id())
                    .or(route.network_interface_id())
                    .or(route.transit_gateway_id())
                    .or(route.gateway_id())
                    .unwrap_or("its target");
                survey.notes.push(format!(
                    "private subnet {id} routes {ANYWHERE} through {target} (route table {table_id}): cfcr-aws adds no NAT gateway"
                ));
                return PrivateEgress::Existing;
            }
            None if explicit => {
                survey.problems.push(format!(
                    "private_subnet_id: {id} is associated with route table {table_id}, which has no default route, so the cluster could not download anything: add a route to a NAT gateway or instance, or remove the association so that cfcr-aws associates a route table of its own through its own NAT gateway"
                ));
            }
            None => {}
        }
        PrivateEgress::OwnNatGateway
    }

    /// Problems with creating the /24 `net` in the VPC: outside its blocks, or overlapping a
    /// subnet that is not the environment's own. `configured` are both subnets' /24s, which the
    /// suggested fix avoids.
    fn room_for(
        &self,
        field: &str,
        net: Ipv4Net,
        blocks: &[Ipv4Net],
        configured: &[Ipv4Net],
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let fix = || self.free_prefix_fix(blocks, configured);
        if !blocks.iter().any(|b| b.contains(&net)) {
            let listed: Vec<String> = blocks.iter().map(|b| b.to_string()).collect();
            problems.push(format!(
                "{field}: {net} lies outside VPC {}'s blocks ({}); {}",
                self.vpc_id,
                listed.join(", "),
                fix()
            ));
        }
        for subnet in self.subnets {
            let Some(block) = subnet.cidr_block().and_then(|b| b.parse::<Ipv4Net>().ok()) else {
                continue;
            };
            let ours = owned_by(subnet.tags(), self.env);
            if !ours && (block.contains(&net) || net.contains(&block)) {
                problems.push(format!(
                    "{field}: {net} overlaps subnet {} ({block}) of VPC {}; {}",
                    subnet.subnet_id().unwrap_or("?"),
                    self.vpc_id,
                    fix()
                ));
            }
        }
        problems
    }

    /// What to choose instead: the first /24s inside the VPC's blocks that none of its subnets
    /// and neither configured prefix overlaps, as the three octets the configuration takes.
    fn free_prefix_fix(&self, blocks: &[Ipv4Net], configured: &[Ipv4Net]) -> String {
        let used: Vec<Ipv4Net> = self
            .subnets
            .iter()
            .filter_map(|s| s.cidr_block()?.parse().ok())
            .chain(configured.iter().copied())
            .collect();
        let overlaps = |a: &Ipv4Net, b: &Ipv4Net| a.contains(b) || b.contains(a);
        let free: Vec<String> = blocks
            .iter()
            // A block smaller than a /24 holds none.
            .filter_map(|block| block.subnets(24).ok())
            .flatten()
            .filter(|candidate| !used.iter().any(|u| overlaps(u, candidate)))
            .take(SUGGESTED_PREFIXES)
            .map(|free| {
                let [a, b, c, _] = free.addr().octets();
                format!("{a}.{b}.{c}")
            })
            .collect();
        if free.is_empty() {
            format!(
                "VPC {} has no free /24 left: associate another block with it (aws ec2 associate-vpc-cidr-block --vpc-id {} --cidr-block CIDR), or name existing subnets (public_subnet_id, private_subnet_id)",
                self.vpc_id, self.vpc_id
            )
        } else {
            format!(
                "choose a free /24 inside the VPC's blocks, e.g. {}",
                free.join(", ")
            )
        }
    }
}

/// The network interface holding `address` in `subnet`, if any, for messages.
async fn address_holder(
    aws: &Clients,
    subnet: &str,
    address: &str,
) -> anyhow::Result<Option<String>> {
    let holder = network_interface::holding(&aws.ec2, subnet, address, &Policy::standard()).await?;
    Ok(holder.and_then(|i| i.network_interface_id().map(str::to_string)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(subnets: &[Subnet]) -> Network<'_> {
        Network {
            vpc_id: "vpc-1",
            zone: "us-east-1a",
            env: "dev",
            cluster_tag: "tag",
            gateway: None,
            subnets,
            tables: &[],
        }
    }

    fn subnet(cidr: &str) -> Subnet {
        Subnet::builder().cidr_block(cidr).build()
    }

    fn nets(cidrs: &[&str]) -> Vec<Ipv4Net> {
        cidrs.iter().map(|c| c.parse().unwrap()).collect()
    }

    #[test]
    fn suggested_prefixes_are_free_and_inside_the_blocks() {
        let subnets = [subnet("10.0.0.0/24"), subnet("10.0.2.0/23")];
        let fix =
            network(&subnets).free_prefix_fix(&nets(&["10.0.0.0/16"]), &nets(&["10.0.1.0/24"]));
        assert!(fix.ends_with("e.g. 10.0.4, 10.0.5, 10.0.6"), "{fix}");
        // A block smaller than a /24 holds none; the next block does.
        let fix = network(&subnets).free_prefix_fix(&nets(&["10.1.0.0/26", "10.2.0.0/24"]), &[]);
        assert!(fix.ends_with("e.g. 10.2.0"), "{fix}");
        let full = network(&subnets).free_prefix_fix(&nets(&["10.0.0.0/24"]), &[]);
        assert!(full.contains("no free /24 left"), "{full}");
    }
}
