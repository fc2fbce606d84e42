//! IAM: the master and worker roles (for the Kubernetes AWS cloud provider), the BOSH director's
//! role and managed policy, their instance profiles, and in `access-key` mode the director's user.

use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use serde_json::{Value, json};

use super::resource::{Ctx, NameTaken, Need, Needs, Resource, fresh, fresh_create};
use super::snapshot::{Health, Observed};
use super::tags::OWNER_TAG;
use crate::aws::{self, ErrorClass, Policy};
use crate::config::Settings;
use crate::key::Key;
use crate::report;
use crate::state::{AccessKey, Record};

pub const ARN: &str = "arn";

/// The IAM path of everything an environment owns, so one listing per kind finds it all.
pub fn iam_path(env: &str) -> String {
    format!("/cfcr-aws/{env}/")
}

fn present_if(present: bool) -> Option<Health> {
    Some(if present {
        Health::Present
    } else {
        Health::Missing
    })
}

fn tags(ctx: &Ctx, name: &str) -> anyhow::Result<Vec<Tag>> {
    Ok(vec![
        Tag::builder().key("Name").value(name).build()?,
        Tag::builder().key(OWNER_TAG).value(ctx.env()).build()?,
    ])
}

fn owned(ctx: &Ctx, tags: &[Tag]) -> bool {
    tags.iter()
        .any(|t| t.key() == OWNER_TAG && t.value() == ctx.env())
}

fn taken(ctx: &Ctx, what: &'static str, name: String) -> anyhow::Error {
    NameTaken {
        what,
        name,
        env: ctx.env().to_string(),
    }
    .into()
}

fn document(statements: Value) -> String {
    json!({ "Version": "2012-10-17", "Statement": statements }).to_string()
}

