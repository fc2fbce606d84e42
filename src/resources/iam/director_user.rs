//! Only in `access-key` mode: the IAM user `P-bosh-director` with the director policy and one
//! access key ([`super::access_key`]).

use async_trait::async_trait;

use super::access_key;
use super::director_policy::DirectorPolicy;
use super::entity::{self, DIRECTOR, iam_path, present_if};
use crate::aws::{self, Policy};
use crate::config::Settings;
use crate::key::Key;
use crate::resources::resource::{Ctx, Need, Needs, Resource, fresh};
use crate::resources::snapshot::{Health, Observed};
use crate::state::Record;

pub struct DirectorUser;

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
        access_key::ensure(ctx, &record.id).await?;
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
        access_key::delete(ctx, &record.id).await?;
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
