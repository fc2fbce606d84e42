//! `cfcr-aws status`: every resource in the state and how AWS has it now.

use crate::cli::{EnvArgs, GlobalArgs};
use crate::refresh::{self, Health};
use crate::resources::{Ctx, inventory};

pub async fn run(global: &GlobalArgs, args: EnvArgs) -> anyhow::Result<()> {
    let env = super::environment(global, &args)?;
    let backend = super::backend(global).await?;
    let loaded = super::existing_state(&backend, &env).await?;
    let settings = loaded.state.settings.clone();
    let aws = crate::aws::connect(&loaded.state.region, global.endpoint_url.as_deref()).await?;
    let ctx = Ctx {
        aws,
        settings,
        state: backend.open(&env, loaded),
        templates: crate::templates::Templates::new(global.templates.as_deref())?,
    };
    let resources = inventory(&ctx.settings);
    let seen = refresh::observe(&ctx, &resources).await?;
    let health = refresh::health(&ctx, &resources, &seen).await?;
    println!("{:<28} {:<34} {:<24} STATUS", "RESOURCE", "NAME", "ID");
    for resource in &resources {
        let Some(record) = ctx.state.get(resource.key()) else {
            continue;
        };
        let status = match health.get(&resource.key()) {
            None => "incomplete (re-run pave)".to_string(),
            Some(Health::Present) => "present".to_string(),
            Some(Health::Missing) => "missing".to_string(),
            Some(Health::Changed(changes)) => format!("changed: {}", changes.join("; ")),
        };
        println!(
            "{:<28} {:<34} {:<24} {status}",
            resource.key().to_string(),
            resource.name(&ctx.settings),
            record.id
        );
    }
    Ok(())
}
