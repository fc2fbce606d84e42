//! `cfcr-aws status`: every resource in the state and whether AWS still has it.

use futures::future::join_all;

use crate::cli::{EnvArgs, GlobalArgs};
use crate::resources::{Ctx, inventory};
use crate::state::StateStore;

pub async fn run(global: &GlobalArgs, args: EnvArgs) -> anyhow::Result<()> {
    let env = super::environment(global, &args)?;
    let state = super::existing_state(&global.state_dir, &env)?;
    let settings = state.settings.clone();
    let aws = crate::aws::connect(&state.region, global.endpoint_url.as_deref()).await?;
    let path = crate::state::path_for(&global.state_dir, &env);
    let ctx = Ctx {
        aws,
        settings,
        state: StateStore::open(path, state),
        templates: crate::templates::Templates::new(global.templates.as_deref())?,
    };
    let resources = inventory(&ctx.settings);
    let checks = resources.iter().filter_map(|r| {
        let record = ctx.state.get(r.key())?;
        let ctx = &ctx;
        Some(async move {
            let exists = r.exists(ctx, &record).await;
            (r, record, exists)
        })
    });
    let rows = join_all(checks).await;
    println!("{:<28} {:<30} {:<24} STATUS", "RESOURCE", "NAME", "ID");
    for (resource, record, exists) in rows {
        let status = match exists {
            Ok(true) if record.ready => "present".to_string(),
            Ok(true) => "incomplete (re-run pave)".to_string(),
            Ok(false) => "missing".to_string(),
            Err(e) => format!("unknown ({e:#})"),
        };
        println!(
            "{:<28} {:<30} {:<24} {status}",
            resource.key().to_string(),
            resource.name(&ctx.settings),
            record.id
        );
    }
    Ok(())
}
