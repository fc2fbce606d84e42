//! One module per command; this one holds what they share: finding the environment, its settings,
//! its state, and asking the operator.

/// `print!` to standard output that returns the error instead of panicking: a reader that closed
/// the pipe (`| head`) ends the command quietly (see `main`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// `println!`, likewise.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

pub(crate) use {out, outln};

mod bootstrap;
mod cli_docs;
mod list;
mod outputs;
mod pave;
mod plan;
mod policy;
mod print_env;
mod ssh_key;
mod state_cmd;
mod status;
mod tunnel;
mod unpave;

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::bail;

use crate::cli::{Cli, Command, EnvArgs, GlobalArgs, StateCommand};
use crate::config::{ConfigValues, Settings, ValidationError, validate_prefix};
use crate::report;
use crate::state::State;
use crate::state::{Backend, BucketElsewhere, Loaded, S3Location, S3Store};

pub use bootstrap::RemoteExit;
pub use plan::ChangesPending;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let global = &cli.global;
    check_endpoint(global)?;
    match cli.command {
        Command::Pave(args) => pave::run(global, *args).await,
        Command::Plan(args) => plan::run(global, *args).await,
        Command::Unpave(args) => unpave::run(global, args).await,
        Command::Outputs(args) => outputs::run(global, args).await,
        Command::Status(args) => status::run(global, args).await,
        Command::Bootstrap(args) => bootstrap::run(global, args).await,
        Command::Render(args) => bootstrap::render(global, args).await,
        Command::Ssh(args) => bootstrap::ssh(global, args).await,
        Command::Kubeconfig(args) => bootstrap::kubeconfig(global, args).await,
        Command::PrintEnv(args) => print_env::run(global, args).await,
        Command::Tunnel(args) => tunnel::run(global, args).await,
        Command::SshKey(args) => ssh_key::run(global, args).await,
        Command::List(args) => list::run(global, args).await,
        Command::ForceUnlock(args) => state_cmd::force_unlock(global, args).await,
        Command::State(StateCommand::Migrate(args)) => state_cmd::migrate(global, args).await,
        Command::Policy(args) => policy::run(global, *args).await,
        Command::Completions(args) => cli_docs::completions(args),
        Command::Man => cli_docs::man(),
    }
}

/// An endpoint that is not an http(s) URL is bad input, refused before any request: otherwise the
/// SDK would retry it for a minute as if the network were down.
fn check_endpoint(global: &GlobalArgs) -> Result<(), ValidationError> {
    let (field, url) = match (&global.endpoint_url, std::env::var("AWS_ENDPOINT_URL")) {
        (Some(url), _) => ("endpoint-url", url.clone()),
        (None, Ok(url)) if !url.is_empty() => ("AWS_ENDPOINT_URL", url),
        _ => return Ok(()),
    };
    let host = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .map(|rest| rest.split(['/', '?']).next().unwrap_or_default());
    let valid = host.is_some_and(|host| {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._:[]@".contains(c))
    });
    if valid {
        Ok(())
    } else {
        Err(ValidationError {
            field: field.into(),
            problem: format!(
                "{url:?} is not an http:// or https:// URL; use e.g. http://127.0.0.1:4566 (LocalStack), or leave it unset for AWS"
            ),
        })
    }
}

/// The config file named by `--config`, or `./cfcr-aws.toml` if there is one.
fn config_file(global: &GlobalArgs) -> Result<ConfigValues, ValidationError> {
    match &global.config {
        Some(path) => ConfigValues::load(path, true),
        None => ConfigValues::load(Path::new("cfcr-aws.toml"), false),
    }
}

/// The validated settings from the config file and the flags that override it.
async fn settings(global: &GlobalArgs, flags: ConfigValues) -> anyhow::Result<Settings> {
    let values = flags.overriding(config_file(global)?);
    let chain_region = match values.region {
        Some(_) => None,
        None => crate::aws::chain_region().await,
    };
    Ok(Settings::validate(values, chain_region)?)
}

/// The environment a command acts on: `--env`, or the config file's prefix.
fn environment(global: &GlobalArgs, args: &EnvArgs) -> anyhow::Result<String> {
    let env = match &args.env {
        Some(env) => env.clone(),
        None => config_file(global)?.prefix.ok_or_else(|| ValidationError {
            field: "env".into(),
            problem: "no environment named: pass --env NAME, or run where cfcr-aws.toml sets prefix (or pass --config FILE)".into(),
        })?,
    };
    validate_prefix(&env)?;
    Ok(env)
}

