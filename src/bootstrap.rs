//! The hand-off to the bastion: render the bundle from `templates/bundle`, upload it to
//! `~/cfcr-manifests` with the deployer key, and run its steps there — `bosh create-env`, the
//! stemcell, the cloud config, the CFCR deploy, the add-ons errand — recording each step in the state
//! so a re-run resumes at the step that failed. The teardown undoes it before `unpave`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::config::{DirectorCredentials, DirectorNetwork};
use crate::custody::Resolve;
use crate::outputs;
use crate::report;
use crate::ssh::Bastion;
use crate::state::{Backend, State, StateStore, Step, StepStatus};
use crate::templates::{BUNDLE_DIR, RenderedFile, Templates};

/// How long a freshly booted bastion may take to accept SSH.
const REACHABLE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long to wait for a bastion that has answered before (a step has run on it): it is not
/// booting, so a longer silence means it is unreachable from here.
const ANSWERED_BEFORE_TIMEOUT: Duration = Duration::from_secs(60);

/// A hand-off step that failed on the bastion.
#[derive(Debug, thiserror::Error)]
#[error(
    "bastion step {step} failed ({status}); its log is ~/{BUNDLE_DIR}/logs/{step}.log on the bastion. Fix the cause and run `cfcr-aws bootstrap` to resume at this step"
)]
pub struct StepFailed {
    pub step: &'static str,
    pub status: String,
}

/// Everything the bundle's templates may refer to.
pub fn context(state: &State) -> Value {
    let settings = &state.settings;
    let network = state.director_network();
    let address = |pick: fn(&DirectorNetwork) -> String| network.as_ref().map(pick);
    let mut ctx = serde_json::to_value(outputs::of(state)).expect("outputs serialise");
    let map = ctx.as_object_mut().expect("outputs are an object");
    let mut extra = json!({
        "internal_cidr": address(|n| n.internal_cidr.to_string()),
        "internal_gw": address(|n| n.internal_gw.to_string()),
        "internal_ip": address(|n| n.internal_ip.to_string()),
        "dns_recursor_ip": address(|n| n.dns_recursor_ip.to_string()),
    });
    let bootstrap = serde_json::to_value(&settings.bootstrap).expect("settings serialise");
    for (key, value) in bootstrap.as_object().expect("an object") {
        extra[key] = value.clone();
    }
    let (cluster_http_tokens, _) = settings.bootstrap.cluster_http_tokens();
    extra["cluster_http_tokens"] = json!(cluster_http_tokens);
    let line = crate::compat::kubo_line(&settings.bootstrap.kubo_deployment_ref)
        .unwrap_or(crate::compat::DEFAULT_KUBO_LINE);
    // A mirror holds each release as `<name>-release-<version>.tgz` (docs/bootstrap.md).
    extra["mirrored_releases"] = json!(
        line.source_releases
            .iter()
            .map(|(name, version)| json!({"name": name, "file": format!("{name}-release-{version}.tgz")}))
            .collect::<Vec<_>>()
    );
    extra["cfcr_stemcell_local"] = json!(
        settings
            .bootstrap
            .cfcr_stemcell
            .as_ref()
            .is_some_and(|s| s.is_local())
    );
    if settings.director_credentials == DirectorCredentials::AccessKey {
        let key = state.director_access_key.as_ref();
        extra["aws_access_key_id"] = json!(key.map(|k| k.access_key_id.as_str()));
        extra["aws_secret_access_key"] = json!(key.map(|k| k.secret_access_key.as_str()));
    }
    for (key, value) in extra.as_object().expect("an object") {
        map.insert(key.clone(), value.clone());
    }
    ctx
}

/// The rendered bundle, as it is uploaded to `~/cfcr-manifests`.
pub fn render(state: &State, templates: &Templates) -> anyhow::Result<Vec<RenderedFile>> {
    let ctx = context(state);
    templates.bundle(&ctx)
}

/// The upload: the bundle under `cfcr-manifests/` and the deployer key as `deployer.pem`.
fn archive(state: &State, files: &[RenderedFile]) -> anyhow::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, contents: &[u8], mode: u32| -> anyhow::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(mode);
        header.set_mtime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        );
        header.set_cksum();
        tar.append_data(&mut header, path, contents)
            .with_context(|| format!("archiving {path}"))
    };
    add(&format!("{BUNDLE_DIR}/"), &[], 0o700)?;
    for file in files {
        let path = format!("{BUNDLE_DIR}/{}", file.path.display());
        add(&path, file.contents.as_bytes(), file.mode)?;
    }
    // OpenSSH's own format, for reaching BOSH VMs from the bastion (`bosh ssh --gw-private-key`).
    add(
        "deployer.pem",
        state.deployer_key.private_key.as_bytes(),
        0o600,
    )?;
    Ok(tar.into_inner()?)
}

