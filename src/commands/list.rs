//! `cfcr-aws list`: the environments whose state files are in the state directory, from the files
//! alone (no AWS calls; `status` asks AWS).

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::environment;
use super::terminal::outln;
use crate::cli::{GlobalArgs, ListArgs};
use crate::state::State;

/// How far an environment got, from its state.
fn progress(state: &State) -> String {
    if state.recovered {
        return format!(
            "recovered by unpave from AWS ({} resources left): run unpave to finish",
            state.resources.len()
        );
    }
    let total = crate::resources::inventory(&state.settings, state.private_egress).len();
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

pub async fn run(global: &GlobalArgs, args: ListArgs) -> anyhow::Result<()> {
    let backend = environment::backend(global).await?;
    let rows: Vec<Value> = backend
        .list()
        .await?
        .into_iter()
        .map(|(name, state)| match state {
            Ok(state) => json!({
                "env": state.env,
                "region": state.region,
                "created_at": state.created_at,
                "age": age(&state.created_at).map(short),
                "status": progress(&state),
            }),
            Err(e) => json!({"env": name, "status": format!("unreadable: {e:#}")}),
        })
        .collect();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(());
    }
    if rows.is_empty() {
        crate::report::note(&format!("no environments in {}", backend.describe()));
        return Ok(());
    }
    let text = |row: &Value, field: &str| row[field].as_str().unwrap_or("-").to_string();
    outln!("{:<24} {:<16} {:<6} STATUS", "ENVIRONMENT", "REGION", "AGE")?;
    for row in &rows {
        outln!(
            "{:<24} {:<16} {:<6} {}",
            text(row, "env"),
            text(row, "region"),
            text(row, "age"),
            text(row, "status")
        )?;
    }
    Ok(())
}
