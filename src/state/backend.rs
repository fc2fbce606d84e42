//! Where states live: a local directory (the default: one file per environment, an OS file lock
//! beside it) or an S3 bucket shared by a team ([`super::s3`]). Commands ask the backend to load,
//! open, create, lock and list states, and do not care which it is.

use std::path::PathBuf;

use anyhow::{Context, bail};
use tokio::sync::OnceCell;

use super::document::State;
use super::file::{StateFileError, check, json, load, path_for};
use super::lock::{EnvLock, hostname, running_here};
use super::s3::{Holder, Locked, RemoteLock, S3Store, force_unlock_command, precondition_failed};
use super::secrets;
use super::store::{StateStore, Stored};
use crate::aws::{self, Policy};

/// A state as read, with what a conditional write needs to replace exactly it.
#[derive(Debug)]
pub struct Loaded {
    pub state: State,
    stored: Stored,
}

pub enum Backend {
    Local {
        dir: PathBuf,
    },
    S3(S3Store),
    /// A bucket that does not exist yet, which `--create-state-bucket` allows to create: the
    /// first lock creates it (a command that writes), or a listing; a command that only reads a
    /// state finds none there, and creates nothing.
    NewBucket {
        store: S3Store,
        region: String,
        made: OnceCell<()>,
    },
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

/// `force-unlock` refused: the lock is not one to force, or not yet. A usage error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UnlockRefused(String);

/// The local directory of an environment's director files in custody.
fn custody_dir(dir: &std::path::Path, env: &str) -> PathBuf {
    dir.join(format!("{env}.director"))
}

/// 16 hex digits: enough to name a lock, short enough to type.
fn lock_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

impl Backend {
    /// The backend at an S3 location, given whether its bucket exists and whether it may be
    /// created (`--create-state-bucket`) in `region`.
    pub fn remote(
        store: S3Store,
        exists: bool,
        may_create: bool,
        region: &str,
    ) -> anyhow::Result<Backend> {
        match (exists, may_create) {
            (true, _) => Ok(Backend::S3(store)),
            (false, true) => Ok(Backend::NewBucket {
                store,
                region: region.to_string(),
                made: OnceCell::new(),
            }),
            (false, false) => bail!(
                "the state bucket {} does not exist: create it (with versioning), or pass --create-state-bucket",
                store.location.bucket
            ),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Backend::Local { dir } => dir.display().to_string(),
            Backend::S3(store) | Backend::NewBucket { store, .. } => store.location.to_string(),
        }
    }

    /// Where else to look for a state not found here.
    pub fn elsewhere_hint(&self) -> String {
        match self {
            Backend::Local { .. } => {
                "pass --state-dir DIR, or --state s3://BUCKET/PREFIX if it is kept in S3".into()
            }
            Backend::S3(store) => format!(
                "check the environment's name (`cfcr-aws --state {} list` lists the states there)",
                store.location
            ),
            Backend::NewBucket { store, .. } => format!(
                "create the bucket: the state bucket {} does not exist, and this command only reads a state, so it created nothing (--create-state-bucket creates the bucket for pave, unpave, state migrate or list)",
                store.location.bucket
            ),
        }
    }

    /// The bucket, if it exists (a new one once made).
    fn bucket(&self) -> Option<&S3Store> {
        match self {
            Backend::Local { .. } => None,
            Backend::S3(store) => Some(store),
            Backend::NewBucket { store, made, .. } => made.initialized().then_some(store),
        }
    }

    /// The bucket, made now if it is new: for a command that writes, or lists.
    async fn made_bucket(&self) -> anyhow::Result<Option<&S3Store>> {
        if let Backend::NewBucket {
            store,
            region,
            made,
        } = self
        {
            made.get_or_try_init(|| store.create_bucket(region)).await?;
        }
        Ok(self.bucket())
    }

    /// Reads an environment's state; `None` when there is none.
    pub async fn load(&self, env: &str) -> anyhow::Result<Option<Loaded>> {
        let store = match self {
            Backend::Local { dir } => {
                let path = path_for(dir, env);
                return Ok(load(&path)?.map(|state| Loaded {
                    state,
                    stored: Stored::default(),
                }));
            }
            _ => match self.bucket() {
                Some(store) => store,
                None => return Ok(None),
            },
        };
        let key = store.location.state_key(env);
        let Some((bytes, version)) = store.get(&key).await? else {
            return Ok(None);
        };
        let origin = store.address(&key);
        let mut value = json(&bytes, &origin)?;
        // Read even for a state with its keys in it: a keys object left there is replaced.
        let secrets_key = store.location.secrets_key(env);
        let keys = match store.get(&secrets_key).await? {
            Some((bytes, etag)) => Some((json(&bytes, &store.address(&secrets_key))?, etag)),
            None => None,
        };
        if let Some(object) = value.as_object_mut()
            && object.remove(secrets::SECRETS).is_some()
        {
            let Some((secrets, _)) = &keys else {
                return Err(StateFileError {
                    origin,
                    problem: format!(
                        "its keys are missing: {} does not exist. Restore it from the bucket's versions",
                        store.address(&secrets_key)
                    ),
                }
                .into());
            };
            secrets::merge(&mut value, secrets.clone());
        }
        let state = check(value, &origin)?;
        let stored = Stored::read(&state, version, keys)?;
        Ok(Some(Loaded { state, stored }))
    }

