//! `cfcr-aws unpave`: delete everything the environment owns, dependents first, then its state.

use anyhow::bail;

use super::environment;
use super::terminal;
use crate::cli::{GlobalArgs, UnpaveArgs};
use crate::config::ConfigValues;
use crate::ec2::tags::OWNER_TAG;
use crate::resources::{Ctx, inventory};
use crate::state::{Backend, Origin, State, StateStore, Step};
use crate::{census, graph, leftovers, recovery, report};

pub async fn run(global: &GlobalArgs, args: UnpaveArgs) -> anyhow::Result<()> {
    let env = environment::environment(global, &args.env)?;
    let backend = environment::backend(global).await?;
    let lock = backend.lock(&env, "unpave").await?;
    let store = match backend.load(&env).await? {
        Some(loaded) => backend.open(&env, loaded),
        None => match recover(global, &backend, &env, args.yes).await? {
            Some(recovered) => recovered,
            None => {
                report::note(&format!(
                    "nothing to do: there is no state for environment {env:?} in {}, and AWS holds nothing of it",
                    backend.describe()
                ));
                lock.remove_file()?;
                return Ok(());
            }
        },
    };
    let paved = store.snapshot();
    let aws = crate::aws::connect(&paved.region, global.endpoint_url.as_deref()).await?;
    let settings = paved.settings.clone();
    let resources = inventory(&settings, paved.private_egress);
    if !args.yes && !paved.recovered {
        report::note(&deletion_summary(&paved, &resources));
    }
    // A recovered state was confirmed when it was found.
    if !paved.recovered {
        terminal::confirm(
            &format!("Delete environment {env:?} in {}?", paved.region),
            args.yes,
        )?;
    }
    let ctx = Ctx {
        aws,
        settings,
        state: store,
        templates: crate::templates::Templates::new(global.templates.as_deref())?,
    };
    let custody = crate::bootstrap::Custody {
        backend: &backend,
        resolve: args.custody.resolve(),
    };
    super::bootstrap::teardown(global, &ctx, &custody, args.skip_teardown).await?;
    if ctx
        .state
        .snapshot()
        .bootstrap
        .reached(Step::DeployKubernetes)
    {
        leftovers::delete_kubernetes_resources(&ctx).await?;
    }
    stop_for_foreign_instances(&ctx, args.force).await?;
    graph::destroy(&ctx, &resources, global.max_concurrency.into()).await?;
    let left = ctx.state.snapshot().resources;
    if !left.is_empty() {
        let keys: Vec<String> = left.keys().map(|k| k.to_string()).collect();
        bail!(
            "the state still lists {} that this version does not know how to delete; the state was kept",
            keys.join(", ")
        );
    }
    sweep(&ctx).await?;
    backend.custody_remove(&env, &crate::custody::FILES).await?;
    ctx.state.remove()?;
    super::tunnel::forget(global, &env)?;
    lock.remove_file()?;
    report::note(&format!("environment {env:?} is gone"));
    Ok(())
}

/// What unpave will delete, keep and forget, shown before the question.
fn deletion_summary(paved: &State, resources: &[Box<dyn crate::resources::Resource>]) -> String {
    let settings = &paved.settings;
    let listed = |origin: Origin| -> Vec<String> {
        resources
            .iter()
            .filter(|r| r.origin() == origin)
            .filter_map(|r| {
                let record = paved.resources.get(&r.key())?;
                Some(format!(
                    "  {} {} ({})",
                    r.key(),
                    r.name(settings),
                    record.id
                ))
            })
            .collect()
    };
    let mut text = format!(
        "unpave will delete:\n{}",
        listed(Origin::Created).join("\n")
    );
    let kept = listed(Origin::Adopted);
    if !kept.is_empty() {
        text.push_str(&format!(
            "\nand keep (adopted: the configuration's own; the cluster tag cfcr-aws added is taken back):\n{}",
            kept.join("\n")
        ));
    }
    let forgotten = listed(Origin::LookedUp);
    if !forgotten.is_empty() {
        text.push_str(&format!(
            "\nand forget (not deleted: not the environment's):\n{}",
            forgotten.join("\n")
        ));
    }
    text
}

/// Instances in the environment's VPC that it did not create (BOSH VMs) stop unpave, unless
/// `--force` terminates them.
async fn stop_for_foreign_instances(ctx: &Ctx, force: bool) -> anyhow::Result<()> {
    let foreign = leftovers::foreign_instances(ctx).await?;
    if foreign.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = foreign
        .iter()
        .map(|(id, name)| format!("{id} ({name})"))
        .collect();
    if !force {
        bail!(
            "instances not created by cfcr-aws are still running in the environment's VPC: {}. Delete them (e.g. the BOSH deployment and director), or pass --force to terminate them",
            listed.join(", ")
        );
    }
    let ids: Vec<String> = foreign.into_iter().map(|(id, _)| id).collect();
    leftovers::terminate(ctx, &ids).await
}

/// The last look before "gone": anything still carrying the environment's tag or under its IAM
/// path (what the director tagged, what a crash left outside the state) is deleted where that is
/// safe to do blindly, and anything else stops unpave, named.
async fn sweep(ctx: &Ctx) -> anyhow::Result<()> {
    let env = &ctx.settings.prefix;
    let left = census::owned(&ctx.aws, env).await?;
    let mut remaining = Vec::new();
    for found in left {
        if !leftovers::delete_tagged(ctx, &found).await? {
            remaining.push(found.to_string());
        }
    }
    if !remaining.is_empty() {
        bail!(
            "environment {env:?} still owns, by its tag {OWNER_TAG} or its IAM path, what unpave does not delete on its own: {}. Delete them, then run `cfcr-aws unpave --env {env}` again",
            remaining.join(", ")
        );
    }
    Ok(())
}

/// Without a state: rebuilds one from what AWS holds of the environment (crate::recovery), shows it
/// with a warning that another state may hold the environment, and writes it only once the
/// operator confirmed. `None` when AWS holds nothing of it.
async fn recover(
    global: &GlobalArgs,
    backend: &Backend,
    env: &str,
    yes: bool,
) -> anyhow::Result<Option<StateStore>> {
    let flags = ConfigValues {
        prefix: Some(env.to_string()),
        ..ConfigValues::default()
    };
    let settings = environment::settings(global, flags).await?;
    let aws = crate::aws::connect(&settings.region, global.endpoint_url.as_deref()).await?;
    let templates = crate::templates::Templates::new(global.templates.as_deref())?;
    let Some(found) = recovery::recover(aws, settings, templates).await? else {
        return Ok(None);
    };
    let listed: Vec<String> = found.census.iter().map(|f| format!("  {f}")).collect();
    report::note(&format!(
        "in {}, by its tag and IAM path, AWS holds (unpave deletes it all):\n{}",
        found.state.region,
        listed.join("\n")
    ));
    report::warning(&format!(
        "there is no state for {env:?} in {}. If this environment is managed from another state (another machine's state directory, or a state in S3: --state s3://BUCKET/PREFIX), stop here and unpave it from there: deleting it from here leaves that state describing resources that are gone",
        backend.describe()
    ));
    terminal::confirm(
        &format!(
            "Delete everything of environment {env:?} found in {}?",
            found.state.region
        ),
        yes,
    )?;
    Ok(Some(backend.create(env, found.state)?))
}