fn assume_role_document() -> String {
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
pub fn master_policy() -> String {
    let mut actions = prefixed("ec2", MASTER_EC2_ACTIONS);
    actions.extend(prefixed("elasticloadbalancing", MASTER_ELB_ACTIONS));
    let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
    document(json!([allow(&actions)]))
}

/// The inline policy of the worker role.
pub fn worker_policy() -> String {
    document(json!([allow(&["ec2:DescribeInstances"])]))
}

/// The BOSH director's managed policy: what the AWS CPI of the pinned director stack calls, per
/// statement of the CPI's own policy (`compat::CPI_IAM_STATEMENTS`), and `iam:PassRole` for exactly
/// the environment's three roles. `sts:DecodeAuthorizationMessage` lets the operator read the
/// encoded reason of an `UnauthorizedOperation` the CPI reports.
pub fn director_policy(role_arns: &[String]) -> String {
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

/// The partition and account id inside an ARN (`arn:aws:iam::123456789012:role/x`): ARNs this
/// tool builds take both from one AWS returned, so they are right in `aws-cn` and `aws-us-gov` too.
fn partition_and_account(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.split(':');
    let partition = parts.nth(1).filter(|p| !p.is_empty())?;
    let account = parts.nth(2).filter(|a| !a.is_empty())?;
    Some((partition, account))
}

// ---------------------------------------------------------------------------------------------------

pub struct Role {
    key: Key,
    suffix: &'static str,
    inline_policy: Option<fn() -> String>,
}

impl Role {
    pub fn master() -> Role {
        Role {
            key: Key::MasterRole,
            suffix: "cfcr-master",
            inline_policy: Some(master_policy),
        }
    }

    pub fn worker() -> Role {
        Role {
            key: Key::WorkerRole,
            suffix: "cfcr-worker",
            inline_policy: Some(worker_policy),
        }
    }

    pub fn director() -> Role {
        Role {
            key: Key::DirectorRole,
            suffix: "bosh-director",
            inline_policy: None,
        }
    }

    /// Removes what AWS refuses to delete a role with, naming what someone added by hand: managed
    /// policies are detached (they live on), inline policies deleted (they exist only inside the
    /// role), instance profiles left.
    async fn release(&self, ctx: &Ctx, name: &str) -> anyhow::Result<()> {
        let iam = &ctx.aws.iam;
        let inline = aws::call("ListRolePolicies", &Policy::standard(), || {
            iam.list_role_policies().role_name(name).send()
        })
        .await?;
        for policy in inline.policy_names() {
            report::note(&format!(
                "role {name} holds inline policy {policy:?}, added outside cfcr-aws: deleting it with the role"
            ));
            aws::absent_ok(
                aws::call("DeleteRolePolicy", &Policy::standard(), || {
                    iam.delete_role_policy()
                        .role_name(name)
                        .policy_name(policy)
                        .send()
                })
                .await,
            )?;
        }
        let attached = aws::call("ListAttachedRolePolicies", &Policy::standard(), || {
            iam.list_attached_role_policies().role_name(name).send()
        })
        .await?;
        for arn in attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn())
        {
            report::note(&format!(
                "role {name} has managed policy {arn} attached: detaching it (the policy stays)"
            ));
            aws::absent_ok(
                aws::call("DetachRolePolicy", &Policy::standard(), || {
                    iam.detach_role_policy()
                        .role_name(name)
                        .policy_arn(arn)
                        .send()
                })
                .await,
            )?;
        }
        let profiles = aws::call("ListInstanceProfilesForRole", &Policy::standard(), || {
            iam.list_instance_profiles_for_role().role_name(name).send()
        })
        .await?;
        for profile in profiles.instance_profiles() {
            aws::absent_ok(
                aws::call("RemoveRoleFromInstanceProfile", &Policy::standard(), || {
                    iam.remove_role_from_instance_profile()
                        .instance_profile_name(profile.instance_profile_name())
                        .role_name(name)
                        .send()
                })
                .await,
            )?;
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for Role {
    fn key(&self) -> Key {
        self.key
    }

    fn name(&self, settings: &Settings) -> String {
        settings.name(self.suffix)
    }

    fn needs(&self) -> Needs {
        Needs::default()
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        let iam = &ctx.aws.iam;
        let name = self.name(&ctx.settings);
        let found = aws::absent_ok(
            aws::call("GetRole", &Policy::standard(), || {
                iam.get_role().role_name(&name).send()
            })
            .await,
        )?;
        let Some(role) = found.and_then(|o| o.role) else {
            return Ok(None);
        };
        if !owned(ctx, role.tags()) {
            return Err(taken(ctx, "IAM role", name));
        }
        Ok(Some(Record::new(name).with(ARN, role.arn())))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let iam = &ctx.aws.iam;
        let name = self.name(&ctx.settings);
        let tags = tags(ctx, &name)?;
        let out = aws::call("CreateRole", &Policy::create(), || {
            iam.create_role()
                .role_name(&name)
                .path(iam_path(ctx.env()))
                .assume_role_policy_document(assume_role_document())
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await?;
        let arn = out.role().map(|r| r.arn()).unwrap_or_default();
        Ok(Record::new(name).with(ARN, arn))
    }

    async fn complete(&self, ctx: &Ctx, record: Record) -> anyhow::Result<Record> {
        if let Some(policy) = self.inline_policy {
            let iam = &ctx.aws.iam;
            aws::call("PutRolePolicy", &fresh(), || {
                iam.put_role_policy()
                    .role_name(&record.id)
                    .policy_name(&record.id)
                    .policy_document(policy())
                    .send()
            })
            .await?;
        }
        Ok(record)
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        let iam = &ctx.aws.iam;
        Ok(aws::absent_ok(
            aws::call("GetRole", &Policy::standard(), || {
                iam.get_role().role_name(&record.id).send()
            })
            .await,
        )?
        .is_some())
    }

    fn observe(&self, _ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        present_if(seen.roles.contains(&record.id))
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let iam = &ctx.aws.iam;
        if self.inline_policy.is_some() {
            aws::absent_ok(
                aws::call("DeleteRolePolicy", &Policy::standard(), || {
                    iam.delete_role_policy()
                        .role_name(&record.id)
                        .policy_name(&record.id)
                        .send()
                })
                .await,
            )?;
        }
        let delete = |policy: Policy| async move {
            aws::absent_ok(
                aws::call("DeleteRole", &policy, || {
                    iam.delete_role().role_name(&record.id).send()
                })
                .await,
            )
        };
        // The graph removes profiles and policies first; anything attached by hand is found here.
        // IAM may still see the role in a profile for seconds after it left: tolerate that.
        match delete(Policy::standard()).await {
            Err(e) if e.is(ErrorClass::DependencyViolation) => {
                self.release(ctx, &record.id).await?;
                delete(Policy::releasing()).await?;
            }
            other => {
                other?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------

pub struct InstanceProfile {
    key: Key,
    role: Key,
    suffix: &'static str,
}

impl InstanceProfile {
    pub fn master() -> InstanceProfile {
        InstanceProfile {
            key: Key::MasterInstanceProfile,
            role: Key::MasterRole,
            suffix: "cfcr-master",
        }
    }

    pub fn worker() -> InstanceProfile {
        InstanceProfile {
            key: Key::WorkerInstanceProfile,
            role: Key::WorkerRole,
            suffix: "cfcr-worker",
        }
    }

    pub fn director() -> InstanceProfile {
        InstanceProfile {
            key: Key::DirectorInstanceProfile,
            role: Key::DirectorRole,
            suffix: "bosh-director",
        }
    }
}

#[async_trait]
impl Resource for InstanceProfile {
    fn key(&self) -> Key {
        self.key
    }

    fn name(&self, settings: &Settings) -> String {
        settings.name(self.suffix)
    }

    fn needs(&self) -> Needs {
        Needs {
            complete: vec![Need::Id(self.role)],
            ..Needs::default()
        }
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        let iam = &ctx.aws.iam;
        let name = self.name(&ctx.settings);
        let found = aws::absent_ok(
            aws::call("GetInstanceProfile", &Policy::standard(), || {
                iam.get_instance_profile()
                    .instance_profile_name(&name)
                    .send()
            })
            .await,
        )?;
        let Some(profile) = found.and_then(|o| o.instance_profile) else {
            return Ok(None);
        };
        if !owned(ctx, profile.tags()) {
            return Err(taken(ctx, "IAM instance profile", name));
        }
        Ok(Some(Record::new(name).with(ARN, profile.arn())))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let iam = &ctx.aws.iam;
        let name = self.name(&ctx.settings);
        let tags = tags(ctx, &name)?;
        let out = aws::call("CreateInstanceProfile", &Policy::create(), || {
            iam.create_instance_profile()
                .instance_profile_name(&name)
                .path(iam_path(ctx.env()))
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await?;
        let arn = out.instance_profile().map(|p| p.arn()).unwrap_or_default();
        Ok(Record::new(name).with(ARN, arn))
    }

    async fn complete(&self, ctx: &Ctx, record: Record) -> anyhow::Result<Record> {
        let iam = &ctx.aws.iam;
        let role = ctx.id(self.role)?;
        let added = aws::call("AddRoleToInstanceProfile", &fresh(), || {
            iam.add_role_to_instance_profile()
                .instance_profile_name(&record.id)
                .role_name(&role)
                .send()
        })
        .await;
        match added {
            // A profile holds one role: after a crash, it may already hold ours.
            Err(e) if e.code.as_deref() == Some("LimitExceeded") => {
                let profile = aws::call("GetInstanceProfile", &Policy::standard(), || {
                    iam.get_instance_profile()
                        .instance_profile_name(&record.id)
                        .send()
                })
                .await?;
                let holds_ours = profile
                    .instance_profile()
                    .is_some_and(|p| p.roles().iter().any(|r| r.role_name() == role));
                if !holds_ours {
                    return Err(e.into());
                }
            }
            other => {
                other?;
            }
        }
        Ok(record)
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        let iam = &ctx.aws.iam;
        Ok(aws::absent_ok(
            aws::call("GetInstanceProfile", &Policy::standard(), || {
                iam.get_instance_profile()
                    .instance_profile_name(&record.id)
                    .send()
            })
            .await,
        )?
        .is_some())
    }

    fn observe(&self, ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        let Some(profile) = seen.instance_profiles.get(&record.id) else {
            return Some(Health::Missing);
        };
        let role = ctx.id(self.role).ok()?;
        Some(if profile.roles().iter().any(|r| r.role_name() == role) {
            Health::Present
        } else {
            Health::Changed(vec![format!("does not hold role {role}")])
        })
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let iam = &ctx.aws.iam;
        let Some(profile) = aws::absent_ok(
            aws::call("GetInstanceProfile", &Policy::standard(), || {
                iam.get_instance_profile()
                    .instance_profile_name(&record.id)
                    .send()
            })
            .await,
        )?
        else {
            return Ok(());
        };
        // Only the roles it holds: removing one it does not hold is an error (or worse, in emulators).
        let roles: Vec<String> = profile
            .instance_profile()
            .map(|p| {
                p.roles()
                    .iter()
                    .map(|r| r.role_name().to_string())
                    .collect()
            })
            .unwrap_or_default();
        for role in roles {
            aws::absent_ok(
                aws::call("RemoveRoleFromInstanceProfile", &Policy::standard(), || {
                    iam.remove_role_from_instance_profile()
                        .instance_profile_name(&record.id)
                        .role_name(&role)
                        .send()
                })
                .await,
            )?;
        }
        aws::absent_ok(
            aws::call("DeleteInstanceProfile", &Policy::releasing(), || {
                iam.delete_instance_profile()
                    .instance_profile_name(&record.id)
                    .send()
            })
            .await,
        )?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------

/// The managed policy `P-bosh-director`, attached to the director's role (and user).
pub struct DirectorPolicy;

const DIRECTOR: &str = "bosh-director";

impl DirectorPolicy {
    fn arn(ctx: &Ctx) -> anyhow::Result<String> {
        let role_arn = ctx.attribute(Key::DirectorRole, ARN)?;
        let (partition, account) = partition_and_account(&role_arn)
            .ok_or_else(|| anyhow::anyhow!("cannot read the account id from {role_arn}"))?;
        Ok(format!(
            "arn:{partition}:iam::{account}:policy{}{}",
            iam_path(ctx.env()),
            ctx.name(DIRECTOR)
        ))
    }
}

#[async_trait]
impl Resource for DirectorPolicy {
    fn key(&self) -> Key {
        Key::DirectorPolicy
    }

    fn name(&self, settings: &Settings) -> String {
        settings.name(DIRECTOR)
    }

    fn needs(&self) -> Needs {
        Needs {
            // Its document names the three roles' ARNs; it is attached to the director's role.
            create: vec![
                Need::Id(Key::MasterRole),
                Need::Id(Key::WorkerRole),
                Need::Id(Key::DirectorRole),
            ],
            ..Needs::default()
        }
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        let iam = &ctx.aws.iam;
        let arn = Self::arn(ctx)?;
        let found = aws::absent_ok(
            aws::call("GetPolicy", &Policy::standard(), || {
                iam.get_policy().policy_arn(&arn).send()
            })
            .await,
        )?;
        let Some(policy) = found.and_then(|o| o.policy) else {
            return Ok(None);
        };
        if !owned(ctx, policy.tags()) {
            return Err(taken(ctx, "IAM policy", arn));
        }
        Ok(Some(Record::new(arn)))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let iam = &ctx.aws.iam;
        let name = ctx.name(DIRECTOR);
        let roles = [Key::MasterRole, Key::WorkerRole, Key::DirectorRole]
            .into_iter()
            .map(|k| ctx.attribute(k, ARN))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let tags = tags(ctx, &name)?;
        let out = aws::call("CreatePolicy", &fresh_create(), || {
            iam.create_policy()
                .policy_name(&name)
                .path(iam_path(ctx.env()))
                .policy_document(director_policy(&roles))
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await?;
        let arn = out
            .policy()
            .and_then(|p| p.arn())
            .unwrap_or_default()
            .to_string();
        Ok(Record::new(arn))
    }

    async fn complete(&self, ctx: &Ctx, record: Record) -> anyhow::Result<Record> {
        let iam = &ctx.aws.iam;
        let role = ctx.id(Key::DirectorRole)?;
        aws::call("AttachRolePolicy", &fresh(), || {
            iam.attach_role_policy()
                .role_name(&role)
                .policy_arn(&record.id)
                .send()
        })
        .await?;
        Ok(record)
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        let iam = &ctx.aws.iam;
        Ok(aws::absent_ok(
            aws::call("GetPolicy", &Policy::standard(), || {
                iam.get_policy().policy_arn(&record.id).send()
            })
            .await,
        )?
        .is_some())
    }

    fn observe(&self, _ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        present_if(seen.policies.contains(&record.id))
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let iam = &ctx.aws.iam;
        let role = ctx.name(DIRECTOR);
        aws::absent_ok(
            aws::call("DetachRolePolicy", &Policy::standard(), || {
                iam.detach_role_policy()
                    .role_name(&role)
                    .policy_arn(&record.id)
                    .send()
            })
            .await,
        )?;
        aws::absent_ok(
            aws::call("DeletePolicy", &Policy::releasing(), || {
                iam.delete_policy().policy_arn(&record.id).send()
            })
            .await,
        )?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------

/// Only in `access-key` mode: the IAM user `P-bosh-director` with the director policy and one
/// access key, whose secret lives in the state and nowhere else.
pub struct DirectorUser;

impl DirectorUser {
    async fn delete_access_keys(ctx: &Ctx, user: &str) -> anyhow::Result<()> {
        let iam = &ctx.aws.iam;
        let Some(keys) = aws::absent_ok(
            aws::call("ListAccessKeys", &Policy::standard(), || {
                iam.list_access_keys().user_name(user).send()
            })
            .await,
        )?
        else {
            return Ok(());
        };
        for id in keys
            .access_key_metadata()
            .iter()
            .filter_map(|k| k.access_key_id())
        {
            aws::absent_ok(
                aws::call("DeleteAccessKey", &Policy::standard(), || {
                    iam.delete_access_key()
                        .user_name(user)
                        .access_key_id(id)
                        .send()
                })
                .await,
            )?;
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for DirectorUser {
    fn key(&self) -> Key {
        Key::DirectorUser
    }

    fn name(&self, settings: &Settings) -> String {
        settings.name(DIRECTOR)
    }

    fn needs(&self) -> Needs {
        Needs {
            complete: vec![Need::Id(Key::DirectorPolicy)],
            ..Needs::default()
        }
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        let iam = &ctx.aws.iam;
        let name = ctx.name(DIRECTOR);
        let found = aws::absent_ok(
            aws::call("GetUser", &Policy::standard(), || {
                iam.get_user().user_name(&name).send()
            })
            .await,
        )?;
        let Some(user) = found.and_then(|o| o.user) else {
            return Ok(None);
        };
        if !owned(ctx, user.tags()) {
            return Err(taken(ctx, "IAM user", name));
        }
        Ok(Some(Record::new(name)))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let iam = &ctx.aws.iam;
        let name = ctx.name(DIRECTOR);
        let tags = tags(ctx, &name)?;
        aws::call("CreateUser", &Policy::create(), || {
            iam.create_user()
                .user_name(&name)
                .path(iam_path(ctx.env()))
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await?;
        Ok(Record::new(name))
    }

    async fn complete(&self, ctx: &Ctx, record: Record) -> anyhow::Result<Record> {
        let iam = &ctx.aws.iam;
        let policy_arn = ctx.id(Key::DirectorPolicy)?;
        aws::call("AttachUserPolicy", &fresh(), || {
            iam.attach_user_policy()
                .user_name(&record.id)
                .policy_arn(&policy_arn)
                .send()
        })
        .await?;
        if ctx.state.snapshot().director_access_key.is_some() {
            return Ok(record);
        }
        // A key made by a run that crashed before saving its secret is useless: replace it.
        Self::delete_access_keys(ctx, &record.id).await?;
        let out = aws::call("CreateAccessKey", &fresh(), || {
            iam.create_access_key().user_name(&record.id).send()
        })
        .await?;
        let key = out
            .access_key()
            .ok_or_else(|| anyhow::anyhow!("CreateAccessKey returned no key"))?;
        let access_key = AccessKey {
            access_key_id: key.access_key_id().to_string(),
            secret_access_key: key.secret_access_key().to_string(),
        };
        ctx.state
            .update(|s| s.director_access_key = Some(access_key))?;
        Ok(record)
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        let iam = &ctx.aws.iam;
        Ok(aws::absent_ok(
            aws::call("GetUser", &Policy::standard(), || {
                iam.get_user().user_name(&record.id).send()
            })
            .await,
        )?
        .is_some())
    }

    fn observe(&self, _ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        present_if(seen.users.contains(&record.id))
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let iam = &ctx.aws.iam;
        Self::delete_access_keys(ctx, &record.id).await?;
        ctx.state.update(|s| s.director_access_key = None)?;
        let policy_arn = DirectorPolicy::arn(ctx).ok();
        if let Some(arn) = policy_arn {
            aws::absent_ok(
                aws::call("DetachUserPolicy", &Policy::standard(), || {
                    iam.detach_user_policy()
                        .user_name(&record.id)
                        .policy_arn(&arn)
                        .send()
                })
                .await,
            )?;
        }
        aws::absent_ok(
            aws::call("DeleteUser", &Policy::releasing(), || {
                iam.delete_user().user_name(&record.id).send()
            })
            .await,
        )?;
        Ok(())
    }
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

    #[test]
    fn partition_and_account_come_from_arns() {
        assert_eq!(
            partition_and_account("arn:aws:iam::123456789012:role/x"),
            Some(("aws", "123456789012"))
        );
        assert_eq!(
            partition_and_account("arn:aws-cn:iam::123456789012:role/x"),
            Some(("aws-cn", "123456789012"))
        );
        assert_eq!(partition_and_account("nonsense"), None);
    }
}
