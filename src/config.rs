//! The environment's configuration: the TOML file, the flags that override it, and the validation that
//! turns both into [`Settings`] before any AWS call is made.
//!
//! Key names follow the variables of the classic CFCR-on-AWS Terraform template, so an operator's old
//! `terraform.tfvars` translates line by line.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;

use clap::Args;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::compat;

/// Canonical's AWS account: the only owner whose Ubuntu images the bastion is allowed to boot.
pub const CANONICAL_OWNER_ID: &str = "099720109477";
/// Ubuntu 22.04: the bastion release bosh's documentation describes for compiling the AWS CPI
/// during `bosh create-env` (docs/compatibility.md); 24.04 is not documented to work.
pub const DEFAULT_AMI_NAME: &str = "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*";
/// `P-cfcr-api` must fit the 32-character classic ELB name limit.
const MAX_PREFIX_LEN: usize = 32 - "-cfcr-api".len();

/// A configuration problem found before touching AWS: the field, what is wrong, and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ValidationError {
    pub field: String,
    pub problem: String,
}

fn invalid(field: &str, problem: impl Into<String>) -> ValidationError {
    ValidationError {
        field: field.to_string(),
        problem: problem.into(),
    }
}

/// How the BOSH director gets AWS credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DirectorCredentials {
    /// The bastion and director run with the `P-bosh-director` instance profile; no long-lived keys.
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

