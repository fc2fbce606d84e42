//! Whether the hand-off can work on AWS today, decided before the first step on the bastion (and
//! before `pave` creates anything it would then strand): what the director stack needs from the bosh
//! CLI, and what the cluster's kubo line needs (its stemcell line, published and runnable by a
//! director without the registry). Known versions are data here, dated, with their sources;
//! docs/compatibility.md is the same table for people. Nothing here needs the network.

use crate::config::BootstrapSettings;

/// When the table below was last checked against its sources.
pub const AS_OF: &str = "2026-11-27";

/// A line of BOSH stemcells for AWS.
struct StemcellLine {
    os: &'static str,
    /// Whether its AWS light stemcells (public AMIs) are still published.
    published: bool,
    /// Whether its stemcells declare `api_version: 2`, which directors without the registry need.
    api_v2: bool,
    source: &'static str,
}

const STEMCELL_LINES: [StemcellLine; 4] = [
    StemcellLine {
        os: "ubuntu-trusty",
        published: false,
        api_v2: false,
        source: "Cloud Foundry RFC-0010 (stemcell clean-up, run weekly by the stemcell publishing pipeline) deletes every public BOSH AMI older than 1095 days in every region",
    },
    StemcellLine {
        os: "ubuntu-xenial",
        published: false,
        api_v2: true,
        source: "Cloud Foundry RFC-0010 (public BOSH AMIs older than 1095 days are deleted); xenial's last line is 621.x",
    },
    StemcellLine {
        os: "ubuntu-jammy",
        published: true,
        api_v2: true,
        source: "bosh.io stemcells (bosh-aws-xen-hvm-ubuntu-jammy-go_agent); bosh-deployment's aws/use-jammy.yml",
    },
    StemcellLine {
        os: "ubuntu-noble",
        published: true,
        api_v2: true,
        source: "bosh.io stemcells; bosh-deployment c3b2109's aws/cpi.yml (light stemcell 1.484)",
    },
];

/// A kubo-deployment ref and what its manifest (`manifests/cfcr.yml`) deploys.
struct KuboLine {
    deployment_ref: &'static str,
    kubo_release: &'static str,
    kubernetes: &'static str,
    stemcell_os: &'static str,
    stemcell_version: &'static str,
}

const KUBO_LINES: [KuboLine; 2] = [
    KuboLine {
        deployment_ref: "v0.16.0",
        kubo_release: "0.16.0",
        kubernetes: "1.9.6",
        stemcell_os: "ubuntu-trusty",
        stemcell_version: "3541.10",
    },
    // The last open-source kubo release (2020-07); kubo-deployment is archived.
    KuboLine {
        deployment_ref: "v0.44.0",
        kubo_release: "0.44.0",
        kubernetes: "1.17.9",
        stemcell_os: "ubuntu-xenial",
        stemcell_version: "621.x",
    },
];

/// A bosh-deployment ref and whether its AWS CPI needs the BOSH registry.
struct DirectorStack {
    deployment_ref: &'static str,
    needs_registry: bool,
    what: &'static str,
}

const DIRECTOR_STACKS: [DirectorStack; 2] = [
    DirectorStack {
        deployment_ref: "c3b2109",
        needs_registry: false,
        what: "AWS CPI 107.3.2, director 283.1.6, CredHub 2.15.19, ubuntu-noble 1.484 light stemcell",
    },
    DirectorStack {
        deployment_ref: "7a8bf74",
        needs_registry: true,
        what: "AWS CPI 69 (needs the BOSH registry, compiles Ruby 2.4, which refuses OpenSSL 3), ubuntu-trusty 3541.x director stemcell (no longer published)",
    },
];

/// The hand-off cannot work as configured; the message says why and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Incompatible(String);

