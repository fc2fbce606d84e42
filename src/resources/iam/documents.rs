//! The policy documents: the roles' trust policy, the master and worker roles' inline policies
//! and the director's managed policy.

use serde_json::{Value, json};

fn document(statements: Value) -> String {
    json!({ "Version": "2012-10-17", "Statement": statements }).to_string()
}

/// Every role's trust policy: EC2 instances assume it, through their instance profiles.
pub(super) fn assume_role_document() -> String {
    document(json!([{
        "Effect": "Allow",
        "Principal": { "Service": "ec2.amazonaws.com" },
        "Action": "sts:AssumeRole"
    }]))
}

fn allow(actions: &[&str]) -> Value {
    json!({ "Effect": "Allow", "Action": actions, "Resource": "*" })
}

const MASTER_EC2_ACTIONS: &[&str] = &[
    "DescribeInstances",
    "DescribeRouteTables",
    "DescribeSecurityGroups",
    "DescribeSubnets",
    "DescribeVolumes",
    "CreateTags",
    "ModifyInstanceAttribute",
    "CreateSecurityGroup",
    "AuthorizeSecurityGroupIngress",
    "RevokeSecurityGroupIngress",
    "DeleteSecurityGroup",
    "CreateRoute",
    "DeleteRoute",
    "CreateVolume",
    "AttachVolume",
    "DetachVolume",
    "DeleteVolume",
    "DescribeVpcs",
];

const MASTER_ELB_ACTIONS: &[&str] = &[
    "AddTags",
    "AttachLoadBalancerToSubnets",
    "ApplySecurityGroupsToLoadBalancer",
    "CreateLoadBalancer",
    "CreateLoadBalancerPolicy",
    "CreateLoadBalancerListeners",
    "ConfigureHealthCheck",
    "DeleteLoadBalancer",
    "DeleteLoadBalancerListeners",
    "DescribeLoadBalancers",
    "DescribeLoadBalancerAttributes",
    "DetachLoadBalancerFromSubnets",
    "DeregisterInstancesFromLoadBalancer",
    "ModifyLoadBalancerAttributes",
    "RegisterInstancesWithLoadBalancer",
    "SetLoadBalancerPoliciesForBackendServer",
    "CreateListener",
    "CreateTargetGroup",
    "DeleteListener",
    "DeleteTargetGroup",
    "DescribeListeners",
    "DescribeLoadBalancerPolicies",
    "DescribeTargetGroups",
    "DescribeTargetHealth",
    "ModifyListener",
    "ModifyTargetGroup",
    "RegisterTargets",
    "SetLoadBalancerPoliciesOfListener",
];

fn prefixed(service: &str, actions: &[&str]) -> Vec<String> {
    actions.iter().map(|a| format!("{service}:{a}")).collect()
}

/// The inline policy of the master role: what the Kubernetes AWS cloud provider does on masters.
pub(super) fn master_policy() -> String {
    let mut actions = prefixed("ec2", MASTER_EC2_ACTIONS);
    actions.extend(prefixed("elasticloadbalancing", MASTER_ELB_ACTIONS));
    let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
    document(json!([allow(&actions)]))
}

/// The inline policy of the worker role.
pub(super) fn worker_policy() -> String {
    document(json!([allow(&["ec2:DescribeInstances"])]))
}

/// The BOSH director's managed policy: what the AWS CPI of the pinned director stack calls, per
/// statement of the CPI's own policy (`compat::CPI_IAM_STATEMENTS`), and `iam:PassRole` for exactly
/// the environment's three roles. `sts:DecodeAuthorizationMessage` lets the operator read the
/// encoded reason of an `UnauthorizedOperation` the CPI reports.
pub(super) fn director_policy(role_arns: &[String]) -> String {
    let mut statements: Vec<Value> = crate::compat::CPI_IAM_STATEMENTS
        .iter()
        .map(|(sid, actions)| {
            json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": "*" })
        })
        .collect();
    statements.push(json!({
        "Sid": crate::compat::CPI_PASS_ROLE_STATEMENT,
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": role_arns
    }));
    statements.push(json!({
        "Sid": "DecodeAuthorizationMessages",
        "Effect": "Allow",
        "Action": "sts:DecodeAuthorizationMessage",
        "Resource": "*"
    }));
    document(Value::Array(statements))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn director_policy_holds_the_cpi_statements_and_passes_exactly_the_three_roles() {
        let roles = vec![
            "arn:aws:iam::1:role/p-cfcr-master".to_string(),
            "arn:aws:iam::1:role/p-cfcr-worker".to_string(),
            "arn:aws:iam::1:role/p-bosh-director".to_string(),
        ];
        let doc: Value = serde_json::from_str(&director_policy(&roles)).unwrap();
        let statements = doc["Statement"].as_array().unwrap();
        let pass: Vec<&Value> = statements
            .iter()
            .filter(|s| s["Action"] == "iam:PassRole")
            .collect();
        assert_eq!(pass.len(), 1);
        assert_eq!(pass[0]["Resource"], json!(roles));
        for (sid, actions) in crate::compat::CPI_IAM_STATEMENTS {
            let statement = statements.iter().find(|s| s["Sid"] == sid).unwrap();
            assert_eq!(statement["Action"], json!(actions), "{sid}");
        }
        let text = doc.to_string();
        assert!(!text.contains("elasticloadbalancing:*"), "{text}");
        assert!(text.contains("ec2:CreateNetworkInterface"), "{text}");
    }

    #[test]
    fn master_policy_lists_every_action_once() {
        let doc: Value = serde_json::from_str(&master_policy()).unwrap();
        let actions = doc["Statement"][0]["Action"].as_array().unwrap();
        assert_eq!(actions.len(), 18 + 28);
        assert_eq!(doc["Statement"][0]["Resource"], "*");
    }
}
