//! The managed policy `P-bosh-director`, attached to the director's role (and user).

use async_trait::async_trait;

use super::documents::director_policy;
use super::entity::{self, ARN, DIRECTOR, iam_path, present_if};
use crate::aws::{self, Policy};
use crate::config::Settings;
use crate::key::Key;
use crate::resources::resource::{Ctx, Need, Needs, Resource, fresh, fresh_create};
use crate::resources::snapshot::{Health, Observed};
use crate::state::Record;

pub struct DirectorPolicy;

impl DirectorPolicy {
    /// Its ARN, known before it exists: IAM finds a managed policy by ARN only.
    pub(super) fn arn(ctx: &Ctx) -> anyhow::Result<String> {
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

/// The partition and account id inside an ARN (`arn:aws:iam::123456789012:role/x`): ARNs this
/// tool builds take both from one AWS returned, so they are right in `aws-cn` and `aws-us-gov` too.
fn partition_and_account(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.split(':');
    let partition = parts.nth(1).filter(|p| !p.is_empty())?;
    let account = parts.nth(2).filter(|a| !a.is_empty())?;
    Some((partition, account))
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
        let found = entity::get("GetPolicy", || iam.get_policy().policy_arn(&arn).send()).await?;
        let Some(policy) = found.and_then(|o| o.policy) else {
            return Ok(None);
        };
        entity::check_owner(ctx, "IAM policy", &arn, policy.tags())?;
        Ok(Some(Record::new(arn)))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let iam = &ctx.aws.iam;
        let name = ctx.name(DIRECTOR);
        let roles = [Key::MasterRole, Key::WorkerRole, Key::DirectorRole]
            .into_iter()
            .map(|k| ctx.attribute(k, ARN))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let tags = entity::tags(ctx, &name)?;
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
        let found = entity::get("GetPolicy", || {
            iam.get_policy().policy_arn(&record.id).send()
        })
        .await?;
        Ok(found.is_some())
    }

    fn observe(&self, _ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        present_if(seen.policies.contains(&record.id))
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let iam = &ctx.aws.iam;
        // The director's role carries the policy's name.
        entity::detach_role_policy(iam, &ctx.name(DIRECTOR), &record.id).await?;
        entity::gone("DeletePolicy", &Policy::releasing(), || {
            iam.delete_policy().policy_arn(&record.id).send()
        })
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
