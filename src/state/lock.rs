//! One command at a time per environment: an OS file lock beside the state file. The kernel releases
//! it when the holder dies, so a killed run never blocks the next one.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Another command holds the environment.
#[derive(Debug, thiserror::Error)]
#[error(
    "environment {env:?} is in use by another cfcr-aws command ({holder}); wait for it to finish, or stop it"
)]
pub struct Busy {
    pub env: String,
    pub holder: String,
}

/// Held for the life of a command; released on drop or on the process's death.
#[derive(Debug)]
pub struct EnvLock {
    path: PathBuf,
    _file: File,
}

/// This machine's name, for lock holders.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown host".into())
}

/// Whether `pid` on `host` is a live process here: the holder of a lock may still be running.
pub fn running_here(host: &str, pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if host != hostname() || pid <= 0 {
        return false;
    }
    // Signal 0 checks the process exists; EPERM: it does, as another user's.
    // SAFETY: kill(2) with signal 0 sends nothing.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Who holds an environment's local lock now, if anyone: its lock file's text. Looked at without
/// taking the lock or writing the file.
pub fn holder(state_dir: &Path, env: &str) -> anyhow::Result<Option<String>> {
    let path = state_dir.join(format!("{env}.lock"));
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(crate::files::SymlinkRefused(path).into());
        }
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(None),
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            file.read_to_string(&mut holder)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok(Some(holder.trim().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

impl EnvLock {
    pub fn acquire(state_dir: &Path, env: &str, command: &str) -> anyhow::Result<EnvLock> {
        crate::files::private_dir(state_dir)?;
        let path = state_dir.join(format!("{env}.lock"));
        // Never through a link: the lock is truncated and rewritten below.
        let mut file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(crate::files::SymlinkRefused(path).into());
            }
            Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(Busy {
                    env: env.to_string(),
                    holder: holder.trim().to_string(),
                }
                .into());
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
        let holder = format!(
            "{command}: pid {}, host {}, started {}",
            std::process::id(),
            hostname(),
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        );
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(holder.as_bytes()))
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(EnvLock { path, _file: file })
    }

    /// Removes the lock file while still holding it: for `unpave`, which leaves nothing behind.
    pub fn remove_file(&self) -> anyhow::Result<()> {
        std::fs::remove_file(&self.path)
            .with_context(|| format!("removing {}", self.path.display()))
    }
}
