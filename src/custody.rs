//! The director's `bosh create-env` files in the tool's custody. `create-env` keeps the director's
//! state (`bosh-aws-state.json`: its VM, disk and stemcell ids) and vars store (`bosh-aws-creds.yml`:
//! every password, CA and key of the director) on the machine that runs it, the bastion; BOSH's
//! docs say never to lose the state, and a bastion is an ordinary instance that pave replaces when
//! it is gone. So after every `create-env` and `delete-env` both files are copied into the
//! environment's state store (see `Backend::custody_write`), and before any step the bastion's
//! copies are checked against custody's: a new bastion gets custody's copies, a bastion whose copies
//! differ stops the hand-off until the operator says which one is right.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use crate::report;
use crate::ssh::Bastion;
use crate::state::{Backend, BastionRecord, Held, State, StateStore};
use crate::templates::BUNDLE_DIR;

/// The director's state: the ids of its VM, disk and stemcell.
pub const DIRECTOR_STATE: &str = "bosh-aws-state.json";
/// The director's vars store: its credentials and certificates.
pub const VARS_STORE: &str = "bosh-aws-creds.yml";
/// Both, in the order they are reported.
pub const FILES: [&str; 2] = [DIRECTOR_STATE, VARS_STORE];

/// Which copy wins when the bastion's and custody's differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolve {
    /// Stop and say so.
    Ask,
    /// The bastion's copies are right (someone ran `bosh` there by hand): take them into custody.
    TakeBastions,
    /// Custody's copies are right: put them back on the bastion.
    RestoreCustodys,
}

/// The SHA-256 of `bytes`, in hex.
pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Runs a future from the synchronous hand-off.
fn blocking<F: std::future::Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

/// The bastion the hand-off talks to now: its instance (from the state) and its host key.
pub fn bastion_record(state: &State) -> BastionRecord {
    BastionRecord {
        instance_id: state
            .resources
            .get(&crate::key::Key::Bastion)
            .map(|r| r.id.clone())
            .unwrap_or_default(),
        host_key: crate::keys::fingerprint(&state.bastion_host_key.public_key),
    }
}

/// A file as one side holds it.
struct Copy {
    sha256: String,
    /// When it was last written, as that side knows it.
    when: String,
}

