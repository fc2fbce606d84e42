//! The director user's one access key (`access-key` mode). Its secret is shown once, when the key is
//! made, and lives in the state and nowhere else.

use super::entity;
use crate::aws::{self, Policy};
use crate::resources::resource::{Ctx, fresh};
use crate::state::AccessKey;

/// Makes the user's key and saves its secret in the state, unless the state holds one already.
pub(super) async fn ensure(ctx: &Ctx, user: &str) -> anyhow::Result<()> {
    if ctx.state.snapshot().director_access_key.is_some() {
        return Ok(());
    }
    // A key made by a run that crashed before saving its secret is useless: replace it.
    delete_keys(ctx, user).await?;
    let iam = &ctx.aws.iam;
    let out = aws::call("CreateAccessKey", &fresh(), || {
        iam.create_access_key().user_name(user).send()
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
    Ok(())
}

/// Deletes the user's keys, and the secret from the state.
pub(super) async fn delete(ctx: &Ctx, user: &str) -> anyhow::Result<()> {
    delete_keys(ctx, user).await?;
    ctx.state.update(|s| s.director_access_key = None)?;
    Ok(())
}

/// Deletes every key of `user`: a user already gone has none.
async fn delete_keys(ctx: &Ctx, user: &str) -> anyhow::Result<()> {
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
