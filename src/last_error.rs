//! `<state-dir>/last-error.json`: the last failure's details (when, the command line, the message,
//! every cause, the AWS request id), kept for a bug report or a support case after the terminal is
//! gone. Written 0600 like the state: messages can name resources and accounts.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use crate::aws::retry::AwsError;
use crate::files::write_private;

/// The file's name in the state directory.
pub const FILE: &str = "last-error.json";

/// The command keeps its state in S3: the state directory may never be made.
static STATE_ELSEWHERE: AtomicBool = AtomicBool::new(false);

/// Says that the command's state is in S3: its error is recorded all the same, making the state
/// directory (0700) if need be.
pub fn state_elsewhere() {
    STATE_ELSEWHERE.store(true, Ordering::Relaxed);
}

/// Records `err`, if the state directory exists or the state is in S3 (a typo on the command line
/// creates nothing).
pub fn record(state_dir: &Path, err: &anyhow::Error) -> anyhow::Result<()> {
    if !state_dir.is_dir() && !STATE_ELSEWHERE.load(Ordering::Relaxed) {
        return Ok(());
    }
    let request_id = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<AwsError>())
        .and_then(|aws| aws.request_id.clone());
    let record = json!({
        "time": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        "command": std::env::args().collect::<Vec<_>>(),
        "error": format!("{err:#}"),
        "causes": err.chain().map(|c| c.to_string()).collect::<Vec<_>>(),
        "aws_request_id": request_id,
    });
    let mut text = serde_json::to_vec_pretty(&record)?;
    text.push(b'\n');
    write_private(&state_dir.join(FILE), &text)
}
