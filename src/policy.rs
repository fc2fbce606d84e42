//! The least-privilege IAM policy an operator needs to run cfcr-aws for one environment: every
//! action the tool sends (`plan`, `pave`, drift repair, `status`, `outputs`, `unpave` with and without
//! a state, the state in S3 with its lock), scoped where AWS allows it — IAM entities under the
//! environment's path, EC2 resources by the environment's ownership tag (on the request for what it
//! creates, on the resource for what it changes), the master load balancer by name, what Kubernetes
//! made by the cluster tag's value, load balancer interfaces by the environment's VPC, the state's
//! bucket and objects. No `"Action": "*"` and no service wildcards. docs/permissions.md explains each
//! statement.

use serde_json::{Value, json};

use crate::config::Settings;
use crate::ec2::tags::{CLUSTER_TAG, OWNER_TAG};
use crate::resources::iam_path;
use crate::state::S3Location;

/// Reads that AWS does not scope by resource (EC2's and ELB's describes, IAM's listings, the
/// quotas preflight checks).
const READS: &[&str] = &[
    "ec2:DescribeAccountAttributes",
    "ec2:DescribeAddresses",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypeOfferings",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeInstances",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeKeyPairs",
    "ec2:DescribeNatGateways",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeTags",
    "ec2:DescribeVolumes",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeVpcs",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTags",
    "iam:ListInstanceProfiles",
    "iam:ListPolicies",
    "iam:ListRoles",
    "iam:ListUsers",
    "pricing:GetProducts",
    "servicequotas:GetServiceQuota",
];

/// EC2 creates: allowed only when the request carries the environment's ownership tag.
const EC2_CREATES: &[&str] = &[
    "ec2:AllocateAddress",
    "ec2:CreateInternetGateway",
    "ec2:CreateNatGateway",
    "ec2:CreateRouteTable",
    "ec2:CreateSecurityGroup",
    "ec2:CreateSubnet",
    "ec2:CreateVpc",
    "ec2:ImportKeyPair",
    "ec2:RunInstances",
];

/// The kinds of EC2 resource those creates make and tag.
const EC2_CREATED_KINDS: &[&str] = &[
    "elastic-ip",
    "instance",
    "internet-gateway",
    "key-pair",
    "natgateway",
    "route-table",
    "security-group",
    "subnet",
    "vpc",
];

/// What `RunInstances` creates with the instance, untagged (the tool tags the instance): IAM
/// evaluates them too, and the instance's own tag condition bounds the launch.
const EC2_LAUNCHED_WITH_INSTANCE: &[&str] = &["network-interface", "volume"];

/// EC2 changes to resources the environment owns (its ownership tag on the resource), including
/// using them in a create (a subnet in the VPC, an instance in the subnet).
const EC2_ON_OWNED: &[&str] = &[
    "ec2:AssociateAddress",
    "ec2:AssociateRouteTable",
    "ec2:AttachInternetGateway",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:CreateNatGateway",
    "ec2:CreateRoute",
    "ec2:CreateRouteTable",
    "ec2:CreateSecurityGroup",
    "ec2:CreateSubnet",
    "ec2:CreateTags",
    "ec2:DeleteInternetGateway",
    "ec2:DeleteKeyPair",
    "ec2:DeleteNatGateway",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteRoute",
    "ec2:DeleteRouteTable",
    "ec2:DeleteSecurityGroup",
    "ec2:DeleteSubnet",
    "ec2:DeleteVolume",
    "ec2:DeleteVpc",
    "ec2:DetachInternetGateway",
    "ec2:DisassociateAddress",
    "ec2:DisassociateRouteTable",
    "ec2:ModifyVpcAttribute",
    "ec2:ReleaseAddress",
    "ec2:ReplaceRoute",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:RunInstances",
    "ec2:TerminateInstances",
];

/// What Kubernetes' cloud provider made for the cluster (the cluster tag's value on the resource).
const EC2_ON_CLUSTER: &[&str] = &[
    "ec2:DeleteSecurityGroup",
    "ec2:DeleteVolume",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:TerminateInstances",
];

/// The kinds of EC2 resource those act on.
const EC2_CLUSTER_KINDS: &[&str] = &["instance", "security-group", "volume"];

/// A load balancer's network interfaces, which AWS manages and tags with nothing: deleted after
/// the load balancer, instead of waiting minutes for AWS (see docs/reliability.md).
const EC2_LOAD_BALANCER_INTERFACES: &[&str] =
    &["ec2:DeleteNetworkInterface", "ec2:DetachNetworkInterface"];