/// Every key of the config file. Each one can also be given as a flag of the same name, which wins.
#[derive(Clone, Debug, Default, Deserialize, Args)]
#[serde(deny_unknown_fields)]
#[command(next_help_heading = "Settings (each also a config-file key)")]
pub struct ConfigValues {
    /// Environment name: prefixes every AWS name and names the state file.
    #[arg(long)]
    pub prefix: Option<String>,
    /// AWS region (default: the AWS SDK's region chain, e.g. AWS_REGION).
    #[arg(long)]
    pub region: Option<String>,
    /// Availability zone for both subnets (default: the region's "a" zone).
    #[arg(long)]
    pub zone: Option<String>,
    /// The VPC's CIDR block [default: 10.0.0.0/16]; not with vpc_id.
    #[arg(long)]
    pub vpc_cidr: Option<String>,
    /// First three octets of the public /24 subnet cfcr-aws creates [default: 10.0.1; required
    /// with vpc_id unless public_subnet_id is set].
    #[arg(long)]
    pub public_subnet_ip_prefix: Option<String>,
    /// First three octets of the private /24 subnet cfcr-aws creates [default: 10.0.2; required
    /// with vpc_id unless private_subnet_id is set].
    #[arg(long)]
    pub private_subnet_ip_prefix: Option<String>,
    /// An existing VPC to pave into instead of creating one (docs/existing-vpc.md).
    #[arg(long)]
    pub vpc_id: Option<String>,
    /// An existing subnet of that VPC for the bastion, the NAT gateway and the API load balancer.
    #[arg(long)]
    pub public_subnet_id: Option<String>,
    /// An existing subnet of that VPC for the BOSH director and the cluster.
    #[arg(long)]
    pub private_subnet_id: Option<String>,
    /// Port the master ELB listens on [default: 8443].
    #[arg(long)]
    pub kubernetes_master_port: Option<i64>,
    /// Bastion instance type [default: t3.micro].
    #[arg(long)]
    pub bastion_instance_type: Option<String>,
    /// Bastion AMI id; wins over bastion_ami_name.
    #[arg(long)]
    pub bastion_ami: Option<String>,
    /// Name pattern of Canonical's image to boot the bastion from (newest match).
    #[arg(long)]
    pub bastion_ami_name: Option<String>,
    /// CIDRs allowed to SSH to the bastion [default: 0.0.0.0/0].
    #[arg(long, value_delimiter = ',')]
    pub ssh_allowed_cidrs: Option<Vec<String>>,
    /// CIDRs allowed to reach the Kubernetes API [default: 0.0.0.0/0].
    #[arg(long, value_delimiter = ',')]
    pub api_allowed_cidrs: Option<Vec<String>>,
    /// "instance-profile" (default) or "access-key".
    #[arg(long)]
    pub director_credentials: Option<String>,
    /// Kubernetes worker instances [default: 1].
    #[arg(long)]
    pub worker_count: Option<i64>,
    /// The BOSH director's instance type [default: t3.large].
    #[arg(long)]
    pub director_instance_type: Option<String>,
    /// Instance type of the `minimal` and `small` VM types (masters, errands) [default: t3.micro].
    #[arg(long)]
    pub small_instance_type: Option<String>,
    /// Instance type of the `small-highmem` VM type (workers, compilation) [default: t3.medium].
    #[arg(long)]
    pub small_highmem_instance_type: Option<String>,
    /// bosh CLI version installed on the bastion.
    #[arg(long)]
    pub bosh_cli_version: Option<String>,
    /// SHA-256 of that bosh CLI's linux-amd64 binary.
    #[arg(long)]
    pub bosh_cli_sha256: Option<String>,
    /// credhub CLI version installed on the bastion.
    #[arg(long)]
    pub credhub_cli_version: Option<String>,
    /// SHA-256 of that credhub CLI's linux-amd64 tarball.
    #[arg(long)]
    pub credhub_cli_sha256: Option<String>,
    /// kubectl version installed on the bastion.
    #[arg(long)]
    pub kubectl_version: Option<String>,
    /// SHA-512 of that kubectl's client tarball (kubernetes-client-linux-amd64.tar.gz), as the
    /// Kubernetes CHANGELOG lists it [default: pinned for the default version].
    #[arg(long)]
    pub kubectl_sha512: Option<String>,
    /// Git ref of cloudfoundry/bosh-deployment cloned on the bastion.
    #[arg(long)]
    pub bosh_deployment_ref: Option<String>,
    /// Git ref of cloudfoundry-incubator/kubo-deployment cloned on the bastion: the kubo line
    /// [default: v0.44.0; v0.16.0 for the director alone; docs/compatibility.md].
    #[arg(long)]
    pub kubo_deployment_ref: Option<String>,
    /// A kubo release in place of the one the line deploys (v0.44.0's cfcr.yml pins its own;
    /// v0.16.0's is pinned to 0.16.0).
    #[arg(long)]
    pub kubo_release_version: Option<String>,
    /// Where that release is downloaded from [default: bosh.io's URL for the version].
    #[arg(long)]
    pub kubo_release_url: Option<String>,
    /// SHA-1 of that release tarball [default: pinned for v0.16.0's release].
    #[arg(long)]
    pub kubo_release_sha1: Option<String>,
    /// The cluster VMs' instance metadata: "required" (IMDSv2 only) or "optional" (IMDSv1 kept)
    /// [default: required where the kubo line's Kubernetes and its stemcell's agent both use
    /// IMDSv2, else optional; docs/compatibility.md]. The bastion and director are IMDSv2 only.
    #[arg(long)]
    pub cluster_http_tokens: Option<String>,
    /// A stemcell for the cluster, brought by the operator: an https:// URL, or a local tarball
    /// that cfcr-aws uploads through the bastion; a full (heavy) stemcell where no light one is
    /// published. With cfcr_stemcell_sha1, _os and _version.
    #[arg(long)]
    pub cfcr_stemcell_url: Option<String>,
    /// SHA-1 of that stemcell tarball.
    #[arg(long)]
    pub cfcr_stemcell_sha1: Option<String>,
    /// Its operating system, e.g. ubuntu-jammy.
    #[arg(long)]
    pub cfcr_stemcell_os: Option<String>,
    /// Its version, e.g. 1.800.
    #[arg(long)]
    pub cfcr_stemcell_version: Option<String>,
    /// A base URL the bastion downloads the CLIs, kubectl, the kubo release and the cluster's
    /// stemcell from instead of their upstream sites, under the upstream file names (for
    /// air-gapped or proxied accounts; see docs/bootstrap.md).
    #[arg(long)]
    pub downloads_mirror: Option<String>,
    /// Where the state lives: `s3://BUCKET/PREFIX`, or the local state directory when absent. Every
    /// command reads it; the global `--state` flag wins.
    #[arg(skip)]
    pub state: Option<String>,
    /// The KMS key (id, alias or ARN) the objects of a state in S3 are encrypted with — the state,
    /// its keys and the director's files in custody; S3's own keys (SSE-S3) without one.
    #[arg(skip)]
    pub state_kms_key: Option<String>,
}

