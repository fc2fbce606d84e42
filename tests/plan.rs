//! Issue #19, point 5: `plan` decides as `pave` would. The hand-off mode (`--no-bootstrap`,
//! `--director-only`, or the whole hand-off) decides which VMs count against the vCPU quota and
//! whether the hand-off's compatibility is checked; a paved environment's state says which hand-off
//! it had; `--skip-quota-check` says what it skips.

mod common;

use common::proxy::{Fault, Proxy, Rule};
use common::{Env, Run};
use serde_json::json;

/// The quota every Service Quotas answer gives: none at all, so that each quota the environment
/// draws on is refused, naming how much it needs (what runs in the shared LocalStack varies).
fn no_quota_at_all() -> Proxy {
    let proxy = Proxy::start(common::endpoint());
    proxy.add_rule(Rule {
        action: Some("GetServiceQuota"),
        times: 10_000,
        fault: Fault::Json(r#"{"Quota":{"Value":0.0}}"#),
    });
    proxy
}

/// `env` run with the quota checks on (the harness skips them).
fn checked(env: &Env, args: &[&str]) -> Run {
    Run::from(
        env.command(args)
            .env("CFCR_AWS_SKIP_QUOTA_CHECK", "false")
            .output()
            .unwrap(),
    )
}

/// The standard vCPUs the run says the environment needs; `None` when it needs none.
fn vcpus_needed(run: &Run) -> Option<String> {
    let output = run.all_output();
    let line = output.lines().find(|l| l.contains("(L-1216C47A"))?;
    let needed = line
        .split("this environment needs ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("{line}"));
    Some(needed.to_string())
}

const HAND_OFF_WARNING: &str = "pave's hand-off";

fn warns_of_the_hand_off(run: &Run) -> bool {
    run.stderr.contains(HAND_OFF_WARNING)
}

/// Changes the environment's state file as `change` says.
fn edit_state(env: &Env, change: impl FnOnce(&mut serde_json::Value)) {
    let mut state = env.state();
    change(&mut state);
    std::fs::write(env.state_path(), state.to_string()).unwrap();
}

/// Writes the hand-off's progress into the environment's state, as `bootstrap` records it.
fn record_steps(env: &Env, steps: serde_json::Value) {
    edit_state(env, |state| state["bootstrap"] = json!({ "steps": steps }));
}

#[test]
fn plan_counts_the_vcpus_of_the_hand_off_pave_would_run() {
    let proxy = no_quota_at_all();
    // Every VM type a t3 of 2 vCPUs, so the counts read simply: bastion, director, master, the
    // add-ons errand and the worker; compilation (2 workers) fits inside the cluster's peak.
    let env = Env::against("planvcpu", "", &proxy.url);

    let bare = checked(&env, &["plan", "--no-bootstrap"]);
    assert_eq!(bare.code, 1, "{}", bare.all_output());
    assert_eq!(
        vcpus_needed(&bare).as_deref(),
        Some("2"),
        "the bastion only"
    );
    let director = checked(&env, &["plan", "--director-only"]);
    assert_eq!(
        vcpus_needed(&director).as_deref(),
        Some("4"),
        "the bastion and the director"
    );
    let whole = checked(&env, &["plan"]);
    assert_eq!(
        vcpus_needed(&whole).as_deref(),
        Some("10"),
        "the bastion, the director, the master, the errand and the worker"
    );
    // pave counts the same for the same mode (and creates nothing).
    let paved = checked(&env, &["pave", "--yes", "--director-only"]);
    assert_eq!(paved.code, 1, "{}", paved.all_output());
    assert_eq!(vcpus_needed(&paved).as_deref(), Some("4"));
    assert!(!env.state_path().exists());

    // The flags are pave's: they exclude each other, and mean nothing to an unpave.
    for conflicting in [
        &["plan", "--no-bootstrap", "--director-only"][..],
        &["plan", "--destroy", "--no-bootstrap"],
    ] {
        let refused = env.run(conflicting);
        assert_eq!(refused.code, 2, "{}", refused.all_output());
    }
}

#[test]
fn a_paved_environment_is_planned_with_the_hand_off_its_state_shows() {
    let proxy = no_quota_at_all();
    // No stemcell for kubo 0.44.0: the whole hand-off cannot work today (pave refuses it), the
    // director alone can.
    let env = Env::against("planmode", "", &proxy.url);
    let new = env.run(&["plan"]).ok();
    assert!(warns_of_the_hand_off(&new), "{}", new.stderr);
    for flags in [&["--no-bootstrap"][..], &["--director-only"]] {
        let run = env.run(&[&["plan"], flags].concat()).ok();
        assert!(!warns_of_the_hand_off(&run), "{flags:?}: {}", run.stderr);
    }

    // Paved with --no-bootstrap: neither plan nor its destroy plan speaks of a hand-off.
    env.pave();
    for args in [
        &["plan"][..],
        &["plan", "--env", &env.prefix],
        &["plan", "--destroy"],
    ] {
        let run = env.run(args).ok();
        assert!(!warns_of_the_hand_off(&run), "{args:?}: {}", run.stderr);
    }

    // Something to create again (as after a run that stopped before recording it): with it,
    // only what the hand-off still starts counts, as the state or plan's flags say.
    let paved = std::fs::read_to_string(env.state_path()).unwrap();
    edit_state(&env, |state| {
        state["resources"]
            .as_object_mut()
            .unwrap()
            .remove("deployer_key_pair");
    });
    assert_eq!(vcpus_needed(&checked(&env, &["plan"])), None);
    let director = checked(&env, &["plan", "--director-only"]);
    assert_eq!(vcpus_needed(&director).as_deref(), Some("2"));

    // A director handed off (bootstrap --director-only): no warning about the cluster, and the
    // director already runs, so it does not count again.
    record_steps(
        &env,
        json!({"install-tools": "done", "deploy-bosh": "done", "update-cloud-config": "done"}),
    );
    let director = checked(&env, &["plan"]);
    assert!(!warns_of_the_hand_off(&director), "{}", director.stderr);
    assert_eq!(vcpus_needed(&director), None);

    // The cluster deployed, its add-ons not yet: pave would carry on, so plan checks the hand-off
    // and counts what it has still to start, the errand's VM.
    record_steps(
        &env,
        json!({"install-tools": "done", "deploy-bosh": "done", "upload-stemcell": "done",
               "update-cloud-config": "done", "deploy-kubernetes": "done"}),
    );
    let cluster = checked(&env, &["plan"]);
    assert!(warns_of_the_hand_off(&cluster), "{}", cluster.stderr);
    assert_eq!(vcpus_needed(&cluster).as_deref(), Some("2"));
    let told = checked(&env, &["plan", "--no-bootstrap"]);
    assert!(!warns_of_the_hand_off(&told), "{}", told.stderr);
    assert_eq!(vcpus_needed(&told), None);

    std::fs::write(env.state_path(), paved).unwrap();
    env.unpave();
}

#[test]
fn skipping_the_quota_checks_says_which_were_skipped() {
    const QUOTAS: [&str; 6] = [
        "VPCs",
        "internet gateways",
        "NAT gateways per zone",
        "classic load balancers",
        "elastic IPs",
        "standard vCPUs",
    ];
    let env = Env::new("skipquota", "");
    let skipping = |run: &Run| -> Vec<String> {
        run.stderr
            .lines()
            .filter(|l| l.contains("--skip-quota-check"))
            .map(str::to_string)
            .collect()
    };
    // The harness skips them (LocalStack's numbers are not AWS's).
    let plan = env.run(&["plan"]).ok();
    let warned = skipping(&plan);
    assert_eq!(warned.len(), 1, "one line: {}", plan.stderr);
    for quota in QUOTAS {
        assert!(warned[0].contains(quota), "{quota}: {}", warned[0]);
    }
    let paved = env.pave();
    assert_eq!(skipping(&paved).len(), 1, "{}", paved.stderr);
    // Nothing to create, or an unpave: no quota would have been checked.
    for args in [&["plan"][..], &["plan", "--destroy"]] {
        let run = env.run(args).ok();
        assert!(skipping(&run).is_empty(), "{args:?}: {}", run.stderr);
    }
    env.unpave();
    let checking = checked(&env, &["plan"]);
    assert!(skipping(&checking).is_empty(), "{}", checking.stderr);

    let help = env.run(&["plan", "--help"]).ok().stdout;
    let flag = help
        .split("--skip-quota-check")
        .nth(1)
        .unwrap_or_else(|| panic!("{help}"));
    // Its words, however the help wraps them.
    let described: Vec<&str> = flag
        .split("[env: CFCR_AWS_SKIP_QUOTA_CHECK")
        .next()
        .unwrap()
        .split_whitespace()
        .map(|w| w.trim_end_matches([',', '.', ';']))
        .collect();
    for quota in QUOTAS {
        let words: Vec<&str> = quota.split(' ').collect();
        assert!(
            described
                .windows(words.len())
                .any(|w| w == words.as_slice()),
            "{quota} in the help: {described:?}"
        );
    }
}
