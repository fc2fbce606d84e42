//! The network keys, checked together, and the addresses the director gets in that network.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::check::{aws_id, parse_cidr, slash24, subnet_of};
use super::defaults::{
    DEFAULT_PRIVATE_SUBNET_IP_PREFIX, DEFAULT_PUBLIC_SUBNET_IP_PREFIX, DEFAULT_VPC_CIDR,
};
use super::error::{ValidationError, ValidationErrors, invalid};
use super::values::ConfigValues;

/// Addresses of the network the BOSH director and the cluster live in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectorNetwork {
    pub internal_cidr: Ipv4Net,
    pub internal_gw: Ipv4Addr,
    pub internal_ip: Ipv4Addr,
    pub dns_recursor_ip: Ipv4Addr,
}

impl DirectorNetwork {
    /// The private subnet, its gateway (.1), the director's address (.252 of its first /24), and
    /// the VPC's DNS resolver (the base of the VPC's primary block + 2, as AWS documents it).
    pub fn new(private_subnet: Ipv4Net, vpc_cidr: Ipv4Net) -> DirectorNetwork {
        let nth = |net: Ipv4Net, n: u32| Ipv4Addr::from(u32::from(net.network()) + n);
        DirectorNetwork {
            internal_cidr: private_subnet,
            internal_gw: nth(private_subnet, 1),
            internal_ip: nth(private_subnet, DIRECTOR_HOST),
            dns_recursor_ip: nth(vpc_cidr, 2),
        }
    }
}

/// The director's host number in the private subnet: `.252`, as the classic template had it. It
/// is why an existing private subnet must be a /24 or larger.
pub const DIRECTOR_HOST: u32 = 252;

/// The network keys, checked together: a new VPC with its two /24s, or an existing VPC with
/// existing subnets or /24s to create in it.
#[derive(Default)]
pub(super) struct NetworkSettings {
    pub(super) vpc_cidr: Option<Ipv4Net>,
    pub(super) public_subnet_ip_prefix: Option<String>,
    pub(super) private_subnet_ip_prefix: Option<String>,
    pub(super) vpc_id: Option<String>,
    pub(super) public_subnet_id: Option<String>,
    pub(super) private_subnet_id: Option<String>,
}

/// `vpc_id` chooses between a new VPC and an existing one; the ids' form is checked either way.
pub(super) fn validate_network(values: &ConfigValues) -> Result<NetworkSettings, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let vpc_id = errors.or_default(given_id("vpc_id", "vpc", &values.vpc_id));
    let public_subnet_id = errors.keep(given_id(
        "public_subnet_id",
        "subnet",
        &values.public_subnet_id,
    ));
    let private_subnet_id = errors.keep(given_id(
        "private_subnet_id",
        "subnet",
        &values.private_subnet_id,
    ));
    let blocks = errors.or_default(match values.vpc_id {
        None => new_vpc(values),
        Some(_) => existing_vpc(values),
    });
    if let (Some(public), Some(private)) = (&public_subnet_id, &private_subnet_id)
        && values.vpc_id.is_some()
    {
        errors.keep(distinct_subnets(public, private));
    }
    errors.finish(NetworkSettings {
        vpc_id,
        public_subnet_id: public_subnet_id.flatten(),
        private_subnet_id: private_subnet_id.flatten(),
        ..blocks
    })
}

/// The id given for `field`, lowercased, if any.
fn given_id(
    field: &str,
    kind: &str,
    given: &Option<String>,
) -> Result<Option<String>, ValidationError> {
    given
        .as_deref()
        .map(|id| aws_id(field, kind, id))
        .transpose()
}