    /// The store for a state that was read.
    pub fn open(&self, env: &str, loaded: Loaded) -> StateStore {
        match (self, self.bucket()) {
            (_, Some(store)) => StateStore::remote(store.clone(), env, loaded.state, loaded.stored),
            (Backend::Local { dir }, None) => StateStore::open(path_for(dir, env), loaded.state),
            (_, None) => unreachable!("a state was read, so the bucket exists"),
        }
    }

    /// A new state, written before this returns; refused if one exists.
    pub fn create(&self, env: &str, state: State) -> anyhow::Result<StateStore> {
        match (self, self.bucket()) {
            (Backend::Local { dir }, _) => StateStore::create(path_for(dir, env), state),
            (_, Some(store)) => {
                // Keys left by a run that stopped between writing them and the state.
                let left = store.version_of(&store.location.secrets_key(env))?;
                let store = StateStore::remote(store.clone(), env, state, Stored::new_in_s3(left));
                store.save_now()?;
                Ok(store)
            }
            (_, None) => bail!("a state is created only under a lock, which makes the bucket"),
        }
    }

    /// A file of the director's `bosh create-env` (its state, its vars store) in custody: locally
    /// `<dir>/<env>.director/NAME`, in S3 `<prefix>/<env>.director/NAME`. `None` when there is
    /// none.
    pub async fn custody_read(&self, env: &str, name: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match (self, self.bucket()) {
            (Backend::Local { dir }, _) => {
                let path = custody_dir(dir, env).join(name);
                crate::files::refuse_symlink(&path)?;
                match std::fs::read(&path) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
                }
            }
            (_, Some(store)) => Ok(store
                .get(&store.location.custody_key(env, name))
                .await?
                .map(|(bytes, _)| bytes)),
            (_, None) => Ok(None),
        }
    }

    /// Writes a file into custody: atomically and privately (a 0600 file in a 0700 directory; an
    /// encrypted object, versioned by the bucket).
    pub async fn custody_write(&self, env: &str, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        match (self, self.made_bucket().await?) {
            (Backend::Local { dir }, _) => {
                let custody = custody_dir(dir, env);
                crate::files::private_dir(&custody)?;
                crate::files::write_private(&custody.join(name), bytes)
            }
            (_, Some(store)) => {
                store
                    .put_private(&store.location.custody_key(env, name), bytes.to_vec())
                    .await
            }
            (_, None) => bail!("custody is written only under a lock, which makes the bucket"),
        }
    }

