//! The validated settings of one environment, made from the raw values before any AWS call.

use std::fmt;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::bootstrap::BootstrapSettings;
use super::check::{
    instance_type, is_ami_id, parse_cidrs, slash24, validate_prefix, validate_region, validate_zone,
};
use super::defaults::{
    DEFAULT_AMI_NAME, DEFAULT_BASTION_INSTANCE_TYPE, DEFAULT_KUBERNETES_MASTER_PORT,
};
use super::error::{ValidationError, ValidationErrors, invalid};
use super::network::validate_network;
use super::values::ConfigValues;

/// How the BOSH director gets AWS credentials.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DirectorCredentials {
    /// The bastion and director run with the `P-bosh-director` instance profile; no long-lived keys.
    #[default]
    InstanceProfile,
    /// The old template's way: an IAM user with an access key kept in the state.
    AccessKey,
}

impl fmt::Display for DirectorCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DirectorCredentials::InstanceProfile => "instance-profile",
            DirectorCredentials::AccessKey => "access-key",
        })
    }
}

/// Where the bastion's image comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmiSource {
    Id(String),
    /// Newest of Canonical's images whose name matches.
    NamePattern(String),
}

impl Default for AmiSource {
    fn default() -> AmiSource {
        AmiSource::NamePattern(DEFAULT_AMI_NAME.into())
    }
}

/// The validated configuration of one environment. Recorded in the state, so that commands that only
/// know the environment's name (`unpave --env P`) act on what was paved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub prefix: String,
    pub region: String,
    pub zone: String,
    /// The block of the VPC cfcr-aws creates; `None` with an existing VPC, whose block is read
    /// from AWS.
    pub vpc_cidr: Option<Ipv4Net>,
    /// The /24 of the public subnet cfcr-aws creates; `None` with an existing public subnet.
    pub public_subnet_ip_prefix: Option<String>,
    pub private_subnet_ip_prefix: Option<String>,
    /// An existing VPC to pave into: adopted, never deleted or changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// Existing subnets of that VPC: adopted; only their cluster tag is added, and taken back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_subnet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_subnet_id: Option<String>,
    pub kubernetes_master_port: u16,
    pub bastion_instance_type: String,
    pub bastion_ami: AmiSource,
    pub ssh_allowed_cidrs: Vec<Ipv4Net>,
    pub api_allowed_cidrs: Vec<Ipv4Net>,
    pub director_credentials: DirectorCredentials,
    /// What the bastion hand-off deploys; may change after paving.
    #[serde(default)]
    pub bootstrap: BootstrapSettings,
}

impl Settings {
    /// Validates every value offline, and reports every problem found. `chain_region` is the
    /// region of the AWS SDK's provider chain, used when the config names none.
    pub fn validate(
        values: ConfigValues,
        chain_region: Option<String>,
    ) -> Result<Settings, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let prefix = errors.or_default(environment_prefix(&values.prefix));
        let region = errors.keep(aws_region(values.region.clone().or(chain_region)));
        // Without a valid region, the zone cannot be checked (its problem is the region's).
        let zone = match &region {
            Some(region) => errors.or_default(availability_zone(&values.zone, region)),
            None => String::new(),
        };
        let network = errors.or_default(validate_network(&values));
        let settings = Settings {
            prefix,
            region: region.unwrap_or_default(),
            zone,
            vpc_cidr: network.vpc_cidr,
            public_subnet_ip_prefix: network.public_subnet_ip_prefix,
            private_subnet_ip_prefix: network.private_subnet_ip_prefix,
            vpc_id: network.vpc_id,
            public_subnet_id: network.public_subnet_id,
            private_subnet_id: network.private_subnet_id,
            kubernetes_master_port: errors.or_default(master_port(values.kubernetes_master_port)),
            bastion_instance_type: errors.or_default(instance_type(
                "bastion_instance_type",
                &values.bastion_instance_type,
                DEFAULT_BASTION_INSTANCE_TYPE,
            )),
            bastion_ami: errors.or_default(bastion_ami(&values)),
            ssh_allowed_cidrs: errors
                .or_default(parse_cidrs("ssh_allowed_cidrs", &values.ssh_allowed_cidrs)),
            api_allowed_cidrs: errors
                .or_default(parse_cidrs("api_allowed_cidrs", &values.api_allowed_cidrs)),
            director_credentials: errors
                .or_default(director_credentials(&values.director_credentials)),
            bootstrap: errors.or_default(BootstrapSettings::validate(&values)),
        };
        errors.finish(settings)
    }

    /// The /24 of the public subnet cfcr-aws creates; `None` when it adopts one.
    pub fn public_subnet_cidr(&self) -> Option<Ipv4Net> {
        self.public_subnet_ip_prefix.as_deref().and_then(slash24)
    }

    /// The /24 of the private subnet cfcr-aws creates; `None` when it adopts one.
    pub fn private_subnet_cidr(&self) -> Option<Ipv4Net> {
        self.private_subnet_ip_prefix.as_deref().and_then(slash24)
    }

    /// True when SSH to the bastion is open to the whole internet, which deserves a warning.
    pub fn ssh_open_to_world(&self) -> bool {
        self.ssh_allowed_cidrs.iter().any(|n| n.prefix_len() == 0)
    }

    /// The AWS name of one of the environment's resources: `<prefix>-<suffix>`.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.prefix)
    }

    /// The infrastructure settings whose values differ between `self` (what was paved) and
    /// `other`. The hand-off's settings are not among them: they may change at any time.
    pub fn differences(&self, other: &Settings) -> Vec<String> {
        let a = serde_json::to_value(self).expect("serialisable");
        let b = serde_json::to_value(other).expect("serialisable");
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
            return Vec::new();
        };
        a.iter()
            .filter(|(key, _)| key.as_str() != "bootstrap")
            .filter(|(key, value)| b.get(*key) != Some(value))
            .map(|(key, value)| {
                format!(
                    "{key} (paved: {value}, now: {})",
                    b.get(key).cloned().unwrap_or_default()
                )
            })
            .collect()
    }
}