/// The role Elastic Load Balancing creates for itself with an account's first load balancer.
const ELB_SERVICE: &str = "elasticloadbalancing.amazonaws.com";
const ELB_SERVICE_LINKED_ROLE: &str = "AWSServiceRoleForElasticLoadBalancing";

/// Uses of an adopted VPC and its subnets, which carry no ownership tag: creating in them and
/// routing an adopted private subnet through the environment's own route table.
const EC2_IN_ADOPTED: &[&str] = &[
    "ec2:AssociateRouteTable",
    "ec2:CreateNatGateway",
    "ec2:CreateRouteTable",
    "ec2:CreateSecurityGroup",
    "ec2:CreateSubnet",
    "ec2:RunInstances",
];

const ELB_MASTER: &[&str] = &[
    "elasticloadbalancing:AddTags",
    "elasticloadbalancing:ConfigureHealthCheck",
    "elasticloadbalancing:CreateLoadBalancer",
    "elasticloadbalancing:DeleteLoadBalancer",
];

const IAM_UNDER_PATH: &[&str] = &[
    "iam:AddRoleToInstanceProfile",
    "iam:AttachRolePolicy",
    "iam:AttachUserPolicy",
    "iam:CreateAccessKey",
    "iam:CreateInstanceProfile",
    "iam:CreatePolicy",
    "iam:CreateRole",
    "iam:CreateUser",
    "iam:DeleteAccessKey",
    "iam:DeleteInstanceProfile",
    "iam:DeletePolicy",
    "iam:DeleteRole",
    "iam:DeleteRolePolicy",
    "iam:DeleteUser",
    "iam:DetachRolePolicy",
    "iam:DetachUserPolicy",
    "iam:GetInstanceProfile",
    "iam:GetPolicy",
    "iam:GetRole",
    "iam:GetUser",
    "iam:ListAccessKeys",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
    "iam:ListRolePolicies",
    "iam:PassRole",
    "iam:PutRolePolicy",
    "iam:RemoveRoleFromInstanceProfile",
    "iam:TagInstanceProfile",
    "iam:TagPolicy",
    "iam:TagRole",
    "iam:TagUser",
];

const S3_BUCKET: &[&str] = &[
    "s3:CreateBucket",
    "s3:GetBucketVersioning",
    "s3:ListBucket",
    "s3:PutBucketVersioning",
];

const S3_OBJECTS: &[&str] = &["s3:DeleteObject", "s3:GetObject", "s3:PutObject"];

fn statement(sid: &str, actions: &[&str], resource: Value, condition: Option<Value>) -> Value {
    let mut statement = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": resource,
    });
    if let Some(condition) = condition {
        statement["Condition"] = condition;
    }
    statement
}

/// What the environment's state names that unpave's deletes are scoped to. Neither exists before
/// the first pave (an adopted VPC excepted), and the statements that need them are left out.
#[derive(Debug, Default)]
pub struct Paved {
    /// The environment's VPC, its own or adopted.
    pub vpc_id: Option<String>,
    /// The value of the environment's cluster tag.
    pub cluster_tag: Option<String>,
}

/// The policy document for the environment `settings` describes, with its state at `state`
/// (encrypted with `state_kms_key`, when the config names one).
pub fn document(
    settings: &Settings,
    state: Option<&S3Location>,
    state_kms_key: Option<&str>,
    paved: &Paved,
) -> Value {
    let arns = Arns {
        region: &settings.region,
    };
    let mut statements = environment_statements(settings, &arns);
    if let Some(cluster_tag) = &paved.cluster_tag {
        statements.extend(cluster_statements(cluster_tag, &arns));
    }
    if let Some(vpc_id) = &paved.vpc_id {
        statements.extend(load_balancer_interface_statements(vpc_id, &arns));
    }
    if let Some(vpc_id) = &settings.vpc_id {
        statements.extend(adopted_network_statements(settings, vpc_id, &arns));
    }
    if let Some(state) = state {
        statements.extend(state_statements(
            &settings.prefix,
            state,
            state_kms_key,
            &arns,
        ));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The ARNs of the environment's region.
struct Arns<'a> {
    region: &'a str,
}

impl Arns<'_> {
    fn ec2(&self, kind: &str) -> String {
        format!("arn:aws:ec2:{}:*:{kind}/*", self.region)
    }

    fn ec2_kinds(&self, kinds: &[&str]) -> Value {
        json!(kinds.iter().map(|k| self.ec2(k)).collect::<Vec<_>>())
    }
}

