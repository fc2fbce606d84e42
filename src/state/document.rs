//! The state document: what an environment owns and how far its hand-off went, as stored.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::config::{DirectorNetwork, Settings};
use crate::key::{Key, PrivateEgress};
use crate::keys::KeyMaterial;

/// Bumped whenever the format changes incompatibly; an older tool refuses a newer state.
/// 2: records say where they came from (`origin`): an older tool would delete an adopted VPC.
/// This is the version of a state with its keys in it: a local file, and every state in memory.
pub const SCHEMA_VERSION: u32 = 2;

/// 3: a state in S3 keeps its keys in an object of their own, named by `secrets`: an older tool
/// would find none.
pub const KEYS_APART_VERSION: u32 = 3;

/// Where a recorded resource came from, and so what unpave does with it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Created by cfcr-aws (found again after a crash counts too): unpave deletes it.
    #[default]
    Created,
    /// The operator's, named in the config (an existing VPC, its internet gateway, subnets):
    /// never deleted or changed, but for the tags recorded with it, which unpave takes back.
    Adopted,
    /// A data source (the bastion's image): recorded so it does not change under a running
    /// bastion; unpave forgets it.
    LookedUp,
}

/// What the state knows about one AWS resource.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The AWS id (or name, for resources that AWS identifies by name).
    pub id: String,
    #[serde(default)]
    pub origin: Origin,
    /// False between the create call and the end of its follow-up steps and waits: a re-run
    /// finishes those instead of creating the resource again.
    #[serde(default)]
    pub ready: bool,
    /// Values AWS assigned that others need (ARNs, addresses, DNS names, association ids).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// When this tool's create call returned it (RFC 3339): AWS may not show a resource for a
    /// while after its creation, and a refresh must not take that for a deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

impl Record {
    pub fn new(id: impl Into<String>) -> Record {
        Record {
            id: id.into(),
            ..Record::default()
        }
    }

    pub fn with(mut self, name: &str, value: impl Into<String>) -> Record {
        self.attributes.insert(name.to_string(), value.into());
        self
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }

    /// Stamps the record with the time of its creation.
    pub fn created_now(mut self) -> Record {
        self.created_at =
            Some(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string());
        self
    }

    /// How long ago this tool created it; `None` when unknown (adopted, or an older state).
    pub fn age(&self) -> Option<std::time::Duration> {
        let created = humantime::parse_rfc3339(self.created_at.as_deref()?).ok()?;
        std::time::SystemTime::now().duration_since(created).ok()
    }
}

/// An IAM access key: only in `access-key` mode, and only here.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub schema_version: u32,
    pub env: String,
    pub region: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub settings: Settings,
    /// Tags the subnets and everything Kubernetes creates (`KubernetesCluster`).
    pub cluster_tag: String,
    pub deployer_key: KeyMaterial,
    /// The bastion's SSH host key, pinned through cloud-init.
    pub bastion_host_key: KeyMaterial,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub director_access_key: Option<AccessKey>,
    #[serde(default)]
    pub resources: BTreeMap<Key, Record>,
    /// Resources whose create call was (or was about to be) sent but whose answer is not recorded
    /// yet: a re-run looks for these before creating them, and only these.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub creating: BTreeSet<Key>,
    /// How the private subnet reaches the internet, decided by the first pave.
    #[serde(default)]
    pub private_egress: PrivateEgress,
    /// How far the bastion hand-off got.
    #[serde(default)]
    pub bootstrap: BootstrapProgress,
    /// Rebuilt from AWS by an `unpave` without a state: its settings are not the environment's
    /// (they were lost), so nothing but `unpave` may act on it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
}

impl State {
    /// The VPC's primary block: configured, or read from the adopted VPC.
    pub fn vpc_cidr(&self) -> Option<Ipv4Net> {
        self.settings.vpc_cidr.or_else(|| self.block(Key::Vpc))
    }

    /// A subnet's block: configured, or read from the adopted subnet.
    pub fn subnet_cidr(&self, key: Key) -> Option<Ipv4Net> {
        let configured = match key {
            Key::PublicSubnet => self.settings.public_subnet_cidr(),
            Key::PrivateSubnet => self.settings.private_subnet_cidr(),
            _ => None,
        };
        configured.or_else(|| self.block(key))
    }

    /// The BOSH network; `None` until the adopted VPC and private subnet are recorded.
    pub fn director_network(&self) -> Option<DirectorNetwork> {
        Some(DirectorNetwork::new(
            self.subnet_cidr(Key::PrivateSubnet)?,
            self.vpc_cidr()?,
        ))
    }

    fn block(&self, key: Key) -> Option<Ipv4Net> {
        self.resources
            .get(&key)?
            .attribute(CIDR_BLOCK)?
            .parse()
            .ok()
    }
}

/// The record attribute holding an adopted VPC's or subnet's block.
pub const CIDR_BLOCK: &str = "cidr_block";

/// A step of the bastion hand-off; each is a script of the bundle (`<step>.sh`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    InstallTools,
    DeployBosh,
    UploadStemcell,
    UpdateCloudConfig,
    DeployKubernetes,
    ApplyAddons,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::InstallTools,
        Step::DeployBosh,
        Step::UploadStemcell,
        Step::UpdateCloudConfig,
        Step::DeployKubernetes,
        Step::ApplyAddons,
    ];

    /// The steps `--director-only` leaves out: the cluster's stemcell, deploy and add-ons.
    pub fn deploys_the_cluster(self) -> bool {
        matches!(
            self,
            Step::UploadStemcell | Step::DeployKubernetes | Step::ApplyAddons
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Step::InstallTools => "install-tools",
            Step::DeployBosh => "deploy-bosh",
            Step::UploadStemcell => "upload-stemcell",
            Step::UpdateCloudConfig => "update-cloud-config",
            Step::DeployKubernetes => "deploy-kubernetes",
            Step::ApplyAddons => "apply-addons",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Begun, not known to have finished: it may have created something (a director VM).
    Started,
    Done,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapProgress {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub steps: BTreeMap<Step, StepStatus>,
    /// The bastion each step ran on: a step of the machine's own (its tools) is run again on
    /// another one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ran_on: BTreeMap<Step, BastionRecord>,
    /// What custody holds of the director's files, as it was last written, by file name: a copy
    /// that went missing or changed is noticed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custody: BTreeMap<String, Held>,
    /// The digest of what a step last ran with, for the steps whose inputs can change after they
    /// ran (`install-tools`: the tools and refs; `deploy-bosh`: the director's arguments and
    /// ops-files): other inputs run it again (for the director, an update of the same one).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<Step, String>,
    /// The bastion's teardown (deployment, director) has completed during an unpave.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub torn_down: bool,
}

/// A bastion: its instance, and the host key it answered with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BastionRecord {
    pub instance_id: String,
    /// The SSH host key's SHA-256 fingerprint, as OpenSSH prints it.
    pub host_key: String,
}

/// One file in custody: its SHA-256, size, when it was written, by which step and on which
/// bastion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub sha256: String,
    pub size: u64,
    /// RFC 3339, UTC.
    pub written_at: String,
    pub step: String,
    pub bastion: String,
}

impl BootstrapProgress {
    pub fn reached(&self, step: Step) -> bool {
        self.steps.contains_key(&step)
    }

    pub fn done(&self, step: Step) -> bool {
        self.steps.get(&step) == Some(&StepStatus::Done)
    }
}
