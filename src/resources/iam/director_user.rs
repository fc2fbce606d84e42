//! Only in `access-key` mode: the IAM user `P-bosh-director` with the director policy and one
//! access key, whose secret lives in the state and nowhere else.

use async_trait::async_trait;

use super::super::resource::{Ctx, Need, Needs, Resource, fresh};
use super::super::snapshot::{Health, Observed};
use super::director_policy::DirectorPolicy;
use super::entity::{self, DIRECTOR, iam_path, present_if};
use crate::aws::{self, Policy};
use crate::config::Settings;
use crate::key::Key;
use crate::state::{AccessKey, Record};

pub struct DirectorUser;

impl DirectorUser {
    async fn delete_access_keys(ctx: &Ctx, user: &str) -> anyhow::Result<()> {
        let iam = &ctx.aws.iam;
        let Some(keys) = entity::get("ListAccessKeys", || {
            iam.list_access_keys().user_name(user).send()
        })
        .await?
        else {
            return Ok(());
        };
        for id in keys
            .access_key_metadata()
            .iter()
            .filter_map(|k| k.access_key_id())
        {
            entity::gone("DeleteAccessKey", &Policy::standard(), || {
                iam.delete_access_key()
                    .user_name(user)
                    .access_key_id(id)
                    .send()
            })
            .await?;
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
        let found = entity::get("GetUser", || iam.get_user().user_name(&name).send()).await?;
        let Some(user) = found.and_then(|o| o.user) else {
            return Ok(None);
        };
        entity::check_owner(ctx, "IAM user", &name, user.tags())?;
        Ok(Some(Record::new(name)))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let iam = &ctx.aws.iam;
        let name = ctx.name(DIRECTOR);
        let tags = entity::tags(ctx, &name)?;
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
        let found = entity::get("GetUser", || iam.get_user().user_name(&record.id).send()).await?;
        Ok(found.is_some())
    }

    fn observe(&self, _ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        present_if(seen.users.contains(&record.id))
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let iam = &ctx.aws.iam;
        Self::delete_access_keys(ctx, &record.id).await?;
        ctx.state.update(|s| s.director_access_key = None)?;
        if let Ok(arn) = DirectorPolicy::arn(ctx) {
            entity::gone("DetachUserPolicy", &Policy::standard(), || {
                iam.detach_user_policy()
                    .user_name(&record.id)
                    .policy_arn(&arn)
                    .send()
            })
            .await?;
        }
        entity::gone("DeleteUser", &Policy::releasing(), || {
            iam.delete_user().user_name(&record.id).send()
        })
        .await?;
        Ok(())
    }
}