/// What every environment needs: reads, its own EC2 resources, its load balancer and IAM.
fn environment_statements(settings: &Settings, arns: &Arns) -> Vec<Value> {
    let (region, env) = (arns.region, &settings.prefix);
    let path = iam_path(env);
    let owned = json!({"StringEquals": {format!("aws:ResourceTag/{OWNER_TAG}"): env}});
    vec![
        statement("Read", READS, json!("*"), None),
        statement(
            "CreateTaggedEc2Resources",
            EC2_CREATES,
            arns.ec2_kinds(EC2_CREATED_KINDS),
            Some(json!({"StringEquals": {format!("aws:RequestTag/{OWNER_TAG}"): env}})),
        ),
        statement(
            "LaunchWithTheInstance",
            &["ec2:RunInstances"],
            arns.ec2_kinds(EC2_LAUNCHED_WITH_INSTANCE),
            None,
        ),
        // By kind, not `*/*`: evaluators differ on a wildcard resource type.
        statement(
            "TagWhileCreating",
            &["ec2:CreateTags"],
            arns.ec2_kinds(EC2_CREATED_KINDS),
            Some(json!({"StringEquals": {"ec2:CreateAction": EC2_CREATES
                .iter()
                .map(|a| a.trim_start_matches("ec2:"))
                .collect::<Vec<_>>()}})),
        ),
        statement(
            "ChangeOwnedEc2Resources",
            EC2_ON_OWNED,
            json!("*"),
            Some(owned),
        ),
        statement(
            "LaunchFromPublicImages",
            &["ec2:RunInstances"],
            json!(format!("arn:aws:ec2:{region}::image/*")),
            None,
        ),
        statement(
            "MasterLoadBalancer",
            ELB_MASTER,
            json!(format!(
                "arn:aws:elasticloadbalancing:{region}:*:loadbalancer/{}",
                settings.name("cfcr-api")
            )),
            None,
        ),
        statement(
            "ElbServiceLinkedRole",
            &["iam:CreateServiceLinkedRole"],
            json!(format!(
                "arn:aws:iam::*:role/aws-service-role/{ELB_SERVICE}/{ELB_SERVICE_LINKED_ROLE}"
            )),
            Some(json!({"StringEquals": {"iam:AWSServiceName": ELB_SERVICE}})),
        ),
        statement(
            "IamUnderTheEnvironmentsPath",
            IAM_UNDER_PATH,
            json!(
                ["role", "instance-profile", "policy", "user"]
                    .map(|kind| format!("arn:aws:iam::*:{kind}{path}*"))
            ),
            None,
        ),
    ]
}

/// What Kubernetes' cloud provider made for the cluster, removed by unpave.
fn cluster_statements(cluster_tag: &str, arns: &Arns) -> Vec<Value> {
    let of_cluster =
        json!({"StringEquals": {format!("aws:ResourceTag/{CLUSTER_TAG}"): cluster_tag}});
    vec![
        statement(
            "RemoveKubernetesLeftovers",
            EC2_ON_CLUSTER,
            arns.ec2_kinds(EC2_CLUSTER_KINDS),
            Some(of_cluster.clone()),
        ),
        statement(
            "RemoveKubernetesLoadBalancers",
            &["elasticloadbalancing:DeleteLoadBalancer"],
            json!(format!(
                "arn:aws:elasticloadbalancing:{}:*:loadbalancer/*",
                arns.region
            )),
            Some(of_cluster),
        ),
    ]
}

/// The network interfaces load balancers leave in the environment's VPC.
fn load_balancer_interface_statements(vpc_id: &str, arns: &Arns) -> Vec<Value> {
    vec![
        statement(
            "DeleteLoadBalancerInterfaces",
            EC2_LOAD_BALANCER_INTERFACES,
            json!(arns.ec2("network-interface")),
            Some(
                json!({"ArnLike": {"ec2:Vpc": format!("arn:aws:ec2:{}:*:vpc/{vpc_id}", arns.region)}}),
            ),
        ),
        // The instance an interface is detached from is the load balancer's own, in Elastic Load
        // Balancing's account: no tag or key of the instance tells it apart (docs/permissions.md).
        statement(
            "DetachFromLoadBalancers",
            &["ec2:DetachNetworkInterface"],
            json!(arns.ec2("instance")),
            None,
        ),
    ]
}

