//! The state: the single source of truth about what an environment owns in AWS.
//!
//! One JSON file per environment, `<state-dir>/<prefix>.json`. Every write replaces the file
//! atomically (temp file, fsync, rename, fsync of the directory) and the file is created with mode
//! 0600 from the start, because it holds private keys. The format is documented in docs/state.md.
//! Where states live is [`backend`]'s concern: a local directory (locked by [`lock`]) or S3
//! ([`s3`]). What an interrupt settles is [`held`]'s.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, bail};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

mod backend;
mod held;
mod lock;
mod s3;

pub use backend::{Backend, Loaded, UnlockRefused};
pub use held::settle;
pub use s3::{BucketElsewhere, S3Location, S3Store};

use crate::config::{DirectorNetwork, Settings};
use crate::keys::KeyMaterial;
use crate::resources::{Key, PrivateEgress};

/// Bumped whenever the format changes incompatibly; an older tool refuses a newer state.
/// 2: records say where they came from (`origin`): an older tool would delete an adopted VPC.
pub const SCHEMA_VERSION: u32 = 2;

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
    /// The bastion's teardown (deployment, director) has completed during an unpave.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub torn_down: bool,
}

impl BootstrapProgress {
    pub fn reached(&self, step: Step) -> bool {
        self.steps.contains_key(&step)
    }

    pub fn done(&self, step: Step) -> bool {
        self.steps.get(&step) == Some(&StepStatus::Done)
    }
}

/// A state file that cannot be used as it is. The file is never modified in that case.
#[derive(Debug, thiserror::Error)]
#[error("state file {origin}: {problem}. The file was left untouched.")]
pub struct StateFileError {
    /// The file's path or S3 address.
    pub origin: String,
    pub problem: String,
}

/// The path of an environment's state file.
pub fn path_for(state_dir: &Path, env: &str) -> PathBuf {
    state_dir.join(format!("{env}.json"))
}

/// Reads and checks a state file; `None` when there is none.
pub fn load(path: &Path) -> anyhow::Result<Option<State>> {
    crate::files::refuse_symlink(path)?;
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    parse(&text, &path.display().to_string()).map(Some)
}

/// Checks and reads a state's bytes; `origin` names where they came from, for messages.
pub fn parse(text: &[u8], origin: &str) -> anyhow::Result<State> {
    let damaged = |problem: String| StateFileError {
        origin: origin.to_string(),
        problem,
    };
    let value: serde_json::Value = serde_json::from_slice(text).map_err(|e| {
        damaged(format!(
            "not valid JSON ({e}); it may be truncated or damaged"
        ))
    })?;
    let version = value.get("schema_version").and_then(|v| v.as_u64());
    match version {
        Some(v) if v > u64::from(SCHEMA_VERSION) => {
            return Err(damaged(format!(
                "written by a newer cfcr-aws (schema version {v}; this one understands up to {SCHEMA_VERSION}); use a newer cfcr-aws"
            ))
            .into());
        }
        Some(_) => {}
        None => return Err(damaged("no schema_version: not a cfcr-aws state".into()).into()),
    }
    let mut state: State = serde_json::from_value(value)
        .map_err(|e| damaged(format!("not a valid cfcr-aws state ({e})")))?;
    // Version 1 had no origins: everything was created, but for the image it looked up.
    if version < Some(2) {
        if let Some(image) = state.resources.get_mut(&Key::BastionImage) {
            image.origin = Origin::LookedUp;
        }
        state.schema_version = SCHEMA_VERSION;
    }
    Ok(state)
}

/// Where a store writes: a local file, or an S3 object written conditionally on its last ETag.
#[derive(Debug)]
enum Sink {
    File(PathBuf),
    Object {
        store: S3Store,
        key: String,
        version: Mutex<Option<String>>,
    },
}

/// The state of one environment, shared by the concurrent steps of a command. Every change is
/// stored (on disk, or in S3) before the call that made it returns.
#[derive(Debug)]
pub struct StateStore {
    sink: Sink,
    state: Mutex<State>,
}

impl StateStore {
    /// Starts a new state file.
    pub fn create(path: PathBuf, state: State) -> anyhow::Result<StateStore> {
        if path.exists() {
            bail!("{} already exists", path.display());
        }
        let store = StateStore {
            sink: Sink::File(path),
            state: Mutex::new(state),
        };
        store.save(&store.lock())?;
        Ok(store)
    }

    /// Wraps a state read from `path`.
    pub fn open(path: PathBuf, state: State) -> StateStore {
        StateStore {
            sink: Sink::File(path),
            state: Mutex::new(state),
        }
    }

    /// Wraps a state in S3 at `version` (its ETag; `None` for one not written yet).
    pub fn remote(
        store: S3Store,
        key: String,
        state: State,
        version: Option<String>,
    ) -> StateStore {
        StateStore {
            sink: Sink::Object {
                store,
                key,
                version: Mutex::new(version),
            },
            state: Mutex::new(state),
        }
    }

