//! `cfcr-aws pave`: create, adopt or finish every resource of the environment.

use std::collections::BTreeSet;

use super::environment;
use super::terminal;
use crate::cli::{GlobalArgs, PaveArgs};
use crate::config::Settings;
use crate::hand_off::HandOffMode;
use crate::key::{Key, PrivateEgress};
use crate::preflight::{self, PreflightFailed};
use crate::resources::{Ctx, inventory};
use crate::state::{Origin, SCHEMA_VERSION, State};
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
    let store = match existing {
        Some(paved) => {
            let store = backend.open(&settings.prefix, paved);
            // Only the hand-off's settings can differ here (or any, while nothing exists yet).
            store.update(|s| {
                s.settings = settings.clone();
                s.region = settings.region.clone();
                s.private_egress = egress;
            })?;
            store
        }
        None => {
            if !args.yes {
                report::note(&creation_summary(&settings, egress));
            }
            terminal::confirm(
                &format!(
                    "Create CFCR environment {:?} in {}?",
                    settings.prefix, settings.region
                ),
                args.yes,
            )?;
            backend.create(&settings.prefix, new_state(&settings, egress)?)?
        }
    };
    let ctx = Ctx {
        aws,
        settings,
        state: store,
        templates: crate::templates::Templates::new(global.templates.as_deref())?,
    };
    let resources = inventory(&ctx.settings, egress);
    for note in &survey.notes {
        report::note(note);
    }
    let seen = refresh::observe(&ctx, &resources).await?;
    let health = refresh::health(&ctx, &resources, &seen).await?;
    graph::prepare(&ctx, &resources, &health)?;
    let to_create: BTreeSet<Key> = resources
        .iter()
        .map(|r| r.key())
        .filter(|k| ctx.state.get(*k).is_none())
        .collect();
    let mut findings = preflight::check(
        &ctx,
        &resources,
        &to_create,
        new,
        !global.skip_quota_check,
        hand_off,
    )
    .await?;
    for warning in &findings.quota_warnings {
        report::warning(warning);
    }
    findings.problems.splice(0..0, survey.problems);
    if !findings.problems.is_empty() {
        if new {
            ctx.state.remove()?;
        }
        return Err(PreflightFailed(findings.problems).into());
    }
    if let Some((name, mut image)) = findings.image {
        report::resource("resolved", Key::BastionImage, &name, &image.id);
        // A data source: nothing follows the lookup.
        image.ready = true;
        ctx.state.record(Key::BastionImage, image)?;
    }
    graph::apply(&ctx, &resources, &health, global.max_concurrency.into()).await?;

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
