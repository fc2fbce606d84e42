//! Everything in AWS that carries an environment's ownership tag — every EC2 kind the environment or
//! its director makes, and load balancers — or lives under its IAM path, whatever the state or the
//! configuration says. Stateless `unpave` starts from it (is anything of the environment there at
//! all?), and every `unpave` ends with it: nothing may be left when it says "gone".
//!
//! EC2 answers one `DescribeTags` by the ownership tag for every kind; what it lists is confirmed
//! with the kind's own describe by id, since a tag listing can outlive its resource (for a while on
//! AWS, for ever on LocalStack). When nothing is left, that is one request.

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_ec2::types::{
    Address, Instance, InternetGateway, KeyPairInfo, NatGateway, NetworkInterface, RouteTable,
    SecurityGroup, Subnet, Tag, Volume, Vpc,
};

use crate::aws::{Clients, Policy};
use crate::ec2::filters::filter;
use crate::ec2::tags::{OWNER_TAG, owned_by};
use crate::ec2::{self, Described, instance, nat_gateway};
use crate::elb;
use crate::resources::iam_listing;

/// A resource found by the census.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Found {
    pub kind: Kind,
    pub id: String,
    /// Its `Name` tag, if it has one.
    pub name: Option<String>,
}

/// The kinds the census reads, in the order it reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Instance,
    Volume,
    NetworkInterface,
    NatGateway,
    ElasticIp,
    LoadBalancer,
    SecurityGroup,
    RouteTable,
    Subnet,
    InternetGateway,
    Vpc,
    KeyPair,
    InstanceProfile,
    Role,
    Policy,
    User,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Instance => "instance",
            Kind::Volume => "volume",
            Kind::NetworkInterface => "network interface",
            Kind::NatGateway => "NAT gateway",
            Kind::ElasticIp => "elastic IP",
            Kind::LoadBalancer => "load balancer",
            Kind::SecurityGroup => "security group",
            Kind::RouteTable => "route table",
            Kind::Subnet => "subnet",
            Kind::InternetGateway => "internet gateway",
            Kind::Vpc => "VPC",
            Kind::KeyPair => "key pair",
            Kind::InstanceProfile => "IAM instance profile",
            Kind::Role => "IAM role",
            Kind::Policy => "IAM policy",
            Kind::User => "IAM user",
        })
    }
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) if *name != self.id => write!(f, "{} {} ({name})", self.kind, self.id),
            _ => write!(f, "{} {}", self.kind, self.id),
        }
    }
}

fn found(kind: Kind, id: Option<&str>, tags: &[Tag]) -> Option<Found> {
    Some(Found {
        kind,
        id: id?.to_string(),
        name: tags
            .iter()
            .find(|t| t.key() == Some("Name"))
            .and_then(|t| t.value())
            .map(str::to_string),
    })
}

/// Everything of environment `env`, sorted by kind.
pub async fn owned(aws: &Clients, env: &str) -> anyhow::Result<Vec<Found>> {
    let (ec2, elb, iam) =
        futures::try_join!(ec2(aws, env), load_balancers(aws, env), iam(aws, env))?;
    let mut all: Vec<Found> = ec2.into_iter().chain(elb).chain(iam).collect();
    all.sort();
    Ok(all)
}

