//! One module per command, and the dispatch to them. What they share is apart: finding the
//! environment, its settings and state ([`environment`]), and talking to the operator ([`terminal`]).

mod bootstrap;
mod cli_docs;
mod environment;
mod list;
mod outputs;
mod pave;
mod plan;
mod policy;
mod print_env;
mod ssh_key;
mod state_cmd;
mod status;
mod terminal;
mod tunnel;
mod unpave;

use crate::cli::{Cli, Command, GlobalArgs, StateCommand};
use crate::config::ValidationError;

pub use bootstrap::RemoteExit;
pub use plan::ChangesPending;
pub use terminal::NotConfirmed;

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
