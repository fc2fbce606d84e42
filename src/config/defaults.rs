//! What the keys the operator leaves unset become: the classic Terraform template's values, and the
//! tool versions the bundle was tested with, pinned with their checksums.

use crate::compat;

pub const DEFAULT_VPC_CIDR: &str = "10.0.0.0/16";
pub const DEFAULT_PUBLIC_SUBNET_IP_PREFIX: &str = "10.0.1";
pub const DEFAULT_PRIVATE_SUBNET_IP_PREFIX: &str = "10.0.2";
pub const DEFAULT_KUBERNETES_MASTER_PORT: i64 = 8443;
/// Of both `ssh_allowed_cidrs` and `api_allowed_cidrs`: open, with a warning for SSH.
pub const DEFAULT_ALLOWED_CIDR: &str = "0.0.0.0/0";

/// Canonical's AWS account: the only owner whose Ubuntu images the bastion is allowed to boot.
pub const CANONICAL_OWNER_ID: &str = "099720109477";
/// Ubuntu 22.04: the bastion release bosh's documentation describes for compiling the AWS CPI
/// during `bosh create-env` (docs/compatibility.md); 24.04 is not documented to work.
pub const DEFAULT_AMI_NAME: &str = "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*";
pub const DEFAULT_BASTION_INSTANCE_TYPE: &str = "t3.micro";

pub const DEFAULT_WORKER_COUNT: i64 = 1;
pub const DEFAULT_DIRECTOR_INSTANCE_TYPE: &str = "t3.large";
pub const DEFAULT_SMALL_INSTANCE_TYPE: &str = "t3.micro";
pub const DEFAULT_SMALL_HIGHMEM_INSTANCE_TYPE: &str = "t3.medium";

/// Pinned defaults: the versions the bundle was tested with.
pub const DEFAULT_BOSH_CLI_VERSION: &str = "7.11.0";
pub const DEFAULT_BOSH_CLI_SHA256: &str =
    "3ad84c3967672070b7f70f91f8da76abcbb604d588787b4f98457338cc9fc8d2";
pub const DEFAULT_CREDHUB_CLI_VERSION: &str = "2.9.39";
pub const DEFAULT_CREDHUB_CLI_SHA256: &str =
    "15cb96ea05a85020c83ef81d7a72f7da43a8671f8e60ed3f7ddc6660a0c83b2e";

/// States written before `kubectl_sha512` existed installed v0.16.0's kubectl.
pub(super) fn v0_16_kubectl_sha512() -> String {
    compat::kubo_line("v0.16.0")
        .expect("v0.16.0 is a known line")
        .kubectl
        .sha512
        .into()
}
