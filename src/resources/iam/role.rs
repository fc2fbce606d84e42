//! The master and worker roles, each with its inline policy for the Kubernetes AWS cloud provider,
//! and the director's role, which holds the managed policy of [`super::director_policy`].

use async_trait::async_trait;

use super::documents::{assume_role_document, master_policy, worker_policy};
use super::entity::{self, ARN, DIRECTOR, MASTER, WORKER, iam_path, present_if};
use crate::aws::retry::AwsError;
use crate::aws::{self, ErrorClass, Policy};
use crate::config::Settings;
use crate::key::Key;
use crate::report;
use crate::resources::resource::{Ctx, Needs, Resource, fresh};
use crate::resources::snapshot::{Health, Observed};
use crate::state::Record;

pub struct Role {
    key: Key,
    suffix: &'static str,
    inline_policy: Option<fn() -> String>,
}

impl Role {
    pub fn master() -> Role {
        Role {
            key: Key::MasterRole,
            suffix: MASTER,
            inline_policy: Some(master_policy),
        }
    }

    pub fn worker() -> Role {
        Role {
            key: Key::WorkerRole,
            suffix: WORKER,
            inline_policy: Some(worker_policy),
        }
    }

    pub fn director() -> Role {
        Role {
            key: Key::DirectorRole,
            suffix: DIRECTOR,
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
            delete_inline_policy(iam, name, policy).await?;
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
            entity::detach_role_policy(iam, name, arn).await?;
        }
        let profiles = aws::call("ListInstanceProfilesForRole", &Policy::standard(), || {
            iam.list_instance_profiles_for_role().role_name(name).send()
        })
        .await?;
        for profile in profiles.instance_profiles() {
            entity::remove_role_from_profile(iam, profile.instance_profile_name(), name).await?;
        }
        Ok(())
    }
}

/// Deletes the role's inline policy `policy`.
async fn delete_inline_policy(
    iam: &aws_sdk_iam::Client,
    role: &str,
    policy: &str,
) -> Result<(), AwsError> {
    entity::gone("DeleteRolePolicy", &Policy::standard(), || {
        iam.delete_role_policy()
            .role_name(role)
            .policy_name(policy)
            .send()
    })
    .await
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
        let found = entity::get("GetRole", || iam.get_role().role_name(&name).send()).await?;
        let Some(role) = found.and_then(|o| o.role) else {
            return Ok(None);
        };
        entity::check_owner(ctx, "IAM role", &name, role.tags())?;
        Ok(Some(Record::new(name).with(ARN, role.arn())))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let iam = &ctx.aws.iam;
        let name = self.name(&ctx.settings);
        let tags = entity::tags(ctx, &name)?;
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
        let found = entity::get("GetRole", || iam.get_role().role_name(&record.id).send()).await?;
        Ok(found.is_some())
    }

    fn observe(&self, _ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        present_if(seen.roles.contains(&record.id))
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let iam = &ctx.aws.iam;
        if self.inline_policy.is_some() {
            // The inline policy is named after its role.
            delete_inline_policy(iam, &record.id, &record.id).await?;
        }
        let delete = |policy: Policy| async move {
            entity::gone("DeleteRole", &policy, || {
                iam.delete_role().role_name(&record.id).send()
            })
            .await
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
