//! What the hand-off drives and whether it can work on AWS today, decided before the first step on
//! the bastion (and before `pave` creates anything it would then strand): the director stack the
//! tool pins (bosh-deployment, the AWS CPI in it and the IAM actions that CPI calls), each kubo line
//! (its Kubernetes, its layout, what its cluster's VMs can do with the instance metadata service),
//! and the stemcell lines they need. Known versions are data here, dated, with their sources;
//! docs/compatibility.md is the same table for people, and `tests/fixtures/upstream/` holds the
//! facts read off upstream's own files that the tests hold this data to. Nothing here needs the
//! network.

/// When the tables below were last checked against their sources.
pub const AS_OF: &str = "2026-12-04";

/// A line of BOSH stemcells for AWS.
struct StemcellLine {
    os: &'static str,
    /// Whether its AWS light stemcells (public AMIs) are still published.
    published: bool,
    /// Whether its stemcells declare `api_version: 2`, which directors without the registry need.
    api_v2: bool,
    /// Whether the bosh-agent of the stemcells a kubo line names reads the instance metadata
    /// with IMDSv2 tokens: it does only when the stemcell's `agent.json` sets `TokenPath`.
    agent_imdsv2: bool,
    source: &'static str,
}

static STEMCELL_LINES: [StemcellLine; 4] = [
    StemcellLine {
        os: "ubuntu-trusty",
        published: false,
        api_v2: false,
        agent_imdsv2: false,
        source: "Cloud Foundry RFC-0010 (stemcell clean-up, run weekly by the stemcell publishing pipeline) deletes every public BOSH AMI older than 1095 days in every region",
    },
    StemcellLine {
        os: "ubuntu-xenial",
        published: false,
        api_v2: true,
        // bosh-linux-stemcell-builder added TokenPath to the 621.x line's AWS agent settings on
        // 2021-11-29 (7a11e09a0); kubo v0.44.0 pins 621.76, built in 2020-04 without it.
        agent_imdsv2: false,
        source: "Cloud Foundry RFC-0010 (public BOSH AMIs older than 1095 days are deleted); xenial's last line is 621.x; IMDSv2 in its agent only from builds after 2021-11-29 (bosh-linux-stemcell-builder 7a11e09a0, bosh-agent #249)",
    },
    StemcellLine {
        os: "ubuntu-jammy",
        published: true,
        api_v2: true,
        agent_imdsv2: true,
        source: "bosh.io stemcells (bosh-aws-xen-hvm-ubuntu-jammy-go_agent); bosh-deployment's aws/use-jammy.yml; bosh-linux-stemcell-builder ubuntu-jammy (TokenPath)",
    },
    StemcellLine {
        os: "ubuntu-noble",
        published: true,
        api_v2: true,
        agent_imdsv2: true,
        source: "bosh.io stemcells; bosh-deployment c3b2109's aws/cpi.yml (light stemcell 1.484)",
    },
];

/// Where a kubo-deployment ref keeps what the hand-off uses. The bundle deploys the
/// `manifests/`-only layout; the director's additions and the base cloud config are the project's
/// own, so no line's `configurations/` is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KuboLayout {
    /// `configurations/` (director ops-files, an AWS cloud config) beside `manifests/`: v0.16.0,
    /// whose `manifests/ops-files/` lack what the bundle's deploy applies (one zone, the worker
    /// count, vm_extensions).
    Configurations,
    /// `manifests/` only (`cfcr.yml`, `cloud-config/`, `ops-files/`): v0.44.0.
    ManifestsOnly,
}

/// A kubectl release for the operator's shell on the bastion: one minor version of skew with the
/// API server at most, its client tarball's SHA-512 from the Kubernetes CHANGELOG (dl.k8s.io
/// publishes `.sha256` files only from v1.16).
pub struct Kubectl {
    pub version: &'static str,
    pub sha512: &'static str,
}

/// A kubo-release pinned by the tool, for a `cfcr.yml` that does not pin its own.
pub struct KuboReleasePin {
    pub version: &'static str,
    pub sha1: &'static str,
}

