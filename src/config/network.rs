//! The network keys, checked together, and the addresses the director gets in that network.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::check::{aws_id, distinct, parse_cidr, slash24, subnet_of};
use super::defaults::{
    DEFAULT_PRIVATE_SUBNET_IP_PREFIX, DEFAULT_PUBLIC_SUBNET_IP_PREFIX, DEFAULT_VPC_CIDR,
};
use super::error::{ValidationError, invalid};
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
pub(super) struct NetworkSettings {
    pub(super) vpc_cidr: Option<Ipv4Net>,
    pub(super) public_subnet_ip_prefix: Option<String>,
    pub(super) private_subnet_ip_prefix: Option<String>,
    pub(super) vpc_id: Option<String>,
    pub(super) public_subnet_id: Option<String>,
    pub(super) private_subnet_id: Option<String>,
}

pub(super) fn validate_network(values: &ConfigValues) -> Result<NetworkSettings, ValidationError> {
    let vpc_id = values
        .vpc_id
        .as_deref()
        .map(|id| aws_id("vpc_id", "vpc", id))
        .transpose()?;
    let public_subnet_id = values
        .public_subnet_id
        .as_deref()
        .map(|id| aws_id("public_subnet_id", "subnet", id))
        .transpose()?;
    let private_subnet_id = values
        .private_subnet_id
        .as_deref()
        .map(|id| aws_id("private_subnet_id", "subnet", id))
        .transpose()?;
    let Some(vpc_id) = vpc_id else {
        for (field, given) in [
            ("public_subnet_id", &public_subnet_id),
            ("private_subnet_id", &private_subnet_id),
        ] {
            if given.is_some() {
                return Err(invalid(
                    field,
                    "needs vpc_id: an existing subnet is used only with the existing VPC that holds it; set vpc_id too",
                ));
            }
        }
        let vpc_cidr = parse_cidr(
            "vpc_cidr",
            values.vpc_cidr.as_deref().unwrap_or(DEFAULT_VPC_CIDR),
        )?;
        if vpc_cidr.prefix_len() < 16 || vpc_cidr.prefix_len() > 24 {
            return Err(invalid(
                "vpc_cidr",
                format!("{vpc_cidr}: AWS allows VPC blocks from /16 to /24; use e.g. 10.0.0.0/16"),
            ));
        }
        let public = values
            .public_subnet_ip_prefix
            .clone()
            .unwrap_or_else(|| DEFAULT_PUBLIC_SUBNET_IP_PREFIX.into());
        let private = values
            .private_subnet_ip_prefix
            .clone()
            .unwrap_or_else(|| DEFAULT_PRIVATE_SUBNET_IP_PREFIX.into());
        let public_net = subnet_of("public_subnet_ip_prefix", &public, Some(vpc_cidr))?;
        let private_net = subnet_of("private_subnet_ip_prefix", &private, Some(vpc_cidr))?;
        distinct(public_net, private_net, &private)?;
        return Ok(NetworkSettings {
            vpc_cidr: Some(vpc_cidr),
            public_subnet_ip_prefix: Some(public),
            private_subnet_ip_prefix: Some(private),
            vpc_id: None,
            public_subnet_id: None,
            private_subnet_id: None,
        });
    };
    if values.vpc_cidr.is_some() {
        return Err(invalid(
            "vpc_cidr",
            "not used with vpc_id: the existing VPC's block is read from AWS; remove vpc_cidr",
        ));
    }
    // Each subnet: an existing one, or a /24 to create in the VPC (checked against its blocks
    // and subnets in preflight).
    let prefix = |field: &str, id_field: &str, id: &Option<String>, given: &Option<String>| match (
        id, given,
    ) {
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
    };
    let public = prefix(
        "public_subnet_ip_prefix",
        "public_subnet_id",
        &public_subnet_id,
        &values.public_subnet_ip_prefix,
    )?;
    let private = prefix(
        "private_subnet_ip_prefix",
        "private_subnet_id",
        &private_subnet_id,
        &values.private_subnet_ip_prefix,
    )?;
    if let (Some(public), Some(private)) = (&public, &private) {
        let net = |p: &str| slash24(p).expect("checked above");
        distinct(net(public), net(private), private)?;
    }
    if public_subnet_id.is_some() && public_subnet_id == private_subnet_id {
        return Err(invalid(
            "private_subnet_id",
            "is the same subnet as public_subnet_id; the bastion and load balancer need a public subnet and the cluster a private one",
        ));
    }
    Ok(NetworkSettings {
        vpc_cidr: None,
        public_subnet_ip_prefix: public,
        private_subnet_ip_prefix: private,
        vpc_id: Some(vpc_id),
        public_subnet_id,
        private_subnet_id,
    })
}
