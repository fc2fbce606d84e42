//! `cfcr-aws plan`: what `pave` (or `unpave`, with `--destroy`) would do, resource by resource. It
//! reads AWS (the refresh and the preflight checks) and changes nothing, not even the state file.

use anyhow::bail;
use serde_json::{Value, json};

use super::environment;
use super::terminal::{out, outln};
use crate::cli::{GlobalArgs, PlanArgs};
use crate::config::Settings;
use crate::cost::Estimate;
use crate::decision::{self, Action};
use crate::hand_off::HandOffMode;
use crate::key::{Key, PrivateEgress};
use crate::preflight::{self, PreflightFailed};
use crate::refresh;
use crate::resources::{Ctx, Resource, inventory};
use crate::state::{self, Backend, Origin, State, StateStore};
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
    let (settings, existing) = load(global, &backend, &args).await?;
    let new = existing
        .as_ref()
        .is_none_or(|s| s.resources.is_empty() && s.creating.is_empty());
    let hand_off = hand_off(&args, existing.as_ref(), new, &settings);
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
    print(&ctx, &args, &steps, &survey.notes, &problems, cost.as_ref())?;
    if !problems.is_empty() {
        return Err(PreflightFailed(problems).into());
    }
    if args.detailed_exitcode && !steps.is_empty() {
        return Err(ChangesPending.into());
    }
    Ok(())
}

/// The settings to plan with and the environment's state, if it has one: `--env`'s as paved, or
/// the configuration's, refused as pave would refuse them.
async fn load(
    global: &GlobalArgs,
    backend: &Backend,
    args: &PlanArgs,
) -> anyhow::Result<(Settings, Option<State>)> {
    let (settings, existing) = match &args.env {
        Some(env) => {
            let paved = environment::existing_state(backend, env).await?.state;
            (paved.settings.clone(), Some(paved))
        }
        None => {
            let settings = environment::settings(global, args.values.clone()).await?;
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
    Ok((settings, existing))
}

/// pave's flags, when given; else a paved environment is planned with the hand-off its state
/// shows (none, for one paved with --no-bootstrap), and a new one with pave's default. One that
/// cannot work is warned of (an unpave hands nothing off).
fn hand_off(
    args: &PlanArgs,
    existing: Option<&State>,
    new: bool,
    settings: &Settings,
) -> HandOffMode {
    let mode = match existing {
        Some(paved) if !new && !args.no_bootstrap && !args.director_only => {
            HandOffMode::recorded(&paved.bootstrap)
        }
        _ => HandOffMode::from_flags(args.no_bootstrap, args.director_only),
    };
    if !args.destroy
        && let Err(refusal) = mode.compatibility(settings)
    {
        report::warning(&format!("pave's hand-off: {refusal}"));
    }
    mode
}

/// The plan on standard output: a listing, or one JSON object with `--json`.
fn print(
    ctx: &Ctx,
    args: &PlanArgs,
    steps: &[Step],
    notes: &[String],
    problems: &[String],
    cost: Option<&Estimate>,
) -> anyhow::Result<()> {
    if args.json {
        let mut plan = as_json(ctx, steps, problems, args.destroy);
        plan["notes"] = json!(notes);
        plan["cost"] = serde_json::to_value(cost)?;
        outln!("{}", serde_json::to_string_pretty(&plan)?)?;
    } else {
        out!("{}", listing(ctx, steps, notes, problems, args.destroy))?;
        if let Some(cost) = cost {
            out!("{}", cost.text())?;
        }
    }
    Ok(())
}

/// pave's decisions, one line each in creation order, and the preflight checks' problems with what
/// they would create.
async fn pave_steps(
    ctx: &Ctx,
    resources: &[Box<dyn Resource>],
    new: bool,
    check_quota: bool,
    hand_off: HandOffMode,
) -> anyhow::Result<(Vec<Step>, Vec<String>)> {
    let seen = refresh::observe(ctx, resources).await?;
    let health = refresh::health(ctx, resources, &seen).await?;
    let decisions = decision::decide(&ctx.state.snapshot(), resources, &health);
    let steps = graph::sequential_order(resources, false)
        .into_iter()
        .filter_map(|key| {
            let resource = resources.iter().find(|r| r.key() == key)?;
            step(ctx, resource.as_ref(), decisions.of(key))
        })
        .collect();
    let to_create = decisions.to_create();
    let findings = preflight::check(ctx, resources, &to_create, new, check_quota, hand_off).await?;
    for warning in &findings.quota_warnings {
        report::warning(warning);
    }
    Ok((steps, findings.problems))
}

/// The line of one decision; none when there is nothing to do.
fn step(ctx: &Ctx, resource: &dyn Resource, action: &Action) -> Option<Step> {
    let reran = |keys: &[Key]| -> Vec<String> {
        keys.iter()
            .map(|k| format!("its follow-up steps run again for the new {k}"))
            .collect()
    };
    let changes = match action {
        Action::Unchanged => return None,
        Action::Create | Action::Recover | Action::LookUp => Vec::new(),
        Action::Adopt => vec![resource.adoption()],
        Action::Recreate => vec!["recorded in the state but gone from AWS".to_string()],
        Action::Refuse => {
            vec!["adopted, and gone from AWS: pave stops here, it does not recreate it".to_string()]
        }
        Action::Repair { changes, reruns } => [changes.clone(), reran(reruns)].concat(),
        Action::Finish => vec!["a previous run stopped before its follow-up steps".to_string()],
        Action::Update(reruns) => reran(reruns),
    };
    let key = resource.key();
    Some(Step {
        key,
        name: resource.name(&ctx.settings),
        id: ctx.state.get(key).map(|r| r.id),
        action: action.word(),
        changes,
    })
}

fn destroy_steps(ctx: &Ctx, resources: &[Box<dyn Resource>]) -> Vec<Step> {
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
