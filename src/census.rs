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

use aws_sdk_ec2::types::{Filter, Tag};

use crate::aws::{self, Clients, Policy};
use crate::resources::{OWNER_TAG, iam_path, owned_by};

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
    let pages = aws::all_pages(
        "DescribeTags",
        &Policy::standard(),
        |token| {
            ec2.describe_tags()
                .filters(Filter::builder().name("key").values(OWNER_TAG).build())
                .filters(Filter::builder().name("value").values(env).build())
                .set_next_token(token)
                .send()
        },
        |page| page.next_token(),
    )
    .await?;
    let mut tagged: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for tag in pages.iter().flat_map(|p| p.tags()) {
        if let (Some(kind), Some(id)) = (tag.resource_type(), tag.resource_id()) {
            tagged
                .entry(kind.as_str().to_string())
                .or_default()
                .push(id.to_string());
        }
    }
    let ids = |kind: &str| tagged.get(kind).cloned().unwrap_or_default();
    let lists = futures::try_join!(
        instances(ec2, env, ids("instance")),
        volumes(ec2, env, ids("volume")),
        network_interfaces(ec2, env, ids("network-interface")),
        nat_gateways(ec2, env, ids("natgateway")),
        addresses(ec2, env, ids("elastic-ip")),
        security_groups(ec2, env, ids("security-group")),
        route_tables(ec2, env, ids("route-table")),
        subnets(ec2, env, ids("subnet")),
        internet_gateways(ec2, env, ids("internet-gateway")),
        vpcs(ec2, env, ids("vpc")),
        key_pairs(ec2, env, ids("key-pair")),
    )?;
    let (a, b, c, d, e, f, g, h, i, j, k) = lists;
    Ok([a, b, c, d, e, f, g, h, i, j, k]
        .into_iter()
        .flatten()
        .collect())
}

/// A filter on the kind's id; filters, unlike id lists, do not fail on an id that is gone.
fn by_ids(name: &str, ids: Vec<String>) -> Vec<Filter> {
    vec![Filter::builder().name(name).set_values(Some(ids)).build()]
}

// Each kind: nothing to ask when the tag listing named none of it; what it answers is checked for
// the tag again (emulators may ignore a filter).

async fn instances(
    ec2: &aws_sdk_ec2::Client,
    env: &str,
    ids: Vec<String>,
) -> anyhow::Result<Vec<Found>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let filters = by_ids("instance-id", ids);
    let pages = aws::all_pages(
        "DescribeInstances",
        &Policy::standard(),
        |token| {
            ec2.describe_instances()
                .set_filters(Some(filters.clone()))
                .set_next_token(token)
                .send()
        },
        |page| page.next_token(),
    )
    .await?;
    Ok(pages
        .iter()
        .flat_map(|p| p.reservations())
        .flat_map(|r| r.instances())
        .filter(|i| owned_by(i.tags(), env))
        .filter(|i| {
            !matches!(
                i.state().and_then(|s| s.name()).map(|n| n.as_str()),
                Some("terminated" | "shutting-down")
            )
        })
        .filter_map(|i| found(Kind::Instance, i.instance_id(), i.tags()))
        .collect())
}

async fn volumes(
    ec2: &aws_sdk_ec2::Client,
    env: &str,
    ids: Vec<String>,
) -> anyhow::Result<Vec<Found>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let filters = by_ids("volume-id", ids);
    let out = aws::call("DescribeVolumes", &Policy::standard(), || {
        ec2.describe_volumes()
            .set_filters(Some(filters.clone()))
            .send()
    })
    .await?;
    Ok(out
        .volumes()
        .iter()
        .filter(|v| owned_by(v.tags(), env))
        .filter_map(|v| found(Kind::Volume, v.volume_id(), v.tags()))
        .collect())
}

async fn network_interfaces(
    ec2: &aws_sdk_ec2::Client,
    env: &str,
    ids: Vec<String>,
) -> anyhow::Result<Vec<Found>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let filters = by_ids("network-interface-id", ids);
    let out = aws::call("DescribeNetworkInterfaces", &Policy::standard(), || {
        ec2.describe_network_interfaces()
            .set_filters(Some(filters.clone()))
            .send()
    })
    .await?;
    Ok(out
        .network_interfaces()
        .iter()
        .filter(|n| owned_by(n.tag_set(), env))
        .filter_map(|n| {
            found(
                Kind::NetworkInterface,
                n.network_interface_id(),
                n.tag_set(),
            )
        })
        .collect())
}

