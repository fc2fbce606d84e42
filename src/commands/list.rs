//! `cfcr-aws list`: the environments whose state files are in the state directory, from the files
//! alone (no AWS calls; `status` asks AWS).

use std::time::{Duration, SystemTime};

use anyhow::Context;
use serde_json::{Value, json};

use crate::cli::{GlobalArgs, ListArgs};
use crate::state::{self, State};

/// How far an environment got, from its state.
fn progress(state: &State) -> String {
    let total = crate::resources::inventory(&state.settings).len();
    let ready = state.resources.values().filter(|r| r.ready).count();
    let mut text = if ready == total && state.creating.is_empty() {
        "paved".to_string()
    } else {
        format!("incomplete ({ready}/{total} resources ready)")
    };
    let steps = &state.bootstrap.steps;
    if let Some((step, status)) = steps.iter().next_back() {
        let status = serde_json::to_value(status).unwrap_or_default();
        text.push_str(&format!(
            ", hand-off: {} {}",
            step.name(),
            status.as_str().unwrap_or("?")
        ));
    }
    text
}

fn age(created_at: &str) -> Option<Duration> {
    let created = humantime::parse_rfc3339(created_at).ok()?;
    SystemTime::now().duration_since(created).ok()
}

/// Rounded to the largest unit: "3d", "5h", "12m", "40s".
fn short(age: Duration) -> String {
    let secs = age.as_secs();
    match secs {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3_600 => format!("{}h", s / 3_600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

pub fn run(global: &GlobalArgs, args: ListArgs) -> anyhow::Result<()> {
    let dir = &global.state_dir;
    let mut rows: Vec<Value> = Vec::new();
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
    for path in paths {
        let row = match state::load(&path) {
            Ok(Some(state)) => json!({
                "env": state.env,
                "region": state.region,
                "created_at": state.created_at,
                "age": age(&state.created_at).map(short),
                "status": progress(&state),
            }),
            Ok(None) => continue,
            Err(e) => json!({
                "env": path.file_stem().map(|s| s.to_string_lossy().into_owned()),
                "status": format!("unreadable: {e:#}"),
            }),
        };
        rows.push(row);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        crate::report::note(&format!("no environments in {}", dir.display()));
        return Ok(());
    }
    let text = |row: &Value, field: &str| row[field].as_str().unwrap_or("-").to_string();
    println!("{:<24} {:<16} {:<6} STATUS", "ENVIRONMENT", "REGION", "AGE");
    for row in &rows {
        println!(
            "{:<24} {:<16} {:<6} {}",
            text(row, "env"),
            text(row, "region"),
            text(row, "age"),
            text(row, "status")
        );
    }
    Ok(())
}
