//! Environment variables as each shell assigns them, for `print-env`: `eval "$(…)"` in bash and
//! zsh, `| source` in fish, `| Invoke-Expression` in PowerShell. Every value is single-quoted so
//! that the shell takes it verbatim: the newlines of a PEM certificate, quotes, `$` and
//! backslashes included.

/// The syntax `print-env` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// `export NAME='value'`.
    Bash,
    /// `export NAME='value'`, as bash.
    Zsh,
    /// `set -gx NAME 'value'`.
    Fish,
    /// `$env:NAME = 'value'`.
    #[value(alias = "pwsh")]
    Powershell,
}

/// One line that sets and exports `name` (a plain identifier) to `value`.
pub fn assignment(shell: Shell, name: &str, value: &str) -> String {
    match shell {
        Shell::Bash | Shell::Zsh => format!("export {name}={}\n", posix_quoted(value)),
        Shell::Fish => format!("set -gx {name} {}\n", fish_quoted(value)),
        Shell::Powershell => format!("$env:{name} = {}\n", powershell_quoted(value)),
    }
}

/// Nothing is special inside POSIX single quotes, and nothing can escape a quote there: a quote
/// closes them, is written escaped, and they open again.
fn posix_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Inside fish's single quotes, `\\` and `\'` are the only escapes.
fn fish_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\\', r"\\").replace('\'', r"\'"))
}

/// Inside PowerShell's single quotes only the quote is special, written twice; PowerShell takes
/// the typographic single quotes (U+2018 to U+201B) for quotes as well.
fn powershell_quoted(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('\'');
    for c in text.chars() {
        if matches!(c, '\'' | '\u{2018}'..='\u{201B}') {
            quoted.push(c);
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWKWARD: &str = "it's $HOME \\n `x`\n‘q’";

    #[test]
    fn bash_and_zsh_export_in_posix_quotes() {
        let line = "export X='it'\\''s $HOME \\n `x`\n‘q’'\n";
        assert_eq!(assignment(Shell::Bash, "X", AWKWARD), line);
        assert_eq!(assignment(Shell::Zsh, "X", AWKWARD), line);
    }

    #[test]
    fn fish_escapes_backslashes_and_quotes() {
        assert_eq!(
            assignment(Shell::Fish, "X", AWKWARD),
            "set -gx X 'it\\'s $HOME \\\\n `x`\n‘q’'\n"
        );
    }

    #[test]
    fn powershell_doubles_every_kind_of_single_quote() {
        assert_eq!(
            assignment(Shell::Powershell, "X", AWKWARD),
            "$env:X = 'it''s $HOME \\n `x`\n‘‘q’’'\n"
        );
    }
}