async fn nat_gateways(
    ec2: &aws_sdk_ec2::Client,
    env: &str,
    ids: Vec<String>,
) -> anyhow::Result<Vec<Found>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let filters = by_ids("nat-gateway-id", ids);
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
    Ok(pages
        .iter()
        .flat_map(|p| p.nat_gateways())
        .filter(|g| owned_by(g.tags(), env))
        .filter(|g| {
            matches!(
                g.state().map(|s| s.as_str()),
                Some("pending" | "available" | "deleting")
            )
        })
        .filter_map(|g| found(Kind::NatGateway, g.nat_gateway_id(), g.tags()))
        .collect())
}

async fn addresses(
    ec2: &aws_sdk_ec2::Client,
    env: &str,
    ids: Vec<String>,
) -> anyhow::Result<Vec<Found>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let filters = by_ids("allocation-id", ids);
    let out = aws::call("DescribeAddresses", &Policy::standard(), || {
        ec2.describe_addresses()
            .set_filters(Some(filters.clone()))
            .send()
    })
    .await?;
    Ok(out
        .addresses()
        .iter()
        .filter(|a| owned_by(a.tags(), env))
        .filter_map(|a| found(Kind::ElasticIp, a.allocation_id(), a.tags()))
        .collect())
}

async fn security_groups(
    ec2: &aws_sdk_ec2::Client,
    env: &str,
    ids: Vec<String>,
) -> anyhow::Result<Vec<Found>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let filters = by_ids("group-id", ids);
    let out = aws::call("DescribeSecurityGroups", &Policy::standard(), || {
        ec2.describe_security_groups()
            .set_filters(Some(filters.clone()))
            .send()
    })
    .await?;
    Ok(out
        .security_groups()
        .iter()
        .filter(|g| owned_by(g.tags(), env))
        .filter_map(|g| found(Kind::SecurityGroup, g.group_id(), g.tags()))
        .collect())
}

async fn route_tables(
    ec2: &aws_sdk_ec2::Client,
    env: &str,
    ids: Vec<String>,
) -> anyhow::Result<Vec<Found>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let filters = by_ids("route-table-id", ids);
    let out = aws::call("DescribeRouteTables", &Policy::standard(), || {
        ec2.describe_route_tables()
            .set_filters(Some(filters.clone()))
            .send()
    })
    .await?;
    Ok(out
        .route_tables()
        .iter()
        .filter(|t| owned_by(t.tags(), env))
        .filter_map(|t| found(Kind::RouteTable, t.route_table_id(), t.tags()))
        .collect())
}

async fn subnets(
    ec2: &aws_sdk_ec2::Client,
    env: &str,
    ids: Vec<String>,
) -> anyhow::Result<Vec<Found>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let filters = by_ids("subnet-id", ids);
    let out = aws::call("DescribeSubnets", &Policy::standard(), || {
        ec2.describe_subnets()
            .set_filters(Some(filters.clone()))
            .send()
    })
    .await?;
    Ok(out
        .subnets()
        .iter()
        .filter(|s| owned_by(s.tags(), env))
        .filter_map(|s| found(Kind::Subnet, s.subnet_id(), s.tags()))
        .collect())
}

async fn internet_gateways(
    ec2: &aws_sdk_ec2::Client,
    env: &str,
    ids: Vec<String>,
) -> anyhow::Result<Vec<Found>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let filters = by_ids("internet-gateway-id", ids);
    let out = aws::call("DescribeInternetGateways", &Policy::standard(), || {
        ec2.describe_internet_gateways()
            .set_filters(Some(filters.clone()))
            .send()
    })
    .await?;
    Ok(out
        .internet_gateways()
        .iter()
        .filter(|g| owned_by(g.tags(), env))
        .filter_map(|g| found(Kind::InternetGateway, g.internet_gateway_id(), g.tags()))
        .collect())
}

async fn vpcs(
    ec2: &aws_sdk_ec2::Client,
    env: &str,
    ids: Vec<String>,
) -> anyhow::Result<Vec<Found>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let filters = by_ids("vpc-id", ids);
    let out = aws::call("DescribeVpcs", &Policy::standard(), || {
        ec2.describe_vpcs()
            .set_filters(Some(filters.clone()))
            .send()
    })
    .await?;
    Ok(out
        .vpcs()
        .iter()
        .filter(|v| owned_by(v.tags(), env))
        .filter_map(|v| found(Kind::Vpc, v.vpc_id(), v.tags()))
        .collect())
}

async fn key_pairs(
    ec2: &aws_sdk_ec2::Client,
    env: &str,
    ids: Vec<String>,
) -> anyhow::Result<Vec<Found>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let filters = by_ids("key-pair-id", ids);
    let out = aws::call("DescribeKeyPairs", &Policy::standard(), || {
        ec2.describe_key_pairs()
            .set_filters(Some(filters.clone()))
            .send()
    })
    .await?;
    Ok(out
        .key_pairs()
        .iter()
        .filter(|k| owned_by(k.tags(), env))
        .filter_map(|k| found(Kind::KeyPair, k.key_name(), k.tags()))
        .collect())
}