impl ConfigValues {
    /// Reads the config file. A missing file is only an error when it was named explicitly.
    pub fn load(path: &Path, explicit: bool) -> Result<ConfigValues, ValidationError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(ConfigValues::default());
            }
            Err(e) => {
                return Err(invalid(
                    "config",
                    format!("cannot read {}: {e}", path.display()),
                ));
            }
        };
        toml::from_str(&text).map_err(|e| {
            let Some(start) = e.span().map(|span| span.start) else {
                return invalid(
                    "config",
                    format!("{}: {}", path.display(), e.message().trim_end()),
                );
            };
            let line_number = text[..start].matches('\n').count() + 1;
            let line = text.lines().nth(line_number - 1).unwrap_or_default();
            // Type errors point at the value: name the key they belong to.
            let key = line
                .split_once('=')
                .map(|(key, _)| key.trim())
                .filter(|key| !key.is_empty())
                .unwrap_or("config");
            invalid(
                key,
                format!(
                    "{} line {line_number}: {}",
                    path.display(),
                    e.message().trim_end()
                ),
            )
        })
    }

    /// Values given here win over `base`.
    pub fn overriding(self, base: ConfigValues) -> ConfigValues {
        ConfigValues {
            prefix: self.prefix.or(base.prefix),
            region: self.region.or(base.region),
            zone: self.zone.or(base.zone),
            vpc_cidr: self.vpc_cidr.or(base.vpc_cidr),
            public_subnet_ip_prefix: self
                .public_subnet_ip_prefix
                .or(base.public_subnet_ip_prefix),
            private_subnet_ip_prefix: self
                .private_subnet_ip_prefix
                .or(base.private_subnet_ip_prefix),
            vpc_id: self.vpc_id.or(base.vpc_id),
            public_subnet_id: self.public_subnet_id.or(base.public_subnet_id),
            private_subnet_id: self.private_subnet_id.or(base.private_subnet_id),
            kubernetes_master_port: self.kubernetes_master_port.or(base.kubernetes_master_port),
            bastion_instance_type: self.bastion_instance_type.or(base.bastion_instance_type),
            bastion_ami: self.bastion_ami.or(base.bastion_ami),
            bastion_ami_name: self.bastion_ami_name.or(base.bastion_ami_name),
            ssh_allowed_cidrs: self.ssh_allowed_cidrs.or(base.ssh_allowed_cidrs),
            api_allowed_cidrs: self.api_allowed_cidrs.or(base.api_allowed_cidrs),
            director_credentials: self.director_credentials.or(base.director_credentials),
            worker_count: self.worker_count.or(base.worker_count),
            director_instance_type: self.director_instance_type.or(base.director_instance_type),
            small_instance_type: self.small_instance_type.or(base.small_instance_type),
            small_highmem_instance_type: self
                .small_highmem_instance_type
                .or(base.small_highmem_instance_type),
            bosh_cli_version: self.bosh_cli_version.or(base.bosh_cli_version),
            bosh_cli_sha256: self.bosh_cli_sha256.or(base.bosh_cli_sha256),
            credhub_cli_version: self.credhub_cli_version.or(base.credhub_cli_version),
            credhub_cli_sha256: self.credhub_cli_sha256.or(base.credhub_cli_sha256),
            kubectl_version: self.kubectl_version.or(base.kubectl_version),
            kubectl_sha512: self.kubectl_sha512.or(base.kubectl_sha512),
            bosh_deployment_ref: self.bosh_deployment_ref.or(base.bosh_deployment_ref),
            kubo_deployment_ref: self.kubo_deployment_ref.or(base.kubo_deployment_ref),
            kubo_release_version: self.kubo_release_version.or(base.kubo_release_version),
            kubo_release_url: self.kubo_release_url.or(base.kubo_release_url),
            kubo_release_sha1: self.kubo_release_sha1.or(base.kubo_release_sha1),
            cluster_http_tokens: self.cluster_http_tokens.or(base.cluster_http_tokens),
            cfcr_stemcell_url: self.cfcr_stemcell_url.or(base.cfcr_stemcell_url),
            cfcr_stemcell_sha1: self.cfcr_stemcell_sha1.or(base.cfcr_stemcell_sha1),
            cfcr_stemcell_os: self.cfcr_stemcell_os.or(base.cfcr_stemcell_os),
            cfcr_stemcell_version: self.cfcr_stemcell_version.or(base.cfcr_stemcell_version),
            downloads_mirror: self.downloads_mirror.or(base.downloads_mirror),
            state: self.state.or(base.state),
            state_kms_key: self.state_kms_key.or(base.state_kms_key),
        }
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

/// Settings of the bastion hand-off: tool versions, upstream refs and the cluster's size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapSettings {
    pub worker_count: u16,
    pub director_instance_type: String,
    pub small_instance_type: String,
    pub small_highmem_instance_type: String,
    pub bosh_cli_version: String,
    pub bosh_cli_sha256: String,
    pub credhub_cli_version: String,
    pub credhub_cli_sha256: String,
    pub kubectl_version: String,
    #[serde(default = "v0_16_kubectl_sha512")]
    pub kubectl_sha512: String,
    pub bosh_deployment_ref: String,
    pub kubo_deployment_ref: String,
    /// A kubo release in place of the line's; `None`: the line's own (`compat::KuboLine`).
    #[serde(default)]
    pub kubo_release: Option<KuboRelease>,
    /// The operator's choice for the cluster VMs' IMDS; `None`: decided per line at render time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_http_tokens: Option<HttpTokens>,
    /// The operator's stemcell for the cluster, replacing the one kubo-deployment names.
    #[serde(default)]
    pub cfcr_stemcell: Option<Stemcell>,
    /// Where the bastion downloads from instead of the upstream sites (no trailing slash).
    #[serde(default)]
    pub downloads_mirror: Option<String>,
}