/// The bastion's copies of both files: a digest and a modification time each, read with one
/// command (`sha256sum`, `stat`).
fn on_bastion(bastion: &Bastion) -> anyhow::Result<BTreeMap<&'static str, Copy>> {
    let script = FILES
        .iter()
        .map(|f| {
            format!(
                "if [ -f {f} ]; then echo \"{f} $(sha256sum < {f} | cut -d' ' -f1) $(date -u -r {f} +%Y-%m-%dT%H:%M:%SZ)\"; fi"
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let out = bastion.output(&format!(
        "cd \"$HOME/{BUNDLE_DIR}\" 2>/dev/null && {{ {script}; }} || true"
    ))?;
    if !out.status.success() {
        bail!(
            "reading the director's files on the bastion failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut copies = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(sha256), Some(when)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        if let Some(file) = FILES.iter().find(|f| **f == name) {
            copies.insert(
                *file,
                Copy {
                    sha256: sha256.to_string(),
                    when: when.to_string(),
                },
            );
        }
    }
    Ok(copies)
}

/// Custody's copy of `name`, checked against what the state says custody holds.
fn in_custody(
    backend: &Backend,
    state: &State,
    name: &str,
) -> anyhow::Result<Option<(Vec<u8>, Held)>> {
    let held = state.bootstrap.custody.get(name);
    let bytes = blocking(backend.custody_read(&state.env, name))?;
    match (bytes, held) {
        (None, None) => Ok(None),
        (Some(bytes), Some(held)) if sha256(&bytes) == held.sha256 => {
            Ok(Some((bytes, held.clone())))
        }
        (Some(bytes), _) => bail!(
            "custody's copy of {name} in {} is not what the state says custody holds (SHA-256 {}, state: {}): it was changed outside cfcr-aws. Restore it (from the bucket's versions, or a backup), or remove it to take the bastion's copy",
            backend.custody_place(&state.env),
            sha256(&bytes),
            held.map_or("none recorded", |h| h.sha256.as_str())
        ),
        (None, Some(held)) => bail!(
            "custody's copy of {name} is missing from {} (the state says custody holds SHA-256 {}, written {} by {}): restore it from the bucket's versions or a backup before anything runs on the bastion",
            backend.custody_place(&state.env),
            held.sha256,
            held.written_at,
            held.step
        ),
    }
}

/// Before any step: the bastion and custody hold the same files. A bastion without them (a new
/// one) gets custody's; copies that differ stop the hand-off unless `resolve` says which side is
/// right; files custody never held (an environment handed off before custody existed) are taken
/// from the bastion.
pub fn reconcile(
    store: &StateStore,
    backend: &Backend,
    bastion: &Bastion,
    resolve: Resolve,
) -> anyhow::Result<()> {
    let state = store.snapshot();
    let on_bastion = on_bastion(bastion)?;
    let mut differ = Vec::new();
    let mut take = Vec::new();
    let mut restore = Vec::new();
    for name in FILES {
        let custody = in_custody(backend, &state, name)?;
        match (custody, on_bastion.get(name)) {
            (None, None) => {}
            (Some((bytes, _)), None) => restore.push((name, bytes)),
            (None, Some(_)) => take.push(name),
            (Some((_, held)), Some(copy)) if held.sha256 == copy.sha256 => {}
            (Some((bytes, held)), Some(copy)) => match resolve {
                Resolve::TakeBastions => take.push(name),
                Resolve::RestoreCustodys => restore.push((name, bytes)),
                Resolve::Ask => differ.push(format!(
                    "{name}: the bastion's copy has SHA-256 {} (modified {}), custody's {} (written {} by {} on {})",
                    copy.sha256, copy.when, held.sha256, held.written_at, held.step, held.bastion
                )),
            },
        }
    }
    if !differ.is_empty() {
        bail!(
            "the director's files on the bastion differ from those in custody ({}), e.g. because someone ran bosh there by hand:\n  {}\nNothing was run. If the bastion's copies are right, pass --take-bastion-copy to take them into custody; if custody's are, pass --restore-custody-copy to put them back on the bastion",
            backend.custody_place(&state.env),
            differ.join("\n  ")
        );
    }
    for (name, bytes) in restore {
        bastion.upload_bytes(&bytes, &format!("{BUNDLE_DIR}/{name}"))?;
        report::note(&format!(
            "restored {name} to the bastion from custody ({})",
            backend.custody_place(&state.env)
        ));
    }
    if !take.is_empty() {
        collect(store, backend, bastion, "taken from the bastion", &take)?;
    }
    Ok(())
}

/// Copies `names` from the bastion into custody and records what custody holds: after every
/// `create-env` and `delete-env`, whether it succeeded or not (a failed one writes its state too).
pub fn collect(
    store: &StateStore,
    backend: &Backend,
    bastion: &Bastion,
    step: &str,
    names: &[&str],
) -> anyhow::Result<()> {
    let state = store.snapshot();
    let on = bastion_record(&state);
    for name in names {
        let out = bastion.output(&format!("cat \"$HOME/{BUNDLE_DIR}/{name}\""))?;
        if !out.status.success() {
            // Not written (yet): a create-env that failed before its first write.
            continue;
        }
        let bytes = out.stdout;
        let held = Held {
            sha256: sha256(&bytes),
            size: bytes.len() as u64,
            written_at: now(),
            step: step.to_string(),
            bastion: on.instance_id.clone(),
        };
        if state.bootstrap.custody.get(*name).map(|h| &h.sha256) == Some(&held.sha256) {
            continue;
        }
        blocking(backend.custody_write(&state.env, name, &bytes))
            .with_context(|| format!("taking {name} into custody"))?;
        report::note(&format!(
            "{name} ({} bytes) is in custody: {}",
            held.size,
            backend.custody_place(&state.env)
        ));
        store.update(|s| {
            s.bootstrap.custody.insert(name.to_string(), held);
        })?;
    }
    Ok(())
}

/// Custody's copy of a file, for commands that read it (`print-env`, `status`, an unpave without
/// a bastion); `None` when custody holds none.
pub fn read(backend: &Backend, state: &State, name: &str) -> anyhow::Result<Option<Vec<u8>>> {
    Ok(in_custody(backend, state, name)?.map(|(bytes, _)| bytes))
}