fn environment_prefix(given: &Option<String>) -> Result<String, ValidationError> {
    let prefix = given.clone().ok_or_else(|| {
        invalid(
            "prefix",
            "missing: set `prefix = \"my-env\"` in the config file or pass --prefix",
        )
    })?;
    validate_prefix(&prefix)?;
    Ok(prefix)
}

fn aws_region(given: Option<String>) -> Result<String, ValidationError> {
    let region = given.ok_or_else(|| {
        invalid(
            "region",
            "missing: set `region` in the config file, pass --region, or set AWS_REGION",
        )
    })?;
    validate_region(&region)?;
    Ok(region)
}

/// The zone given, or the region's "a" zone.
fn availability_zone(given: &Option<String>, region: &str) -> Result<String, ValidationError> {
    let zone = given.clone().unwrap_or_else(|| format!("{region}a"));
    validate_zone(&zone, region)?;
    Ok(zone)
}

fn master_port(given: Option<i64>) -> Result<u16, ValidationError> {
    let port = given.unwrap_or(DEFAULT_KUBERNETES_MASTER_PORT);
    u16::try_from(port).ok().filter(|p| *p != 0).ok_or_else(|| {
        invalid(
            "kubernetes_master_port",
            format!("{port} is not a TCP port; use a number from 1 to 65535, e.g. 8443"),
        )
    })
}

/// An AMI id, which wins, or a name pattern.
fn bastion_ami(values: &ConfigValues) -> Result<AmiSource, ValidationError> {
    match (&values.bastion_ami, &values.bastion_ami_name) {
        (Some(id), _) if is_ami_id(id) => Ok(AmiSource::Id(id.clone())),
        (Some(id), _) => Err(invalid(
            "bastion_ami",
            format!(
                "{id:?} is not an AMI id; use e.g. ami-0123456789abcdef0, or set bastion_ami_name instead"
            ),
        )),
        (None, Some(name)) if name.trim().is_empty() => Err(invalid(
            "bastion_ami_name",
            "empty; give a name pattern such as ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*",
        )),
        (None, Some(name)) => Ok(AmiSource::NamePattern(name.clone())),
        (None, None) => Ok(AmiSource::default()),
    }
}

