//! `cfcr-aws completions` and `cfcr-aws man`: generated from the clap definition, so they never
//! drift from the real flags.

use clap::CommandFactory;

use super::terminal::out;
use crate::cli::{Cli, CompletionsArgs};

pub fn completions(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    // Generated into memory: clap_complete panics on a write error such as a closed pipe.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "cfcr-aws", &mut script);
    out!("{}", String::from_utf8_lossy(&script))?;
    Ok(())
}

/// The page for the tool, followed by a section per command with its own options.
pub fn man() -> anyhow::Result<()> {
    let command = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(command.clone()).render(&mut out)?;
    for sub in command.get_subcommands() {
        let name = format!("cfcr-aws-{}", sub.get_name());
        let page = clap_mangen::Man::new(sub.clone().name(name));
        page.render_subcommands_section(&mut out)?;
        page.render_options_section(&mut out)?;
    }
    Ok(())
}