    /// Stores the state as it is.
    pub fn save_now(&self) -> anyhow::Result<()> {
        self.save(&self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes the state, unless an interrupt has stopped writing.
    fn save(&self, state: &State) -> anyhow::Result<()> {
        let mut json = serde_json::to_vec_pretty(state).context("serialising the state")?;
        json.push(b'\n');
        held::write(|| match &self.sink {
            Sink::File(path) => crate::files::write_private(path, &json),
            Sink::Object {
                store,
                key,
                version,
            } => {
                let mut version = version.lock().unwrap_or_else(|p| p.into_inner());
                *version = store.put_state(key, json, version.as_deref())?;
                Ok(())
            }
        })
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> State {
        self.lock().clone()
    }

    pub fn get(&self, key: Key) -> Option<Record> {
        self.lock().resources.get(&key).cloned()
    }

    /// Changes the state and saves it before returning.
    pub fn update(&self, change: impl FnOnce(&mut State)) -> anyhow::Result<()> {
        let mut state = self.lock();
        change(&mut state);
        self.save(&state)
    }

    /// Notes that `key` is about to be created, before the create call is sent.
    pub fn intend(&self, key: Key) -> anyhow::Result<()> {
        self.update(|s| {
            s.creating.insert(key);
        })
    }

    /// Whether a create of `key` may have reached AWS without its answer being recorded.
    pub fn intended(&self, key: Key) -> bool {
        self.lock().creating.contains(&key)
    }

    pub fn record(&self, key: Key, record: Record) -> anyhow::Result<()> {
        self.update(|s| {
            s.creating.remove(&key);
            s.resources.insert(key, record);
        })
    }

    pub fn forget(&self, key: Key) -> anyhow::Result<()> {
        self.update(|s| {
            s.creating.remove(&key);
            s.resources.remove(&key);
        })
    }

    /// Removes the state file: the environment no longer exists.
    pub fn remove(&self) -> anyhow::Result<()> {
        held::write(|| match &self.sink {
            Sink::File(path) => {
                fs::remove_file(path).with_context(|| format!("removing {}", path.display()))
            }
            Sink::Object { store, key, .. } => store.delete(key),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn private_files_are_0600_and_replaced_whole() {
        let dir = std::env::temp_dir().join(format!("cfcr-aws-state-test-{}", std::process::id()));
        let path = dir.join("x.json");
        crate::files::write_private(&path, b"one").unwrap();
        crate::files::write_private(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!path.with_extension("tmp").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_version_1_state_reads_as_created_with_the_image_looked_up() {
        let values = crate::config::ConfigValues {
            prefix: Some("old".into()),
            region: Some("us-east-1".into()),
            ..Default::default()
        };
        let state = State {
            schema_version: SCHEMA_VERSION,
            env: "old".into(),
            region: "us-east-1".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            settings: Settings::validate(values, None).unwrap(),
            cluster_tag: "tag".into(),
            deployer_key: Default::default(),
            bastion_host_key: Default::default(),
            director_access_key: None,
            resources: [
                (Key::Vpc, Record::new("vpc-1")),
                (Key::BastionImage, Record::new("ami-1")),
            ]
            .into(),
            creating: Default::default(),
            private_egress: PrivateEgress::OwnNatGateway,
            bootstrap: Default::default(),
        };
        let mut old = serde_json::to_value(&state).unwrap();
        old["schema_version"] = 1.into();
        old.as_object_mut().unwrap().remove("private_egress");
        for record in old["resources"].as_object_mut().unwrap().values_mut() {
            record.as_object_mut().unwrap().remove("origin");
        }
        let read = parse(old.to_string().as_bytes(), "test").unwrap();
        assert_eq!(read.schema_version, 2);
        assert_eq!(read.resources[&Key::Vpc].origin, Origin::Created);
        assert_eq!(read.resources[&Key::BastionImage].origin, Origin::LookedUp);
        assert_eq!(read.private_egress, PrivateEgress::OwnNatGateway);
        assert_eq!(read.vpc_cidr().unwrap().to_string(), "10.0.0.0/16");
    }

    #[test]
    fn damaged_and_newer_states_are_refused() {
        let dir = std::env::temp_dir().join(format!("cfcr-aws-state-test2-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.json");
        for (text, expected) in [
            ("{\"schema_version\": 1, \"env\": ", "not valid JSON"),
            ("{\"schema_version\": 99}", "newer cfcr-aws"),
            ("{\"env\": \"x\"}", "no schema_version"),
            (
                "{\"schema_version\": 1, \"env\": \"x\"}",
                "not a valid cfcr-aws state",
            ),
        ] {
            fs::write(&path, text).unwrap();
            let err = load(&path).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
            assert_eq!(fs::read_to_string(&path).unwrap(), text);
        }
        fs::remove_dir_all(dir).unwrap();
    }
}