/// Creating in an adopted VPC and its subnets, which carry no ownership tag.
fn adopted_network_statements(settings: &Settings, vpc_id: &str, arns: &Arns) -> Vec<Value> {
    let region = arns.region;
    let adopted_subnets: Vec<String> = [&settings.public_subnet_id, &settings.private_subnet_id]
        .into_iter()
        .flatten()
        .map(|id| format!("arn:aws:ec2:{region}:*:subnet/{id}"))
        .collect();
    let mut network = vec![format!("arn:aws:ec2:{region}:*:vpc/{vpc_id}")];
    network.extend(adopted_subnets.iter().cloned());
    let mut statements = vec![statement(
        "UseTheAdoptedNetwork",
        EC2_IN_ADOPTED,
        json!(network),
        None,
    )];
    if !adopted_subnets.is_empty() {
        statements.push(statement(
            "ClusterTagOnAdoptedSubnets",
            &["ec2:CreateTags", "ec2:DeleteTags"],
            json!(adopted_subnets),
            // A DeleteTags naming no key deletes every tag, and an empty list meets
            // ForAllValues: the keys must be there.
            Some(json!({
                "ForAllValues:StringEquals": {"aws:TagKeys": [CLUSTER_TAG]},
                "Null": {"aws:TagKeys": "false"},
            })),
        ));
    }
    statements
}

/// The state's bucket, its objects and lock, and the key that encrypts them.
fn state_statements(
    env: &str,
    state: &S3Location,
    state_kms_key: Option<&str>,
    arns: &Arns,
) -> Vec<Value> {
    let bucket = format!("arn:aws:s3:::{}", state.bucket);
    let prefix = state.prefix.trim_matches('/');
    let objects = if prefix.is_empty() {
        format!("{bucket}/{env}.*")
    } else {
        format!("{bucket}/{prefix}/{env}.*")
    };
    let mut statements = vec![
        statement("StateBucket", S3_BUCKET, json!(bucket), None),
        statement("StateAndLock", S3_OBJECTS, json!(objects), None),
    ];
    if let Some(key) = state_kms_key {
        // A key ARN is named exactly; an id or alias can only be matched within the region.
        let key_arn = if key.starts_with("arn:") {
            key.to_string()
        } else {
            format!("arn:aws:kms:{}:*:key/*", arns.region)
        };
        statements.push(statement(
            "StateEncryptionKey",
            &["kms:Decrypt", "kms:GenerateDataKey"],
            json!(key_arn),
            None,
        ));
    }
    statements
}

/// Every action the document allows, for `--json`'s readers and the tests.
pub fn actions(document: &Value) -> Vec<String> {
    let mut all: Vec<String> = document["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::validate(
            crate::config::ConfigValues {
                prefix: Some("dev".into()),
                region: Some("eu-west-1".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap()
    }

    fn sids(doc: &Value) -> Vec<&str> {
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn no_wildcard_actions_and_everything_scoped_to_the_environment() {
        let state = S3Location::parse("s3://team/cfcr").unwrap();
        let doc = document(&settings(), Some(&state), None, &Paved::default());
        for action in actions(&doc) {
            assert!(!action.contains('*'), "{action}");
        }
        let text = doc.to_string();
        assert!(
            text.contains("arn:aws:iam::*:role/cfcr-aws/dev/*"),
            "{text}"
        );
        assert!(text.contains("loadbalancer/dev-cfcr-api"), "{text}");
        assert!(text.contains("arn:aws:s3:::team/cfcr/dev.*"), "{text}");
        assert!(
            text.contains("\"aws:RequestTag/cfcr-aws:env\":\"dev\""),
            "{text}"
        );
    }

    #[test]
    fn unpaves_untagged_deletes_wait_for_the_values_the_state_names() {
        let before = document(&settings(), None, None, &Paved::default());
        for sid in [
            "RemoveKubernetesLeftovers",
            "RemoveKubernetesLoadBalancers",
            "DeleteLoadBalancerInterfaces",
            "DetachFromLoadBalancers",
        ] {
            assert!(!sids(&before).contains(&sid), "{sid}");
        }
        let paved = Paved {
            vpc_id: Some("vpc-0123456789abcdef0".into()),
            cluster_tag: Some("XPScaU_vGt8FNLBEhqdoiw".into()),
        };
        let text = document(&settings(), None, None, &paved).to_string();
        assert!(
            text.contains(
                r#"{"StringEquals":{"aws:ResourceTag/KubernetesCluster":"XPScaU_vGt8FNLBEhqdoiw"}}"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"{"ArnLike":{"ec2:Vpc":"arn:aws:ec2:eu-west-1:*:vpc/vpc-0123456789abcdef0"}}"#
            ),
            "{text}"
        );
    }
}