/// A kubo-deployment ref and what its manifest (`manifests/cfcr.yml`) deploys.
pub struct KuboLine {
    pub deployment_ref: &'static str,
    kubo_release: &'static str,
    kubernetes: &'static str,
    layout: KuboLayout,
    stemcell_os: &'static str,
    stemcell_version: &'static str,
    /// Whether the Kubernetes AWS cloud provider of this line (kubelet, controller manager) can read
    /// the instance metadata with IMDSv2 tokens.
    kubernetes_imdsv2: bool,
    imds_source: &'static str,
    pub kubectl: Kubectl,
    /// `None`: `cfcr.yml` pins its releases itself.
    pub kubo_release_pin: Option<KuboReleasePin>,
    /// The source releases the deploy uses (name, version), as the line's own ops-file names
    /// them: what a downloads mirror must hold.
    pub source_releases: &'static [(&'static str, &'static str)],
    /// Why the cluster of this line cannot be deployed today, whatever stemcell is brought.
    cannot_deploy: Option<&'static str>,
}

static KUBO_LINES: [KuboLine; 2] = [
    // The last open-source kubo release (2020-07); kubo-deployment is archived.
    KuboLine {
        deployment_ref: "v0.44.0",
        kubo_release: "0.44.0",
        kubernetes: "1.17.9",
        layout: KuboLayout::ManifestsOnly,
        stemcell_os: "ubuntu-xenial",
        stemcell_version: "621.76",
        kubernetes_imdsv2: false,
        imds_source: "its AWS cloud provider (kubernetes/legacy-cloud-providers v0.17.9, go.mod) vendors aws-sdk-go v1.16.26, older than v1.25.38 (2019-11), the first Go SDK that uses IMDSv2 tokens (EC2 user guide, \"Use a supported AWS SDK\"; aws-sdk-go CHANGELOG v1.25.38)",
        // The last 1.17 release; SHA-512 from CHANGELOG/CHANGELOG-1.17.md, "Downloads for v1.17.17".
        kubectl: Kubectl {
            version: "v1.17.17",
            sha512: "b86ec78a4a43cf68e1ccea29c029849c97eee2534a5e42cb7a67709e1496725774fb58936da8d50a576d4f275dcd0fd247eb69346b323c1d656401283a163a22",
        },
        kubo_release_pin: None,
        // manifests/ops-files/non-precompiled-releases.yml at v0.44.0: cfcr.yml's own releases are
        // compiled for ubuntu-xenial 621.76 only; the source releases compile on any stemcell.
        source_releases: &[
            ("kubo", "0.44.0"),
            ("cfcr-etcd", "1.12.4"),
            ("docker", "35.3.4"),
            ("bpm", "1.1.8"),
        ],
        cannot_deploy: None,
    },
    KuboLine {
        deployment_ref: "v0.16.0",
        kubo_release: "0.16.0",
        kubernetes: "1.9.6",
        layout: KuboLayout::Configurations,
        stemcell_os: "ubuntu-trusty",
        stemcell_version: "3541.10",
        kubernetes_imdsv2: false,
        imds_source: "Kubernetes 1.9.6 (2018-03) vendors an aws-sdk-go of 2017 (v1.12.x), before v1.25.38 (2019-11), the first Go SDK that uses IMDSv2 tokens (EC2 user guide, \"Use a supported AWS SDK\")",
        // The last 1.10 release (one minor version of skew with 1.9); SHA-512 from
        // CHANGELOG/CHANGELOG-1.10.md, "Downloads for v1.10.13".
        kubectl: Kubectl {
            version: "v1.10.13",
            sha512: "2355ab1e140ea9a117fd5ea04bbf3795e14880bafc8c177c9797d40244c523d5b8ef6f2c72be252e7e0439eb659258ef9ace3bab9a72213e494ee0bef9c2e0c0",
        },
        // cfcr.yml of v0.16.0 says `version: latest`; this is the release it was built from.
        kubo_release_pin: Some(KuboReleasePin {
            version: "0.16.0",
            sha1: "8a513e48cccdea224c17a92ce73edbda04acee91",
        }),
        source_releases: &[("kubo", "0.16.0")],
        cannot_deploy: Some(
            "every stemcell kubo 0.16.0 supports is ubuntu-trusty, and no trusty stemcell declares api_version 2, which every director since v272 (bosh-deployment c3b2109's included) requires: no director the tool can create runs this cluster",
        ),
    },
];