fn director_credentials(given: &Option<String>) -> Result<DirectorCredentials, ValidationError> {
    match given.as_deref() {
        None | Some("instance-profile") => Ok(DirectorCredentials::InstanceProfile),
        Some("access-key") => Ok(DirectorCredentials::AccessKey),
        Some(other) => Err(invalid(
            "director_credentials",
            format!(
                "{other:?} is not a known mode; use \"instance-profile\" (no long-lived keys) or \"access-key\""
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::network::DirectorNetwork;
    use crate::config::values::from_toml as values;

    fn check(toml_text: &str) -> Result<Settings, ValidationError> {
        Settings::validate(values(toml_text), None).map_err(ValidationErrors::only)
    }

    /// The keys named by the problems of a config text, in the order reported.
    fn problems(toml_text: &str) -> Vec<String> {
        let errors = Settings::validate(values(toml_text), None).unwrap_err();
        errors.0.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = "prefix = \"Dev\"\nregion = \"us-east-1\"\nzone = \"us-west-2a\"\nvpc_cidr = \"banana\"\nkubernetes_master_port = 0\nssh_allowed_cidrs = [\"1.2.3.4\", \"everyone\"]\nworker_count = 0\ndownloads_mirror = \"x\"";
        assert_eq!(
            problems(text),
            [
                "prefix",
                "zone",
                "vpc_cidr",
                "kubernetes_master_port",
                "ssh_allowed_cidrs",
                "ssh_allowed_cidrs",
                "worker_count",
                "downloads_mirror",
            ]
        );
        let message = Settings::validate(values(text), None)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("8 problems in the configuration:\n  - prefix: \"Dev\""),
            "{message}"
        );
        assert_eq!(message.lines().count(), 9, "{message}");
    }

    #[test]
    fn checks_that_depend_on_a_bad_key_are_skipped() {
        for (text, field) in [
            (
                "prefix = \"dev\"\nregion = \"mars\"\nzone = \"mars-a\"",
                "region",
            ),
            ("prefix = \"dev\"\nzone = \"us-east-1a\"", "region"),
            (
                "prefix = \"dev\"\nregion = \"us-east-1\"\nkubo_deployment_ref = \"v0 16\"\nkubectl_version = \"v1.10.13\"",
                "kubo_deployment_ref",
            ),
            (
                "prefix = \"dev\"\nregion = \"us-east-1\"\nbosh_cli_version = \"7 0\"\nbosh_cli_sha256 = \"abc\"",
                "bosh_cli_version",
            ),
            (
                "prefix = \"dev\"\nregion = \"us-east-1\"\nvpc_cidr = \"10.0.0.0/8\"\npublic_subnet_ip_prefix = \"10.1.1\"",
                "vpc_cidr",
            ),
        ] {
            assert_eq!(problems(text), [field], "{text}");
        }
    }

    #[test]
    fn regions_of_other_partitions_are_refused() {
        for region in ["cn-north-1", "us-gov-west-1", "us-iso-east-1"] {
            let err = check(&format!("prefix = \"dev\"\nregion = \"{region}\"")).unwrap_err();
            assert_eq!(err.field, "region");
            assert!(err.problem.contains("partition"), "{err}");
        }
        check("prefix = \"dev\"\nregion = \"us-west-2\"").unwrap();
    }

    #[test]
    fn defaults_follow_the_terraform_template() {
        let s = check("prefix = \"dev\"\nregion = \"us-east-1\"").unwrap();
        assert_eq!(s.zone, "us-east-1a");
        assert_eq!(s.vpc_cidr.unwrap().to_string(), "10.0.0.0/16");
        assert_eq!(s.public_subnet_cidr().unwrap().to_string(), "10.0.1.0/24");
        assert_eq!(s.private_subnet_cidr().unwrap().to_string(), "10.0.2.0/24");
        assert_eq!(s.kubernetes_master_port, 8443);
        assert_eq!(s.bastion_instance_type, "t3.micro");
        assert_eq!(s.director_credentials, DirectorCredentials::InstanceProfile);
        assert!(s.ssh_open_to_world());
        assert_eq!(s.name("cfcr-vpc"), "dev-cfcr-vpc");
    }

    #[test]
    fn region_falls_back_to_the_sdk_chain() {
        let s = Settings::validate(values("prefix = \"dev\""), Some("eu-west-2".into())).unwrap();
        assert_eq!(s.region, "eu-west-2");
        assert_eq!(s.zone, "eu-west-2a");
    }

    #[test]
    fn bad_values_name_their_field() {
        let base = "prefix = \"dev\"\nregion = \"us-east-1\"\n";
        let cases = [
            ("vpc_cidr = \"10.0.0.0/33\"", "vpc_cidr"),
            ("vpc_cidr = \"10.0.0.1/16\"", "vpc_cidr"),
            ("vpc_cidr = \"10.0.0.0/8\"", "vpc_cidr"),
            ("vpc_cidr = \"banana\"", "vpc_cidr"),
            (
                "public_subnet_ip_prefix = \"10.1.1\"",
                "public_subnet_ip_prefix",
            ),
            (
                "public_subnet_ip_prefix = \"10.0.300\"",
                "public_subnet_ip_prefix",
            ),
            (
                "public_subnet_ip_prefix = \"10.0\"",
                "public_subnet_ip_prefix",
            ),
            (
                "private_subnet_ip_prefix = \"10.0.1\"",
                "private_subnet_ip_prefix",
            ),
            ("zone = \"us-west-2a\"", "zone"),
            ("kubernetes_master_port = 70000", "kubernetes_master_port"),
            ("kubernetes_master_port = 0", "kubernetes_master_port"),
            ("director_credentials = \"root\"", "director_credentials"),
            ("ssh_allowed_cidrs = [\"1.2.3.4\"]", "ssh_allowed_cidrs"),
            ("api_allowed_cidrs = []", "api_allowed_cidrs"),
            ("bastion_ami = \"ubuntu\"", "bastion_ami"),
            ("bastion_instance_type = \"huge\"", "bastion_instance_type"),
        ];
        for (line, field) in cases {
            let err = check(&format!("{base}{line}")).expect_err(line);
            assert_eq!(err.field, field, "{line}: {err}");
        }
    }

    #[test]
    fn the_director_network_follows_the_private_subnet() {
        let s = check("prefix = \"dev\"\nregion = \"us-east-1\"\nvpc_cidr = \"10.1.0.0/16\"\npublic_subnet_ip_prefix = \"10.1.7\"\nprivate_subnet_ip_prefix = \"10.1.9\"").unwrap();
        let n = DirectorNetwork::new(s.private_subnet_cidr().unwrap(), s.vpc_cidr.unwrap());
        assert_eq!(n.internal_cidr.to_string(), "10.1.9.0/24");
        assert_eq!(n.internal_gw.to_string(), "10.1.9.1");
        assert_eq!(n.internal_ip.to_string(), "10.1.9.252");
        assert_eq!(n.dns_recursor_ip.to_string(), "10.1.0.2");
        // An existing /20: the director at .252 of its first /24.
        let n = DirectorNetwork::new(
            "10.2.16.0/20".parse().unwrap(),
            "10.2.0.0/16".parse().unwrap(),
        );
        assert_eq!(n.internal_ip.to_string(), "10.2.16.252");
    }

    #[test]
    fn an_existing_vpc_takes_subnet_ids_or_prefixes() {
        let base = "prefix = \"dev\"\nregion = \"us-east-1\"\n";
        let s = check(&format!(
            "{base}vpc_id = \"vpc-0123456789abcdef0\"\npublic_subnet_id = \"subnet-01234567\"\nprivate_subnet_ip_prefix = \"172.31.200\""
        ))
        .unwrap();
        assert_eq!(s.vpc_cidr, None);
        assert_eq!(s.public_subnet_ip_prefix, None);
        assert_eq!(
            s.private_subnet_cidr().unwrap().to_string(),
            "172.31.200.0/24"
        );
        let vpc = "vpc_id = \"vpc-0123456789abcdef0\"\n";
        for (lines, field) in [
            (
                "vpc_id = \"vpc-xyz\"\npublic_subnet_ip_prefix = \"10.0.1\"\nprivate_subnet_ip_prefix = \"10.0.2\"",
                "vpc_id",
            ),
            ("public_subnet_id = \"subnet-01234567\"", "public_subnet_id"),
            (
                "vpc_id = \"vpc-01234567\"\nvpc_cidr = \"10.0.0.0/16\"\npublic_subnet_ip_prefix = \"10.0.1\"\nprivate_subnet_ip_prefix = \"10.0.2\"",
                "vpc_cidr",
            ),
            (
                &format!("{vpc}private_subnet_ip_prefix = \"10.0.2\""),
                "public_subnet_ip_prefix",
            ),
            (
                &format!(
                    "{vpc}public_subnet_id = \"subnet-01234567\"\npublic_subnet_ip_prefix = \"10.0.1\"\nprivate_subnet_ip_prefix = \"10.0.2\""
                ),
                "public_subnet_ip_prefix",
            ),
            (
                &format!(
                    "{vpc}public_subnet_id = \"subnet-01234567\"\nprivate_subnet_id = \"subnet-01234567\""
                ),
                "private_subnet_id",
            ),
            (
                &format!(
                    "{vpc}public_subnet_id = \"sg-01234567\"\nprivate_subnet_ip_prefix = \"10.0.2\""
                ),
                "public_subnet_id",
            ),
        ] {
            let err = check(&format!("{base}{lines}")).expect_err(lines);
            assert_eq!(err.field, field, "{lines}: {err}");
        }
    }

    #[test]
    fn differences_name_the_changed_keys() {
        let a = check("prefix = \"dev\"\nregion = \"us-east-1\"").unwrap();
        let b = check("prefix = \"dev\"\nregion = \"us-east-1\"\nvpc_cidr = \"10.1.0.0/16\"\npublic_subnet_ip_prefix = \"10.1.1\"\nprivate_subnet_ip_prefix = \"10.1.2\"").unwrap();
        let diff = a.differences(&b);
        assert_eq!(diff.len(), 3, "{diff:?}");
        assert!(diff[2].starts_with("vpc_cidr"), "{diff:?}");
        assert!(a.differences(&a).is_empty());
        let other = check("prefix = \"dev\"\nregion = \"us-east-1\"\nworker_count = 3").unwrap();
        assert!(
            a.differences(&other).is_empty(),
            "hand-off settings may change"
        );
    }
}
