//! What an interrupted command settles before it exits (see `crate::interrupt`): the writes of
//! states and locks in progress finish and no other starts, so the state is whole and records
//! everything created so far; the remote locks held are released. Local locks need nothing: the
//! kernel releases them with the process.

use std::sync::{Mutex, PoisonError, RwLock};

/// Open for writes while the command runs; closed for good by an interrupt.
static WRITES: RwLock<()> = RwLock::new(());

/// Removes a remote lock.
type Release = Box<dyn FnOnce() -> anyhow::Result<()> + Send>;

/// A remote lock held: its address, how to release it, and the command that removes it.
type Held = (String, Release, String);

static REMOTE_LOCKS: Mutex<Vec<Held>> = Mutex::new(Vec::new());

/// Runs one write of a state or a lock. After an interrupt it waits for the exit instead.
pub(super) fn write<T>(f: impl FnOnce() -> T) -> T {
    let _open = WRITES.read().unwrap_or_else(PoisonError::into_inner);
    f()
}

/// The lock at `address` is held until [`released`]; an interrupt calls `release`, and names
/// `unlock`, the command that removes the lock, should that fail.
pub(super) fn holding(address: String, release: Release, unlock: String) {
    let mut held = REMOTE_LOCKS.lock().unwrap_or_else(PoisonError::into_inner);
    held.push((address, release, unlock));
}

pub(super) fn released(address: &str) {
    let mut held = REMOTE_LOCKS.lock().unwrap_or_else(PoisonError::into_inner);
    held.retain(|(a, _, _)| a != address);
}

/// Waits for the writes in progress, lets no other start, and releases the remote locks held.
/// Called once, by the interrupt handler, inside the runtime; returns what could not be released.
pub fn settle() -> Vec<String> {
    std::mem::forget(WRITES.write().unwrap_or_else(PoisonError::into_inner));
    let held = std::mem::take(&mut *REMOTE_LOCKS.lock().unwrap_or_else(PoisonError::into_inner));
    held.into_iter()
        .filter_map(|(_, release, unlock)| {
            let e = release().err()?;
            Some(format!(
                "could not release the lock: {e:#}; remove it with `{unlock}`"
            ))
        })
        .collect()
}