/// The kubo line the tool deploys unless `kubo_deployment_ref` names another.
pub static DEFAULT_KUBO_LINE: &KuboLine = &KUBO_LINES[0];

/// The kubo line of a kubo-deployment ref, if the tool knows it.
pub fn kubo_line(deployment_ref: &str) -> Option<&'static KuboLine> {
    KUBO_LINES
        .iter()
        .find(|l| l.deployment_ref == deployment_ref)
}

/// A bosh-deployment ref, the AWS CPI its `aws/cpi.yml` pins, and whether that CPI needs the BOSH
/// registry.
pub struct DirectorStack {
    pub deployment_ref: &'static str,
    pub cpi_version: &'static str,
    needs_registry: bool,
    what: &'static str,
}

/// The director stack the tool pins (2026-08-21). Its CPI's IAM actions are [`CPI_IAM_STATEMENTS`]:
/// the two move together.
pub const DIRECTOR_STACK: DirectorStack = DirectorStack {
    deployment_ref: "c3b2109",
    cpi_version: "107.3.2",
    needs_registry: false,
    what: "AWS CPI 107.3.2, director 283.1.6, CredHub 2.15.19, ubuntu-noble 1.484 light stemcell",
};

static DIRECTOR_STACKS: [DirectorStack; 2] = [
    DIRECTOR_STACK,
    DirectorStack {
        deployment_ref: "7a8bf74",
        cpi_version: "69",
        needs_registry: true,
        what: "AWS CPI 69 (needs the BOSH registry, compiles Ruby 2.4, which refuses OpenSSL 3), ubuntu-trusty 3541.x director stemcell (no longer published)",
    },
];

/// The IAM actions of [`DIRECTOR_STACK`]'s CPI, per statement (`Sid`) of the CPI's own
/// `docs/iam-policy.json` (bosh-aws-cpi-release v107.3.2), for the features the director uses:
/// every VM (a network interface before each `RunInstances`, instance types and zones read at
/// start), heavy stemcells (the CPI registers the AMI), snapshots, elastic IPs, classic ELBs in
/// cloud properties (kubo's master load balancer) and instance profiles in cloud properties.
/// `iam:PassRole` is not here: the director may pass only the environment's own roles.
pub const CPI_IAM_STATEMENTS: [(&str, &[&str]); 5] = [
    (
        "BaselinePolicy",
        &[
            "ec2:AttachVolume",
            "ec2:CreateNetworkInterface",
            "ec2:CreateTags",
            "ec2:CreateVolume",
            "ec2:DeleteNetworkInterface",
            "ec2:DeleteVolume",
            "ec2:DescribeAvailabilityZones",
            "ec2:DescribeImages",
            "ec2:DescribeInstanceTypes",
            "ec2:DescribeInstances",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeRegions",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSubnets",
            "ec2:DescribeVolumes",
            "ec2:DetachVolume",
            "ec2:ModifyNetworkInterfaceAttribute",
            "ec2:RebootInstances",
            "ec2:RunInstances",
            "ec2:TerminateInstances",
        ],
    ),
    (
        "RequiredIfUsingHeavyStemcells",
        &["ec2:DeregisterImage", "ec2:RegisterImage"],
    ),
    (
        "RequiredIfUsingSnapshotsFeature",
        &[
            "ec2:CreateSnapshot",
            "ec2:DeleteSnapshot",
            "ec2:DescribeSnapshots",
        ],
    ),
    (
        "RequiredIfUsingElasticIPs",
        &["ec2:AssociateAddress", "ec2:DescribeAddresses"],
    ),
    (
        "RequiredIfUsingELBCloudProperties",
        &[
            "elasticloadbalancing:DescribeLoadBalancers",
            "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
        ],
    ),
];

