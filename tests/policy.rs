//! Issue #14: `cfcr-aws policy` allows every action the tool sends. Every request of a full run —
//! plan, pave, a drift repair, status, outputs, unpave, unpave without a state (discovery by tag),
//! and the state in S3 with its lock — is recorded through the proxy as the IAM action it needs, in
//! both credential modes and in an existing VPC; the test fails on any action the printed policy
//! lacks. The policy is printed while the environment is paved: unpave's deletes of what carries no
//! ownership tag are scoped to the VPC and cluster tag its state names. tests/policy_reference.rs
//! evaluates the conditions.

mod common;

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{IpPermission, IpRange};
use common::network::vpc;
use common::proxy::Proxy;
use common::{Env, Run, aws, endpoint};
use serde_json::Value;

/// Runs everything; returns `policy --json` and `policy` as printed with the state in S3 paved.
async fn full_run(env: &Env, state_url: &str) -> (Run, Run) {
    assert!([0, 2].contains(&env.run(&["plan"]).code));
    // With the quota checks an operator's run makes (the tests skip them: LocalStack's numbers are
    // not AWS's); LocalStack has no Service Quotas, so the defaults may even refuse here.
    let with_quotas = env
        .command(&["plan"])
        .env("CFCR_AWS_SKIP_QUOTA_CHECK", "false")
        .output()
        .unwrap();
    assert!([0, 1, 2].contains(&with_quotas.status.code().unwrap_or(-1)));
    env.pave();
    // Drift, then its repair.
    aws()
        .await
        .ec2
        .revoke_security_group_ingress()
        .group_id(env.id("node_access_security_group"))
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(env.run(&["status"]).code, 2);
    env.pave();
    env.run(&["status"]).ok();
    env.run(&["outputs"]).ok();
    env.unpave();
    // Without a state: found by tag and name.
    env.pave();
    std::fs::remove_file(env.state_path()).unwrap();
    env.run(&["unpave", "--env", &env.prefix, "--yes"]).ok();
    // The state in S3, with its lock.
    env.run(&[
        "--state",
        state_url,
        "--create-state-bucket",
        "pave",
        "--yes",
        "--no-bootstrap",
    ])
    .ok();
    env.run(&["--state", state_url, "status"]).ok();
    let printed = (
        env.run(&["--state", state_url, "policy", "--json"]).ok(),
        env.run(&["--state", state_url, "policy"]).ok(),
    );
    env.run(&["--state", state_url, "unpave", "--yes"]).ok();
    printed
}

/// An existing network to pave into: its private subnet has no way out, so the environment adds
/// its NAT gateway and associates its route table too.
async fn existing_network() -> String {
    let aws = aws().await;
    let mut network = vpc(&aws, "10.60.0.0/16", true, true).await;
    let public = network.public_subnet(&aws, "10.60.1.0/24").await;
    let private = network
        .subnet(&aws, "10.60.2.0/24", "us-east-1a", &[])
        .await;
    format!(
        "vpc_id = \"{}\"\npublic_subnet_id = \"{public}\"\nprivate_subnet_id = \"{private}\"",
        network.vpc
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_printed_policy_allows_every_action_a_full_run_sends() {
    let existing = existing_network().await;
    for (label, extra) in [
        ("polprof", ""),
        ("polkey", "director_credentials = \"access-key\""),
        ("polvpc", existing.as_str()),
    ] {
        let proxy = Proxy::start(endpoint());
        let env = Env::against(label, extra, &proxy.url);
        let state_url = format!("s3://cfcr-state-{}/team", env.prefix);
        let (json, text) = full_run(&env, &state_url).await;
        let sent: BTreeSet<String> = proxy.iam_actions().into_iter().collect();

        let printed: Value = serde_json::from_str(&json.stdout).unwrap();
        let allowed: BTreeSet<String> = printed["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        let missing: Vec<&String> = sent.difference(&allowed).collect();
        assert!(missing.is_empty(), "{label}: the policy lacks {missing:?}");
        // Sent on AWS, never against LocalStack: no Kubernetes, no load balancer interfaces, no
        // service-linked role to create.
        for action in [
            "ec2:DeleteNetworkInterface",
            "ec2:DetachNetworkInterface",
            "ec2:DeleteVolume",
            "elasticloadbalancing:DeleteLoadBalancer",
            "iam:CreateServiceLinkedRole",
        ] {
            assert!(
                allowed.contains(action),
                "{label}: the policy lacks {action}"
            );
        }
        assert!(sent.len() > 60, "{label}: {sent:?}");
        for statement in printed["policy"]["Statement"].as_array().unwrap() {
            for action in statement["Action"].as_array().unwrap() {
                assert!(!action.as_str().unwrap().contains('*'), "{action}");
            }
        }
        // The text form is the same document, ready for `aws iam create-policy`.
        let document: Value = serde_json::from_str(&text.stdout).unwrap();
        assert_eq!(document, printed["policy"]);
    }
}
