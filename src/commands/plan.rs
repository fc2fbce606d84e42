//! `cfcr-aws plan`: what `pave` (or `unpave`, with `--destroy`) would do, resource by resource. It
//! reads AWS (the refresh and the preflight checks) and changes nothing, not even the state file.

use anyhow::bail;
use serde_json::{Value, json};

use super::environment;
use super::terminal::{out, outln};
use crate::cli::{GlobalArgs, PlanArgs};
use crate::hand_off::HandOffMode;
use crate::key::{Key, PrivateEgress};
use crate::preflight::{self, PreflightFailed};
use crate::refresh;
use crate::resources::{Ctx, Health, inventory};
use crate::state::Origin;
use crate::state::{self, StateStore};
use crate::{graph, network, report};

/// `--detailed-exitcode` and there is work to do: exit status 2, no error message.
#[derive(Debug, thiserror::Error)]
#[error("changes are pending")]
pub struct ChangesPending;

/// One line of the plan.
struct Step {
    key: Key,
    name: String,
    id: Option<String>,
    action: &'static str,
    changes: Vec<String>,
}

pub async fn run(global: &GlobalArgs, args: PlanArgs) -> anyhow::Result<()> {
    let backend = environment::backend(global).await?;
    let (settings, existing) = match &args.env {
        Some(env) => {
            let paved = environment::existing_state(&backend, env).await?.state;
            (paved.settings.clone(), Some(paved))
        }
        None => {
            let settings = environment::settings(global, args.values).await?;
            let existing = backend.load(&settings.prefix).await?.map(|l| l.state);
            (settings, existing)
        }
    };
    if let Some(paved) = &existing {
        environment::refuse_recovered(paved)?;
        environment::refuse_changes(paved, &settings)?;
    }
    environment::warn_open_ssh(&settings);
    if args.destroy && existing.is_none() {
        bail!(
            "no state for environment {:?} in {}: nothing to destroy",
            settings.prefix,
            backend.describe()
        );
    }
    let new = existing
        .as_ref()
        .is_none_or(|s| s.resources.is_empty() && s.creating.is_empty());
    // pave's flags, when given; else a paved environment is planned with the hand-off its state
    // shows (none, for one paved with --no-bootstrap), and a new one with pave's default.
    let hand_off = match &existing {
        Some(paved) if !new && !args.no_bootstrap && !args.director_only => {
            HandOffMode::recorded(&paved.bootstrap)
        }
        _ => HandOffMode::from_flags(args.no_bootstrap, args.director_only),
    };
    // An unpave hands nothing off.
    if !args.destroy
        && let Err(refusal) = hand_off.compatibility(&settings)
    {
        report::warning(&format!("pave's hand-off: {refusal}"));
    }
    let aws = crate::aws::connect(&settings.region, global.endpoint_url.as_deref()).await?;
    let survey = if args.destroy {
        network::Survey::default()
    } else {
        let cluster_tag = existing.as_ref().map(|s| s.cluster_tag.as_str());
        network::survey(&aws, &settings, cluster_tag.unwrap_or_default(), new).await?
    };
    let state = match existing {
        Some(state) if !new => state,
        _ => super::pave::new_state(&settings, survey.egress)?,
    };
    // Never saved: plan only reads.
    let path = state::path_for(&global.state_dir, &settings.prefix);
    let ctx = Ctx {
        aws,
        settings,
        state: StateStore::open(path, state),
        templates: crate::templates::Templates::new(global.templates.as_deref())?,
    };
    let resources = inventory(&ctx.settings, ctx.state.snapshot().private_egress);
    // What the environment costs as configured (a destroy plan has nothing to add), priced while
    // the steps are worked out: the Price List API may take seconds. A failed step stops both.
    let own_nat = ctx.state.snapshot().private_egress == PrivateEgress::OwnNatGateway;
    let cost = async {
        if args.destroy {
            return anyhow::Ok(None);
        }
        Ok(Some(
            crate::cost::estimate(&ctx.aws.pricing, &ctx.settings, own_nat, hand_off).await,
        ))
    };
    let steps = async {
        if args.destroy {
            Ok((destroy_steps(&ctx, &resources), Vec::new()))
        } else {
            pave_steps(&ctx, &resources, new, !global.skip_quota_check, hand_off).await
        }
    };
    let ((steps, mut problems), cost) = futures::try_join!(steps, cost)?;
    problems.splice(0..0, survey.problems);
    if args.json {
        let mut plan = as_json(&ctx, &steps, &problems, args.destroy);
        plan["notes"] = json!(survey.notes);
        plan["cost"] = serde_json::to_value(&cost)?;
        outln!("{}", serde_json::to_string_pretty(&plan)?)?;
    } else {
        out!(
            "{}",
            listing(&ctx, &steps, &survey.notes, &problems, args.destroy)
        )?;
        if let Some(cost) = &cost {
            out!("{}", cost.text())?;
        }
    }
    if !problems.is_empty() {
        return Err(PreflightFailed(problems).into());
    }
    if args.detailed_exitcode && !steps.is_empty() {
        return Err(ChangesPending.into());
    }
    Ok(())
}