/// What the check found: notes for the operator when it passes, or why it cannot work.
pub fn check(
    settings: &BootstrapSettings,
    director_only: bool,
) -> Result<Vec<String>, Incompatible> {
    let mut notes = Vec::new();
    let director = &settings.bosh_deployment_ref;
    match DIRECTOR_STACKS.iter().find(|s| director.starts_with(s.deployment_ref)) {
        Some(stack) if stack.needs_registry => {
            return Err(Incompatible(format!(
                "bosh_deployment_ref {director} cannot create a director today: {}. bosh CLI v7 (bosh_cli_version {}) has no registry (removed before v7.0.0; the last CLI with it is 6.4.17). Use bosh_deployment_ref = \"c3b2109\" (the default; see docs/compatibility.md, as of {AS_OF})",
                stack.what, settings.bosh_cli_version
            )));
        }
        Some(_) => {}
        None => notes.push(format!(
            "bosh_deployment_ref {director} is not in cfcr-aws's compatibility table (docs/compatibility.md): the director stack is not checked"
        )),
    }
    if director_only {
        notes.push("--director-only: the director and its cloud config, no cluster".into());
        return Ok(notes);
    }
    if let Some(stemcell) = &settings.cfcr_stemcell {
        notes.push(format!(
            "the cluster runs on the operator's stemcell {} {} ({})",
            stemcell.os, stemcell.version, stemcell.url
        ));
        return Ok(notes);
    }
    let kubo = &settings.kubo_deployment_ref;
    let Some(line) = KUBO_LINES.iter().find(|l| l.deployment_ref == kubo) else {
        notes.push(format!(
            "kubo_deployment_ref {kubo} is not in cfcr-aws's compatibility table: its stemcell is not checked"
        ));
        return Ok(notes);
    };
    let Some(stemcells) = STEMCELL_LINES.iter().find(|s| s.os == line.stemcell_os) else {
        return Ok(notes);
    };
    if stemcells.published && stemcells.api_v2 {
        return Ok(notes);
    }
    let mut why = format!(
        "CFCR {kubo} (kubo-release {}, Kubernetes {}) deploys on {} {} stemcells",
        line.kubo_release, line.kubernetes, line.stemcell_os, line.stemcell_version
    );
    if !stemcells.published {
        why.push_str(&format!(
            ", and {}'s AWS stemcells are no longer published ({})",
            stemcells.os, stemcells.source
        ));
    }
    if !stemcells.api_v2 {
        why.push_str(
            "; nor can a director without the BOSH registry (every director since v272, bosh-deployment c3b2109's included) run stemcells without api_version 2",
        );
    }
    Err(Incompatible(format!(
        "the hand-off would create the director and then fail to deploy the cluster: {why}. What you can do: hand off with --director-only (the director and its cloud config, no cluster); bring a stemcell of that line that you built or kept (cfcr_stemcell_url, cfcr_stemcell_sha1, cfcr_stemcell_os, cfcr_stemcell_version); or choose another kubo line (kubo_deployment_ref with kubo_release_version and kubo_release_sha1; v0.44.0 is the newest open-source line and needs ubuntu-xenial 621.x stemcells, also no longer published). Or pave with --no-bootstrap for the AWS resources alone. See docs/compatibility.md (as of {AS_OF})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Stemcell;

    #[test]
    fn the_default_cluster_is_refused_with_what_to_do() {
        let settings = BootstrapSettings::default();
        let err = check(&settings, false).unwrap_err().to_string();
        for needle in [
            "ubuntu-trusty 3541.10",
            "no longer published",
            "RFC-0010",
            "api_version 2",
            "--director-only",
            "cfcr_stemcell_url",
            "v0.44.0",
        ] {
            assert!(err.contains(needle), "{needle}: {err}");
        }
        assert!(check(&settings, true).is_ok());
    }

    #[test]
    fn an_operator_stemcell_or_an_unknown_line_passes_with_a_note() {
        let mut settings = BootstrapSettings {
            cfcr_stemcell: Some(Stemcell {
                url: "https://example.com/s.tgz".into(),
                sha1: "0".repeat(40),
                os: "ubuntu-jammy".into(),
                version: "1.800".into(),
            }),
            ..BootstrapSettings::default()
        };
        assert!(check(&settings, false).unwrap()[0].contains("operator's stemcell"));
        settings.cfcr_stemcell = None;
        settings.kubo_deployment_ref = "my-fork".into();
        assert!(check(&settings, false).unwrap()[0].contains("not checked"));
    }

    #[test]
    fn a_director_stack_that_needs_the_registry_is_refused() {
        let settings = BootstrapSettings {
            bosh_deployment_ref: "7a8bf74".into(),
            ..BootstrapSettings::default()
        };
        let err = check(&settings, true).unwrap_err().to_string();
        assert!(err.contains("6.4.17") && err.contains("c3b2109"), "{err}");
    }
}
