//! The instance profiles that give the masters, the workers and the director their roles.

use async_trait::async_trait;
use aws_sdk_iam::operation::get_instance_profile::GetInstanceProfileOutput;

use super::entity::{self, ARN, DIRECTOR, MASTER, WORKER, iam_path};
use crate::aws::retry::AwsError;
use crate::aws::{self, Policy};
use crate::config::Settings;
use crate::key::Key;
use crate::resources::resource::{Ctx, Need, Needs, Resource, fresh};
use crate::resources::snapshot::{Health, Observed};
use crate::state::Record;

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
            suffix: MASTER,
        }
    }

    pub fn worker() -> InstanceProfile {
        InstanceProfile {
            key: Key::WorkerInstanceProfile,
            role: Key::WorkerRole,
            suffix: WORKER,
        }
    }

    pub fn director() -> InstanceProfile {
        InstanceProfile {
            key: Key::DirectorInstanceProfile,
            role: Key::DirectorRole,
            suffix: DIRECTOR,
        }
    }
}

/// The profile named `name`: `None` when IAM has none.
async fn get(
    iam: &aws_sdk_iam::Client,
    name: &str,
) -> Result<Option<GetInstanceProfileOutput>, AwsError> {
    entity::get("GetInstanceProfile", || {
        iam.get_instance_profile()
            .instance_profile_name(name)
            .send()
    })
    .await
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
        let name = self.name(&ctx.settings);
        let found = get(&ctx.aws.iam, &name).await?;
        let Some(profile) = found.and_then(|o| o.instance_profile) else {
            return Ok(None);
        };
        entity::check_owner(ctx, "IAM instance profile", &name, profile.tags())?;
        Ok(Some(Record::new(name).with(ARN, profile.arn())))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let iam = &ctx.aws.iam;
        let name = self.name(&ctx.settings);
        let tags = entity::tags(ctx, &name)?;
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
                // Not `get`: here a profile gone meanwhile is an error, not an absence.
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
        Ok(get(&ctx.aws.iam, &record.id).await?.is_some())
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
        let Some(profile) = get(iam, &record.id).await? else {
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
            entity::remove_role_from_profile(iam, &record.id, &role).await?;
        }
        entity::gone("DeleteInstanceProfile", &Policy::releasing(), || {
            iam.delete_instance_profile()
                .instance_profile_name(&record.id)
                .send()
        })
        .await?;
        Ok(())
    }
}
