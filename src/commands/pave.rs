//! `cfcr-aws pave`: create, adopt or finish every resource of the environment.

use super::environment;
use super::terminal;
use crate::cli::{GlobalArgs, PaveArgs};
use crate::config::Settings;
use crate::decision::{self, Decisions};
use crate::hand_off::HandOffMode;
use crate::key::{Key, PrivateEgress};
use crate::preflight::{self, PreflightFailed};
use crate::resources::{Ctx, Resource, inventory};
use crate::state::{Backend, Loaded, Origin, SCHEMA_VERSION, State, StateStore};
use crate::{graph, keys, network, refresh, report};

pub(super) fn new_state(settings: &Settings, egress: PrivateEgress) -> anyhow::Result<State> {
    Ok(State {
        schema_version: SCHEMA_VERSION,
        env: settings.prefix.clone(),
        region: settings.region.clone(),
        created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        settings: settings.clone(),
        cluster_tag: keys::cluster_tag(),
        deployer_key: keys::deployer_key(&settings.name("deployer"))?,
        bastion_host_key: keys::host_key(&settings.name("bosh-bastion"))?,
        director_access_key: None,
        resources: Default::default(),
        creating: Default::default(),
        private_egress: egress,
        bootstrap: Default::default(),
        recovered: false,
    })
}

/// What a new environment's pave will create, adopt and look up, shown before the question, as
/// Terraform shows its plan.
fn creation_summary(settings: &Settings, egress: PrivateEgress) -> String {
    let resources = inventory(settings, egress);
    let lines = |origin: Origin| -> Vec<String> {
        resources
            .iter()
            .filter(|r| r.origin() == origin)
            .map(|r| format!("  {} {}", r.key(), r.name(settings)))
            .collect()
    };
    let created = lines(Origin::Created);
    let mut text = format!(
        "pave will create {} resources in {} ({}):\n{}",
        created.len(),
        settings.region,
        settings.zone,
        created.join("\n"),
    );
    let adopted = lines(Origin::Adopted);
    if !adopted.is_empty() {
        text.push_str(&format!(
            "\nadopt (the configuration's own; only the subnets' cluster tag is added, and unpave takes it back):\n{}",
            adopted.join("\n")
        ));
    }
    text.push_str(&format!(
        "\nand look up:\n{}\n(`cfcr-aws plan` shows the same with the preflight checks)",
        lines(Origin::LookedUp).join("\n")
    ));
    text
}

pub async fn run(global: &GlobalArgs, args: PaveArgs) -> anyhow::Result<()> {
    let settings = environment::settings(global, args.values).await?;
    environment::warn_open_ssh(&settings);
    let hand_off = HandOffMode::from_flags(args.no_bootstrap, args.director_only);
    // A hand-off that cannot work is refused before anything is created for it.
    hand_off
        .compatibility(&settings)
        .map_err(|e| e.and("Nothing was created"))?;
    let backend = environment::backend(global).await?;
    let _lock = backend.lock(&settings.prefix, "pave").await?;
    let existing = backend.load(&settings.prefix).await?;
    if let Some(loaded) = &existing {
        environment::refuse_recovered(&loaded.state)?;
        environment::refuse_changes(&loaded.state, &settings)?;
    }
    let aws = crate::aws::connect(&settings.region, global.endpoint_url.as_deref()).await?;
    // A state with nothing in it (a pave that stopped before its first create) is a new one.
    let new = existing
        .as_ref()
        .is_none_or(|l| l.state.resources.is_empty() && l.state.creating.is_empty());
    let cluster_tag = existing.as_ref().map(|l| l.state.cluster_tag.clone());
    let survey = network::survey(
        &aws,
        &settings,
        cluster_tag.as_deref().unwrap_or_default(),
        new,
    )
    .await?;
    // The first pave decides how the private subnet gets out; later runs keep to it.
    let egress = match &existing {
        Some(loaded) if !new => loaded.state.private_egress,
        _ => survey.egress,
    };
    let ctx = Ctx {
        aws,
        state: open_state(&backend, &settings, existing, egress, args.yes)?,
        settings,
        templates: crate::templates::Templates::new(global.templates.as_deref())?,
    };
    let resources = inventory(&ctx.settings, egress);
    for note in &survey.notes {
        report::note(note);
    }
    let mut decisions = decide(&ctx, &resources).await?;
    let quotas = !global.skip_quota_check;
    check(
        &ctx,
        &resources,
        &mut decisions,
        new,
        quotas,
        hand_off,
        survey.problems,
    )
    .await?;
    graph::apply(&ctx, &resources, &decisions, global.max_concurrency.into()).await?;

    let outputs = crate::outputs::of(&ctx.state.snapshot());
    report::note(&format!(
        "environment {:?} is paved: bastion {}, Kubernetes API load balancer {}",
        ctx.settings.prefix,
        outputs["bosh_bastion_ip"].as_str().unwrap_or("?"),
        outputs["master_lb_ip_address"].as_str().unwrap_or("?"),
    ));
    let custody = crate::bootstrap::Custody {
        backend: &backend,
        resolve: args.custody.resolve(),
    };
    match hand_off {
        HandOffMode::NoBootstrap => Ok(()),
        mode => super::bootstrap::hand_off(
            global,
            &ctx.state,
            mode == HandOffMode::DirectorOnly,
            &custody,
        ),
    }
}

