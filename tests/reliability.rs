//! Issue #4 beyond crashes: AWS faults and eventual consistency injected by the proxy, two commands
//! at once, damaged and lost state, and secrets kept out of every output.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::proxy::{Fault, Proxy, Rule};
use common::{Env, assert_complete, assert_gone, endpoint};

fn rule(action: Option<&'static str>, times: usize, fault: Fault) -> Rule {
    Rule {
        action,
        times,
        fault,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_server_errors_and_resets_are_retried() {
    let proxy = Proxy::start(endpoint());
    let env = Env::against("flaky", "", &proxy.url);
    proxy.add_rule(rule(None, 4, Fault::Throttle));
    proxy.add_rule(rule(Some("CreateVpc"), 3, Fault::ServiceUnavailable));
    proxy.add_rule(rule(Some("CreateRole"), 2, Fault::Reset));
    proxy.add_rule(rule(Some("CreateLoadBalancer"), 2, Fault::Throttle));
    env.pave();
    assert_complete(&env).await;

    proxy.add_rule(rule(None, 4, Fault::Throttle));
    proxy.add_rule(rule(Some("DeleteVpc"), 3, Fault::ServiceUnavailable));
    proxy.add_rule(rule(Some("DeleteRole"), 2, Fault::Reset));
    env.unpave();
    assert_gone(&env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_whose_answer_is_lost_mid_response_make_no_duplicates() {
    let proxy = Proxy::start(endpoint());
    let env = Env::against("torn", "", &proxy.url);
    for action in [
        "CreateVpc",
        "CreateSubnet",
        "CreateSecurityGroup",
        "AllocateAddress",
        "ImportKeyPair",
        "CreateRole",
        "CreateInstanceProfile",
        "CreatePolicy",
        "CreateLoadBalancer",
        "CreateNatGateway",
        "RunInstances",
    ] {
        proxy.add_rule(rule(Some(action), 1, Fault::Truncate));
    }
    env.pave();
    assert_complete(&env).await;
    env.unpave();
    assert_gone(&env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn eventual_consistency_errors_are_waited_out() {
    let proxy = Proxy::start(endpoint());
    let env = Env::against("eventual", "", &proxy.url);
    let not_found = |code| Fault::Error {
        code,
        status: 400,
        message: "does not exist (injected)",
    };
    proxy.add_rule(rule(
        Some("CreateSubnet"),
        2,
        not_found("InvalidVpcID.NotFound"),
    ));
    proxy.add_rule(rule(
        Some("AddRoleToInstanceProfile"),
        2,
        Fault::Error {
            code: "NoSuchEntity",
            status: 404,
            message: "The role cannot be found (injected)",
        },
    ));
    proxy.add_rule(rule(
        Some("RunInstances"),
        3,
        Fault::Error {
            code: "InvalidParameterValue",
            status: 400,
            message: "Value (x) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name",
        },
    ));
    env.pave();
    assert_complete(&env).await;

    let in_use = Fault::Error {
        code: "DependencyViolation",
        status: 400,
        message: "has dependencies and cannot be deleted (injected)",
    };
    for action in [
        "DeleteSubnet",
        "DeleteSecurityGroup",
        "DetachInternetGateway",
        "DeleteVpc",
    ] {
        proxy.add_rule(rule(Some(action), 2, in_use.clone()));
    }
    env.unpave();
    assert_gone(&env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_beyond_the_budget_stop_clearly_and_a_rerun_finishes() {
    let proxy = Proxy::start(endpoint());
    let env = Env::against("budget", "", &proxy.url);
    proxy.add_rule(rule(Some("CreateInternetGateway"), 100, Fault::Throttle));
    let run = env.run(&["pave", "--yes", "--no-bootstrap"]);
    assert_eq!(run.code, 1);
    let last = run.stderr.lines().last().unwrap();
    assert!(
        last.contains("internet_gateway: CreateInternetGateway failed: RequestLimitExceeded")
            && last.contains("(after 15 attempts)")
            && last.contains("request id proxy-injected"),
        "{last}"
    );
    let state = env.state();
    assert_eq!(state["resources"].get("internet_gateway"), None);
    assert!(state["resources"]["vpc"]["ready"].as_bool().unwrap());

    proxy.clear_rules();
    env.pave();
    assert_complete(&env).await;
    env.unpave();
}

#[test]
fn a_second_command_on_the_same_environment_fails_at_once_naming_the_holder() {
    let proxy = Proxy::start(endpoint());
    let env = Env::against("lock", "", &proxy.url);
    proxy.add_rule(rule(
        Some("CreateVpc"),
        1,
        Fault::Delay(Duration::from_secs(4)),
    ));
    let first = env
        .command(&["pave", "--yes", "--no-bootstrap"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first holds the lock and is stuck in CreateVpc.
    for _ in 0..200 {
        if proxy.actions().iter().any(|a| a == "CreateVpc") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The second goes through its own proxy, to count its requests apart from the first's.
    let second_proxy = Proxy::start(endpoint());
    let second = common::Run::from(
        env.command(&["pave", "--yes", "--no-bootstrap"])
            .env("AWS_ENDPOINT_URL", &second_proxy.url)
            .output()
            .unwrap(),
    );
    assert_eq!(second.code, 1);
    assert!(
        second.stderr.contains(&format!(
            "is in use by another cfcr-aws command (pave: pid {}, host ",
            first.id()
        )) && second.stderr.contains(", started 20"),
        "{}",
        second.stderr
    );
    assert_eq!(second_proxy.requests(), 0, "the second sent nothing");
    let status = first.wait_with_output().unwrap().status;
    assert!(status.success());
    env.unpave();
}

#[test]
fn damaged_or_mismatched_state_is_refused_and_left_untouched() {
    let env = Env::new("damaged", "");
    std::fs::create_dir_all(env.path().join("state")).unwrap();
    for (text, needle) in [
        (
            "{\"schema_version\": 1, \"env\": \"x\", \"reg",
            "not valid JSON",
        ),
        ("{\"schema_version\": 7, \"env\": \"x\"}", "newer cfcr-aws"),
        ("[]", "no schema_version"),
    ] {
        std::fs::write(env.state_path(), text).unwrap();
        for command in [
            vec!["pave", "--yes", "--no-bootstrap"],
            vec!["unpave", "--yes"],
            vec!["outputs"],
        ] {
            let run = env.run(&command);
            assert_eq!(run.code, 1, "{command:?} {text}: {}", run.stderr);
            assert!(run.stderr.contains(needle), "{}", run.stderr);
            assert!(run.stderr.contains("left untouched"), "{}", run.stderr);
            assert_eq!(std::fs::read_to_string(env.state_path()).unwrap(), text);
        }
    }
    std::fs::remove_file(env.state_path()).unwrap();

    env.pave();
    let before = std::fs::read(env.state_path()).unwrap();
    let moved = env.run(&["pave", "--yes", "--no-bootstrap", "--region", "us-west-2"]);
    assert_eq!(moved.code, 1);
    assert!(
        moved
            .stderr
            .contains("region (paved: \"us-east-1\", now: \"us-west-2\")"),
        "{}",
        moved.stderr
    );
    assert_eq!(std::fs::read(env.state_path()).unwrap(), before);
    env.unpave();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_state_blocks_a_second_environment_and_unpave_finds_the_first() {
    let env = Env::new("lost", "director_credentials = \"access-key\"");
    env.pave();
    let vpc = env.id("vpc");
    std::fs::remove_file(env.state_path()).unwrap();

    let refused = env.run(&["pave", "--yes", "--no-bootstrap"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("AWS already holds VPC"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains(&vpc), "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains(&format!("cfcr-aws unpave --env {}", env.prefix))
    );
    assert!(!env.state_path().exists());

    let recovered = env.run(&["unpave", "--env", &env.prefix, "--yes"]).ok();
    assert_eq!(
        recovered.stderr.matches("found ").count(),
        24,
        "{}",
        recovered.stderr
    );
    assert_gone(&env).await;
}

#[test]
fn no_secret_appears_in_any_output_at_any_verbosity() {
    let env = Env::new("secret", "director_credentials = \"access-key\"");
    let mut outputs = vec![env.run(&["-vv", "pave", "--yes", "--no-bootstrap"]).ok()];
    let state = env.state();
    let secret = state["director_access_key"]["secret_access_key"]
        .as_str()
        .unwrap()
        .to_string();
    let private_key = state["deployer_key"]["private_key"]
        .as_str()
        .unwrap()
        .to_string();
    let host_key = state["bastion_host_key"]["private_key"]
        .as_str()
        .unwrap()
        .to_string();
    for args in [
        vec!["-vv", "pave", "--yes", "--no-bootstrap"],
        vec!["-v", "status"],
        vec!["-vv", "outputs"],
        vec!["outputs", "--json"],
    ] {
        outputs.push(env.run(&args).ok());
    }
    let traced = env
        .command(&["pave", "--yes", "--no-bootstrap"])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    outputs.push(common::Run::from(traced));
    outputs.push(env.unpave());
    let key_lines: Vec<&str> = private_key
        .lines()
        .chain(host_key.lines())
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for run in &outputs {
        let text = run.all_output();
        assert!(!text.contains(&secret));
        assert!(!text.contains("PRIVATE KEY"));
        for line in &key_lines {
            assert!(!text.contains(line));
        }
    }
}
