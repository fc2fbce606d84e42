//! `cfcr-aws policy`: the operator's IAM policy for the configured environment (see
//! `crate::policy`). Sends nothing to AWS but, with the state in S3, the read of the state.

use anyhow::Context;

use super::environment;
use super::terminal::outln;
use crate::aws::retry::AwsError;
use crate::cli::{GlobalArgs, PolicyArgs};
use crate::config::Settings;
use crate::key::Key;
use crate::policy::Paved;
use crate::report;
use crate::state::{Backend, S3Location, S3Store, State};

pub async fn run(global: &GlobalArgs, args: PolicyArgs) -> anyhow::Result<()> {
    let settings = environment::settings(global, args.values).await?;
    let location = environment::state_location(global)?
        .map(|url| environment::parse_location(&url))
        .transpose()?;
    let state = read_state(global, &settings, location.as_ref()).await?;
    let paved = Paved {
        vpc_id: settings.vpc_id.clone().or_else(|| {
            state
                .as_ref()
                .and_then(|s| s.resources.get(&Key::Vpc))
                .map(|vpc| vpc.id.clone())
        }),
        // Empty in a state recovered without one.
        cluster_tag: state.map(|s| s.cluster_tag).filter(|tag| !tag.is_empty()),
    };
    let kms_key = environment::config_file(global)?.state_kms_key;
    let document =
        crate::policy::document(&settings, location.as_ref(), kms_key.as_deref(), &paved);
    let mut left_out = Vec::new();
    if paved.cluster_tag.is_none() {
        left_out.push("of what Kubernetes made (scoped to the cluster tag's value)");
    }
    if paved.vpc_id.is_none() {
        left_out.push("of load balancer interfaces (scoped to the environment's VPC)");
    }
    if !left_out.is_empty() {
        report::note(&format!(
            "{:?} is not paved yet: unpave's deletes {} are left out; print the policy again after the first pave (docs/permissions.md)",
            settings.prefix,
            left_out.join(" and ")
        ));
    }
    if args.json {
        let out = serde_json::json!({
            "env": settings.prefix,
            "region": settings.region,
            "policy": document,
            "actions": crate::policy::actions(&document),
        });
        outln!("{out}")?;
    } else {
        outln!("{}", serde_json::to_string_pretty(&document)?)?;
        report::note(&format!(
            "attach it to the operator's role or user, e.g. aws iam create-policy --policy-name cfcr-aws-{} --policy-document file://policy.json (docs/permissions.md says what each statement is for)",
            settings.prefix
        ));
    }
    Ok(())
}

/// The environment's state, if it has one: read, never locked or written. A missing state bucket
/// is no state yet.
async fn read_state(
    global: &GlobalArgs,
    settings: &Settings,
    location: Option<&S3Location>,
) -> anyhow::Result<Option<State>> {
    let env = &settings.prefix;
    let Some(location) = location else {
        let path = crate::state::path_for(&global.state_dir, env);
        return crate::state::load(&path);
    };
    let read = |region: String| async move {
        let store = S3Store {
            client: crate::aws::s3_client(&region, global.endpoint_url.as_deref()).await?,
            location: location.clone(),
            kms_key: None,
        };
        Backend::S3(store).load(env).await
    };
    let loaded = match read(settings.region.clone()).await {
        // S3 names the region of a bucket asked for in another.
        Err(e) => match e
            .downcast_ref::<AwsError>()
            .and_then(|e| e.bucket_region.clone())
        {
            Some(region) => read(region).await,
            None => Err(e),
        },
        ok => ok,
    }
    .context("reading the environment's state, whose VPC and cluster tag the policy names")?;
    Ok(loaded.map(|l| l.state))
}
