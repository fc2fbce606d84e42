//! `cfcr-aws`: paves AWS for CFCR. See docs/architecture.md for how the pieces fit.

mod aws;
mod bootstrap;
mod census;
mod cli;
mod commands;
mod compat;
mod config;
mod cost;
mod custody;
mod decision;
mod director;
mod ec2;
mod elb;
mod files;
mod graph;
mod hand_off;
mod interrupt;
mod key;
mod keys;
mod last_error;
mod leftovers;
mod network;
mod outputs;
mod policy;
mod preflight;
mod quotas;
mod recovery;
mod refresh;
mod report;
mod resources;
mod shells;
mod ssh;
mod state;
mod templates;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Exit status for usage and validation errors; 1 is for everything else.
const USAGE: u8 = 2;

fn init_tracing(verbose: u8, quiet: bool, format: report::LogFormat) {
    let default = match verbose {
        0 if quiet => "error",
        0 => "warn",
        1 => "warn,cfcr_aws=debug",
        _ => "info,cfcr_aws=trace",
    };
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Without a region or credentials the SDK's loaders warn with raw metadata-service answers
    // before the tool's own error says what to do: their warnings only with -v.
    if verbose == 0 {
        filter = filter.add_directive("aws_config=error".parse().expect("a valid directive"));
    }
    // Whatever RUST_LOG says: the SDK's and HTTP stack's traces carry request and response bodies,
    // which hold secrets (CreateAccessKey's answer, ImportKeyPair's request).
    for wire in [
        "aws_smithy_runtime=info",
        "aws_smithy_http=info",
        "aws_smithy_http_client=info",
        "aws_smithy_runtime_api=info",
        "hyper=info",
        "hyper_util=info",
        "h2=info",
        "rustls=info",
    ] {
        filter = filter.add_directive(wire.parse().expect("a valid directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(report::colour())
        .with_writer(std::io::stderr);
    match format {
        report::LogFormat::Json => builder.json().init(),
        report::LogFormat::Text => builder.init(),
    }
}

fn closed_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn exit_status(err: &anyhow::Error) -> u8 {
    // A hand-off that cannot work is refused before anything is created or run for it.
    let usage = err.is::<config::ValidationError>()
        || err.is::<config::ValidationErrors>()
        || err.is::<commands::NotConfirmed>()
        || err.is::<compat::Incompatible>()
        || err.is::<state::UnlockRefused>();
    if usage { USAGE } else { 1 }
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let global = &cli.global;
    init_tracing(global.verbose, global.quiet, global.log_format);
    report::init(global.quiet, global.log_format);
    let state_dir = global.state_dir.clone();
    let verbose = global.verbose > 0;
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = runtime.handle().clone();
    let stop = move |signal| {
        // The lock is released through the runtime's S3 client.
        let _runtime = handle.enter();
        let unreleased = state::settle();
        for problem in &unreleased {
            report::warning(problem);
        }
        let lock = match unreleased.len() {
            0 => "no lock left behind",
            _ => "a lock left behind (above)",
        };
        // As an error: it ends the live display, and is the command's last word.
        report::error(
            &anyhow::anyhow!(
                "interrupted ({signal}): stopped, {lock}; the state records everything created so far: run the command again to go on"
            ),
            false,
        );
    };
    if let Err(e) = interrupt::install(stop) {
        report::warning(&format!(
            "cannot handle SIGINT and SIGTERM ({e}): an interrupted command would leave its lock"
        ));
    }
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if let Some(commands::RemoteExit(code)) = err.downcast_ref() {
                return ExitCode::from(*code);
            }
            if err.is::<commands::ChangesPending>() {
                return ExitCode::from(2);
            }
            // The reader went away (`| head`): nothing is wrong, and nothing more can be said.
            if closed_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            report::error(&err, verbose);
            if let Err(e) = last_error::record(&state_dir, &err) {
                report::warning(&format!("could not record the error: {e:#}"));
            }
            ExitCode::from(exit_status(&err))
        }
    }
}