/// EC2's `HttpTokens` for an instance's metadata service, as the AWS CPI's `metadata_options`
/// takes it: `required` is IMDSv2 only, `optional` keeps IMDSv1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpTokens {
    Required,
    Optional,
}

/// A kubo release the CFCR deploy pins in place of the line's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KuboRelease {
    pub version: String,
    pub url: String,
    pub sha1: String,
}

fn kubo_release_url(version: &str) -> String {
    format!("https://bosh.io/d/github.com/cloudfoundry-incubator/kubo-release?v={version}")
}

/// A stemcell the operator brings for the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stemcell {
    /// An http(s) URL, or a local tarball's path (uploaded through the bastion).
    pub url: String,
    pub sha1: String,
    pub os: String,
    pub version: String,
}

impl Stemcell {
    /// Whether the tarball is on this machine (uploaded by cfcr-aws) rather than at a URL.
    pub fn is_local(&self) -> bool {
        !(self.url.starts_with("https://") || self.url.starts_with("http://"))
    }
}

/// States written before `kubectl_sha512` existed installed v0.16.0's kubectl.
fn v0_16_kubectl_sha512() -> String {
    compat::kubo_line("v0.16.0")
        .expect("v0.16.0 is a known line")
        .kubectl
        .sha512
        .into()
}

/// Pinned defaults: the versions the bundle was tested with.
pub const DEFAULT_BOSH_CLI_VERSION: &str = "7.11.0";
pub const DEFAULT_BOSH_CLI_SHA256: &str =
    "3ad84c3967672070b7f70f91f8da76abcbb604d588787b4f98457338cc9fc8d2";
pub const DEFAULT_CREDHUB_CLI_VERSION: &str = "2.9.39";
pub const DEFAULT_CREDHUB_CLI_SHA256: &str =
    "15cb96ea05a85020c83ef81d7a72f7da43a8671f8e60ed3f7ddc6660a0c83b2e";

impl Default for BootstrapSettings {
    fn default() -> BootstrapSettings {
        BootstrapSettings::validate(&ConfigValues::default()).expect("the defaults are valid")
    }
}