/// Refuses settings that differ from a paved environment's in what cannot change in place.
/// Said by `pave` and `plan` alike.
fn warn_open_ssh(settings: &Settings) {
    if settings.ssh_open_to_world() {
        report::warning(
            "ssh_allowed_cidrs includes 0.0.0.0/0: the bastion's SSH port is open to the whole internet; list your own networks instead",
        );
    }
}

/// While nothing exists (a pave that stopped before its first create), anything may change.
fn refuse_changes(paved: &State, settings: &Settings) -> anyhow::Result<()> {
    if paved.resources.is_empty() && paved.creating.is_empty() {
        return Ok(());
    }
    let changed = paved.settings.differences(settings);
    if changed.is_empty() {
        return Ok(());
    }
    bail!(
        "the configuration differs from the paved environment {:?} in: {}. Those cannot be changed in place (they would replace the network or the environment): restore those values, or unpave and pave again",
        settings.prefix,
        changed.join("; ")
    )
}

/// Where the states are: `--state`, the config file's `state`, or the local state directory. An
/// S3 bucket is checked (exists, versioned) before anything else happens.
async fn backend(global: &GlobalArgs) -> anyhow::Result<Backend> {
    let location = state_location(global)?;
    backend_at(global, location.as_deref()).await
}

/// Where the states are, as given: `--state`, else the config file's `state`; `None`: locally.
fn state_location(global: &GlobalArgs) -> Result<Option<String>, ValidationError> {
    Ok(match &global.state {
        Some(url) => Some(url.clone()),
        None => config_file(global)?.state,
    })
}

/// An `s3://BUCKET/PREFIX` location, or bad input naming the `state` key.
fn parse_location(url: &str) -> Result<S3Location, ValidationError> {
    S3Location::parse(url).map_err(|e| ValidationError {
        field: "state".into(),
        problem: format!("{e:#}; use s3://BUCKET/PREFIX"),
    })
}

/// The backend at `location` (`None`: the local state directory).
async fn backend_at(global: &GlobalArgs, location: Option<&str>) -> anyhow::Result<Backend> {
    let Some(url) = location else {
        return Ok(Backend::Local {
            dir: global.state_dir.clone(),
        });
    };
    // The state directory may never be made: the last error is kept there all the same.
    crate::last_error::state_elsewhere();
    let location = parse_location(url)?;
    let region = match crate::aws::chain_region().await {
        Some(region) => region,
        None => config_file(global)?
            .region
            .unwrap_or_else(|| "us-east-1".to_string()),
    };
    let kms_key = config_file(global)?.state_kms_key;
    let store = S3Store {
        client: crate::aws::s3_client(&region, global.endpoint_url.as_deref()).await?,
        location: location.clone(),
        kms_key: kms_key.clone(),
    };
    let err = match store.bucket_exists(&region).await {
        Ok(exists) => {
            return Backend::remote(store, exists, global.create_state_bucket, &region);
        }
        Err(err) => err,
    };
    // A bucket in another region: its requests go there (the environment's region is unchanged).
    let Some(elsewhere) = err.downcast_ref::<BucketElsewhere>() else {
        return Err(err);
    };
    let bucket_region = elsewhere.region.clone();
    report::note(&format!("{elsewhere}: reading and writing the state there"));
    let store = S3Store {
        client: crate::aws::s3_client(&bucket_region, global.endpoint_url.as_deref()).await?,
        location,
        kms_key,
    };
    let exists = store.bucket_exists(&bucket_region).await?;
    Backend::remote(store, exists, false, &bucket_region)
}

/// The state of an environment that must exist.
async fn existing_state(backend: &Backend, env: &str) -> anyhow::Result<Loaded> {
    match backend.load(env).await? {
        Some(loaded) => {
            refuse_recovered(&loaded.state)?;
            Ok(loaded)
        }
        None => bail!(
            "no state for environment {env:?} in {}; pave it first, or {}",
            backend.describe(),
            backend.elsewhere_hint()
        ),
    }
}

/// A state rebuilt from AWS by an unpave without one holds no settings of the environment (they
/// were lost): acting on it would "repair" the environment from defaults. Only unpave uses it.
fn refuse_recovered(state: &State) -> anyhow::Result<()> {
    if state.recovered {
        bail!(
            "the state of {:?} was rebuilt from AWS by `unpave` after the original was lost, and knows none of the environment's settings; finish with `cfcr-aws unpave --env {}`",
            state.env,
            state.env
        );
    }
    Ok(())
}

/// Refused for want of confirmation: a usage error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotConfirmed(String);

/// Asks a yes/no question on the terminal. Without a terminal it refuses rather than hangs.
fn confirm(question: &str, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(NotConfirmed(
            "standard input is not a terminal, so there is nobody to confirm; pass --yes".into(),
        )
        .into());
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(NotConfirmed("not confirmed; nothing was changed".into()).into())
    }
}
