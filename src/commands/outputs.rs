//! `cfcr-aws outputs`: the environment's values, from the state alone (no AWS calls).

use super::environment;
use super::terminal::{out, outln};
use crate::cli::{GlobalArgs, OutputsArgs};
use crate::config::ValidationError;
use crate::outputs::{self, Format};

pub async fn run(global: &GlobalArgs, args: OutputsArgs) -> anyhow::Result<()> {
    let env = environment::environment(global, &args.env)?;
    let state = environment::existing_state(&environment::backend(global).await?, &env)
        .await?
        .state;
    let all = outputs::of(&state);
    if let Some(name) = &args.name {
        let value = all.get(name.as_str()).ok_or_else(|| ValidationError {
            field: "NAME".into(),
            problem: format!(
                "no output {name:?}; the outputs are: {}",
                all.keys().copied().collect::<Vec<_>>().join(", ")
            ),
        })?;
        outln!("{}", outputs::raw(value))?;
        return Ok(());
    }
    let format = if args.json { Format::Json } else { args.format };
    out!("{}", outputs::render(&all, format))?;
    Ok(())
}