/// The CPI statement that allows `iam:PassRole`; the director's policy keeps it to the
/// environment's roles.
pub const CPI_PASS_ROLE_STATEMENT: &str = "RequiredIfUsingIAMInstanceProfileCloudProperty";

/// What the hand-off is asked to do, as far as compatibility goes.
pub struct HandOff<'a> {
    pub bosh_deployment_ref: &'a str,
    pub bosh_cli_version: &'a str,
    pub kubo_deployment_ref: &'a str,
    /// The operator's stemcell for the cluster: os, version, where from.
    pub stemcell: Option<(&'a str, &'a str, &'a str)>,
}

/// The hand-off cannot work as configured; the message says why and what to do. Nothing has been
/// created or run for it when it is reported, so it is a usage error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Incompatible(String);

impl Incompatible {
    /// The same refusal, saying what the command did not do.
    pub fn and(self, what_was_not_done: &str) -> Incompatible {
        Incompatible(format!("{}. {what_was_not_done}", self.0))
    }
}

/// Whether the IMDSv2-only setting of the cluster's VMs can work: the line's Kubernetes and the
/// agent of the stemcell it runs on must both use tokens. The reason says which one cannot.
pub fn cluster_imdsv2(kubo_ref: &str, stemcell_os: Option<&str>) -> Result<(), String> {
    line_imdsv2(
        kubo_line(kubo_ref).unwrap_or(DEFAULT_KUBO_LINE),
        stemcell_os,
    )
}

fn line_imdsv2(line: &KuboLine, stemcell_os: Option<&str>) -> Result<(), String> {
    if !line.kubernetes_imdsv2 {
        return Err(format!(
            "Kubernetes {} (kubo {}) cannot: {}",
            line.kubernetes, line.deployment_ref, line.imds_source
        ));
    }
    let (os, whose) = match stemcell_os {
        Some(os) => (os, "the operator's stemcell".to_string()),
        None => (
            line.stemcell_os,
            format!("{} {}", line.stemcell_os, line.stemcell_version),
        ),
    };
    match STEMCELL_LINES.iter().find(|s| s.os == os) {
        Some(stemcells) if stemcells.agent_imdsv2 => Ok(()),
        Some(stemcells) => Err(format!(
            "the bosh-agent of {whose} ({os}) reads the metadata without tokens: {}",
            stemcells.source
        )),
        None => Err(format!(
            "{os} is not in cfcr-aws's stemcell table, so its agent is not known to use IMDSv2"
        )),
    }
}

/// Whether a stemcell line can run on a director without the registry; the reason when not.
pub fn stemcell_runs_today(os: &str) -> Result<(), String> {
    match STEMCELL_LINES.iter().find(|s| s.os == os) {
        Some(line) if !line.api_v2 => Err(format!(
            "{os} stemcells do not declare api_version 2, which every director since v272 (bosh-deployment {}'s included) requires ({})",
            DIRECTOR_STACK.deployment_ref, line.source
        )),
        _ => Ok(()),
    }
}