async fn pave_steps(
    ctx: &Ctx,
    resources: &[Box<dyn crate::resources::Resource>],
    new: bool,
    check_quota: bool,
    hand_off: HandOffMode,
) -> anyhow::Result<(Vec<Step>, Vec<String>)> {
    let seen = refresh::observe(ctx, resources).await?;
    let health = refresh::health(ctx, resources, &seen).await?;
    let missing: Vec<Key> = health
        .iter()
        .filter(|(_, h)| **h == Health::Missing)
        .map(|(k, _)| *k)
        .collect();
    let mut steps = Vec::new();
    for key in graph::sequential_order(resources, false) {
        let resource = resources
            .iter()
            .find(|r| r.key() == key)
            .expect("ordered keys");
        let record = ctx.state.get(key);
        let id = record.as_ref().map(|r| r.id.clone());
        let (action, changes) = match (&record, health.get(&key)) {
            (None, _) => match resource.origin() {
                Origin::Created => ("create", Vec::new()),
                Origin::Adopted => ("adopt", vec![resource.adoption()]),
                Origin::LookedUp => ("look up", Vec::new()),
            },
            (Some(_), Some(Health::Missing)) if resource.origin() == Origin::Adopted => (
                "missing",
                vec![
                    "adopted, and gone from AWS: pave stops here, it does not recreate it"
                        .to_string(),
                ],
            ),
            (Some(_), Some(Health::Missing)) => (
                "create",
                vec!["recorded in the state but gone from AWS".to_string()],
            ),
            (Some(_), Some(Health::Changed(changes))) => ("repair", changes.clone()),
            (Some(r), _) if !r.ready => (
                "finish",
                vec!["a previous run stopped before its follow-up steps".to_string()],
            ),
            (Some(_), _) => {
                let reruns: Vec<String> = resource
                    .needs()
                    .complete
                    .iter()
                    .map(|n| match n {
                        crate::resources::Need::Id(k) | crate::resources::Need::Ready(k) => *k,
                    })
                    .filter(|k| missing.contains(k))
                    .map(|k| format!("its follow-up steps run again for the new {k}"))
                    .collect();
                if reruns.is_empty() {
                    continue;
                }
                ("update", reruns)
            }
        };
        steps.push(Step {
            key,
            name: resource.name(&ctx.settings),
            id,
            action,
            changes,
        });
    }
    let to_create = steps
        .iter()
        .filter(|s| matches!(s.action, "create" | "look up" | "adopt"))
        .map(|s| s.key)
        .collect();
    let findings = preflight::check(ctx, resources, &to_create, new, check_quota, hand_off).await?;
    for warning in &findings.quota_warnings {
        crate::report::warning(warning);
    }
    Ok((steps, findings.problems))
}

fn destroy_steps(ctx: &Ctx, resources: &[Box<dyn crate::resources::Resource>]) -> Vec<Step> {
    graph::sequential_order(resources, true)
        .into_iter()
        .filter_map(|key| {
            let resource = resources.iter().find(|r| r.key() == key)?;
            let record = ctx.state.get(key)?;
            Some(Step {
                key,
                name: resource.name(&ctx.settings),
                id: Some(record.id),
                action: match resource.origin() {
                    Origin::Created => "delete",
                    Origin::Adopted => "keep",
                    Origin::LookedUp => "forget",
                },
                changes: match resource.origin() {
                    Origin::Adopted => vec![resource.adoption()],
                    _ => Vec::new(),
                },
            })
        })
        .collect()
}

fn summary(steps: &[Step]) -> Value {
    let count = |action: &str| steps.iter().filter(|s| s.action == action).count();
    json!({
        "adopt": count("adopt"),
        "create": count("create"),
        "repair": count("repair"),
        "update": count("update") + count("finish"),
        "delete": count("delete"),
    })
}

fn as_json(ctx: &Ctx, steps: &[Step], problems: &[String], destroy: bool) -> Value {
    json!({
        "env": ctx.settings.prefix,
        "region": ctx.settings.region,
        "destroy": destroy,
        "resources": steps.iter().map(|s| json!({
            "resource": s.key.to_string(),
            "name": s.name,
            "id": s.id,
            "action": s.action,
            "changes": s.changes,
        })).collect::<Vec<_>>(),
        "summary": summary(steps),
        "problems": problems,
    })
}

fn listing(
    ctx: &Ctx,
    steps: &[Step],
    notes: &[String],
    problems: &[String],
    destroy: bool,
) -> String {
    let what = if destroy { "unpave" } else { "pave" };
    let mut text = format!(
        "{what} of environment {:?} in {}:\n",
        ctx.settings.prefix, ctx.settings.region
    );
    if steps.is_empty() {
        text.push_str("  nothing to do: AWS matches the state\n");
    }
    for step in steps {
        let sign = match step.action {
            "create" | "look up" => '+',
            "adopt" => '=',
            "delete" | "forget" => '-',
            "keep" => ' ',
            "missing" => '!',
            _ => '~',
        };
        let id = step
            .id
            .as_deref()
            .map(|id| format!(" ({id})"))
            .unwrap_or_default();
        text.push_str(&format!(
            "  {sign} {:<8} {:<28} {}{id}\n",
            step.action,
            step.key.to_string(),
            step.name
        ));
        for change in &step.changes {
            text.push_str(&format!("               {change}\n"));
        }
    }
    let counts = summary(steps);
    let adopt = match counts["adopt"].as_u64() {
        Some(0) | None => String::new(),
        Some(n) => format!("{n} to adopt, "),
    };
    text.push_str(&format!(
        "Plan: {adopt}{} to create, {} to repair, {} to update, {} to delete.\n",
        counts["create"], counts["repair"], counts["update"], counts["delete"]
    ));
    for note in notes {
        text.push_str(&format!("Note: {note}\n"));
    }
    for problem in problems {
        text.push_str(&format!("Problem: {problem}\n"));
    }
    text
}
