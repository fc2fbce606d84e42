//! Reading a state's bytes: from a local file or an S3 object, checked before use.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::document::{KEYS_APART_VERSION, Origin, SCHEMA_VERSION, State};
use super::secrets;
use crate::key::Key;

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
pub(super) fn json(text: &[u8], origin: &str) -> Result<serde_json::Value, StateFileError> {
    serde_json::from_slice(text).map_err(|e| StateFileError {
        origin: origin.to_string(),
        problem: format!("not valid JSON ({e}); it may be truncated or damaged"),
    })
}

/// Checks and reads a state, its keys in it.
pub(super) fn check(value: serde_json::Value, origin: &str) -> anyhow::Result<State> {
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