/// What the check found: notes for the operator when it passes, or why it cannot work.
pub fn check(hand_off: &HandOff, director_only: bool) -> Result<Vec<String>, Incompatible> {
    let mut notes = Vec::new();
    let director = hand_off.bosh_deployment_ref;
    match DIRECTOR_STACKS
        .iter()
        .find(|s| director.starts_with(s.deployment_ref))
    {
        Some(stack) if stack.needs_registry => {
            return Err(Incompatible(format!(
                "bosh_deployment_ref {director} cannot create a director today: {}. bosh CLI v7 (bosh_cli_version {}) has no registry (removed before v7.0.0; the last CLI with it is 6.4.17). Use bosh_deployment_ref = \"{}\" (the default; see docs/compatibility.md, as of {AS_OF})",
                stack.what, hand_off.bosh_cli_version, DIRECTOR_STACK.deployment_ref
            )));
        }
        Some(_) => {}
        None => notes.push(format!(
            "bosh_deployment_ref {director} is not in cfcr-aws's compatibility table (docs/compatibility.md): the director stack is not checked, and the director's IAM policy is AWS CPI {}'s",
            DIRECTOR_STACK.cpi_version
        )),
    }
    if director_only {
        notes.push("--director-only: the director and its cloud config, no cluster".into());
        return Ok(notes);
    }
    let kubo = hand_off.kubo_deployment_ref;
    let Some(line) = kubo_line(kubo) else {
        notes.push(format!(
            "kubo_deployment_ref {kubo} is not in cfcr-aws's compatibility table: it is rendered with kubo {}'s layout and its stemcell is not checked",
            DEFAULT_KUBO_LINE.deployment_ref
        ));
        return Ok(notes);
    };
    let layout = (line.layout != KuboLayout::ManifestsOnly).then_some(
        "and its kubo-deployment layout (configurations/ beside manifests/) lacks the ops-files the bundle deploys with",
    );
    if let Some(why) = line.cannot_deploy.or(layout) {
        return Err(Incompatible(format!(
            "the hand-off would create the director and then fail to deploy the cluster of CFCR {kubo} (kubo-release {}, Kubernetes {}): {why}{}. What you can do: deploy kubo {} instead (kubo_deployment_ref = \"{}\", the default: Kubernetes {}, with a stemcell you bring; see docs/compatibility.md, as of {AS_OF}); hand off with --director-only (the director and its cloud config, no cluster); or pave with --no-bootstrap for the AWS resources alone",
            line.kubo_release,
            line.kubernetes,
            line.cannot_deploy
                .and(layout)
                .map(|l| format!("; {l}"))
                .unwrap_or_default(),
            DEFAULT_KUBO_LINE.kubo_release,
            DEFAULT_KUBO_LINE.deployment_ref,
            DEFAULT_KUBO_LINE.kubernetes,
        )));
    }
    if let Some((os, version, url)) = hand_off.stemcell {
        notes.push(format!(
            "the cluster runs on the operator's stemcell {os} {version} ({url})"
        ));
        return Ok(notes);
    }
    let Some(stemcells) = STEMCELL_LINES.iter().find(|s| s.os == line.stemcell_os) else {
        return Ok(notes);
    };
    if stemcells.published && stemcells.api_v2 {
        return Ok(notes);
    }
    Err(Incompatible(format!(
        "the hand-off would create the director and then fail to deploy the cluster: CFCR {kubo} (kubo-release {}, Kubernetes {}) deploys on {} {} stemcells, and {}'s AWS light stemcells are no longer published ({}). What you can do: bring a full (heavy) stemcell of that line that you built or kept — the CPI turns it into an AMI itself (cfcr_stemcell_url, cfcr_stemcell_sha1, cfcr_stemcell_os, cfcr_stemcell_version); hand off with --director-only (the director and its cloud config, no cluster); or pave with --no-bootstrap for the AWS resources alone. See docs/compatibility.md (as of {AS_OF})",
        line.kubo_release,
        line.kubernetes,
        line.stemcell_os,
        line.stemcell_version,
        stemcells.os,
        stemcells.source
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hand_off<'a>(kubo: &'a str, stemcell: Option<(&'a str, &'a str, &'a str)>) -> HandOff<'a> {
        HandOff {
            bosh_deployment_ref: DIRECTOR_STACK.deployment_ref,
            bosh_cli_version: "7.11.0",
            kubo_deployment_ref: kubo,
            stemcell,
        }
    }

    #[test]
    fn the_default_line_without_a_stemcell_is_refused_with_what_to_do() {
        let err = check(&hand_off("v0.44.0", None), false)
            .unwrap_err()
            .to_string();
        for needle in [
            "ubuntu-xenial 621.76",
            "no longer published",
            "RFC-0010",
            "full (heavy) stemcell",
            "--director-only",
            "cfcr_stemcell_url",
        ] {
            assert!(err.contains(needle), "{needle}: {err}");
        }
        assert!(check(&hand_off("v0.44.0", None), true).is_ok());
        let stemcell = ("ubuntu-xenial", "621.125", "https://example.com/s.tgz");
        let notes = check(&hand_off("v0.44.0", Some(stemcell)), false).unwrap();
        assert!(notes[0].contains("operator's stemcell"), "{notes:?}");
    }

    #[test]
    fn the_v0_16_0_cluster_is_refused_whatever_the_stemcell() {
        let stemcell = ("ubuntu-jammy", "1.800", "https://example.com/s.tgz");
        let err = check(&hand_off("v0.16.0", Some(stemcell)), false)
            .unwrap_err()
            .to_string();
        for needle in ["api_version 2", "v272", "v0.44.0", "--director-only"] {
            assert!(err.contains(needle), "{needle}: {err}");
        }
        assert!(check(&hand_off("v0.16.0", None), true).is_ok());
    }

    #[test]
    fn an_unknown_line_passes_with_a_note() {
        let notes = check(&hand_off("my-fork", None), false).unwrap();
        assert!(notes[0].contains("not in cfcr-aws's compatibility table"));
    }

    #[test]
    fn a_director_stack_that_needs_the_registry_is_refused() {
        let mut asked = hand_off("v0.44.0", None);
        asked.bosh_deployment_ref = "7a8bf74";
        let err = check(&asked, true).unwrap_err().to_string();
        assert!(err.contains("6.4.17") && err.contains("c3b2109"), "{err}");
    }

    #[test]
    fn no_kubo_line_can_run_its_cluster_imdsv2_only() {
        let err = cluster_imdsv2("v0.16.0", Some("ubuntu-jammy")).unwrap_err();
        assert!(err.contains("Kubernetes 1.9.6"), "{err}");
        let err = cluster_imdsv2("v0.44.0", Some("ubuntu-jammy")).unwrap_err();
        assert!(err.contains("aws-sdk-go v1.16.26"), "{err}");
    }

    #[test]
    fn the_stemcell_agent_must_use_tokens_too() {
        // A line whose Kubernetes could: the stemcell decides.
        let line = KuboLine {
            deployment_ref: "a-fork",
            kubo_release: "0.44.1",
            kubernetes: "1.18.0",
            layout: KuboLayout::ManifestsOnly,
            stemcell_os: "ubuntu-xenial",
            stemcell_version: "621.76",
            kubernetes_imdsv2: true,
            imds_source: "",
            kubectl: Kubectl {
                version: "v1.18.0",
                sha512: "",
            },
            kubo_release_pin: None,
            source_releases: &[],
            cannot_deploy: None,
        };
        let err = line_imdsv2(&line, None).unwrap_err();
        assert!(err.contains("ubuntu-xenial 621.76"), "{err}");
        assert!(line_imdsv2(&line, Some("ubuntu-jammy")).is_ok());
        assert!(line_imdsv2(&line, Some("ubuntu-bionic")).is_err());
    }

    /// The facts read off upstream (tests/fixtures/upstream/cpi-iam-actions.json, from the CPI's
    /// docs/iam-policy.json at the version bosh-deployment's pin names) must match the pin and
    /// the statements here.
    #[test]
    fn the_cpi_statements_match_the_cpi_the_pinned_stack_runs() {
        let facts: serde_json::Value = serde_json::from_str(include_str!(
            "../tests/fixtures/upstream/cpi-iam-actions.json"
        ))
        .unwrap();
        assert_eq!(
            facts["pinned_by"]["commit"], DIRECTOR_STACK.deployment_ref,
            "the facts are for another bosh-deployment pin: regenerate tests/fixtures/upstream"
        );
        assert_eq!(
            facts["pinned_by"]["version"], DIRECTOR_STACK.cpi_version,
            "bosh-deployment's pin runs another CPI than DIRECTOR_STACK says"
        );
        for (sid, actions) in CPI_IAM_STATEMENTS {
            let upstream: Vec<&str> = facts["statements"][sid]
                .as_array()
                .unwrap_or_else(|| panic!("no statement {sid} in the CPI's policy"))
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            let missing: Vec<&&str> = upstream.iter().filter(|a| !actions.contains(a)).collect();
            assert!(missing.is_empty(), "{sid} lacks {missing:?}");
        }
        assert_eq!(
            facts["statements"][CPI_PASS_ROLE_STATEMENT],
            serde_json::json!(["iam:PassRole"])
        );
    }
}