/// Every EC2 kind: the tag listing, then each kind it names confirmed at once.
async fn ec2(aws: &Clients, env: &str) -> anyhow::Result<Vec<Found>> {
    let ec2 = &aws.ec2;
    let by_owner = vec![filter("key", [OWNER_TAG]), filter("value", [env])];
    let listed = ec2::tag_listing(ec2, by_owner, &Policy::standard()).await?;
    let mut tagged: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for tag in &listed {
        if let (Some(kind), Some(id)) = (tag.resource_type(), tag.resource_id()) {
            tagged
                .entry(kind.as_str().to_string())
                .or_default()
                .push(id.to_string());
        }
    }
    let ids = |kind: &str| tagged.get(kind).cloned().unwrap_or_default();
    let lists = futures::try_join!(
        confirm::<Instance>(ec2, env, Kind::Instance, ids("instance"), instance::is_live),
        confirm::<Volume>(ec2, env, Kind::Volume, ids("volume"), counted),
        confirm::<NetworkInterface>(
            ec2,
            env,
            Kind::NetworkInterface,
            ids("network-interface"),
            counted
        ),
        confirm::<NatGateway>(
            ec2,
            env,
            Kind::NatGateway,
            ids("natgateway"),
            nat_gateway::holds
        ),
        confirm::<Address>(ec2, env, Kind::ElasticIp, ids("elastic-ip"), counted),
        confirm::<SecurityGroup>(
            ec2,
            env,
            Kind::SecurityGroup,
            ids("security-group"),
            counted
        ),
        confirm::<RouteTable>(ec2, env, Kind::RouteTable, ids("route-table"), counted),
        confirm::<Subnet>(ec2, env, Kind::Subnet, ids("subnet"), counted),
        confirm::<InternetGateway>(
            ec2,
            env,
            Kind::InternetGateway,
            ids("internet-gateway"),
            counted
        ),
        confirm::<Vpc>(ec2, env, Kind::Vpc, ids("vpc"), counted),
        confirm::<KeyPairInfo>(ec2, env, Kind::KeyPair, ids("key-pair"), counted),
    )?;
    let (a, b, c, d, e, f, g, h, i, j, k) = lists;
    Ok([a, b, c, d, e, f, g, h, i, j, k]
        .into_iter()
        .flatten()
        .collect())
}

/// For the kinds whose answer counts as it is: only instances and NAT gateways are still
/// described for a while once they are gone.
fn counted<T>(_: &T) -> bool {
    true
}

/// Those of `ids`, which the tag listing names as `kind`, that still exist (`live`) and carry the
/// tag: nothing is asked when the listing named none, and what AWS answers is checked for the tag
/// again (emulators may ignore a filter). A key pair is named by its name, as DeleteKeyPair takes it.
async fn confirm<T: Described>(
    ec2: &aws_sdk_ec2::Client,
    env: &str,
    kind: Kind,
    ids: Vec<String>,
    live: fn(&T) -> bool,
) -> anyhow::Result<Vec<Found>> {
    let answered: Vec<T> = ec2::listed(ec2, ids, &Policy::standard()).await?;
    Ok(answered
        .iter()
        .filter(|item| owned_by(item.tag_list(), env) && live(item))
        .filter_map(|item| found(kind, item.id(), item.tag_list()))
        .collect())
}

/// Classic load balancers carrying the ownership tag: every load balancer's tags, twenty names
/// to a request (the API's limit).
async fn load_balancers(aws: &Clients, env: &str) -> anyhow::Result<Vec<Found>> {
    let names: Vec<String> = elb::every(&aws.elb)
        .await?
        .iter()
        .filter_map(|lb| lb.load_balancer_name().map(str::to_string))
        .collect();
    Ok(elb::tags(&aws.elb, &names)
        .await?
        .into_iter()
        .filter(|(_, tags)| tags.iter().any(|(k, v)| k == OWNER_TAG && v == env))
        .map(|(name, _)| Found {
            kind: Kind::LoadBalancer,
            id: name,
            name: None,
        })
        .collect())
}

/// Everything under the environment's IAM path.
async fn iam(aws: &Clients, env: &str) -> anyhow::Result<Vec<Found>> {
    let found = iam_listing::under_path(&aws.iam, env, iam_listing::Wanted::ALL).await?;
    let named = |kind: Kind, name: &str| Found {
        kind,
        id: name.to_string(),
        name: None,
    };
    Ok(found
        .profiles
        .iter()
        .map(|p| named(Kind::InstanceProfile, p.instance_profile_name()))
        .chain(found.roles.iter().map(|r| named(Kind::Role, r.role_name())))
        .chain(
            found
                .policies
                .iter()
                .filter_map(|p| Some(named(Kind::Policy, p.arn()?))),
        )
        .chain(found.users.iter().map(|u| named(Kind::User, u.user_name())))
        .collect())
}
