//! Issue #6 as an operator meets it: plan's exit codes and JSON, every outputs format, the deployer
//! key on request only, list, machine-readable progress, the last-error record, refusing to ask
//! without a terminal, completions and the man page. (Drift is in inventory.rs.)

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Env, Run};
use serde_json::Value;

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect()
}

#[test]
fn plan_pave_and_the_outputs_an_operator_scripts_with() {
    let env = Env::new("oper", "");

    // A new environment: everything to create, exit 2 with --detailed-exitcode, nothing written.
    let plan = env.run(&["plan", "--detailed-exitcode", "--json"]);
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(plan["env"], env.prefix.as_str());
    assert_eq!(plan["summary"]["create"], 23);
    assert_eq!(plan["problems"], serde_json::json!([]));
    assert!(!env.state_path().exists(), "plan writes no state");
    assert_eq!(env.run(&["plan"]).ok().code, 0, "without the flag, 0");

    // Progress as JSON lines, for machines.
    let paved = env
        .run(&["--log-format", "json", "pave", "--yes", "--no-bootstrap"])
        .ok();
    let events = json_lines(&paved.stderr);
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "created" && e["resource"] == "vpc"),
        "{}",
        paved.stderr
    );

    let plan = env.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("nothing to do"), "{}", plan.stdout);
    let destroy = env.run(&["plan", "--destroy", "--detailed-exitcode", "--json"]);
    assert_eq!(destroy.code, 2);
    let destroy: Value = serde_json::from_str(&destroy.stdout).unwrap();
    assert_eq!(destroy["summary"]["delete"], 23);

    // Outputs: one value raw, env lines, YAML, JSON; all the same values.
    let all = env.outputs();
    let ip = env.run(&["outputs", "bosh_bastion_ip"]).ok().stdout;
    assert_eq!(ip.trim(), all["bosh_bastion_ip"].as_str().unwrap());
    let unknown = env.run(&["outputs", "no_such_output"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("bosh_bastion_ip"),
        "lists the names"
    );

    let script = format!(
        "eval \"$({} outputs --format env)\" && echo \"$vpc_id|$default_security_groups|$kubernetes_master_port\"",
        env!("CARGO_BIN_EXE_cfcr-aws")
    );
    // The same clean environment the tool gets, for the shell that evals its output.
    let tool = env.command(&[]);
    let evaluated = Run::from(
        std::process::Command::new("bash")
            .args(["-c", &script])
            .current_dir(env.path())
            .env_clear()
            .envs(tool.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .output()
            .unwrap(),
    )
    .ok();
    assert_eq!(
        evaluated.stdout.trim(),
        format!(
            "{}|[{}]|8443",
            all["vpc_id"].as_str().unwrap(),
            all["default_security_groups"][0].as_str().unwrap()
        )
    );

    let yaml = env.run(&["outputs", "--format", "yaml"]).ok().stdout;
    for line in yaml.lines() {
        let (name, value) = line.split_once(": ").unwrap();
        let value: Value = serde_json::from_str(value).unwrap();
        assert_eq!(value, all[name], "{name}");
    }
    assert_eq!(yaml.lines().count(), all.as_object().unwrap().len());

    // The deployer key: public by default, private only into a 0600 file on request.
    let public = env.run(&["ssh-key"]).ok();
    assert!(public.stdout.starts_with("ssh-ed25519 "));
    assert!(!public.all_output().contains("PRIVATE KEY"));
    let key_file = env.path().join("deployer.key");
    env.run(&["ssh-key", "--out", key_file.to_str().unwrap()])
        .ok();
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap(),
        env.state()["deployer_key"]["private_key"].as_str().unwrap()
    );

    // list: the environment, its region, paved.
    let list = env.run(&["list"]).ok().stdout;
    let row = list
        .lines()
        .find(|l| l.starts_with(&env.prefix))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(row.contains("us-east-1") && row.contains("paved"), "{row}");
    let listed: Value = serde_json::from_str(&env.run(&["list", "--json"]).ok().stdout).unwrap();
    assert_eq!(listed[0]["env"], env.prefix.as_str());

    // Without a terminal and without --yes, unpave refuses instead of waiting for an answer.
    let refused = env.run(&["unpave"]);
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert!(env.state_path().exists());

    env.unpave();
}

