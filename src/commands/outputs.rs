//! `cfcr-aws outputs`: the environment's values, from the state alone (no AWS calls).

use crate::cli::{GlobalArgs, OutputsArgs};

pub fn run(global: &GlobalArgs, args: OutputsArgs) -> anyhow::Result<()> {
    let env = super::environment(global, &args.env)?;
    let state = super::existing_state(&global.state_dir, &env)?;
    let outputs = crate::outputs::of(&state);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outputs)?);
    } else {
        print!("{}", crate::outputs::listing(&outputs));
    }
    Ok(())
}
