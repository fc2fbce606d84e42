//! One module per command; this one holds what they share: finding the environment, its settings,
//! its state, and asking the operator.

mod bootstrap;
mod cli_docs;
mod list;
mod outputs;
mod pave;
mod plan;
mod ssh_key;
mod status;
mod unpave;

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::bail;

use crate::cli::{Cli, Command, EnvArgs, GlobalArgs};
use crate::config::{ConfigValues, Settings, ValidationError, validate_prefix};
use crate::state::{self, State};

pub use bootstrap::RemoteExit;
pub use plan::ChangesPending;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let global = &cli.global;
    match cli.command {
        Command::Pave(args) => pave::run(global, *args).await,
        Command::Plan(args) => plan::run(global, *args).await,
        Command::Unpave(args) => unpave::run(global, args).await,
        Command::Outputs(args) => outputs::run(global, args),
        Command::Status(args) => status::run(global, args).await,
        Command::Bootstrap(args) => bootstrap::run(global, args).await,
        Command::Render(args) => bootstrap::render(global, args),
        Command::Ssh(args) => bootstrap::ssh(global, args),
        Command::Kubeconfig(args) => bootstrap::kubeconfig(global, args),
        Command::SshKey(args) => ssh_key::run(global, args),
        Command::List(args) => list::run(global, args),
        Command::Completions(args) => cli_docs::completions(args),
        Command::Man => cli_docs::man(),
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

/// The state of an environment that must exist.
fn existing_state(state_dir: &Path, env: &str) -> anyhow::Result<State> {
    match state::load(&state::path_for(state_dir, env))? {
        Some(state) => Ok(state),
        None => bail!(
            "no state for environment {env:?} in {}; pave it first, or pass --state-dir",
            state_dir.display()
        ),
    }
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