#[test]
fn a_failure_is_one_line_with_its_details_kept_in_last_error() {
    let env = Env::new("lasterr", "");
    std::fs::create_dir_all(env.path().join("state")).unwrap();
    let failed = env.run(&["status", "--env", "never-paved"]);
    assert_eq!(failed.code, 1);
    let error_lines: Vec<&str> = failed.stderr.lines().collect();
    assert_eq!(error_lines.len(), 1, "{}", failed.stderr);
    assert!(error_lines[0].starts_with("error: no state for environment"));

    let record = env.path().join("state/last-error.json");
    let mode = std::fs::metadata(&record).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let record: Value = serde_json::from_str(&std::fs::read_to_string(record).unwrap()).unwrap();
    assert!(record["error"].as_str().unwrap().contains("never-paved"));
    assert!(record["command"].as_array().unwrap().len() >= 3);

    let verbose = env.run(&["-v", "status", "--env", "never-paved"]);
    assert!(
        verbose.stderr.contains("  0: no state"),
        "{}",
        verbose.stderr
    );
}

#[test]
fn completions_and_the_man_page_come_from_the_cli_definition() {
    let env = Env::new("docs", "");
    for shell in ["bash", "zsh", "fish"] {
        let script = env.run(&["completions", shell]).ok().stdout;
        assert!(
            script.contains("unpave") && script.contains("max-concurrency"),
            "{shell}"
        );
    }
    let man = env.run(&["man"]).ok().stdout.replace("\\-", "-");
    assert!(man.starts_with(".ie") || man.contains(".TH"), "roff");
    for command in ["pave", "plan", "unpave", "outputs", "ssh-key", "list"] {
        assert!(man.contains(command), "{command}");
    }
    for command in [
        "pave", "plan", "unpave", "outputs", "status", "list", "ssh-key",
    ] {
        let help = env.run(&[command, "--help"]).ok().stdout;
        assert!(help.contains("Example"), "{command} --help has an example");
    }
}