    /// Removes the files custody holds for `names` (the environment is gone; a bucket keeps their
    /// versions).
    pub async fn custody_remove(&self, env: &str, names: &[&str]) -> anyhow::Result<()> {
        match (self, self.bucket()) {
            (Backend::Local { dir }, _) => {
                let custody = custody_dir(dir, env);
                for name in names {
                    match std::fs::remove_file(custody.join(name)) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(e).with_context(|| format!("removing {name} from custody"));
                        }
                        _ => {}
                    }
                }
                match std::fs::remove_dir(&custody) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        Err(e).with_context(|| format!("removing {}", custody.display()))
                    }
                    _ => Ok(()),
                }
            }
            (_, Some(store)) => {
                for name in names {
                    store
                        .delete_now(&store.location.custody_key(env, name))
                        .await?;
                }
                Ok(())
            }
            (_, None) => Ok(()),
        }
    }

    /// Where custody keeps an environment's director files, for messages.
    pub fn custody_place(&self, env: &str) -> String {
        match self {
            Backend::Local { dir } => custody_dir(dir, env).display().to_string(),
            Backend::S3(store) | Backend::NewBucket { store, .. } => {
                store.address(&store.location.custody_key(env, ""))
            }
        }
    }

    /// Holds the environment for one command, or fails at once naming the holder.
    pub async fn lock(&self, env: &str, command: &str) -> anyhow::Result<Lock> {
        let store = match self {
            Backend::Local { dir } => return Ok(Lock::Local(EnvLock::acquire(dir, env, command)?)),
            _ => self.made_bucket().await?.expect("a remote backend"),
        };
        let holder = Holder {
            id: lock_id(),
            command: command.to_string(),
            host: hostname(),
            pid: std::process::id(),
            started: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        };
        match RemoteLock::acquire(store, env, &holder) {
            Ok(held) => Ok(Lock::Remote { _held: held }),
            Err(e) if precondition_failed(&e) => {
                let holder = self.holder(env).await?.ok_or_else(|| {
                    anyhow::anyhow!("environment {env:?} was locked a moment ago; try again")
                })?;
                Err(Locked {
                    env: env.to_string(),
                    running_here: running_here(&holder.host, holder.pid),
                    holder,
                    location: store.location.clone(),
                }
                .into())
            }
            Err(e) => Err(e).with_context(|| {
                format!("locking {}", store.address(&store.location.lock_key(env)))
            }),
        }
    }

    /// Who holds the environment's remote lock, if anyone.
    pub async fn holder(&self, env: &str) -> anyhow::Result<Option<Holder>> {
        let Some(store) = self.bucket() else {
            return Ok(None);
        };
        let Some((bytes, _)) = store.get(&store.location.lock_key(env)).await? else {
            return Ok(None);
        };
        Ok(Some(
            serde_json::from_slice(&bytes).context("the lock object is not a cfcr-aws lock")?,
        ))
    }

    /// Removes a remote lock whose holder is gone, if its ID is `id`. A holder still running on
    /// this host is refused unless `even_if_running` (its pid may have been reused).
    pub async fn force_unlock(
        &self,
        env: &str,
        id: &str,
        even_if_running: bool,
    ) -> anyhow::Result<Holder> {
        let store = match (self, self.bucket()) {
            (Backend::Local { dir }, _) => {
                let held = match super::lock::holder(dir, env)? {
                    Some(holder) => format!(
                        "; {env:?} is held now by {holder}: wait for it to finish, or stop it"
                    ),
                    None => String::new(),
                };
                return Err(UnlockRefused(format!(
                    "no S3 state is named (neither --state nor the config file's `state`), so this looked in the local state directory {}, whose locks are OS file locks: the kernel releases one when its holder ends, and there is nothing to force{held}. A lock ID comes from a state in S3: name it, `cfcr-aws --state s3://BUCKET/PREFIX force-unlock {id} --env {env}`",
                    dir.display()
                ))
                .into());
            }
            (_, Some(store)) => store,
            (_, None) => bail!("{}: there is no lock to remove", self.elsewhere_hint()),
        };
        let Some(holder) = self.holder(env).await? else {
            bail!("environment {env:?} is not locked in {}", store.location);
        };
        if holder.id != id {
            bail!(
                "the lock of {env:?} has ID {}, not {id} ({holder}); check who holds it before removing it",
                holder.id
            );
        }
        if running_here(&holder.host, holder.pid) && !even_if_running {
            let (command, pid, host) = (&holder.command, holder.pid, &holder.host);
            let unlock = force_unlock_command(&store.location, id, env);
            return Err(UnlockRefused(format!(
                "the lock of {env:?} is held by {command}, pid {pid} on this host ({host}), which is still running: stop it first (`kill {pid}` releases the lock). If pid {pid} is not that command (its pid was reused), remove the lock with `{unlock} --even-if-running`"
            ))
            .into());
        }
        store.delete(&store.location.lock_key(env))?;
        Ok(holder)
    }

    /// Every environment with a state here, by name.
    pub async fn list(&self) -> anyhow::Result<Vec<(String, anyhow::Result<State>)>> {
        let store = match self {
            Backend::Local { dir } => return list_local(dir),
            _ => self.made_bucket().await?.expect("a remote backend"),
        };
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
            // Environment names have no dots: `E.secrets.json` holds a state's keys.
            let Some(name) = object
                .key()
                .and_then(|k| k.strip_prefix(&prefix))
                .and_then(|k| k.strip_suffix(".json"))
                .filter(|k| !k.contains(['/', '.']))
            else {
                continue;
            };
            match self.load(name).await {
                Ok(Some(loaded)) => rows.push((name.to_string(), Ok(loaded.state))),
                Ok(None) => {}
                Err(e) => rows.push((name.to_string(), Err(e))),
            }
        }
        Ok(rows)
    }
}

/// Every state file in a local state directory, by name.
fn list_local(dir: &std::path::Path) -> anyhow::Result<Vec<(String, anyhow::Result<State>)>> {
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
            match load(&path) {
                Ok(Some(state)) => Some((name, Ok(state))),
                Ok(None) => None,
                Err(e) => Some((name, Err(e))),
            }
        })
        .collect())
}