/// Uploads the current bundle (cheap, and it may have changed since the last run); the files it
/// uploaded.
fn upload(
    state: &State,
    templates: &Templates,
    bastion: &Bastion,
) -> anyhow::Result<Vec<RenderedFile>> {
    let timeout = if state.bootstrap.steps.is_empty() {
        REACHABLE_TIMEOUT
    } else {
        ANSWERED_BEFORE_TIMEOUT
    };
    bastion.wait_until_reachable(timeout)?;
    let files = render(state, templates)?;
    bastion.upload(&archive(state, &files)?)?;
    report::note(&format!(
        "uploaded the bundle ({} files) to ~/{BUNDLE_DIR} on the bastion",
        files.len()
    ));
    Ok(files)
}

/// The files of the bundle a step's result depends on, for the steps that run again when those
/// change: `install-tools` (which tools, which refs), `deploy-bosh` (the director's arguments and
/// the project's ops-files it names; the bosh-deployment ref is in install-tools.sh).
fn inputs_of(step: Step) -> &'static [&'static str] {
    match step {
        Step::InstallTools => &["install-tools.sh"],
        Step::DeployBosh => &[
            "install-tools.sh",
            "director-args.sh",
            "ops-files/director-size-aws.yml",
            "ops-files/imdsv2.yml",
            "ops-files/director-tags.yml",
        ],
        _ => &[],
    }
}

/// The digest of `step`'s inputs in `files`; `None` for a step that does not run again.
fn inputs_digest(step: Step, files: &[RenderedFile]) -> Option<String> {
    let names = inputs_of(step);
    if names.is_empty() {
        return None;
    }
    let mut all = Vec::new();
    for file in files
        .iter()
        .filter(|f| names.iter().any(|n| f.path == Path::new(n)))
    {
        all.extend_from_slice(file.path.to_string_lossy().as_bytes());
        all.push(0);
        all.extend_from_slice(file.contents.as_bytes());
        all.push(0);
    }
    Some(crate::custody::sha256(&all))
}

/// Why a step recorded as done must run again, if it must: its inputs changed (new tools or refs,
/// another director stack: `create-env` updates the director custody's state describes), or the
/// machine it ran on is another bastion than this one (what it installed is not there).
fn run_again(state: &State, step: Step, files: &[RenderedFile]) -> Option<String> {
    let progress = &state.bootstrap;
    if let (Some(now), Some(then)) = (inputs_digest(step, files), progress.inputs.get(&step))
        && &now != then
    {
        return Some("what it runs with changed".into());
    }
    let here = crate::custody::bastion_record(state);
    match progress.ran_on.get(&step) {
        Some(there) if step == Step::InstallTools && there.instance_id != here.instance_id => {
            Some(format!(
                "it ran on bastion {}, and this is {}",
                there.instance_id, here.instance_id
            ))
        }
        _ => None,
    }
}

fn run_step(bastion: &Bastion, step: &'static str, args: &str) -> anyhow::Result<()> {
    report::note(&format!("bastion: {step} {args}"));
    let status = bastion.run(&format!("\"$HOME/{BUNDLE_DIR}/run-step.sh\" {step} {args}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(StepFailed {
            step,
            status: status.to_string(),
        }
        .into())
    }
}

/// Where the director's files are kept, and which copy wins when the bastion's differ.
pub struct Custody<'a> {
    pub backend: &'a Backend,
    pub resolve: Resolve,
}

