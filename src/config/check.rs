//! Checks of single values, shared by the settings and the hand-off's settings: each names the key it
//! was given for.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::defaults::DEFAULT_ALLOWED_CIDR;
use super::error::{ValidationError, ValidationErrors, invalid};

/// `P-cfcr-api` must fit the 32-character classic ELB name limit.
const MAX_PREFIX_LEN: usize = 32 - "-cfcr-api".len();

/// `value`, or `default`, when it is a word of letters, digits, '.', '-', '_' (and '/' for refs).
pub(super) fn word(
    field: &str,
    value: &Option<String>,
    default: &str,
    slash: bool,
) -> Result<String, ValidationError> {
    let value = value.clone().unwrap_or_else(|| default.into());
    let ok = !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') || (slash && c == '/')
        });
    if ok {
        Ok(value)
    } else {
        Err(invalid(
            field,
            format!("{value:?} may hold only letters, digits, '.', '-' and '_'; e.g. {default}"),
        ))
    }
}

/// A checksum of `digits` hexadecimal digits, lowercased; `None` when not given.
pub(super) fn checksum(
    field: &str,
    value: &Option<String>,
    digits: usize,
    what: &str,
) -> Result<Option<String>, ValidationError> {
    match value {
        Some(v) if v.len() == digits && v.chars().all(|c| c.is_ascii_hexdigit()) => {
            Ok(Some(v.to_ascii_lowercase()))
        }
        Some(v) => Err(invalid(
            field,
            format!("{v:?} is not a {what} checksum ({digits} hexadecimal digits)"),
        )),
        None => Ok(None),
    }
}

/// The checksum given, or the one pinned for the default version; any other version needs its own
/// (a checksum pinned for one version would be wrong for another).
pub(super) fn pinned_checksum(
    field: &str,
    given: &Option<String>,
    (digits, what): (usize, &str),
    version: &str,
    (default_version, default_sum): (&str, &str),
) -> Result<String, ValidationError> {
    match checksum(field, given, digits, what)? {
        Some(sum) => Ok(sum),
        None if version == default_version => Ok(default_sum.to_string()),
        None => Err(invalid(
            field,
            format!("missing: give the {what} of version {version}, which is not the default"),
        )),
    }
}

pub(super) fn instance_type(
    field: &str,
    value: &Option<String>,
    default: &str,
) -> Result<String, ValidationError> {
    let value = value.clone().unwrap_or_else(|| default.into());
    if is_instance_type(&value) {
        Ok(value)
    } else {
        Err(invalid(
            field,
            format!("{value:?} is not an EC2 instance type; use e.g. {default}"),
        ))
    }
}

/// An EC2 id of `kind`: `kind-` and 8 or 17 hexadecimal digits.
pub(super) fn aws_id(field: &str, kind: &str, id: &str) -> Result<String, ValidationError> {
    let well_formed = id
        .strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hex| {
            (8..=17).contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_hexdigit())
        });
    if well_formed {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(invalid(
            field,
            format!("{id:?} is not a {kind} id; use e.g. {kind}-0123456789abcdef0"),
        ))
    }
}

/// Environment names end up in ELB, IAM and EC2 names and in a file name.
pub fn validate_prefix(prefix: &str) -> Result<(), ValidationError> {
    let well_formed = prefix.starts_with(|c: char| c.is_ascii_lowercase())
        && !prefix.ends_with('-')
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !well_formed {
        return Err(invalid(
            "prefix",
            format!(
                "{prefix:?} must start with a lowercase letter, hold only lowercase letters, digits and hyphens, and not end with a hyphen, e.g. \"cfcr-dev\""
            ),
        ));
    }
    if prefix.len() > MAX_PREFIX_LEN {
        return Err(invalid(
            "prefix",
            format!(
                "{prefix:?} is {} characters; at most {MAX_PREFIX_LEN} fit, because the load balancer \"{prefix}-cfcr-api\" may have at most 32",
                prefix.len()
            ),
        ));
    }
    Ok(())
}

/// An http(s) URL: what the bastion downloads from.
pub(super) fn web_url(field: &str, url: &str) -> Result<String, ValidationError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !url.contains(char::is_whitespace) => Ok(url.to_string()),
        _ => Err(invalid(
            field,
            format!("{url:?} is not an http:// or https:// URL"),
        )),
    }
}

