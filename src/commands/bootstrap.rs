//! `cfcr-aws bootstrap`, `render`, `ssh` and `kubeconfig`: everything that goes through the bastion.

use anyhow::{Context, bail};
use minijinja::context;

use super::environment;
use super::terminal::{out, outln};
use crate::bootstrap;
use crate::cli::{BootstrapArgs, GlobalArgs, KubeconfigArgs, RenderArgs, SshArgs};
use crate::director::Director;
use crate::files::{parent_of, private_dir, refuse_symlink, write_private};
use crate::report;
use crate::resources::Ctx;
use crate::ssh::{Bastion, Target, Unreachable};
use crate::state::{self, State, StateStore};
use crate::templates::Templates;

/// A remote command's exit status, passed on as ours.
#[derive(Debug, thiserror::Error)]
#[error("the remote command exited with status {0}")]
pub struct RemoteExit(pub u8);

/// The verified connection to an environment's bastion, honouring the global overrides.
pub fn bastion(global: &GlobalArgs, state: &State) -> anyhow::Result<Bastion> {
    let target = Target::new(
        state,
        global.bastion_address.as_deref(),
        &global.bastion_user,
    )?;
    Bastion::new(state, target)
}

fn templates(global: &GlobalArgs) -> anyhow::Result<Templates> {
    Templates::new(global.templates.as_deref())
}

/// The hand-off, for `pave` and `bootstrap`.
pub fn hand_off(
    global: &GlobalArgs,
    store: &StateStore,
    director_only: bool,
    custody: &bootstrap::Custody,
) -> anyhow::Result<()> {
    let state = store.snapshot();
    let unfinished: Vec<String> = state
        .resources
        .iter()
        .filter(|(_, r)| !r.ready)
        .map(|(k, _)| k.to_string())
        .collect();
    if state.resources.is_empty() || !unfinished.is_empty() {
        bail!(
            "the environment is not completely paved ({}); run `cfcr-aws pave` first",
            if unfinished.is_empty() {
                "nothing created yet".to_string()
            } else {
                format!("unfinished: {}", unfinished.join(", "))
            }
        );
    }
    bootstrap::run(
        store,
        &templates(global)?,
        &bastion(global, &state)?,
        director_only,
        custody,
    )
}

/// The bastion part of `unpave`: the teardown there. When the bastion cannot run it (it is gone or
/// unreachable, or `skip` says not to try), the director is deleted by the ids in custody's copy of
/// its state instead, so that nothing it made is left.
pub async fn teardown(
    global: &GlobalArgs,
    ctx: &Ctx,
    custody: &bootstrap::Custody<'_>,
    skip: bool,
) -> anyhow::Result<()> {
    let state = ctx.state.snapshot();
    if !bootstrap::needs_teardown(&state) {
        return Ok(());
    }
    if skip {
        report::note("not trying the teardown on the bastion (--skip-teardown)");
    } else {
        let torn = bootstrap::teardown(
            &ctx.state,
            &templates(global)?,
            &bastion(global, &state)?,
            custody,
        );
        match torn {
            Ok(()) => return Ok(()),
            Err(e) if e.is::<Unreachable>() => report::warning(&format!(
                "{e:#}; deleting the director by the ids in custody's copy of its state instead"
            )),
            Err(e) => return Err(e).context("tearing down on the bastion"),
        }
    }
    let Some(bytes) =
        crate::custody::read(custody.backend, &state, crate::custody::DIRECTOR_STATE)?
    else {
        bail!(
            "the director's state is not in custody ({}), so the director cannot be deleted without the bastion: make the bastion reachable and run unpave again, or delete the director's VM and disk yourself and pass --force",
            custody.backend.custody_place(&state.env)
        );
    };
    let director = Director::parse(&bytes)?;
    crate::director::delete(&ctx.aws, &director).await?;
    ctx.state.update(|s| s.bootstrap.torn_down = true)
}

pub async fn run(global: &GlobalArgs, args: BootstrapArgs) -> anyhow::Result<()> {
    let env = environment::environment(global, &args.env)?;
    let backend = environment::backend(global).await?;
    let _lock = backend.lock(&env, "bootstrap").await?;
    let loaded = environment::existing_state(&backend, &env).await?;
    let store = backend.open(&env, loaded);
    let custody = bootstrap::Custody {
        backend: &backend,
        resolve: args.custody.resolve(),
    };
    hand_off(global, &store, args.director_only, &custody)
}

pub async fn render(global: &GlobalArgs, args: RenderArgs) -> anyhow::Result<()> {
    let env = environment::environment(global, &args.env)?;
    let state = environment::existing_state(&environment::backend(global).await?, &env)
        .await?
        .state;
    let files = bootstrap::render(&state, &templates(global)?)?;
    // Checked before anything is written: no link inside --out may lead the bundle elsewhere.
    for file in &files {
        let mut path = args.out.clone();
        for part in file.path.components() {
            path.push(part);
            refuse_symlink(&path)?;
        }
    }
    let mut replaced = Vec::new();
    for file in &files {
        let path = args.out.join(&file.path);
        if path.exists() {
            replaced.push(path.display().to_string());
        }
        private_dir(parent_of(&path))?;
        write_private(&path, file.contents.as_bytes())?;
        std::fs::set_permissions(
            &path,
            std::os::unix::fs::PermissionsExt::from_mode(file.mode),
        )?;
        outln!("{}", path.display())?;
    }
    if !replaced.is_empty() {
        report::note(&format!(
            "replaced {} file(s) that were there: {}",
            replaced.len(),
            replaced.join(", ")
        ));
    }
    Ok(())
}

pub async fn ssh(global: &GlobalArgs, args: SshArgs) -> anyhow::Result<()> {
    let env = environment::environment(global, &args.env)?;
    let state = environment::existing_state(&environment::backend(global).await?, &env)
        .await?
        .state;
    let status = bastion(global, &state)?.interactive(&args.command)?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(RemoteExit(u8::try_from(code).unwrap_or(1)).into()),
        None => bail!("ssh was stopped by a signal"),
    }
}

pub async fn kubeconfig(global: &GlobalArgs, args: KubeconfigArgs) -> anyhow::Result<()> {
    let env = environment::environment(global, &args.env)?;
    let state = environment::existing_state(&environment::backend(global).await?, &env)
        .await?
        .state;
    if !state.bootstrap.done(state::Step::DeployKubernetes) {
        bail!("the cluster of {env:?} is not deployed yet; run `cfcr-aws bootstrap` first");
    }
    let (ca, token) = bootstrap::kubeconfig_values(&bastion(global, &state)?)?;
    let outputs = crate::outputs::of(&state);
    let ca_data = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, ca);
    let text = templates(global)?.kubeconfig(context! {
        prefix => state.env.as_str(),
        master_lb_ip_address => outputs["master_lb_ip_address"].as_str().unwrap_or_default(),
        kubernetes_master_port => state.settings.kubernetes_master_port,
        ca_data => ca_data,
        token => token,
    })?;
    let out = args
        .out
        .unwrap_or_else(|| global.state_dir.join(format!("{env}.kubeconfig")));
    if out.as_os_str() == "-" {
        out!("{text}")?;
    } else {
        write_private(&out, text.as_bytes())?;
        report::note(&format!(
            "wrote {} (context cfcr-{env}); it holds the admin token, mode 0600",
            out.display()
        ));
    }
    Ok(())
}
