//! Where states live: a local directory (the default: one file per environment, an OS file lock
//! beside it) or an S3 bucket shared by a team ([`super::s3`]). Commands ask the backend to load,
//! open, create, lock and list states, and do not care which it is.

use std::path::PathBuf;

use anyhow::{Context, bail};

use super::lock::{EnvLock, hostname};
use super::s3::{Holder, Locked, RemoteLock, S3Store, precondition_failed};
use super::{State, StateStore};
use crate::aws::{self, Policy};

/// A state as read, with what a conditional write needs to replace exactly it.
#[derive(Debug)]
pub struct Loaded {
    pub state: State,
    /// The S3 ETag; `None` locally.
    version: Option<String>,
}

pub enum Backend {
    Local { dir: PathBuf },
    S3(S3Store),
}

/// A command's hold on an environment.
pub enum Lock {
    Local(EnvLock),
    /// Released when dropped.
    Remote {
        _held: RemoteLock,
    },
}

impl Lock {
    /// For `unpave`, which leaves nothing behind: the local lock file goes (the remote lock object
    /// goes when the lock is released anyway).
    pub fn remove_file(&self) -> anyhow::Result<()> {
        match self {
            Lock::Local(lock) => lock.remove_file(),
            Lock::Remote { .. } => Ok(()),
        }
    }
}

/// 16 hex digits: enough to name a lock, short enough to type.
fn lock_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

impl Backend {
    pub fn describe(&self) -> String {
        match self {
            Backend::Local { dir } => dir.display().to_string(),
            Backend::S3(store) => store.location.to_string(),
        }
    }

    /// Reads an environment's state; `None` when there is none.
    pub async fn load(&self, env: &str) -> anyhow::Result<Option<Loaded>> {
        match self {
            Backend::Local { dir } => {
                Ok(
                    super::load(&super::path_for(dir, env))?.map(|state| Loaded {
                        state,
                        version: None,
                    }),
                )
            }
            Backend::S3(store) => {
                let key = store.location.state_key(env);
                let Some((bytes, etag)) = store.get(&key).await? else {
                    return Ok(None);
                };
                let origin = format!("s3://{}/{key}", store.location.bucket);
                let state = super::parse(&bytes, &origin)?;
                Ok(Some(Loaded {
                    state,
                    version: etag,
                }))
            }
        }
    }

    /// The store for a state that was read.
    pub fn open(&self, env: &str, loaded: Loaded) -> StateStore {
        match self {
            Backend::Local { dir } => StateStore::open(super::path_for(dir, env), loaded.state),
            Backend::S3(store) => StateStore::remote(
                store.clone(),
                store.location.state_key(env),
                loaded.state,
                loaded.version,
            ),
        }
    }

    /// A new state, written before this returns; refused if one exists.
    pub fn create(&self, env: &str, state: State) -> anyhow::Result<StateStore> {
        match self {
            Backend::Local { dir } => StateStore::create(super::path_for(dir, env), state),
            Backend::S3(store) => {
                let store =
                    StateStore::remote(store.clone(), store.location.state_key(env), state, None);
                store.save_now()?;
                Ok(store)
            }
        }
    }

    /// Holds the environment for one command, or fails at once naming the holder.
    pub async fn lock(&self, env: &str, command: &str) -> anyhow::Result<Lock> {
        let store = match self {
            Backend::Local { dir } => return Ok(Lock::Local(EnvLock::acquire(dir, env, command)?)),
            Backend::S3(store) => store,
        };
        let key = store.location.lock_key(env);
        let holder = Holder {
            id: lock_id(),
            command: command.to_string(),
            host: hostname(),
            pid: std::process::id(),
            started: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        };
        let body = serde_json::to_vec_pretty(&holder)?;
        match store.put_if(&key, body, None, false).await {
            Ok(_) => Ok(Lock::Remote {
                _held: RemoteLock {
                    store: store.clone(),
                    key,
                },
            }),
            Err(e) if precondition_failed(&e) => {
                let holder = self.holder(env).await?.ok_or_else(|| {
                    anyhow::anyhow!("environment {env:?} was locked a moment ago; try again")
                })?;
                Err(Locked {
                    env: env.to_string(),
                    holder,
                }
                .into())
            }
            Err(e) => Err(e).with_context(|| format!("locking {}", store.address(&key))),
        }
    }

    /// Who holds the environment's remote lock, if anyone.
    pub async fn holder(&self, env: &str) -> anyhow::Result<Option<Holder>> {
        let Backend::S3(store) = self else {
            return Ok(None);
        };
        let Some((bytes, _)) = store.get(&store.location.lock_key(env)).await? else {
            return Ok(None);
        };
        Ok(Some(
            serde_json::from_slice(&bytes).context("the lock object is not a cfcr-aws lock")?,
        ))
    }

    /// Removes a remote lock whose holder is gone, if its ID is `id`.
    pub async fn force_unlock(&self, env: &str, id: &str) -> anyhow::Result<Holder> {
        let Backend::S3(store) = self else {
            bail!(
                "local locks are OS file locks, released by the kernel when their holder dies: there is nothing to force. A command still running holds it"
            );
        };
        let Some(holder) = self.holder(env).await? else {
            bail!("environment {env:?} is not locked");
        };
        if holder.id != id {
            bail!(
                "the lock of {env:?} has ID {}, not {id} ({holder}); check who holds it before removing it",
                holder.id
            );
        }
        store.delete(&store.location.lock_key(env))?;
        Ok(holder)
    }

    /// Every environment with a state here, by name.
    pub async fn list(&self) -> anyhow::Result<Vec<(String, anyhow::Result<State>)>> {
        match self {
            Backend::Local { dir } => {
                let entries = match std::fs::read_dir(dir) {
                    Ok(entries) => entries.collect::<Result<Vec<_>, _>>()?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                    Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
                };
                let mut paths: Vec<_> = entries
                    .into_iter()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .filter(|p| p.file_name().is_some_and(|n| n != crate::last_error::FILE))
                    .collect();
                paths.sort();
                Ok(paths
                    .into_iter()
                    .filter_map(|path| {
                        let name = path.file_stem()?.to_string_lossy().into_owned();
                        match super::load(&path) {
                            Ok(Some(state)) => Some((name, Ok(state))),
                            Ok(None) => None,
                            Err(e) => Some((name, Err(e))),
                        }
                    })
                    .collect())
            }
            Backend::S3(store) => {
                let prefix = store.location.key("");
                let client = &store.client;
                let pages = aws::all_pages(
                    "ListObjectsV2",
                    &Policy::standard(),
                    |token| {
                        client
                            .list_objects_v2()
                            .bucket(&store.location.bucket)
                            .prefix(&prefix)
                            .set_continuation_token(token)
                            .send()
                    },
                    |page| page.next_continuation_token(),
                )
                .await
                .with_context(|| format!("listing {}", store.location))?;
                let mut rows = Vec::new();
                for object in pages.iter().flat_map(|p| p.contents()) {
                    let Some(name) = object
                        .key()
                        .and_then(|k| k.strip_prefix(&prefix))
                        .and_then(|k| k.strip_suffix(".json"))
                        .filter(|k| !k.contains('/'))
                    else {
                        continue;
                    };
                    let loaded = self.load(name).await;
                    match loaded {
                        Ok(Some(loaded)) => rows.push((name.to_string(), Ok(loaded.state))),
                        Ok(None) => {}
                        Err(e) => rows.push((name.to_string(), Err(e))),
                    }
                }
                Ok(rows)
            }
        }
    }
}
