//! The command line: every command, flag and default, declared once.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::ConfigValues;
use crate::outputs::Format;
use crate::report::LogFormat;
use crate::shells::Shell;

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

/// Shown after each command's own flags, under a heading of their own.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Config file (TOML) [default: ./cfcr-aws.toml, if present]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the state lives: `s3://BUCKET/PREFIX` (shared, locked; see docs/state.md) or, when
    /// absent (and no `state` key in the config file), --state-dir.
    #[arg(
        long,
        global = true,
        value_name = "s3://BUCKET/PREFIX",
        env = "CFCR_AWS_STATE"
    )]
    pub state: Option<String>,
    /// With an S3 state: create the bucket (versioned, private) if it does not exist, when a
    /// command writes there (pave, unpave, state migrate) or lists it; one that only reads a
    /// state creates nothing.
    #[arg(long, global = true)]
    pub create_state_bucket: bool,
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
    /// How many resources may be worked on at once. The default lets the widest level of the
    /// graph go at once; AWS's request buckets allow far larger bursts, and throttling is retried.
    #[arg(long, global = true, value_name = "N", default_value_t = 16,
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
    /// More detail on standard error (-v: debug logs and full error chains, -vv: trace); RUST_LOG
    /// overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Skip every quota check preflight makes: VPCs, internet gateways, NAT gateways per zone,
    /// classic load balancers, elastic IPs and standard vCPUs. For emulators whose numbers are not
    /// AWS's (LocalStack); pave and plan warn, naming them, whenever they skip them.
    #[arg(long, global = true, env = "CFCR_AWS_SKIP_QUOTA_CHECK",
          value_parser = clap::builder::FalseyValueParser::new())]
    pub skip_quota_check: bool,
    /// Only warnings and errors on standard error.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// How progress and logs are written to standard error: text (a live display on a terminal,
    /// timestamped lines elsewhere) or json (one object per line, for machines).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create (or finish creating) every AWS resource of the environment.
    #[command(after_help = "Example:\n  cfcr-aws pave --config cfcr-aws.toml --yes")]
    Pave(Box<PaveArgs>),
    /// Show what pave (or, with --destroy, unpave) would create, repair or delete; changes nothing.
    #[command(
        after_help = "Examples:\n  cfcr-aws plan --config cfcr-aws.toml\n  cfcr-aws plan --env my-env --detailed-exitcode --json\n  cfcr-aws plan --env my-env --destroy"
    )]
    Plan(Box<PlanArgs>),
    /// Delete everything the environment owns, dependents first.
    #[command(after_help = "Example:\n  cfcr-aws unpave --env my-env --yes")]
    Unpave(UnpaveArgs),
    /// Print the values the bastion and operators need (IPs, ids, names).
    #[command(
        after_help = "Examples:\n  cfcr-aws outputs --env my-env\n  cfcr-aws outputs --env my-env bosh_bastion_ip\n  eval \"$(cfcr-aws outputs --env my-env --format env)\"\n  bosh int manifest.yml -l <(cfcr-aws outputs --env my-env --format yaml)"
    )]
    Outputs(OutputsArgs),
    /// Every resource in the state, its id, and whether it still exists in AWS.
    #[command(after_help = "Example:\n  cfcr-aws status --env my-env")]
    Status(EnvArgs),
    /// Only the hand-off: deploy the BOSH director and CFCR from the bastion; resumes where it
    /// stopped.
    #[command(
        after_help = "Example:\n  cfcr-aws bootstrap --env my-env\n  cfcr-aws bootstrap --env my-env --director-only"
    )]
    Bootstrap(BootstrapArgs),
    /// Write the bundle that would be uploaded to the bastion, for review and customisation.
    #[command(after_help = "Example:\n  cfcr-aws render --env my-env --out bundle/")]
    Render(RenderArgs),
    /// A shell on the bastion, or one command (after --).
    #[command(after_help = "Example:\n  cfcr-aws ssh --env my-env -- bosh deployments")]
    Ssh(SshArgs),
    /// Write a kubeconfig for the cluster (credentials read from CredHub through the bastion).
    #[command(after_help = "Example:\n  cfcr-aws kubeconfig --env my-env --out ~/.kube/cfcr")]
    Kubeconfig(KubeconfigArgs),
    /// The variables that point the bosh and credhub CLIs at the director from this machine,
    /// through the tunnel (read from custody: no SSH).
    #[command(
        after_help = "Examples:\n  eval \"$(cfcr-aws print-env --env my-env)\"\n  cfcr-aws print-env --env my-env --shell fish | source\n  cfcr-aws print-env --env my-env --shell powershell | Invoke-Expression"
    )]
    PrintEnv(PrintEnvArgs),
    /// A SOCKS5 proxy on a loopback port into the private network, through the bastion with its
    /// pinned host key (OpenSSH -D): what print-env's BOSH_ALL_PROXY and CREDHUB_PROXY name.
    #[command(
        after_help = "Examples:\n  cfcr-aws tunnel --env my-env                # in the foreground, until Ctrl-C\n  cfcr-aws tunnel --env my-env --background\n  cfcr-aws tunnel --env my-env --stop"
    )]
    Tunnel(TunnelArgs),
    /// The deployer key: its public half, or the private key written to a 0600 file with --out.
    #[command(
        after_help = "Examples:\n  cfcr-aws ssh-key --env my-env\n  cfcr-aws ssh-key --env my-env --out ~/.ssh/my-env-deployer"
    )]
    SshKey(SshKeyArgs),
    /// The environments in the state directory, with region, age and status (no AWS calls).
    #[command(after_help = "Example:\n  cfcr-aws list --state-dir state/")]
    List(ListArgs),
    /// The least-privilege IAM policy an operator needs to run cfcr-aws for this environment.
    #[command(
        after_help = "Example:\n  cfcr-aws policy > cfcr-aws-policy.json\n  aws iam create-policy --policy-name cfcr-aws-dev --policy-document file://cfcr-aws-policy.json"
    )]
    Policy(Box<PolicyArgs>),
    /// Shell completions for bash, elvish, fish, powershell or zsh, on standard output.
    #[command(
        after_help = "Examples:\n  cfcr-aws completions bash > /etc/bash_completion.d/cfcr-aws\n  cfcr-aws completions zsh > \"${fpath[1]}/_cfcr-aws\""
    )]
    Completions(CompletionsArgs),
    /// Remove an S3 state lock whose holder died (never automatic: check the holder first).
    #[command(
        after_help = "Example:\n  cfcr-aws --state s3://team-states/cfcr force-unlock 3f9c0a5e1b2d4c6f --env my-env"
    )]
    ForceUnlock(ForceUnlockArgs),
    /// Manage where an environment's state lives.
    #[command(
        subcommand,
        after_help = "Example:\n  cfcr-aws state migrate --env my-env --to s3://team-states/cfcr"
    )]
    State(StateCommand),
    /// The manual page (roff), generated from this command line's definition.
    #[command(after_help = "Example:\n  cfcr-aws man > cfcr-aws.1 && man ./cfcr-aws.1")]
    Man,
}