/// `value`, or `default`, when it is a word of letters, digits, '.', '-', '_' (and '/' for refs).
fn word(
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
fn checksum(
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
fn pinned_checksum(
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

fn instance_type(
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

fn worker_count(values: &ConfigValues) -> Result<u16, ValidationError> {
    let count = values.worker_count.unwrap_or(1);
    u16::try_from(count)
        .ok()
        .filter(|c| (1..=100).contains(c))
        .ok_or_else(|| {
            invalid(
                "worker_count",
                format!("{count} is out of range; use 1 to 100"),
            )
        })
}

/// The kubo release the operator names in place of the line's; without a version, the line's pin
/// (v0.16.0's cfcr.yml pins none of its own), with the operator's URL or mirror if given.
fn kubo_release(
    values: &ConfigValues,
    line: &compat::KuboLine,
    mirror: Option<&str>,
) -> Result<Option<KuboRelease>, ValidationError> {
    let pin = line.kubo_release_pin.as_ref();
    let version = match (&values.kubo_release_version, pin) {
        (Some(_), _) => word(
            "kubo_release_version",
            &values.kubo_release_version,
            "0.44.0",
            false,
        )?,
        (None, Some(pin)) => pin.version.to_string(),
        (None, None) => {
            for (field, given) in [
                ("kubo_release_url", &values.kubo_release_url),
                ("kubo_release_sha1", &values.kubo_release_sha1),
            ] {
                if given.is_some() {
                    return Err(invalid(
                        field,
                        format!(
                            "needs kubo_release_version: kubo {} deploys the releases its cfcr.yml pins; name the release that replaces them",
                            line.deployment_ref
                        ),
                    ));
                }
            }
            return Ok(None);
        }
    };
    let url = match (&values.kubo_release_url, mirror) {
        (Some(url), _) => web_url("kubo_release_url", url)?,
        (None, Some(mirror)) => format!("{mirror}/kubo-release-{version}.tgz"),
        (None, None) => kubo_release_url(&version),
    };
    let pinned = pin.map_or(("", ""), |p| (p.version, p.sha1));
    let sha1 = pinned_checksum(
        "kubo_release_sha1",
        &values.kubo_release_sha1,
        (40, "SHA-1"),
        &version,
        pinned,
    )?;
    Ok(Some(KuboRelease { version, url, sha1 }))
}

/// The operator's stemcell: all four keys or none; a URL or a file on this machine; a line a
/// current director can run.
fn cfcr_stemcell(values: &ConfigValues) -> Result<Option<Stemcell>, ValidationError> {
    let keys = [
        &values.cfcr_stemcell_url,
        &values.cfcr_stemcell_sha1,
        &values.cfcr_stemcell_os,
        &values.cfcr_stemcell_version,
    ];
    match keys.iter().filter(|v| v.is_some()).count() {
        0 => return Ok(None),
        4 => {}
        _ => {
            return Err(invalid(
                "cfcr_stemcell_url",
                "cfcr_stemcell_url, cfcr_stemcell_sha1, cfcr_stemcell_os and cfcr_stemcell_version go together: set all four, or none",
            ));
        }
    }
    let url = values.cfcr_stemcell_url.clone().unwrap_or_default();
    let url = if url.starts_with("https://") || url.starts_with("http://") {
        web_url("cfcr_stemcell_url", &url)?
    } else if Path::new(&url).is_file() {
        std::path::absolute(&url).map_or(url, |p| p.display().to_string())
    } else {
        return Err(invalid(
            "cfcr_stemcell_url",
            format!("{url:?} is neither an http(s) URL nor a file on this machine"),
        ));
    };
    let os = word(
        "cfcr_stemcell_os",
        &values.cfcr_stemcell_os,
        "ubuntu-xenial",
        false,
    )?;
    compat::stemcell_runs_today(&os).map_err(|why| {
        invalid(
            "cfcr_stemcell_os",
            format!("{why}; bring a stemcell of a line with api_version 2 (ubuntu-xenial 621.x for kubo v0.44.0)"),
        )
    })?;
    Ok(Some(Stemcell {
        url,
        sha1: checksum(
            "cfcr_stemcell_sha1",
            &values.cfcr_stemcell_sha1,
            40,
            "SHA-1",
        )?
        .unwrap_or_default(),
        os,
        version: word(
            "cfcr_stemcell_version",
            &values.cfcr_stemcell_version,
            "621.125",
            false,
        )?,
    }))
}

fn http_tokens(values: &ConfigValues) -> Result<Option<HttpTokens>, ValidationError> {
    match values.cluster_http_tokens.as_deref() {
        None => Ok(None),
        Some("required") => Ok(Some(HttpTokens::Required)),
        Some("optional") => Ok(Some(HttpTokens::Optional)),
        Some(other) => Err(invalid(
            "cluster_http_tokens",
            format!(
                "{other:?} is not EC2's HttpTokens; use \"required\" (IMDSv2 only) or \"optional\" (IMDSv1 kept), or leave it unset to decide per kubo line"
            ),
        )),
    }
}

impl BootstrapSettings {
    fn validate(values: &ConfigValues) -> Result<BootstrapSettings, ValidationError> {
        let kubo_deployment_ref = word(
            "kubo_deployment_ref",
            &values.kubo_deployment_ref,
            compat::DEFAULT_KUBO_LINE.deployment_ref,
            true,
        )?;
        // A ref the tool does not know is rendered as the default line.
        let line = compat::kubo_line(&kubo_deployment_ref).unwrap_or(compat::DEFAULT_KUBO_LINE);
        let downloads_mirror = match &values.downloads_mirror {
            Some(url) => Some(
                web_url("downloads_mirror", url)?
                    .trim_end_matches('/')
                    .to_string(),
            ),
            None => None,
        };
        let bosh_cli_version = word(
            "bosh_cli_version",
            &values.bosh_cli_version,
            DEFAULT_BOSH_CLI_VERSION,
            false,
        )?;
        let credhub_cli_version = word(
            "credhub_cli_version",
            &values.credhub_cli_version,
            DEFAULT_CREDHUB_CLI_VERSION,
            false,
        )?;
        let kubectl_version = word(
            "kubectl_version",
            &values.kubectl_version,
            line.kubectl.version,
            false,
        )?;
        Ok(BootstrapSettings {
            worker_count: worker_count(values)?,
            director_instance_type: instance_type(
                "director_instance_type",
                &values.director_instance_type,
                "t3.large",
            )?,
            small_instance_type: instance_type(
                "small_instance_type",
                &values.small_instance_type,
                "t3.micro",
            )?,
            small_highmem_instance_type: instance_type(
                "small_highmem_instance_type",
                &values.small_highmem_instance_type,
                "t3.medium",
            )?,
            bosh_cli_sha256: pinned_checksum(
                "bosh_cli_sha256",
                &values.bosh_cli_sha256,
                (64, "SHA-256"),
                &bosh_cli_version,
                (DEFAULT_BOSH_CLI_VERSION, DEFAULT_BOSH_CLI_SHA256),
            )?,
            credhub_cli_sha256: pinned_checksum(
                "credhub_cli_sha256",
                &values.credhub_cli_sha256,
                (64, "SHA-256"),
                &credhub_cli_version,
                (DEFAULT_CREDHUB_CLI_VERSION, DEFAULT_CREDHUB_CLI_SHA256),
            )?,
            kubectl_sha512: pinned_checksum(
                "kubectl_sha512",
                &values.kubectl_sha512,
                (128, "SHA-512"),
                &kubectl_version,
                (line.kubectl.version, line.kubectl.sha512),
            )?,
            bosh_cli_version,
            credhub_cli_version,
            kubectl_version,
            kubo_release: kubo_release(values, line, downloads_mirror.as_deref())?,
            cluster_http_tokens: http_tokens(values)?,
            cfcr_stemcell: cfcr_stemcell(values)?,
            downloads_mirror,
            bosh_deployment_ref: word(
                "bosh_deployment_ref",
                &values.bosh_deployment_ref,
                compat::DIRECTOR_STACK.deployment_ref,
                true,
            )?,
            kubo_deployment_ref,
        })
    }

    /// What the compatibility check needs to know of these settings.
    pub fn hand_off(&self) -> compat::HandOff<'_> {
        compat::HandOff {
            bosh_deployment_ref: &self.bosh_deployment_ref,
            bosh_cli_version: &self.bosh_cli_version,
            kubo_deployment_ref: &self.kubo_deployment_ref,
            stemcell: self
                .cfcr_stemcell
                .as_ref()
                .map(|s| (s.os.as_str(), s.version.as_str(), s.url.as_str())),
        }
    }

    /// The cluster VMs' `http_tokens`: the operator's choice, else IMDSv2 only where the line's
    /// Kubernetes and its stemcell's agent can both use it; with the reason when IMDSv1 is kept.
    pub fn cluster_http_tokens(&self) -> (HttpTokens, Option<String>) {
        if let Some(chosen) = self.cluster_http_tokens {
            return (chosen, None);
        }
        let os = self.cfcr_stemcell.as_ref().map(|s| s.os.as_str());
        match compat::cluster_imdsv2(&self.kubo_deployment_ref, os) {
            Ok(()) => (HttpTokens::Required, None),
            Err(why) => (HttpTokens::Optional, Some(why)),
        }
    }
}

impl Settings {
    /// Validates every value offline. `chain_region` is the region of the AWS SDK's provider chain,
    /// used when the config names none.
    pub fn validate(
        values: ConfigValues,
        chain_region: Option<String>,
    ) -> Result<Settings, ValidationError> {
        let bootstrap = BootstrapSettings::validate(&values)?;
        let network = validate_network(&values)?;
        let prefix = values.prefix.ok_or_else(|| {
            invalid(
                "prefix",
                "missing: set `prefix = \"my-env\"` in the config file or pass --prefix",
            )
        })?;
        validate_prefix(&prefix)?;

        let region = values.region.or(chain_region).ok_or_else(|| {
            invalid(
                "region",
                "missing: set `region` in the config file, pass --region, or set AWS_REGION",
            )
        })?;
        validate_region(&region)?;
        let zone = values.zone.unwrap_or_else(|| format!("{region}a"));
        validate_zone(&zone, &region)?;

        let port = values.kubernetes_master_port.unwrap_or(8443);
        let kubernetes_master_port =
            u16::try_from(port)
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    invalid(
                        "kubernetes_master_port",
                        format!(
                            "{port} is not a TCP port; use a number from 1 to 65535, e.g. 8443"
                        ),
                    )
                })?;

        let bastion_instance_type = values
            .bastion_instance_type
            .unwrap_or_else(|| "t3.micro".into());
        if !is_instance_type(&bastion_instance_type) {
            return Err(invalid(
                "bastion_instance_type",
                format!("{bastion_instance_type:?} is not an EC2 instance type; use e.g. t3.micro"),
            ));
        }
        let bastion_ami = match (values.bastion_ami, values.bastion_ami_name) {
            (Some(id), _) => {
                if !is_ami_id(&id) {
                    return Err(invalid(
                        "bastion_ami",
                        format!(
                            "{id:?} is not an AMI id; use e.g. ami-0123456789abcdef0, or set bastion_ami_name instead"
                        ),
                    ));
                }
                AmiSource::Id(id)
            }
            (None, Some(name)) if name.trim().is_empty() => {
                return Err(invalid(
                    "bastion_ami_name",
                    "empty; give a name pattern such as ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*",
                ));
            }
            (None, Some(name)) => AmiSource::NamePattern(name),
            (None, None) => AmiSource::NamePattern(DEFAULT_AMI_NAME.into()),
        };

        let ssh_allowed_cidrs = parse_cidrs("ssh_allowed_cidrs", values.ssh_allowed_cidrs)?;
        let api_allowed_cidrs = parse_cidrs("api_allowed_cidrs", values.api_allowed_cidrs)?;

        let director_credentials = match values.director_credentials.as_deref() {
            None | Some("instance-profile") => DirectorCredentials::InstanceProfile,
            Some("access-key") => DirectorCredentials::AccessKey,
            Some(other) => {
                return Err(invalid(
                    "director_credentials",
                    format!(
                        "{other:?} is not a known mode; use \"instance-profile\" (no long-lived keys) or \"access-key\""
                    ),
                ));
            }
        };

        Ok(Settings {
            prefix,
            region,
            zone,
            vpc_cidr: network.vpc_cidr,
            public_subnet_ip_prefix: network.public_subnet_ip_prefix,
            private_subnet_ip_prefix: network.private_subnet_ip_prefix,
            vpc_id: network.vpc_id,
            public_subnet_id: network.public_subnet_id,
            private_subnet_id: network.private_subnet_id,
            kubernetes_master_port,
            bastion_instance_type,
            bastion_ami,
            ssh_allowed_cidrs,
            api_allowed_cidrs,
            director_credentials,
            bootstrap,
        })
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
struct NetworkSettings {
    vpc_cidr: Option<Ipv4Net>,
    public_subnet_ip_prefix: Option<String>,
    private_subnet_ip_prefix: Option<String>,
    vpc_id: Option<String>,
    public_subnet_id: Option<String>,
    private_subnet_id: Option<String>,
}

fn validate_network(values: &ConfigValues) -> Result<NetworkSettings, ValidationError> {
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
            values.vpc_cidr.as_deref().unwrap_or("10.0.0.0/16"),
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
            .unwrap_or_else(|| "10.0.1".into());
        let private = values
            .private_subnet_ip_prefix
            .clone()
            .unwrap_or_else(|| "10.0.2".into());
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

fn distinct(
    public: Ipv4Net,
    private: Ipv4Net,
    private_prefix: &str,
) -> Result<(), ValidationError> {
    if public == private {
        return Err(invalid(
            "private_subnet_ip_prefix",
            format!(
                "{private_prefix} is the same as public_subnet_ip_prefix; the two subnets need distinct /24s, e.g. 10.0.1 and 10.0.2"
            ),
        ));
    }
    Ok(())
}

/// An EC2 id of `kind`: `kind-` and 8 or 17 hexadecimal digits.
fn aws_id(field: &str, kind: &str, id: &str) -> Result<String, ValidationError> {
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
fn web_url(field: &str, url: &str) -> Result<String, ValidationError> {
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

fn validate_region(region: &str) -> Result<(), ValidationError> {
    let parts: Vec<&str> = region.split('-').collect();
    let well_formed = parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
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

fn validate_zone(zone: &str, region: &str) -> Result<(), ValidationError> {
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

fn parse_cidr(field: &str, text: &str) -> Result<Ipv4Net, ValidationError> {
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

fn parse_cidrs(field: &str, values: Option<Vec<String>>) -> Result<Vec<Ipv4Net>, ValidationError> {
    let values = values.unwrap_or_else(|| vec!["0.0.0.0/0".into()]);
    if values.is_empty() {
        return Err(invalid(
            field,
            "empty list; name at least one CIDR, e.g. [\"203.0.113.0/24\"]",
        ));
    }
    values.iter().map(|v| parse_cidr(field, v)).collect()
}

/// `a.b.c` → `a.b.c.0/24`, or `None` when it is not three octets.
fn slash24(ip_prefix: &str) -> Option<Ipv4Net> {
    let octets: Vec<&str> = ip_prefix.split('.').collect();
    if octets.len() != 3 || octets.iter().any(|o| o.is_empty() || o.len() > 3) {
        return None;
    }
    let address: Ipv4Addr = format!("{ip_prefix}.0").parse().ok()?;
    Ipv4Net::new(address, 24).ok()
}

/// A /24 from its three octets, inside `vpc` when the block is known here (an existing VPC's is
/// checked in preflight).
fn subnet_of(
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

fn is_instance_type(text: &str) -> bool {
    let mut parts = text.split('.');
    let (Some(family), Some(size), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let word = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    word(family) && word(size)
}

fn is_ami_id(text: &str) -> bool {
    text.strip_prefix("ami-")
        .is_some_and(|hex| hex.len() >= 8 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(toml_text: &str) -> ConfigValues {
        toml::from_str(toml_text).expect("test TOML parses")
    }

    fn check(toml_text: &str) -> Result<Settings, ValidationError> {
        Settings::validate(values(toml_text), None)
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
    fn flags_win_over_the_file() {
        let file = values("prefix = \"a\"\nzone = \"us-east-1b\"");
        let flags = ConfigValues {
            prefix: Some("b".into()),
            ..Default::default()
        };
        let merged = flags.overriding(file);
        assert_eq!(merged.prefix.as_deref(), Some("b"));
        assert_eq!(merged.zone.as_deref(), Some("us-east-1b"));
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
            ("vpc_id = \"vpc-xyz\"", "vpc_id"),
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
    fn hand_off_settings_have_pinned_defaults() {
        let s = check("prefix = \"dev\"\nregion = \"us-east-1\"").unwrap();
        let b = &s.bootstrap;
        assert_eq!(b.worker_count, 1);
        assert_eq!(b.bosh_cli_sha256, DEFAULT_BOSH_CLI_SHA256);
        assert_eq!(b.kubo_deployment_ref, "v0.44.0");
        assert_eq!(b.kubectl_version, "v1.17.17");
        assert!(b.kubectl_sha512.starts_with("b86ec78a"));
        assert_eq!(b.kubo_release, None, "v0.44.0 pins its own releases");
        assert_eq!(b.bosh_deployment_ref, "c3b2109");
        assert_eq!(b.director_instance_type, "t3.large");
        assert_eq!(b.cfcr_stemcell, None);
        assert_eq!(b.cluster_http_tokens().0, HttpTokens::Optional);
        // v0.16.0: its own kubectl and the release its cfcr.yml does not pin.
        let old =
            check("prefix = \"dev\"\nregion = \"us-east-1\"\nkubo_deployment_ref = \"v0.16.0\"")
                .unwrap()
                .bootstrap;
        assert_eq!(old.kubectl_version, "v1.10.13");
        assert_eq!(old.kubo_release.unwrap().version, "0.16.0");
        let forced =
            check("prefix = \"dev\"\nregion = \"us-east-1\"\ncluster_http_tokens = \"required\"")
                .unwrap()
                .bootstrap;
        assert_eq!(forced.cluster_http_tokens(), (HttpTokens::Required, None));
        let err = check("prefix = \"dev\"\nregion = \"us-east-1\"\nbosh_cli_version = \"7.0.0\"")
            .unwrap_err();
        assert_eq!(err.field, "bosh_cli_sha256");
        let other = check("prefix = \"dev\"\nregion = \"us-east-1\"\nworker_count = 3").unwrap();
        assert!(
            s.differences(&other).is_empty(),
            "hand-off settings may change"
        );
        for (line, field) in [
            ("worker_count = 0", "worker_count"),
            (
                "kubo_deployment_ref = \"v0.16.0; rm -rf /\"",
                "kubo_deployment_ref",
            ),
            ("kubectl_sha512 = \"abc\"", "kubectl_sha512"),
            ("kubectl_version = \"v1.17.16\"", "kubectl_sha512"),
            ("kubo_release_version = \"0.17.0\"", "kubo_release_sha1"),
            (
                "kubo_release_sha1 = \"8a513e48cccdea224c17a92ce73edbda04acee91\"",
                "kubo_release_sha1",
            ),
            ("cfcr_stemcell_os = \"ubuntu-jammy\"", "cfcr_stemcell_url"),
            ("cluster_http_tokens = \"v2\"", "cluster_http_tokens"),
            (
                "cfcr_stemcell_url = \"https://example.com/s.tgz\"\ncfcr_stemcell_sha1 = \"8a513e48cccdea224c17a92ce73edbda04acee91\"\ncfcr_stemcell_os = \"ubuntu-trusty\"\ncfcr_stemcell_version = \"3586.100\"",
                "cfcr_stemcell_os",
            ),
            ("downloads_mirror = \"x\"", "downloads_mirror"),
        ] {
            let err =
                check(&format!("prefix = \"dev\"\nregion = \"us-east-1\"\n{line}")).unwrap_err();
            assert_eq!(err.field, field, "{line}");
        }
    }

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

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<ConfigValues>("prefx = \"dev\"").unwrap_err();
        assert!(err.to_string().contains("prefx"), "{err}");
    }

    #[test]
    fn differences_name_the_changed_keys() {
        let a = check("prefix = \"dev\"\nregion = \"us-east-1\"").unwrap();
        let b = check("prefix = \"dev\"\nregion = \"us-east-1\"\nvpc_cidr = \"10.1.0.0/16\"\npublic_subnet_ip_prefix = \"10.1.1\"\nprivate_subnet_ip_prefix = \"10.1.2\"").unwrap();
        let diff = a.differences(&b);
        assert_eq!(diff.len(), 3, "{diff:?}");
        assert!(diff[2].starts_with("vpc_cidr"), "{diff:?}");
        assert!(a.differences(&a).is_empty());
    }
}
