//! The command line: every command, flag and default, declared once.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::ConfigValues;

#[derive(Debug, Parser)]
#[command(
    name = "cfcr-aws",
    version,
    about = "Paves AWS for Cloud Foundry Container Runtime (Kubernetes deployed by BOSH) and hands off to a bastion",
    after_help = "Example:\n  cfcr-aws pave --config cfcr-aws.toml --yes\n  cfcr-aws outputs --json\n  cfcr-aws unpave --env my-env --yes"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file (TOML) [default: ./cfcr-aws.toml, if present]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory holding the environments' state files.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "CFCR_AWS_STATE_DIR",
        default_value = "state"
    )]
    pub state_dir: PathBuf,
    /// Send every AWS request to this endpoint (e.g. LocalStack); AWS_ENDPOINT_URL works too.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// How many AWS resources may be worked on at once.
    #[arg(long, global = true, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub max_concurrency: u16,
    /// Templates directory replacing the built-in templates/ (same layout).
    #[arg(long, global = true, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Reach the bastion here instead of its elastic IP (through a proxy or VPN; tests).
    #[arg(long, global = true, value_name = "HOST[:PORT]")]
    pub bastion_address: Option<String>,
    /// The bastion's login user.
    #[arg(long, global = true, value_name = "USER", default_value = "ubuntu")]
    pub bastion_user: String,
    /// More detail on standard error (-v, -vv); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create (or finish creating) every AWS resource of the environment.
    #[command(after_help = "Example:\n  cfcr-aws pave --config cfcr-aws.toml --yes")]
    Pave(Box<PaveArgs>),
    /// Delete everything the environment owns, dependents first.
    #[command(after_help = "Example:\n  cfcr-aws unpave --env my-env --yes")]
    Unpave(UnpaveArgs),
    /// Print the values the bastion and operators need (IPs, ids, names).
    #[command(after_help = "Example:\n  cfcr-aws outputs --env my-env --json")]
    Outputs(OutputsArgs),
    /// Every resource in the state, its id, and whether it still exists in AWS.
    #[command(after_help = "Example:\n  cfcr-aws status --env my-env")]
    Status(EnvArgs),
    /// Only the hand-off: deploy the BOSH director and CFCR from the bastion; resumes where it
    /// stopped.
    #[command(after_help = "Example:\n  cfcr-aws bootstrap --env my-env")]
    Bootstrap(EnvArgs),
    /// Write the bundle that would be uploaded to the bastion, for review and customisation.
    #[command(after_help = "Example:\n  cfcr-aws render --env my-env --out bundle/")]
    Render(RenderArgs),
    /// A shell on the bastion, or one command (after --).
    #[command(after_help = "Example:\n  cfcr-aws ssh --env my-env -- bosh deployments")]
    Ssh(SshArgs),
    /// Write a kubeconfig for the cluster (credentials read from CredHub through the bastion).
    #[command(after_help = "Example:\n  cfcr-aws kubeconfig --env my-env --out ~/.kube/cfcr")]
    Kubeconfig(KubeconfigArgs),
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Directory to write the bundle into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct SshArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// The command to run instead of a shell.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Where to write it (mode 0600); `-` for standard output [default: <state-dir>/<env>.kubeconfig]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PaveArgs {
    #[command(flatten)]
    pub values: ConfigValues,
    /// Stop after the AWS resources; do not hand off to the bastion.
    #[arg(long)]
    pub no_bootstrap: bool,
    /// Do not ask before creating a new environment.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// The environment (its prefix) [default: the config file's prefix]
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
}

#[derive(Debug, Args)]
pub struct UnpaveArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Do not ask before deleting.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Skip deleting the deployment and director from the bastion (e.g. it is unreachable).
    #[arg(long)]
    pub skip_teardown: bool,
    /// Terminate every instance left in the environment's VPC (BOSH VMs) instead of stopping.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct OutputsArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// One JSON object instead of a listing.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
