//! The state: the single source of truth about what an environment owns in AWS.
//!
//! One JSON file per environment, `<state-dir>/<prefix>.json`. Every write replaces the file
//! atomically (temp file, fsync, rename, fsync of the directory) and the file is created with mode
//! 0600 from the start, because it holds private keys. The format is documented in docs/state.md.
//! Where states live is [`backend`]'s concern: a local directory (locked by [`lock`]) or S3
//! ([`s3`], the keys apart: [`secrets`]). What an interrupt settles is [`held`]'s.

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
mod secrets;

pub use backend::{Backend, Loaded, UnlockRefused};
pub use held::settle;
pub use s3::{BucketElsewhere, S3Location, S3Store};

use crate::config::{DirectorNetwork, Settings};
use crate::keys::KeyMaterial;
use crate::resources::{Key, PrivateEgress};

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
    check(json(text, origin)?, origin)
}

/// The JSON in a state's bytes (or its keys').
fn json(text: &[u8], origin: &str) -> Result<serde_json::Value, StateFileError> {
    serde_json::from_slice(text).map_err(|e| StateFileError {
        origin: origin.to_string(),
        problem: format!("not valid JSON ({e}); it may be truncated or damaged"),
    })
}

/// Checks and reads a state, its keys in it.
fn check(value: serde_json::Value, origin: &str) -> anyhow::Result<State> {
    let damaged = |problem: String| StateFileError {
        origin: origin.to_string(),
        problem,
    };
    let version = value.get("schema_version").and_then(|v| v.as_u64());
    match version {
        Some(v) if v > u64::from(KEYS_APART_VERSION) => {
            return Err(damaged(format!(
                "written by a newer cfcr-aws (schema version {v}; this one understands up to {KEYS_APART_VERSION}); use a newer cfcr-aws"
            ))
            .into());
        }
        Some(_) => {}
        None => return Err(damaged("no schema_version: not a cfcr-aws state".into()).into()),
    }
    if let Some(apart) = value.get(secrets::SECRETS) {
        return Err(damaged(format!(
            "its keys are kept apart, in {apart} beside it in S3: read it there (--state s3://BUCKET/PREFIX)"
        ))
        .into());
    }
    let mut state: State = serde_json::from_value(value)
        .map_err(|e| damaged(format!("not a valid cfcr-aws state ({e})")))?;
    // Version 1 had no origins: everything was created, but for the image it looked up.
    if version < Some(2)
        && let Some(image) = state.resources.get_mut(&Key::BastionImage)
    {
        image.origin = Origin::LookedUp;
    }
    state.schema_version = SCHEMA_VERSION;
    Ok(state)
}

/// Where a store writes: a local file, or S3 objects written conditionally on their last ETags.
#[derive(Debug)]
enum Sink {
    File(PathBuf),
    Objects { store: S3Store, env: String },
}

/// What the sink holds, as this command last read or wrote it.
#[derive(Debug, Default)]
pub(super) struct Stored {
    /// The state, serialised; `None` before a new state's first write.
    state: Option<serde_json::Value>,
    /// In S3: the state object's ETag.
    version: Option<String>,
    /// In S3: the keys object's ETag (`None`: there is none) and the keys it holds.
    secrets_version: Option<String>,
    secrets: Option<serde_json::Value>,
    /// The state was removed: nothing more is stored.
    removed: bool,
}

impl Stored {
    /// A state just read from S3 at `version`, with the keys object beside it as read (its keys
    /// and ETag), if there is one.
    pub(super) fn read(
        state: &State,
        version: Option<String>,
        keys: Option<(serde_json::Value, Option<String>)>,
    ) -> anyhow::Result<Stored> {
        let (secrets, secrets_version) = keys.unzip();
        Ok(Stored {
            state: Some(serde_json::to_value(state).context("serialising the state")?),
            version,
            secrets_version: secrets_version.flatten(),
            secrets,
            removed: false,
        })
    }

