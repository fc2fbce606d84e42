//! `cfcr-aws policy`: the operator's IAM policy for the configured environment (see
//! `crate::policy`). Sends nothing to AWS.

use crate::cli::{GlobalArgs, PolicyArgs};
use crate::report;

pub async fn run(global: &GlobalArgs, args: PolicyArgs) -> anyhow::Result<()> {
    let settings = super::settings(global, args.values).await?;
    let state = super::state_location(global)?
        .map(|url| super::parse_location(&url))
        .transpose()?;
    let document = crate::policy::document(&settings, state.as_ref());
    if args.json {
        let out = serde_json::json!({
            "env": settings.prefix,
            "region": settings.region,
            "policy": document,
            "actions": crate::policy::actions(&document),
        });
        super::outln!("{out}")?;
    } else {
        super::outln!("{}", serde_json::to_string_pretty(&document)?)?;
        report::note(&format!(
            "attach it to the operator's role or user, e.g. aws iam create-policy --policy-name cfcr-aws-{} --policy-document file://policy.json (docs/permissions.md says what each statement is for)",
            settings.prefix
        ));
    }
    Ok(())
}
