//! What every command starts from: the environment it acts on, its settings, where its state is,
//! and the state itself.

use std::path::Path;

use anyhow::bail;

use crate::cli::{EnvArgs, GlobalArgs};
use crate::config::{ConfigValues, Settings, ValidationError, validate_prefix};
use crate::report;
use crate::state::{Backend, BucketElsewhere, Loaded, S3Location, S3Store, State};

/// The config file named by `--config`, or `./cfcr-aws.toml` if there is one.
pub(super) fn config_file(global: &GlobalArgs) -> Result<ConfigValues, ValidationError> {
    match &global.config {
        Some(path) => ConfigValues::load(path, true),
        None => ConfigValues::load(Path::new("cfcr-aws.toml"), false),
    }
}

/// The validated settings from the config file and the flags that override it.
pub(super) async fn settings(global: &GlobalArgs, flags: ConfigValues) -> anyhow::Result<Settings> {
    let values = flags.overriding(config_file(global)?);
    let chain_region = match values.region {
        Some(_) => None,
        None => crate::aws::chain_region().await,
    };
    Ok(Settings::validate(values, chain_region)?)
}

/// The environment a command acts on: `--env`, or the config file's prefix.
pub(super) fn environment(global: &GlobalArgs, args: &EnvArgs) -> anyhow::Result<String> {
    let env = match &args.env {
        Some(env) => env.clone(),
        None => config_file(global)?.prefix.ok_or_else(|| ValidationError {
            field: "env".into(),
            problem: "no environment named: pass --env NAME, or run where cfcr-aws.toml sets prefix (or pass --config FILE)".into(),
        })?,
    };
    validate_prefix(&env)?;
    Ok(env)
}

/// Warns of a bastion open to the whole internet; said by `pave` and `plan` alike.
pub(super) fn warn_open_ssh(settings: &Settings) {
    if settings.ssh_open_to_world() {
        report::warning(
            "ssh_allowed_cidrs includes 0.0.0.0/0: the bastion's SSH port is open to the whole internet; list your own networks instead",
        );
    }
}

/// Refuses settings that differ from a paved environment's in what cannot change in place. While
/// nothing exists (a pave that stopped before its first create), anything may change.
pub(super) fn refuse_changes(paved: &State, settings: &Settings) -> anyhow::Result<()> {
    if paved.resources.is_empty() && paved.creating.is_empty() {
        return Ok(());
    }
    let changed = paved.settings.differences(settings);
    if changed.is_empty() {
        return Ok(());
    }
    bail!(
        "the configuration differs from the paved environment {:?} in: {}. Those cannot be changed in place (they would replace the network or the environment): restore those values, or unpave and pave again",
        settings.prefix,
        changed.join("; ")
    )
}

/// Where the states are: `--state`, the config file's `state`, or the local state directory. An
/// S3 bucket is checked (exists, versioned) before anything else happens.
pub(super) async fn backend(global: &GlobalArgs) -> anyhow::Result<Backend> {
    let location = state_location(global)?;
    backend_at(global, location.as_deref()).await
}

/// Where the states are, as given: `--state`, else the config file's `state`; `None`: locally.
pub(super) fn state_location(global: &GlobalArgs) -> Result<Option<String>, ValidationError> {
    Ok(match &global.state {
        Some(url) => Some(url.clone()),
        None => config_file(global)?.state,
    })
}

/// An `s3://BUCKET/PREFIX` location, or bad input naming the `state` key.
pub(super) fn parse_location(url: &str) -> Result<S3Location, ValidationError> {
    S3Location::parse(url).map_err(|e| ValidationError {
        field: "state".into(),
        problem: format!("{e:#}; use s3://BUCKET/PREFIX"),
    })
}

/// The backend at `location` (`None`: the local state directory).
pub(super) async fn backend_at(
    global: &GlobalArgs,
    location: Option<&str>,
) -> anyhow::Result<Backend> {
    let Some(url) = location else {
        return Ok(Backend::Local {
            dir: global.state_dir.clone(),
        });
    };
    // The state directory may never be made: the last error is kept there all the same.
    crate::last_error::state_elsewhere();
    let location = parse_location(url)?;
    let region = match crate::aws::chain_region().await {
        Some(region) => region,
        None => config_file(global)?
            .region
            .unwrap_or_else(|| "us-east-1".to_string()),
    };
    let kms_key = config_file(global)?.state_kms_key;
    let store = S3Store {
        client: crate::aws::s3_client(&region, global.endpoint_url.as_deref()).await?,
        location: location.clone(),
        kms_key: kms_key.clone(),
    };
    let err = match store.bucket_exists(&region).await {
        Ok(exists) => {
            return Backend::remote(store, exists, global.create_state_bucket, &region);
        }
        Err(err) => err,
    };
    // A bucket in another region: its requests go there (the environment's region is unchanged).
    let Some(elsewhere) = err.downcast_ref::<BucketElsewhere>() else {
        return Err(err);
    };
    let bucket_region = elsewhere.region.clone();
    report::note(&format!("{elsewhere}: reading and writing the state there"));
    let store = S3Store {
        client: crate::aws::s3_client(&bucket_region, global.endpoint_url.as_deref()).await?,
        location,
        kms_key,
    };
    let exists = store.bucket_exists(&bucket_region).await?;
    Backend::remote(store, exists, false, &bucket_region)
}

/// The state of an environment that must exist.
pub(super) async fn existing_state(backend: &Backend, env: &str) -> anyhow::Result<Loaded> {
    match backend.load(env).await? {
        Some(loaded) => {
            refuse_recovered(&loaded.state)?;
            Ok(loaded)
        }
        None => bail!(
            "no state for environment {env:?} in {}; pave it first, or {}",
            backend.describe(),
            backend.elsewhere_hint()
        ),
    }
}

/// A state rebuilt from AWS by an unpave without one holds no settings of the environment (they
/// were lost): acting on it would "repair" the environment from defaults. Only unpave uses it.
pub(super) fn refuse_recovered(state: &State) -> anyhow::Result<()> {
    if state.recovered {
        bail!(
            "the state of {:?} was rebuilt from AWS by `unpave` after the original was lost, and knows none of the environment's settings; finish with `cfcr-aws unpave --env {}`",
            state.env,
            state.env
        );
    }
    Ok(())
}
