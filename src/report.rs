//! What the operator sees while a command works, on standard error so that standard output stays
//! clean for `outputs`, `plan --json` and friends.
//!
//! Four modes, chosen once at start: on a terminal a live display (a spinner with the elapsed time
//! for each resource being worked on, finished lines scrolling above); elsewhere (CI, pipes) plain
//! lines with a UTC timestamp; `--log-format json` one JSON object per line; `--quiet` nothing but
//! warnings and errors.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::key::Key;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

enum Mode {
    Live(MultiProgress),
    Plain,
    Json,
    Quiet,
}

static MODE: OnceLock<Mode> = OnceLock::new();

/// Chooses the mode; called once, before anything is reported.
pub fn init(quiet: bool, format: LogFormat) {
    let mode = match (quiet, format) {
        (_, LogFormat::Json) => Mode::Json,
        (true, LogFormat::Text) => Mode::Quiet,
        (false, LogFormat::Text) if std::io::stderr().is_terminal() => {
            Mode::Live(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        }
        (false, LogFormat::Text) => Mode::Plain,
    };
    let _ = MODE.set(mode);
}

/// A duration for people: whole seconds, as `4m 5s`.
pub fn human(duration: Duration) -> String {
    humantime::format_duration(Duration::from_secs(duration.as_secs())).to_string()
}

/// A request being retried for a while (throttling, an endpoint that does not answer): shown, so
/// that a minute of retries is never silent.
pub fn retrying(operation: &str, problem: &str, so_far: Duration) {
    note(&format!(
        "retrying {operation} ({} so far): {problem}",
        human(so_far)
    ));
}

/// Whether standard error takes colour: a terminal, and no `NO_COLOR` (no-color.org).
pub fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The command's final error: one line (every cause on lines of its own with `-v`), or one JSON
/// object with `--log-format json`.
pub fn error(err: &anyhow::Error, verbose: bool) {
    if let Mode::Json = mode() {
        let causes: Vec<String> = err.chain().map(|c| c.to_string()).collect();
        eprintln!(
            "{}",
            json!({"time": now(), "event": "error", "message": format!("{err:#}"), "causes": causes})
        );
        return;
    }
    if let Mode::Live(multi) = mode() {
        let _ = multi.clear();
    }
    eprintln!("error: {err:#}");
    if verbose {
        for (depth, cause) in err.chain().enumerate() {
            eprintln!("  {depth}: {cause}");
        }
    }
}

fn mode() -> &'static Mode {
    MODE.get_or_init(|| Mode::Plain)
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

fn line(text: &str) {
    match mode() {
        Mode::Live(multi) => multi.suspend(|| eprintln!("{text}")),
        Mode::Plain => eprintln!("{} {text}", now()),
        Mode::Json | Mode::Quiet => {}
    }
}

/// A resource created, adopted, resolved, resumed, repaired, found, missing or deleted.
pub fn resource(verb: &str, key: Key, name: &str, id: &str) {
    if let Mode::Json = mode() {
        let event = json!({"time": now(), "event": verb, "resource": key.to_string(), "name": name, "id": id});
        eprintln!("{event}");
        return;
    }
    line(&format!(
        "{verb:<9} {:<28} {name:<28} {id}",
        key.to_string()
    ));
}

pub fn note(text: &str) {
    if let Mode::Json = mode() {
        eprintln!(
            "{}",
            json!({"time": now(), "event": "note", "message": text})
        );
        return;
    }
    line(text);
}

/// Shown in every mode but JSON's own form, `--quiet` included.
pub fn warning(text: &str) {
    match mode() {
        Mode::Json => eprintln!(
            "{}",
            json!({"time": now(), "event": "warning", "message": text})
        ),
        Mode::Live(multi) => multi.suspend(|| eprintln!("warning: {text}")),
        Mode::Plain => eprintln!("{} warning: {text}", now()),
        Mode::Quiet => eprintln!("warning: {text}"),
    }
}

/// Something in progress (a resource's create or wait, a bastion step): a spinner with the elapsed
/// time on a terminal, nothing elsewhere (the finished line says it). Ends when dropped.
pub struct Activity(Option<ProgressBar>);

pub fn activity(text: String) -> Activity {
    let Mode::Live(multi) = mode() else {
        return Activity(None);
    };
    let bar = multi.add(ProgressBar::new_spinner());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("a valid template"),
    );
    bar.set_message(text);
    bar.enable_steady_tick(Duration::from_millis(120));
    Activity(Some(bar))
}

impl Drop for Activity {
    fn drop(&mut self) {
        if let (Some(bar), Mode::Live(multi)) = (self.0.take(), mode()) {
            bar.finish_and_clear();
            multi.remove(&bar);
        }
    }
}
