//! `cfcr-aws ssh-key`: the deployer key. The public half on standard output; the private key only
//! into a file the operator names, created with mode 0600.

use std::io::ErrorKind;

use anyhow::{Context, bail};

use super::environment;
use super::terminal::outln;
use crate::cli::{GlobalArgs, SshKeyArgs};
use crate::files::write_private;
use crate::report;

pub async fn run(global: &GlobalArgs, args: SshKeyArgs) -> anyhow::Result<()> {
    let env = environment::environment(global, &args.env)?;
    let state = environment::existing_state(&environment::backend(global).await?, &env)
        .await?
        .state;
    let key = &state.deployer_key;
    if key.private_key.is_empty() {
        bail!("the state of {env:?} has no deployer key (it was recovered without its state file)");
    }
    let Some(out) = args.out else {
        outln!("{}", key.public_key)?;
        report::note("the private key is written only on request: cfcr-aws ssh-key --out FILE");
        return Ok(());
    };
    match std::fs::read_to_string(&out) {
        Ok(existing) if existing == key.private_key => {}
        Ok(_) => bail!(
            "{} exists and holds something else; remove it or choose another --out",
            out.display()
        ),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", out.display())),
    }
    write_private(&out, key.private_key.as_bytes())?;
    report::note(&format!(
        "wrote the deployer key of {env:?} to {} (mode 0600); e.g. ssh -i {} ubuntu@<bastion>",
        out.display(),
        out.display()
    ));
    Ok(())
}
