//! `cfcr-aws unpave`: delete everything the environment owns, dependents first, then its state.

use anyhow::bail;

use crate::cli::{GlobalArgs, UnpaveArgs};
use crate::state::Backend;
use aws_sdk_ec2::types::Filter;

use crate::aws::{self, Clients, Policy};
use crate::config::{ConfigValues, DirectorCredentials, Settings};
use crate::keys::KeyMaterial;
use crate::resources::{
    CLUSTER_TAG, Ctx, OWNER_TAG, PrivateEgress, describe_vpc, groups_of_env, inventory, owned_by,
};
use crate::state::{Origin, SCHEMA_VERSION, State, StateStore, Step};
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
    let resources = inventory(&settings, paved.private_egress);
    // Adopted resources are kept, data sources (the bastion's image) forgotten.
    let listed = |origin: Origin| -> Vec<String> {
        resources
            .iter()
            .filter(|r| r.origin() == origin)
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
    if settings.vpc_id.is_none()
        && let Some(vpc_id) = adopted_vpc(&aws, env).await?
    {
        report::note(&format!(
            "its security groups are in VPC {vpc_id}, which is not its own: that VPC is kept"
        ));
        settings.vpc_id = Some(vpc_id);
        settings.vpc_cidr = None;
    }
    let cluster_tag = cluster_tag(&aws, &settings).await?;
    let state = State {
        schema_version: SCHEMA_VERSION,
        env: env.to_string(),
        region: settings.region.clone(),
        created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        settings: settings.clone(),
        cluster_tag,
        deployer_key: KeyMaterial::default(),
        bastion_host_key: KeyMaterial::default(),
        director_access_key: None,
        resources: Default::default(),
        creating: Default::default(),
        private_egress: PrivateEgress::OwnNatGateway,
        bootstrap: Default::default(),
    };
    let ctx = Ctx {
        aws,
        templates: crate::templates::Templates::new(global.templates.as_deref())?,
        state: backend.create(env, state)?,
        settings,
    };
    // Every kind is looked for: a NAT gateway the environment may not have is simply not found.
    let found = graph::discover(
        &ctx,
        &inventory(&ctx.settings, PrivateEgress::OwnNatGateway),
    )
    .await?;
    if found == 0 {
        ctx.state.remove()?;
        return Ok(None);
    }
    Ok(Some(ctx.state))
}

/// The VPC holding the environment's security groups when it is not the environment's own: the
/// operator's VPC it was paved into.
async fn adopted_vpc(aws: &Clients, env: &str) -> anyhow::Result<Option<String>> {
    let groups = groups_of_env(&aws.ec2, env, None).await?;
    let Some(vpc_id) = groups.iter().find_map(|g| g.vpc_id()) else {
        return Ok(None);
    };
    let own = describe_vpc(&aws.ec2, vpc_id)
        .await?
        .is_some_and(|v| owned_by(v.tags(), env));
    Ok((!own).then(|| vpc_id.to_string()))
}

/// The environment's cluster tag, read back from its subnets: its own (by ownership tag), or the
/// adopted ones the configuration names (preflight refused any other cluster's tag on those, so a
/// tag there is taken for the environment's). Empty when none carries one.
async fn cluster_tag(aws: &Clients, settings: &Settings) -> anyhow::Result<String> {
    let ec2 = &aws.ec2;
    let owned = aws::call("DescribeSubnets", &Policy::standard(), || {
        ec2.describe_subnets()
            .filters(
                Filter::builder()
                    .name(format!("tag:{OWNER_TAG}"))
                    .values(&settings.prefix)
                    .build(),
            )
            .send()
    })
    .await?;
    let adopted: Vec<String> = [&settings.public_subnet_id, &settings.private_subnet_id]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let adopted = if adopted.is_empty() {
        None
    } else {
        aws::absent_ok(
            aws::call("DescribeSubnets", &Policy::standard(), || {
                ec2.describe_subnets()
                    .set_subnet_ids(Some(adopted.clone()))
                    .send()
            })
            .await,
        )?
    };
    let ours = owned
        .subnets()
        .iter()
        .filter(|s| owned_by(s.tags(), &settings.prefix));
    let theirs = adopted.iter().flat_map(|o| o.subnets());
    Ok(ours
        .chain(theirs)
        .flat_map(|s| s.tags())
        .find(|t| t.key() == Some(CLUSTER_TAG))
        .and_then(|t| t.value())
        .unwrap_or_default()
        .to_string())
}
