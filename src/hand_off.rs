//! What `pave` hands off to the bastion after the AWS resources, as one value that `pave` acts on,
//! `plan` shows, preflight counts against the quotas and the cost prices.

use crate::compat::Incompatible;
use crate::config::Settings;
use crate::state::{BootstrapProgress, Step};

/// What `pave` hands off to the bastion after the AWS resources: the one decision `pave` acts on
/// and `plan` shows. It says which VMs count against the vCPU quota, and whether the hand-off's
/// compatibility is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandOffMode {
    /// `--no-bootstrap`: the AWS resources only.
    NoBootstrap,
    /// `--director-only`: the BOSH director and its cloud config.
    DirectorOnly,
    /// The director and the CFCR cluster.
    Full,
}

impl HandOffMode {
    /// As `pave`'s flags say (clap keeps them apart).
    pub fn from_flags(no_bootstrap: bool, director_only: bool) -> HandOffMode {
        match (no_bootstrap, director_only) {
            (true, _) => HandOffMode::NoBootstrap,
            (_, true) => HandOffMode::DirectorOnly,
            _ => HandOffMode::Full,
        }
    }

    /// The hand-off a paved environment's state shows: none before its first step; the
    /// director's alone until a step of the cluster's has begun (`bootstrap --director-only`
    /// runs only those).
    pub fn recorded(progress: &BootstrapProgress) -> HandOffMode {
        if progress.steps.is_empty() {
            HandOffMode::NoBootstrap
        } else if progress.steps.keys().any(|step| step.deploys_the_cluster()) {
            HandOffMode::Full
        } else {
            HandOffMode::DirectorOnly
        }
    }

    /// Whether the hand-off can work today, with what is worth saying about it; nothing to check
    /// without one.
    pub fn compatibility(self, settings: &Settings) -> Result<Vec<String>, Incompatible> {
        match self {
            HandOffMode::NoBootstrap => Ok(Vec::new()),
            HandOffMode::DirectorOnly | HandOffMode::Full => crate::compat::check(
                &settings.bootstrap.hand_off(),
                self == HandOffMode::DirectorOnly,
            ),
        }
    }

    /// Whether the hand-off still has `step` to run (and so the VMs it starts).
    pub fn runs(self, step: Step, progress: &BootstrapProgress) -> bool {
        let in_mode = match self {
            HandOffMode::NoBootstrap => false,
            HandOffMode::DirectorOnly => !step.deploys_the_cluster(),
            HandOffMode::Full => true,
        };
        in_mode && !progress.done(step)
    }
}