pub(super) fn validate_region(region: &str) -> Result<(), ValidationError> {
    let parts: Vec<&str> = region.split('-').collect();
    let well_formed = parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().copied().all(is_region_part)
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()));
    if !well_formed {
        return Err(invalid(
            "region",
            format!("{region:?} is not an AWS region name; use e.g. us-east-1"),
        ));
    }
    // Other partitions have their own service principals, Canonical owner ids and BOSH stemcell
    // publication, none of which this tool knows: refused rather than failing half-way.
    let partition = match parts[0] {
        "cn" => Some("aws-cn (China)"),
        "us" if parts[1] == "gov" || parts[1] == "iso" || parts[1] == "isob" => {
            Some("an isolated or GovCloud partition")
        }
        _ => None,
    };
    match partition {
        Some(partition) => Err(invalid(
            "region",
            format!(
                "{region:?} is in {partition}; cfcr-aws supports the commercial partition (aws) only: choose a region such as us-east-1 or eu-west-1"
            ),
        )),
        None => Ok(()),
    }
}

/// One of a region name's hyphen-separated parts: `us`, `east`, `1`.
fn is_region_part(part: &str) -> bool {
    !part.is_empty()
        && part
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

pub(super) fn validate_zone(zone: &str, region: &str) -> Result<(), ValidationError> {
    let suffix = zone.strip_prefix(region).unwrap_or("");
    let in_region = suffix.len() == 1 && suffix.chars().all(|c| c.is_ascii_lowercase());
    if in_region {
        Ok(())
    } else {
        Err(invalid(
            "zone",
            format!("{zone:?} is not an availability zone of region {region}; use e.g. {region}a"),
        ))
    }
}

pub(super) fn parse_cidr(field: &str, text: &str) -> Result<Ipv4Net, ValidationError> {
    let net: Ipv4Net = text.trim().parse().map_err(|_| {
        invalid(
            field,
            format!("{text:?} is not an IPv4 CIDR block; use e.g. 10.0.0.0/16"),
        )
    })?;
    if net.trunc() != net {
        return Err(invalid(
            field,
            format!(
                "{text:?} has host bits set; the block starting there is {}",
                net.trunc()
            ),
        ));
    }
    Ok(net)
}

/// A list of CIDR blocks, each bad one reported.
pub(super) fn parse_cidrs(
    field: &str,
    values: &Option<Vec<String>>,
) -> Result<Vec<Ipv4Net>, ValidationErrors> {
    let default = [DEFAULT_ALLOWED_CIDR.to_string()];
    let values = values.as_deref().unwrap_or(&default);
    if values.is_empty() {
        return Err(invalid(
            field,
            "empty list; name at least one CIDR, e.g. [\"203.0.113.0/24\"]",
        )
        .into());
    }
    let mut errors = ValidationErrors::default();
    let mut nets = Vec::new();
    for value in values {
        nets.extend(errors.keep(parse_cidr(field, value)));
    }
    errors.finish(nets)
}

/// `a.b.c` → `a.b.c.0/24`, or `None` when it is not three octets.
pub(super) fn slash24(ip_prefix: &str) -> Option<Ipv4Net> {
    let octets: Vec<&str> = ip_prefix.split('.').collect();
    if octets.len() != 3 || octets.iter().any(|o| o.is_empty() || o.len() > 3) {
        return None;
    }
    let address: Ipv4Addr = format!("{ip_prefix}.0").parse().ok()?;
    Ipv4Net::new(address, 24).ok()
}

/// A /24 from its three octets, inside `vpc` when the block is known here (an existing VPC's is
/// checked in preflight).
pub(super) fn subnet_of(
    field: &str,
    ip_prefix: &str,
    vpc: Option<Ipv4Net>,
) -> Result<Ipv4Net, ValidationError> {
    let net = slash24(ip_prefix).ok_or_else(|| {
        invalid(
            field,
            format!("{ip_prefix:?} must be the first three octets of a /24, e.g. 10.0.1"),
        )
    })?;
    if let Some(vpc) = vpc.filter(|vpc| !vpc.contains(&net)) {
        return Err(invalid(
            field,
            format!("{net} lies outside vpc_cidr {vpc}; choose three octets inside it"),
        ));
    }
    Ok(net)
}

/// `family.size`, e.g. `t3.micro` or `m5d.2xlarge`.
fn is_instance_type(text: &str) -> bool {
    let mut parts = text.split('.');
    let (Some(family), Some(size), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    is_instance_type_part(family) && is_instance_type_part(size)
}

fn is_instance_type_part(part: &str) -> bool {
    !part.is_empty()
        && part
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

pub(super) fn is_ami_id(text: &str) -> bool {
    text.strip_prefix("ami-")
        .is_some_and(|hex| hex.len() >= 8 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_must_fit_names_and_files() {
        for bad in [
            "Dev",
            "dev_1",
            "-dev",
            "dev-",
            "1dev",
            "dev/x",
            "",
            "abcdefghijklmnopqrstuvwxy",
        ] {
            let err = validate_prefix(bad).expect_err(bad);
            assert_eq!(err.field, "prefix");
        }
        validate_prefix("abcdefghijklmnopqrstuvw").expect("23 characters fit");
        validate_prefix("cfcr-2").unwrap();
    }
}
