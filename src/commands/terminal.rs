//! What a command says to the operator on standard output, and what it asks.

use std::io::{BufRead, IsTerminal, Write};

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

/// Refused for want of confirmation: a usage error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotConfirmed(String);

/// Asks a yes/no question on the terminal. Without a terminal it refuses rather than hangs.
pub(super) fn confirm(question: &str, yes: bool) -> anyhow::Result<()> {
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
