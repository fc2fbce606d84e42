//! Issue #18: the director's IAM policy, as cfcr-aws creates it in IAM, holds every action of the
//! AWS CPI statements the director needs — read off the CPI's own docs/iam-policy.json at the version
//! bosh-deployment's pin runs (tests/fixtures/upstream/cpi-iam-actions.json) — in both credential
//! modes: on the director's role, and on its user in access-key mode.

mod common;

use std::collections::BTreeSet;

use common::{Env, aws};
use serde_json::Value;

/// The CPI statements the director uses, by `Sid` (docs/compatibility.md says why each).
const NEEDED: [&str; 6] = [
    "BaselinePolicy",
    "RequiredIfUsingHeavyStemcells",
    "RequiredIfUsingSnapshotsFeature",
    "RequiredIfUsingElasticIPs",
    "RequiredIfUsingELBCloudProperties",
    "RequiredIfUsingIAMInstanceProfileCloudProperty",
];

fn cpi_actions() -> BTreeSet<String> {
    let facts: Value =
        serde_json::from_str(include_str!("fixtures/upstream/cpi-iam-actions.json")).unwrap();
    NEEDED
        .iter()
        .flat_map(|sid| {
            facts["statements"][sid]
                .as_array()
                .unwrap_or_else(|| panic!("the CPI's policy has no statement {sid}"))
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
        })
        .collect()
}

/// The default version's document of a managed policy, as IAM returns it (URL-encoded JSON).
async fn document(arn: &str) -> Value {
    let iam = aws().await.iam;
    let policy = iam.get_policy().policy_arn(arn).send().await.unwrap();
    let version = policy.policy().unwrap().default_version_id().unwrap();
    let out = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .unwrap();
    let encoded = out.policy_version().unwrap().document().unwrap();
    let text = percent_encoding::percent_decode_str(encoded).decode_utf8_lossy();
    serde_json::from_str(&text).unwrap()
}

fn allowed(document: &Value) -> BTreeSet<String> {
    document["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| match &s["Action"] {
            Value::String(one) => vec![one.clone()],
            Value::Array(many) => many
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect(),
            other => panic!("unexpected Action {other}"),
        })
        .collect()
}

#[track_caller]
fn assert_covers(what: &str, document: &Value, env: &Env) {
    let missing: Vec<String> = cpi_actions()
        .difference(&allowed(document))
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: the director's policy lacks the CPI's {missing:?}"
    );
    // iam:PassRole only for the environment's own roles.
    for statement in document["Statement"].as_array().unwrap() {
        if statement["Action"] == "iam:PassRole" {
            let roles = statement["Resource"].as_array().unwrap();
            assert_eq!(roles.len(), 3, "{statement}");
            for role in roles {
                let role = role.as_str().unwrap();
                assert!(role.contains(&format!("/{}-", env.prefix)), "{role}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_directors_policy_holds_every_action_its_cpi_needs_in_both_modes() {
    let profile = Env::new("dirpol", "");
    let key = Env::new("dirkey", "director_credentials = \"access-key\"");
    profile.pave();
    key.pave();
    let iam = aws().await.iam;
    for env in [&profile, &key] {
        let attached = iam
            .list_attached_role_policies()
            .role_name(format!("{}-bosh-director", env.prefix))
            .send()
            .await
            .unwrap();
        let arns: Vec<&str> = attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn())
            .collect();
        assert_eq!(arns, [env.id("director_policy")]);
        assert_covers("the director's role", &document(arns[0]).await, env);
    }
    let on_user = iam
        .list_attached_user_policies()
        .user_name(format!("{}-bosh-director", key.prefix))
        .send()
        .await
        .unwrap();
    let arn = on_user.attached_policies()[0].policy_arn().unwrap();
    assert_covers("the director's user", &document(arn).await, &key);
    profile.unpave();
    key.unpave();
}