#[derive(Debug, Args)]
pub struct ForceUnlockArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// The lock's ID, as the refused command printed it.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Remove the lock even though its holder's pid is alive on this host: only when that pid is
    /// not the holder (it was reused).
    #[arg(long)]
    pub even_if_running: bool,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Move an environment's state to another backend (from --state, or the local state dir).
    #[command(
        after_help = "Examples:\n  cfcr-aws state migrate --env my-env --to s3://team-states/cfcr\n  cfcr-aws --state s3://team-states/cfcr state migrate --env my-env --to local"
    )]
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// The destination: s3://BUCKET/PREFIX, or `local` for --state-dir.
    #[arg(long, value_name = "s3://BUCKET/PREFIX|local")]
    pub to: String,
}

#[derive(Debug, Args)]
pub struct SshKeyArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Write the private key here, mode 0600 (refuses to overwrite a different file).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PrintEnvArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// The syntax: bash and zsh (`export`), fish (`set -gx`) or powershell (`$env:`).
    #[arg(long, value_enum, default_value_t = Shell::Bash)]
    pub shell: Shell,
    /// One JSON object of the variables instead of shell lines.
    #[arg(long, conflicts_with = "shell")]
    pub json: bool,
    /// The tunnel's port [default: the running background tunnel's, else the environment's own
    /// port, 20000-29999]
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
}