    /// A new state in S3, whose keys object may be left from a run that stopped before writing
    /// the state (it is replaced).
    pub(super) fn new_in_s3(secrets_version: Option<String>) -> Stored {
        Stored {
            secrets_version,
            ..Stored::default()
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: State,
    stored: Stored,
}

/// The state of one environment, shared by the concurrent steps of a command. Every change is
/// stored (on disk, or in S3) before the call that made it returns, but for resources turning
/// ready: that is stored with the next change, or when the command ends. A run stopped before then
/// repeats those resources' follow-up steps, which are idempotent; a pave writes a third fewer
/// versions of the state.
#[derive(Debug)]
pub struct StateStore {
    sink: Sink,
    inner: Mutex<Inner>,
}

impl StateStore {
    /// Starts a new state file.
    pub fn create(path: PathBuf, state: State) -> anyhow::Result<StateStore> {
        if path.exists() {
            bail!("{} already exists", path.display());
        }
        let store = StateStore::with(Sink::File(path), state, Stored::default());
        store.save_now()?;
        Ok(store)
    }

    /// Wraps a state read from `path`.
    pub fn open(path: PathBuf, state: State) -> StateStore {
        let stored = Stored {
            state: serde_json::to_value(&state).ok(),
            ..Stored::default()
        };
        StateStore::with(Sink::File(path), state, stored)
    }

    /// Wraps a state in S3, as `stored` there.
    pub(super) fn remote(store: S3Store, env: &str, state: State, stored: Stored) -> StateStore {
        let sink = Sink::Objects {
            store,
            env: env.to_string(),
        };
        StateStore::with(sink, state, stored)
    }

    fn with(sink: Sink, state: State, stored: Stored) -> StateStore {
        StateStore {
            sink,
            inner: Mutex::new(Inner { state, stored }),
        }
    }

    /// Stores the state as it is.
    pub fn save_now(&self) -> anyhow::Result<()> {
        let mut inner = self.lock();
        let Inner { state, stored } = &mut *inner;
        write(&self.sink, stored, state)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> State {
        self.lock().state.clone()
    }

    pub fn get(&self, key: Key) -> Option<Record> {
        self.lock().state.resources.get(&key).cloned()
    }

    /// Changes the state and stores it before returning (resources turning ready: see above).
    pub fn update(&self, change: impl FnOnce(&mut State)) -> anyhow::Result<()> {
        let mut inner = self.lock();
        let Inner { state, stored } = &mut *inner;
        change(state);
        let now = serde_json::to_value(&*state).context("serialising the state")?;
        match &stored.state {
            Some(before) if *before == now || only_readied(before, &now) => Ok(()),
            _ => write(&self.sink, stored, state),
        }
    }

    /// Notes that `key` is about to be created, before the create call is sent.
    pub fn intend(&self, key: Key) -> anyhow::Result<()> {
        self.update(|s| {
            s.creating.insert(key);
        })
    }

    /// Whether a create of `key` may have reached AWS without its answer being recorded.
    pub fn intended(&self, key: Key) -> bool {
        self.lock().state.creating.contains(&key)
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

    /// Removes the state (and, in S3, its keys): the environment no longer exists.
    pub fn remove(&self) -> anyhow::Result<()> {
        let mut inner = self.lock();
        held::write(|| match &self.sink {
            Sink::File(path) => {
                fs::remove_file(path).with_context(|| format!("removing {}", path.display()))
            }
            Sink::Objects { store, env } => {
                store.delete(&store.location.state_key(env))?;
                store.delete(&store.location.secrets_key(env))
            }
        })?;
        inner.stored.removed = true;
        Ok(())
    }
}

impl Drop for StateStore {
    /// Stores the resources that turned ready since the last write.
    fn drop(&mut self) {
        let Inner { state, stored } = self
            .inner
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Ok(now) = serde_json::to_value(&*state) else {
            return;
        };
        let kept_back = stored
            .state
            .as_ref()
            .is_some_and(|before| *before != now && only_readied(before, &now));
        if !stored.removed
            && kept_back
            && let Err(e) = write(&self.sink, stored, state)
        {
            crate::report::warning(&format!(
                "could not store which resources are ready ({e:#}); the next run completes them again"
            ));
        }
    }
}

/// Whether `now` differs from `before` only in resources that turned ready.
fn only_readied(before: &serde_json::Value, now: &serde_json::Value) -> bool {
    let mut readied = before.clone();
    let Some(records) = readied
        .get_mut("resources")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return false;
    };
    for (key, record) in records.iter_mut() {
        if now["resources"][key]["ready"] == true {
            record["ready"] = true.into();
        }
    }
    readied == *now
}

/// Writes the state (in S3: its keys first, when they changed, so that the state never names
/// keys that are not there), unless an interrupt has stopped writing.
fn write(sink: &Sink, stored: &mut Stored, state: &State) -> anyhow::Result<()> {
    let now = serde_json::to_value(state).context("serialising the state")?;
    held::write(|| match sink {
        Sink::File(path) => {
            let mut json = serde_json::to_vec_pretty(state).context("serialising the state")?;
            json.push(b'\n');
            crate::files::write_private(path, &json)
        }
        Sink::Objects { store, env } => {
            let mut public = now.clone();
            let keys = secrets::split(&mut public);
            if stored.secrets.as_ref() != Some(&keys) {
                stored.secrets_version = store.put_state(
                    &store.location.secrets_key(env),
                    pretty(&keys)?,
                    stored.secrets_version.as_deref(),
                )?;
                stored.secrets = Some(keys);
            }
            public["schema_version"] = KEYS_APART_VERSION.into();
            public[secrets::SECRETS] = s3::secrets_name(env).into();
            stored.version = store.put_state(
                &store.location.state_key(env),
                pretty(&public)?,
                stored.version.as_deref(),
            )?;
            Ok(())
        }
    })?;
    stored.state = Some(now);
    Ok(())
}

fn pretty(value: &serde_json::Value) -> anyhow::Result<Vec<u8>> {
    let mut json = serde_json::to_vec_pretty(value).context("serialising the state")?;
    json.push(b'\n');
    Ok(json)
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

    /// A state of environment `env` holding `resources`.
    fn sample(env: &str, resources: BTreeMap<Key, Record>) -> State {
        let values = crate::config::ConfigValues {
            prefix: Some(env.into()),
            region: Some("us-east-1".into()),
            ..Default::default()
        };
        State {
            schema_version: SCHEMA_VERSION,
            env: env.into(),
            region: "us-east-1".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            settings: Settings::validate(values, None).unwrap(),
            cluster_tag: "tag".into(),
            deployer_key: Default::default(),
            bastion_host_key: Default::default(),
            director_access_key: None,
            resources,
            creating: Default::default(),
            private_egress: PrivateEgress::OwnNatGateway,
            bootstrap: Default::default(),
            recovered: false,
        }
    }

    #[test]
    fn a_version_1_state_reads_as_created_with_the_image_looked_up() {
        let state = sample(
            "old",
            [
                (Key::Vpc, Record::new("vpc-1")),
                (Key::BastionImage, Record::new("ami-1")),
            ]
            .into(),
        );
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

    #[test]
    fn readiness_rides_with_the_next_write_or_is_stored_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.json");
        let stored = |key: &str| -> serde_json::Value {
            let state: serde_json::Value =
                serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
            state["resources"][key].clone()
        };
        let store = StateStore::create(path.clone(), sample("e", BTreeMap::new())).unwrap();
        store.record(Key::Vpc, Record::new("vpc-1")).unwrap();
        // Every write replaces the file: a new inode.
        let inode = || std::os::unix::fs::MetadataExt::ino(&fs::metadata(&path).unwrap());
        let written = inode();
        // Ready alone: kept back; the same state again: not written.
        let ready = Record {
            ready: true,
            ..Record::new("vpc-1")
        };
        store.record(Key::Vpc, ready.clone()).unwrap();
        store.update(|_| {}).unwrap();
        assert_eq!(stored("vpc")["ready"], false);
        assert_eq!(inode(), written);
        // An intent is written at once, with it.
        store.intend(Key::InternetGateway).unwrap();
        assert_eq!(stored("vpc")["ready"], true);
        store
            .record(Key::InternetGateway, Record::new("igw-1"))
            .unwrap();
        store
            .record(
                Key::InternetGateway,
                Record {
                    ready: true,
                    ..Record::new("igw-1")
                },
            )
            .unwrap();
        assert_eq!(stored("internet_gateway")["ready"], false);
        drop(store);
        assert_eq!(stored("internet_gateway")["ready"], true);
    }
}
