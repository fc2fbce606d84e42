//! `cfcr-aws status`: every resource in the state and how AWS has it now.

use super::environment;
use super::terminal::outln;
use crate::cli::{EnvArgs, GlobalArgs};
use crate::director::Director;
use crate::refresh;
use crate::resources::{Ctx, Health, inventory};
use crate::state::{Origin, Step};

pub async fn run(global: &GlobalArgs, args: EnvArgs) -> anyhow::Result<()> {
    let env = environment::environment(global, &args)?;
    let backend = environment::backend(global).await?;
    let loaded = environment::existing_state(&backend, &env).await?;
    let settings = loaded.state.settings.clone();
    let aws = crate::aws::connect(&loaded.state.region, global.endpoint_url.as_deref()).await?;
    let ctx = Ctx {
        aws,
        settings,
        state: backend.open(&env, loaded),
        templates: crate::templates::Templates::new(global.templates.as_deref())?,
    };
    let director = director(&ctx, &backend).await?;
    let resources = inventory(&ctx.settings, ctx.state.snapshot().private_egress);
    let seen = refresh::observe(&ctx, &resources).await?;
    let health = refresh::health(&ctx, &resources, &seen).await?;
    let mut rows = vec![[
        "RESOURCE".to_string(),
        "NAME".to_string(),
        "ID".to_string(),
        "STATUS".to_string(),
    ]];
    let mut drift = false;
    for resource in &resources {
        let Some(record) = ctx.state.get(resource.key()) else {
            continue;
        };
        let status = match health.get(&resource.key()) {
            None => "incomplete (re-run pave)".to_string(),
            Some(Health::Present) if record.origin == Origin::Adopted => {
                "present (adopted)".to_string()
            }
            Some(Health::Present) => "present".to_string(),
            Some(Health::Missing) if record.origin == Origin::Adopted => {
                "missing (adopted: pave will not recreate it)".to_string()
            }
            Some(Health::Missing) => "missing".to_string(),
            Some(Health::Changed(changes)) => format!("changed: {}", changes.join("; ")),
        };
        drift |= !status.starts_with("present");
        rows.push([
            resource.key().to_string(),
            resource.name(&ctx.settings),
            record.id,
            status,
        ]);
    }
    // Columns as wide as their longest value: ARNs and image patterns are long.
    let width = |column: usize| rows.iter().map(|r| r[column].len()).max().unwrap_or(0);
    let widths = [width(0), width(1), width(2)];
    for [key, name, id, status] in &rows {
        outln!(
            "{key:<w0$}  {name:<w1$}  {id:<w2$}  {status}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )?;
    }
    for line in &director.lines {
        outln!("{line}")?;
    }
    // Documented: 2 when anything is missing, changed or incomplete (pave would act), like plan's
    // --detailed-exitcode; or when the director and custody disagree.
    if drift || director.disagrees {
        return Err(super::plan::ChangesPending.into());
    }
    Ok(())
}

/// What `status` says of the BOSH director: what custody holds (when, by which step), and whether
/// AWS still has the VM and disks custody's copy of its state names.
struct DirectorStatus {
    lines: Vec<String>,
    /// The director and custody disagree: the operator has something to do.
    disagrees: bool,
}

async fn director(ctx: &Ctx, backend: &crate::state::Backend) -> anyhow::Result<DirectorStatus> {
    let state = ctx.state.snapshot();
    let held = &state.bootstrap.custody;
    let place = backend.custody_place(&state.env);
    let mut lines = Vec::new();
    if held.is_empty() {
        if state.bootstrap.reached(Step::DeployBosh) {
            lines.push(format!(
                "director: custody holds none of its files ({place}); the next `cfcr-aws bootstrap` takes them from the bastion"
            ));
        }
        return Ok(DirectorStatus {
            lines,
            disagrees: false,
        });
    }
    for (name, record) in held {
        lines.push(format!(
            "director: {name} in custody ({place}): {} bytes, SHA-256 {}, written {} by {} on {}",
            record.size, record.sha256, record.written_at, record.step, record.bastion
        ));
    }
    let Some(bytes) = crate::custody::read(backend, &state, crate::custody::DIRECTOR_STATE)? else {
        return Ok(DirectorStatus {
            lines,
            disagrees: false,
        });
    };
    let ids = Director::parse(&bytes)?;
    let mut disagrees = false;
    if ids.is_empty() {
        lines.push("director: custody's state names no VM or disk (deleted)".into());
    }
    for (what, id, present) in crate::director::observe(&ctx.aws, &ids).await? {
        let verdict = if present {
            "present"
        } else {
            disagrees = true;
            "missing: custody's state names it but AWS has none; if the director was deleted by hand, `cfcr-aws bootstrap` creates it again from custody's state (create-env notices the VM is gone)"
        };
        lines.push(format!("director: {what} {id}: {verdict}"));
    }
    Ok(DirectorStatus { lines, disagrees })
}
