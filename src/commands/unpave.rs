//! `cfcr-aws unpave`: delete everything the environment owns, dependents first, then its state.

use anyhow::bail;

use crate::cli::{GlobalArgs, UnpaveArgs};
use crate::lock::EnvLock;
use crate::resources::{Ctx, inventory};
use crate::state::{self, StateStore, Step};
use crate::{graph, leftovers, report};

pub async fn run(global: &GlobalArgs, args: UnpaveArgs) -> anyhow::Result<()> {
    let env = super::environment(global, &args.env)?;
    let lock = EnvLock::acquire(&global.state_dir, &env, "unpave")?;
    let path = state::path_for(&global.state_dir, &env);
    let Some(paved) = state::load(&path)? else {
        report::note(&format!(
            "nothing to do: there is no state for environment {env:?} in {}",
            global.state_dir.display()
        ));
        lock.remove_file()?;
        return Ok(());
    };
    let aws = crate::aws::connect(&paved.region, global.endpoint_url.as_deref()).await?;
    let settings = paved.settings.clone();
    let resources = inventory(&settings);
    let doomed: Vec<String> = resources
        .iter()
        .filter_map(|r| {
            let record = paved.resources.get(&r.key())?;
            Some(format!(
                "  {} {} ({})",
                r.key(),
                r.name(&settings),
                record.id
            ))
        })
        .collect();
    if !args.yes {
        report::note(&format!("unpave will delete:\n{}", doomed.join("\n")));
    }
    super::confirm(
        &format!("Delete environment {env:?} in {}?", paved.region),
        args.yes,
    )?;
    let ctx = Ctx {
        aws,
        settings,
        state: StateStore::open(path, paved),
        templates: crate::templates::Templates::new(global.templates.as_deref())?,
    };
    if args.skip_teardown {
        report::note("skipping the teardown on the bastion (--skip-teardown)");
    } else {
        super::bootstrap::teardown(global, &ctx.state)?;
    }
    if ctx
        .state
        .snapshot()
        .bootstrap
        .reached(Step::DeployKubernetes)
    {
        leftovers::delete_kubernetes_resources(&ctx).await?;
    }
    let foreign = leftovers::foreign_instances(&ctx).await?;
    if !foreign.is_empty() {
        let listed: Vec<String> = foreign
            .iter()
            .map(|(id, name)| format!("{id} ({name})"))
            .collect();
        if !args.force {
            bail!(
                "instances not created by cfcr-aws are still running in the environment's VPC: {}. Delete them (e.g. the BOSH deployment and director), or pass --force to terminate them",
                listed.join(", ")
            );
        }
        let ids: Vec<String> = foreign.into_iter().map(|(id, _)| id).collect();
        leftovers::terminate(&ctx, &ids).await?;
    }
    graph::destroy(&ctx, &resources, global.max_concurrency.into()).await?;
    let left = ctx.state.snapshot().resources;
    if !left.is_empty() {
        let keys: Vec<String> = left.keys().map(|k| k.to_string()).collect();
        bail!(
            "the state still lists {} that this version does not know how to delete; the state was kept",
            keys.join(", ")
        );
    }
    ctx.state.remove()?;
    lock.remove_file()?;
    report::note(&format!("environment {env:?} is gone"));
    Ok(())
}
