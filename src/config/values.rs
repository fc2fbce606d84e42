//! The raw values: the config file's keys and the flags of the same names, before any check.

use std::path::Path;

use clap::Args;
use serde::Deserialize;

use super::error::{ValidationError, invalid};

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
        toml::from_str(&text).map_err(|e| unreadable(path, &text, &e))
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

/// What is wrong with a config file that is not TOML or has a value of the wrong type: the file,
/// the line and its key.
fn unreadable(path: &Path, text: &str, e: &toml::de::Error) -> ValidationError {
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
}

/// The raw values of a config file's text, for tests.
#[cfg(test)]
pub(super) fn from_toml(toml_text: &str) -> ConfigValues {
    toml::from_str(toml_text).expect("test TOML parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file() {
        let file = from_toml("prefix = \"a\"\nzone = \"us-east-1b\"");
        let flags = ConfigValues {
            prefix: Some("b".into()),
            ..Default::default()
        };
        let merged = flags.overriding(file);
        assert_eq!(merged.prefix.as_deref(), Some("b"));
        assert_eq!(merged.zone.as_deref(), Some("us-east-1b"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<ConfigValues>("prefx = \"dev\"").unwrap_err();
        assert!(err.to_string().contains("prefx"), "{err}");
    }
}
