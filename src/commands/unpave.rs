//! `cfcr-aws unpave`: delete everything the environment owns, dependents first, then its state.

use anyhow::bail;

use crate::backend::Backend;
use crate::cli::{GlobalArgs, UnpaveArgs};
use crate::config::{ConfigValues, DirectorCredentials};
use crate::keys::KeyMaterial;
use crate::resources::{Ctx, inventory};
use crate::state::{SCHEMA_VERSION, State, StateStore, Step};
use crate::{graph, leftovers, report};

pub async fn run(global: &GlobalArgs, args: UnpaveArgs) -> anyhow::Result<()> {
    let env = super::environment(global, &args.env)?;
    let backend = super::backend(global).await?;
    let lock = backend.lock(&env, "unpave").await?;
    let store = match backend.load(&env).await? {
        Some(loaded) => backend.open(&env, loaded),
        None => match recover(global, &backend, &env).await? {
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
    let resources = inventory(&settings);
    // Data sources (the bastion's image) are forgotten, not deleted.
    let listed = |owned: bool| -> Vec<String> {
        resources
            .iter()
            .filter(|r| r.owned() == owned)
            .filter_map(|r| {
                let record = paved.resources.get(&r.key())?;
                Some(format!(
                    "  {} {} ({})",
                    r.key(),
                    r.name(&settings),
                    record.id
                ))
            })
            .collect()
    };
    if !args.yes {
        let mut text = format!("unpave will delete:\n{}", listed(true).join("\n"));
        let forgotten = listed(false);
        if !forgotten.is_empty() {
            text.push_str(&format!(
                "\nand forget (not deleted: not the environment's):\n{}",
                forgotten.join("\n")
            ));
        }
        report::note(&text);
    }
    super::confirm(
        &format!("Delete environment {env:?} in {}?", paved.region),
        args.yes,
    )?;
    let ctx = Ctx {
        aws,
        settings,
        state: store,
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

/// Without a state file: finds the environment's resources in AWS by ownership tag and name and
/// writes a state listing them, so that they can be deleted (and a crash resumed). `None` when AWS
/// holds nothing of the environment.
async fn recover(
    global: &GlobalArgs,
    backend: &Backend,
    env: &str,
) -> anyhow::Result<Option<StateStore>> {
    let flags = ConfigValues {
        prefix: Some(env.to_string()),
        ..ConfigValues::default()
    };
    let mut settings = super::settings(global, flags).await?;
    // Look for the access-key mode's user too: the mode was lost with the state.
    settings.director_credentials = DirectorCredentials::AccessKey;
    let aws = crate::aws::connect(&settings.region, global.endpoint_url.as_deref()).await?;
    report::note(&format!(
        "no state for {env:?}: looking for its resources in {} by tag and name",
        settings.region
    ));
    let state = State {
        schema_version: SCHEMA_VERSION,
        env: env.to_string(),
        region: settings.region.clone(),
        created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        settings: settings.clone(),
        cluster_tag: String::new(),
        deployer_key: KeyMaterial::default(),
        bastion_host_key: KeyMaterial::default(),
        director_access_key: None,
        resources: Default::default(),
        creating: Default::default(),
        bootstrap: Default::default(),
    };
    let ctx = Ctx {
        aws,
        templates: crate::templates::Templates::new(global.templates.as_deref())?,
        state: backend.create(env, state)?,
        settings,
    };
    let found = graph::discover(&ctx, &inventory(&ctx.settings)).await?;
    if found == 0 {
        ctx.state.remove()?;
        return Ok(None);
    }
    Ok(Some(ctx.state))
}