/// A VPC cfcr-aws creates, and its two /24s inside it.
fn new_vpc(values: &ConfigValues) -> Result<NetworkSettings, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    for (field, given) in [
        ("public_subnet_id", &values.public_subnet_id),
        ("private_subnet_id", &values.private_subnet_id),
    ] {
        if given.is_some() {
            errors.push(invalid(
                field,
                "needs vpc_id: an existing subnet is used only with the existing VPC that holds it; set vpc_id too",
            ));
        }
    }
    let vpc_cidr = errors.keep(vpc_block(
        values.vpc_cidr.as_deref().unwrap_or(DEFAULT_VPC_CIDR),
    ));
    let public = values
        .public_subnet_ip_prefix
        .clone()
        .unwrap_or_else(|| DEFAULT_PUBLIC_SUBNET_IP_PREFIX.into());
    let private = values
        .private_subnet_ip_prefix
        .clone()
        .unwrap_or_else(|| DEFAULT_PRIVATE_SUBNET_IP_PREFIX.into());
    // Without a valid block, only the /24s' form is checked.
    let public_net = errors.keep(subnet_of("public_subnet_ip_prefix", &public, vpc_cidr));
    let private_net = errors.keep(subnet_of("private_subnet_ip_prefix", &private, vpc_cidr));
    if public_net.is_some() && private_net.is_some() {
        errors.keep(distinct_prefixes(&public, &private));
    }
    errors.finish(NetworkSettings {
        vpc_cidr,
        public_subnet_ip_prefix: Some(public),
        private_subnet_ip_prefix: Some(private),
        ..NetworkSettings::default()
    })
}

/// A block AWS allows for a VPC.
fn vpc_block(text: &str) -> Result<Ipv4Net, ValidationError> {
    let vpc_cidr = parse_cidr("vpc_cidr", text)?;
    if vpc_cidr.prefix_len() < 16 || vpc_cidr.prefix_len() > 24 {
        return Err(invalid(
            "vpc_cidr",
            format!("{vpc_cidr}: AWS allows VPC blocks from /16 to /24; use e.g. 10.0.0.0/16"),
        ));
    }
    Ok(vpc_cidr)
}

/// An existing VPC, whose block is read from AWS; each subnet an existing one or a /24 to create
/// in it (checked against its blocks and subnets in preflight).
fn existing_vpc(values: &ConfigValues) -> Result<NetworkSettings, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    if values.vpc_cidr.is_some() {
        errors.push(invalid(
            "vpc_cidr",
            "not used with vpc_id: the existing VPC's block is read from AWS; remove vpc_cidr",
        ));
    }
    let public = errors.keep(subnet_in_existing_vpc(
        "public_subnet_ip_prefix",
        "public_subnet_id",
        &values.public_subnet_id,
        &values.public_subnet_ip_prefix,
    ));
    let private = errors.keep(subnet_in_existing_vpc(
        "private_subnet_ip_prefix",
        "private_subnet_id",
        &values.private_subnet_id,
        &values.private_subnet_ip_prefix,
    ));
    if let (Some(Some(public)), Some(Some(private))) = (&public, &private) {
        errors.keep(distinct_prefixes(public, private));
    }
    errors.finish(NetworkSettings {
        public_subnet_ip_prefix: public.flatten(),
        private_subnet_ip_prefix: private.flatten(),
        ..NetworkSettings::default()
    })
}

/// The /24 to create for one subnet of an existing VPC; `None` when `id_field` names an existing
/// subnet instead.
fn subnet_in_existing_vpc(
    field: &str,
    id_field: &str,
    id: &Option<String>,
    given: &Option<String>,
) -> Result<Option<String>, ValidationError> {
    match (id, given) {
        (Some(_), Some(_)) => Err(invalid(
            field,
            format!(
                "not used with {id_field}: the existing subnet's block is read from AWS; remove one of the two"
            ),
        )),
        (Some(_), None) => Ok(None),
        (None, Some(prefix)) => subnet_of(field, prefix, None).map(|_| Some(prefix.clone())),
        (None, None) => Err(invalid(
            field,
            format!(
                "missing: with vpc_id and no {id_field}, cfcr-aws creates this subnet in the VPC; give the first three octets of a free /24 inside the VPC's block (e.g. 10.0.1), or name an existing subnet with {id_field}"
            ),
        )),
    }
}

/// Two valid /24 prefixes that are not the same subnet.
fn distinct_prefixes(public: &str, private: &str) -> Result<(), ValidationError> {
    if slash24(public) == slash24(private) {
        return Err(invalid(
            "private_subnet_ip_prefix",
            format!(
                "{private} is the same as public_subnet_ip_prefix; the two subnets need distinct /24s, e.g. 10.0.1 and 10.0.2"
            ),
        ));
    }
    Ok(())
}

/// Two existing subnets given: the bastion's and the cluster's must differ.
fn distinct_subnets(
    public: &Option<String>,
    private: &Option<String>,
) -> Result<(), ValidationError> {
    if public.is_some() && public == private {
        return Err(invalid(
            "private_subnet_id",
            "is the same subnet as public_subnet_id; the bastion and load balancer need a public subnet and the cluster a private one",
        ));
    }
    Ok(())
}
