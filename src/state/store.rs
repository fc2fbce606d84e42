//! [`StateStore`]: the one writer of an environment's state, shared by a command's steps.

use std::fs;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, bail};

use super::document::{KEYS_APART_VERSION, Record, State};
use super::s3::{self, S3Store};
use super::{held, secrets};
use crate::key::Key;

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