/// The environment's state: the one loaded, brought to the settings (only the hand-off's can
/// differ, or any while nothing exists yet), or a new one once the operator confirms.
fn open_state(
    backend: &Backend,
    settings: &Settings,
    existing: Option<Loaded>,
    egress: PrivateEgress,
    yes: bool,
) -> anyhow::Result<StateStore> {
    if let Some(paved) = existing {
        let store = backend.open(&settings.prefix, paved);
        store.update(|s| {
            s.settings = settings.clone();
            s.region = settings.region.clone();
            s.private_egress = egress;
        })?;
        return Ok(store);
    }
    if !yes {
        report::note(&creation_summary(settings, egress));
    }
    terminal::confirm(
        &format!(
            "Create CFCR environment {:?} in {}?",
            settings.prefix, settings.region
        ),
        yes,
    )?;
    backend.create(&settings.prefix, new_state(settings, egress)?)
}

/// Refreshes what AWS holds, decides what to do to each resource (as `plan` does), and makes the
/// state say what the decisions imply.
async fn decide(ctx: &Ctx, resources: &[Box<dyn Resource>]) -> anyhow::Result<Decisions> {
    let seen = refresh::observe(ctx, resources).await?;
    let health = refresh::health(ctx, resources, &seen).await?;
    let decisions = decision::decide(&ctx.state.snapshot(), resources, &health);
    graph::prepare(ctx, resources, &decisions)?;
    Ok(decisions)
}

/// The preflight checks of what is to be given an id, after the network survey's `problems`; a new
/// environment that fails them leaves no state. The image they resolve on their way is recorded:
/// its lookup is done.
async fn check(
    ctx: &Ctx,
    resources: &[Box<dyn Resource>],
    decisions: &mut Decisions,
    new: bool,
    quotas: bool,
    hand_off: HandOffMode,
    mut problems: Vec<String>,
) -> anyhow::Result<()> {
    let to_create = decisions.to_create();
    let findings = preflight::check(ctx, resources, &to_create, new, quotas, hand_off).await?;
    for warning in &findings.quota_warnings {
        report::warning(warning);
    }
    problems.extend(findings.problems);
    if !problems.is_empty() {
        if new {
            ctx.state.remove()?;
        }
        return Err(PreflightFailed(problems).into());
    }
    if let Some((name, mut image)) = findings.image {
        report::resource("resolved", Key::BastionImage, &name, &image.id);
        // A data source: nothing follows the lookup.
        image.ready = true;
        ctx.state.record(Key::BastionImage, image)?;
        decisions.carried_out_before(Key::BastionImage);
    }
    Ok(())
}