#[test]
fn plan_ends_with_the_monthly_cost_and_json_carries_it() {
    // Issue #14: the cost of the environment as configured, from the built-in price table.
    let env = Env::new("cost", "worker_count = 2");
    let plan = env.run(&["plan"]).ok();
    assert!(
        plan.stdout.contains("Monthly cost in us-east-1"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("NAT gateway (hours)"));
    assert!(plan.stdout.contains("$32.85"));
    assert!(plan.stdout.contains("$226.47"), "{}", plan.stdout);
    assert!(plan.stdout.contains("per GB processed"));
    let json: Value = serde_json::from_str(&env.run(&["plan", "--json"]).ok().stdout).unwrap();
    assert_eq!(json["cost"]["total_monthly_usd"], 226.47);
    let lines = json["cost"]["lines"].as_array().unwrap();
    let sum: f64 = lines
        .iter()
        .map(|l| l["monthly_usd"].as_f64().unwrap())
        .sum();
    assert!((sum - 226.47).abs() < 0.01, "{sum}");

    // A region the table lacks says so; the plan itself is unchanged.
    let elsewhere = env.run(&["plan", "--region", "eu-west-1", "--zone", "eu-west-1a"]);
    assert!(
        elsewhere.stdout.contains("no prices for eu-west-1"),
        "{}{}",
        elsewhere.stdout,
        elsewhere.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quota_shortfall_is_named_before_anything_is_created() {
    // Issue #14: Service Quotas says the account may have one VPC; LocalStack already holds one.
    let proxy = common::proxy::Proxy::start(common::endpoint());
    let env = Env::against("quota", "", &proxy.url);
    proxy.add_rule(common::proxy::Rule {
        action: Some("GetServiceQuota"),
        times: 100,
        fault: common::proxy::Fault::Json(r#"{"Quota":{"Value":1.0}}"#),
    });
    let run = common::Run::from(
        env.command(&["pave", "--yes", "--no-bootstrap"])
            .env("CFCR_AWS_SKIP_QUOTA_CHECK", "false")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    for needle in [
        "quota VPCs per Region (L-F678F1CE, service vpc): 1 allowed",
        "in use, this environment needs 1 more",
        "aws service-quotas request-service-quota-increase --service-code vpc --quota-code L-F678F1CE",
        "nothing was created",
    ] {
        assert!(run.stderr.contains(needle), "{needle}: {}", run.stderr);
    }
    assert!(!env.state_path().exists());
    assert!(
        common::owned_in_aws(&common::aws().await, &env.prefix)
            .await
            .is_empty()
    );

    // In an existing VPC the VPC and its gateway are adopted, not created: their quotas do not
    // count (the others still refuse at one).
    let aws = common::aws().await;
    let mut network = common::network::vpc(&aws, "10.61.0.0/16", true, true).await;
    let public = network.public_subnet(&aws, "10.61.1.0/24").await;
    let adopted = Env::against(
        "quotavpc",
        &format!(
            "vpc_id = \"{}\"\npublic_subnet_id = \"{public}\"\nprivate_subnet_ip_prefix = \"10.61.2\"",
            network.vpc
        ),
        &proxy.url,
    );
    let plan = common::Run::from(
        adopted
            .command(&["plan"])
            .env("CFCR_AWS_SKIP_QUOTA_CHECK", "false")
            .output()
            .unwrap(),
    );
    assert!(
        plan.all_output().contains("quota "),
        "{}",
        plan.all_output()
    );
    for adopted_quota in ["L-F678F1CE", "L-A4707A72"] {
        assert!(
            !plan.all_output().contains(adopted_quota),
            "{adopted_quota}: {}",
            plan.all_output()
        );
    }

    // Without Service Quotas (LocalStack has none), AWS's defaults stand in, and pave says so.
    let plain = Env::new("quotadefault", "");
    let plan = common::Run::from(
        plain
            .command(&["plan"])
            .env("CFCR_AWS_SKIP_QUOTA_CHECK", "false")
            .output()
            .unwrap(),
    );
    assert!(
        plan.stderr.contains("AWS's default quota was assumed"),
        "{}",
        plan.stderr
    );
}

/// Issue #14, part 4: a role that IAM will not delete (`DeleteConflict`) because someone added
/// policies to it by hand: unpave names them, detaches the managed one (which lives on) and
/// deletes the inline one (which exists only inside the role), and finishes.
#[tokio::test(flavor = "multi_thread")]
async fn policies_added_to_a_role_by_hand_are_named_and_released() {
    let env = Env::new("rolepol", "");
    env.pave();
    let iam = common::aws().await.iam;
    let role = format!("{}-cfcr-master", env.prefix);
    iam.put_role_policy()
        .role_name(&role)
        .policy_name("added-by-hand")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let managed = iam
        .create_policy()
        .policy_name(format!("{}-audit", env.prefix))
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:DescribeVpcs","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let arn = managed.policy().unwrap().arn().unwrap().to_string();
    iam.attach_role_policy()
        .role_name(&role)
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    let gone = env.unpave();
    assert!(
        gone.stderr.contains("inline policy \"added-by-hand\""),
        "{}",
        gone.stderr
    );
    assert!(gone.stderr.contains(&arn), "{}", gone.stderr);
    common::assert_gone(&env).await;
    // The managed policy is someone else's: it is still there.
    iam.get_policy().policy_arn(&arn).send().await.unwrap();
    iam.delete_policy().policy_arn(&arn).send().await.unwrap();
}