/// Classic load balancers carrying the ownership tag: every load balancer's tags, twenty names
/// to a request (the API's limit).
async fn load_balancers(aws: &Clients, env: &str) -> anyhow::Result<Vec<Found>> {
    let elb = &aws.elb;
    let pages = aws::all_pages(
        "DescribeLoadBalancers",
        &Policy::standard(),
        |marker| elb.describe_load_balancers().set_marker(marker).send(),
        |page| page.next_marker(),
    )
    .await?;
    let names: Vec<String> = pages
        .iter()
        .flat_map(|p| p.load_balancer_descriptions())
        .filter_map(|lb| lb.load_balancer_name().map(str::to_string))
        .collect();
    let mut found = Vec::new();
    for chunk in names.chunks(20) {
        for (name, tags) in load_balancer_tags(elb, chunk).await? {
            if tags.iter().any(|(k, v)| k == OWNER_TAG && v == env) {
                found.push(Found {
                    kind: Kind::LoadBalancer,
                    id: name,
                    name: None,
                });
            }
        }
    }
    Ok(found)
}

/// The tags of the load balancers `names`. One deleted since it was listed fails the whole
/// request: then each is asked alone, and one that is gone has none.
async fn load_balancer_tags(
    elb: &aws_sdk_elasticloadbalancing::Client,
    names: &[String],
) -> anyhow::Result<Vec<(String, Vec<(String, String)>)>> {
    let ask = |names: Vec<String>| async move {
        let out = aws::call("DescribeTags", &Policy::standard(), || {
            elb.describe_tags()
                .set_load_balancer_names(Some(names.clone()))
                .send()
        })
        .await?;
        Ok::<_, aws::retry::AwsError>(
            out.tag_descriptions()
                .iter()
                .filter_map(|d| {
                    let tags = d
                        .tags()
                        .iter()
                        .map(|t| {
                            (
                                t.key().to_string(),
                                t.value().unwrap_or_default().to_string(),
                            )
                        })
                        .collect();
                    Some((d.load_balancer_name()?.to_string(), tags))
                })
                .collect::<Vec<_>>(),
        )
    };
    match ask(names.to_vec()).await {
        Err(e) if e.is(aws::ErrorClass::NotFound) => {
            let mut all = Vec::new();
            if names.len() > 1 {
                for name in names {
                    all.extend(aws::absent_ok(ask(vec![name.clone()]).await)?.unwrap_or_default());
                }
            }
            Ok(all)
        }
        other => Ok(other?),
    }
}

/// Everything under the environment's IAM path.
async fn iam(aws: &Clients, env: &str) -> anyhow::Result<Vec<Found>> {
    let iam = &aws.iam;
    let path = iam_path(env);
    let policy = Policy::standard();
    let named = |kind: Kind, name: &str| Found {
        kind,
        id: name.to_string(),
        name: None,
    };
    let (profiles, roles, policies, users) = futures::try_join!(
        aws::call("ListInstanceProfiles", &policy, || {
            iam.list_instance_profiles().path_prefix(&path).send()
        }),
        aws::call("ListRoles", &policy, || iam
            .list_roles()
            .path_prefix(&path)
            .send()),
        aws::call("ListPolicies", &policy, || {
            iam.list_policies()
                .scope(aws_sdk_iam::types::PolicyScopeType::Local)
                .path_prefix(&path)
                .send()
        }),
        aws::call("ListUsers", &policy, || iam
            .list_users()
            .path_prefix(&path)
            .send()),
    )?;
    // Matched here too: emulators may ignore the path prefix.
    let under = |p: &str| p == path;
    let mut found: Vec<Found> = profiles
        .instance_profiles()
        .iter()
        .filter(|p| under(p.path()))
        .map(|p| named(Kind::InstanceProfile, p.instance_profile_name()))
        .collect();
    found.extend(
        roles
            .roles()
            .iter()
            .filter(|r| under(r.path()))
            .map(|r| named(Kind::Role, r.role_name())),
    );
    found.extend(
        policies
            .policies()
            .iter()
            .filter(|p| p.path().is_some_and(under))
            .filter_map(|p| Some(named(Kind::Policy, p.arn()?))),
    );
    found.extend(
        users
            .users()
            .iter()
            .filter(|u| under(u.path()))
            .map(|u| named(Kind::User, u.user_name())),
    );
    Ok(found)
}