/// Runs every step not yet done, in order; each is recorded as started before it runs and done
/// after it succeeds. Before any step, the bastion's copies of the director's files are checked
/// against custody's (restored to a new bastion), and after `create-env` they go into custody.
/// With `director_only`, the cluster's steps are left out. The compatibility check comes first:
/// nothing runs on the bastion when the hand-off cannot work.
pub fn run(
    store: &StateStore,
    templates: &Templates,
    bastion: &Bastion,
    director_only: bool,
    custody: &Custody,
) -> anyhow::Result<()> {
    let state = store.snapshot();
    let bootstrap = &state.settings.bootstrap;
    for note in crate::compat::check(&bootstrap.hand_off(), director_only)? {
        report::note(&format!("hand-off: {note}"));
    }
    if let (_, Some(why)) = bootstrap.cluster_http_tokens()
        && !director_only
    {
        report::note(&format!(
            "hand-off: the cluster's VMs keep IMDSv1 (http_tokens optional) because {why}; cluster_http_tokens = \"required\" makes them IMDSv2 only (docs/compatibility.md)"
        ));
    }
    let files = upload(&state, templates, bastion)?;
    crate::custody::reconcile(store, custody.backend, bastion, custody.resolve)?;
    for step in Step::ALL {
        if director_only && step.deploys_the_cluster() {
            continue;
        }
        let now = store.snapshot();
        if now.bootstrap.done(step) {
            match run_again(&now, step, &files) {
                Some(why) => report::note(&format!("bastion: {} again: {why}", step.name())),
                None => {
                    report::note(&format!("bastion: {} already done", step.name()));
                    continue;
                }
            }
        }
        if step == Step::UploadStemcell {
            upload_local_stemcell(&now, bastion)?;
        }
        let on = crate::custody::bastion_record(&now);
        store.update(|s| {
            s.bootstrap.steps.insert(step, StepStatus::Started);
            s.bootstrap.ran_on.insert(step, on);
            s.bootstrap.torn_down = false;
        })?;
        let ran = run_step(bastion, step.name(), "");
        // A failed create-env writes its state too: custody takes both files whatever happened.
        if step == Step::DeployBosh {
            crate::custody::collect(
                store,
                custody.backend,
                bastion,
                step.name(),
                &crate::custody::FILES,
            )?;
        }
        ran?;
        let digest = inputs_digest(step, &files);
        store.update(|s| {
            s.bootstrap.steps.insert(step, StepStatus::Done);
            if let Some(digest) = digest {
                s.bootstrap.inputs.insert(step, digest);
            }
        })?;
    }
    report::note(if director_only {
        "bastion: the BOSH director is deployed, with its cloud config (--director-only: no cluster)"
    } else {
        "bastion: the BOSH director and the CFCR cluster are deployed"
    });
    Ok(())
}

/// An operator's stemcell that is a file on this machine goes to the bastion beside the scripts.
fn upload_local_stemcell(state: &State, bastion: &Bastion) -> anyhow::Result<()> {
    let Some(stemcell) = state
        .settings
        .bootstrap
        .cfcr_stemcell
        .as_ref()
        .filter(|s| s.is_local())
    else {
        return Ok(());
    };
    let file = std::fs::File::open(&stemcell.url)
        .with_context(|| format!("opening cfcr_stemcell_url {}", stemcell.url))?;
    report::note(&format!(
        "uploading the stemcell {} to the bastion",
        stemcell.url
    ));
    bastion.upload_file(file, &format!("{BUNDLE_DIR}/cfcr-stemcell.tgz"))
}

/// Whether anything the hand-off created on or from the bastion may still exist.
pub fn needs_teardown(state: &State) -> bool {
    state.bootstrap.reached(Step::DeployBosh) && !state.bootstrap.torn_down
}

/// Deletes the CFCR deployment (if it was deployed), cleans up the director and deletes it. For
/// environments where [`needs_teardown`] holds.
pub fn teardown(
    store: &StateStore,
    templates: &Templates,
    bastion: &Bastion,
    custody: &Custody,
) -> anyhow::Result<()> {
    let state = store.snapshot();
    upload(&state, templates, bastion)?;
    crate::custody::reconcile(store, custody.backend, bastion, custody.resolve)?;
    let progress = &state.bootstrap;
    let mut args = Vec::new();
    if progress.reached(Step::DeployKubernetes) {
        args.push("--deployment");
    }
    if progress.done(Step::DeployBosh) {
        args.push("--clean-up");
    }
    let ran = run_step(bastion, "teardown", &args.join(" "));
    // delete-env writes the state it leaves (no VM, no disk) whether or not it succeeded.
    crate::custody::collect(
        store,
        custody.backend,
        bastion,
        "teardown",
        &crate::custody::FILES,
    )?;
    ran?;
    store.update(|s| s.bootstrap.torn_down = true)
}

/// The cluster's CA and admin token, read from CredHub through the bastion.
pub fn kubeconfig_values(bastion: &Bastion) -> anyhow::Result<(String, String)> {
    let out = bastion.output(&format!("\"$HOME/{BUNDLE_DIR}/kubeconfig-values.sh\""))?;
    if !out.status.success() {
        bail!(
            "reading the cluster's credentials from CredHub on the bastion failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let documents: Vec<Value> = serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .context("CredHub's answer is not JSON")?;
    let [certificate, password] = documents.as_slice() else {
        bail!("expected two CredHub values, got {}", documents.len());
    };
    let ca = certificate["value"]["ca"]
        .as_str()
        .context("/bosh-aws/cfcr/tls-kubernetes has no CA")?;
    let token = password["value"]
        .as_str()
        .context("/bosh-aws/cfcr/kubo-admin-password has no value")?;
    Ok((ca.to_string(), token.to_string()))
}
