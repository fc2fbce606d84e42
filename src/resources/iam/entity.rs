//! What the IAM kinds share: the path, name and tags that mark an environment's entities, the
//! ownership check of an entity found by name, reads and deletes for which NoSuchEntity means
//! absent or done, and the calls on a role that two kinds make.

use std::error::Error as StdError;

use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::Tag;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_types::request_id::RequestId;

use crate::aws::retry::AwsError;
use crate::aws::{self, Policy};
use crate::ec2::tags::OWNER_TAG;
use crate::resources::resource::{Ctx, NameTaken};
use crate::resources::snapshot::Health;

/// The record attribute holding an entity's ARN.
pub(super) const ARN: &str = "arn";

/// The director's role, instance profile, managed policy and user all carry this name.
pub(super) const DIRECTOR: &str = "bosh-director";
/// The masters' role and instance profile carry this name.
pub(super) const MASTER: &str = "cfcr-master";
/// The workers' role and instance profile carry this name.
pub(super) const WORKER: &str = "cfcr-worker";

/// The IAM path of everything an environment owns, so one listing per kind finds it all.
pub fn iam_path(env: &str) -> String {
    format!("/cfcr-aws/{env}/")
}

/// The snapshot holds these IAM entities by name only: there or not.
pub(super) fn present_if(present: bool) -> Option<Health> {
    Some(if present {
        Health::Present
    } else {
        Health::Missing
    })
}

/// `Name` and the ownership tag, given in the create call itself.
pub(super) fn tags(ctx: &Ctx, name: &str) -> anyhow::Result<Vec<Tag>> {
    Ok(vec![
        Tag::builder().key("Name").value(name).build()?,
        Tag::builder().key(OWNER_TAG).value(ctx.env()).build()?,
    ])
}

/// An entity found by its name is the environment's only if it carries the ownership tag; otherwise
/// the name is someone else's, and IAM names are unique in the account.
pub(super) fn check_owner(
    ctx: &Ctx,
    what: &'static str,
    name: &str,
    tags: &[Tag],
) -> anyhow::Result<()> {
    if tags
        .iter()
        .any(|t| t.key() == OWNER_TAG && t.value() == ctx.env())
    {
        return Ok(());
    }
    Err(NameTaken {
        what,
        name: name.to_string(),
        env: ctx.env().to_string(),
    }
    .into())
}

/// One read of an entity, under [`Policy::standard`]: `None` when IAM has no such entity.
pub(super) async fn get<T, E, F, Fut>(
    operation: &'static str,
    send: F,
) -> Result<Option<T>, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + RequestId + StdError + Send + Sync + 'static,
{
    aws::absent_ok(aws::call(operation, &Policy::standard(), send).await)
}

/// Sends one detach or delete: an entity already gone counts as done.
pub(super) async fn gone<T, E, F, Fut>(
    operation: &'static str,
    policy: &Policy,
    send: F,
) -> Result<(), AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + RequestId + StdError + Send + Sync + 'static,
{
    aws::absent_ok(aws::call(operation, policy, send).await).map(drop)
}

/// Takes `role` out of instance profile `profile`.
pub(super) async fn remove_role_from_profile(
    iam: &aws_sdk_iam::Client,
    profile: &str,
    role: &str,
) -> Result<(), AwsError> {
    gone("RemoveRoleFromInstanceProfile", &Policy::standard(), || {
        iam.remove_role_from_instance_profile()
            .instance_profile_name(profile)
            .role_name(role)
            .send()
    })
    .await
}

/// Detaches managed policy `arn` from `role`; the policy stays.
pub(super) async fn detach_role_policy(
    iam: &aws_sdk_iam::Client,
    role: &str,
    arn: &str,
) -> Result<(), AwsError> {
    gone("DetachRolePolicy", &Policy::standard(), || {
        iam.detach_role_policy()
            .role_name(role)
            .policy_arn(arn)
            .send()
    })
    .await
}
