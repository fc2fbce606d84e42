//! `cfcr-aws force-unlock` and `cfcr-aws state migrate`: looking after the state's home.

use anyhow::bail;

use super::environment;
use crate::cli::{ForceUnlockArgs, GlobalArgs, MigrateArgs};
use crate::report;

pub async fn force_unlock(global: &GlobalArgs, args: ForceUnlockArgs) -> anyhow::Result<()> {
    let env = environment::environment(global, &args.env)?;
    let backend = environment::backend(global).await?;
    let holder = backend
        .force_unlock(&env, &args.id, args.even_if_running)
        .await?;
    report::note(&format!(
        "removed the lock of {env:?} held by {holder}; if that command is in fact still running, stop it before starting another"
    ));
    Ok(())
}

/// Copies the state to the destination (refusing to replace one there), then removes it from the
/// source; both are locked throughout.
pub async fn migrate(global: &GlobalArgs, args: MigrateArgs) -> anyhow::Result<()> {
    let env = environment::environment(global, &args.env)?;
    let source = environment::backend(global).await?;
    let to = (args.to != "local").then_some(args.to.as_str());
    let target = environment::backend_at(global, to).await?;
    if source.describe() == target.describe() {
        bail!(
            "the state of {env:?} is already in {}: nothing to move",
            source.describe()
        );
    }
    let source_lock = source.lock(&env, "state migrate").await?;
    let _target_lock = target.lock(&env, "state migrate").await?;
    let loaded = environment::existing_state(&source, &env).await?;
    if target.load(&env).await?.is_some() {
        bail!(
            "{} already holds a state for {env:?}; remove it first if it is stale (nothing was changed)",
            target.describe()
        );
    }
    let state = loaded.state.clone();
    target.create(&env, state)?;
    source.open(&env, loaded).remove()?;
    source_lock.remove_file()?;
    report::note(&format!(
        "moved the state of {env:?} from {} to {}",
        source.describe(),
        target.describe()
    ));
    Ok(())
}