#[derive(Debug, Args)]
pub struct TunnelArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// The loopback port to listen on [default: the environment's own port, 20000-29999, as
    /// print-env assumes]
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Return once the tunnel is up, leaving it running; its pid and port are recorded under
    /// the state directory, for print-env and --stop.
    #[arg(long)]
    pub background: bool,
    /// Stop the environment's background tunnel (only a process that is that tunnel).
    #[arg(long, conflicts_with_all = ["background", "port"])]
    pub stop: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// One JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, elvish, fish, powershell or zsh.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
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
pub struct PlanArgs {
    /// A paved environment, planned against the settings in its state (no config file needed).
    #[arg(long, value_name = "NAME", conflicts_with = "ConfigValues")]
    pub env: Option<String>,
    /// Plan the unpave instead.
    #[arg(long)]
    pub destroy: bool,
    /// Exit 0 when there is nothing to do, 2 when there are changes, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// One JSON object on standard output instead of the listing.
    #[arg(long)]
    pub json: bool,
    /// Plan `pave --no-bootstrap`: no hand-off, so its VMs do not count against the vCPU quota
    /// and its compatibility is not checked [default: pave's hand-off; for a paved environment,
    /// the hand-off its state shows].
    #[arg(long, conflicts_with = "destroy")]
    pub no_bootstrap: bool,
    /// Plan `pave --director-only`: only the director counts against the vCPU quota, and only
    /// its compatibility is checked.
    #[arg(long, conflicts_with_all = ["no_bootstrap", "destroy"])]
    pub director_only: bool,
    // Last: the command's own flags come first in its help.
    #[command(flatten)]
    pub values: ConfigValues,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// One JSON object: the environment, the policy document and the list of its actions.
    #[arg(long)]
    pub json: bool,
    // Last: the command's own flags come first in its help.
    #[command(flatten)]
    pub values: ConfigValues,
}

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Deploy the BOSH director and its cloud config only, no CFCR cluster (e.g. while no
    /// stemcell for the cluster's line is at hand; see docs/compatibility.md).
    #[arg(long)]
    pub director_only: bool,
    #[command(flatten)]
    pub custody: CustodyArgs,
}

/// Which copy of the director's files wins when the bastion's differ from custody's
/// (docs/bootstrap.md, "Custody").
#[derive(Clone, Copy, Debug, Default, Args)]
pub struct CustodyArgs {
    /// The bastion's copies of the director's state and vars store are right (someone ran bosh
    /// there by hand): take them into custody.
    #[arg(long, conflicts_with = "restore_custody_copy")]
    pub take_bastion_copy: bool,
    /// Custody's copies of the director's state and vars store are right: put them back on the
    /// bastion.
    #[arg(long)]
    pub restore_custody_copy: bool,
}

impl CustodyArgs {
    pub fn resolve(self) -> crate::custody::Resolve {
        match (self.take_bastion_copy, self.restore_custody_copy) {
            (true, _) => crate::custody::Resolve::TakeBastions,
            (_, true) => crate::custody::Resolve::RestoreCustodys,
            _ => crate::custody::Resolve::Ask,
        }
    }
}

#[derive(Debug, Args)]
pub struct PaveArgs {
    /// Stop after the AWS resources; do not hand off to the bastion.
    #[arg(long)]
    pub no_bootstrap: bool,
    /// Hand off the BOSH director and its cloud config only, no CFCR cluster.
    #[arg(long, conflicts_with = "no_bootstrap")]
    pub director_only: bool,
    /// Do not ask before creating a new environment.
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub custody: CustodyArgs,
    // Last: the command's own flags come first in its help.
    #[command(flatten)]
    pub values: ConfigValues,
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
    /// Do not try the teardown on the bastion: delete the director by the ids in custody's copy of
    /// its state (as when the bastion cannot be reached).
    #[arg(long)]
    pub skip_teardown: bool,
    /// Terminate every instance left in the environment's VPC (BOSH VMs) instead of stopping.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub custody: CustodyArgs,
}

#[derive(Debug, Args)]
pub struct OutputsArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Print only this output's value, raw (e.g. bosh_bastion_ip).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// How to print them.
    #[arg(long, value_enum, default_value_t = Format::Text, conflicts_with = "name")]
    pub format: Format,
    /// Same as --format json.
    #[arg(long, conflicts_with_all = ["format", "name"])]
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
