//! What the IAM kinds share: the path, name and tags that mark an environment's entities, and the
//! ownership check of an entity found by name.

use aws_sdk_iam::types::Tag;

use super::super::resource::{Ctx, NameTaken};
use super::super::snapshot::Health;
use super::super::tags::OWNER_TAG;

pub(super) const ARN: &str = "arn";

/// The director's role, instance profile, managed policy and user all carry this name.
pub(super) const DIRECTOR: &str = "bosh-director";

/// The IAM path of everything an environment owns, so one listing per kind finds it all.
pub fn iam_path(env: &str) -> String {
    format!("/cfcr-aws/{env}/")
}

pub(super) fn present_if(present: bool) -> Option<Health> {
    Some(if present {
        Health::Present
    } else {
        Health::Missing
    })
}

pub(super) fn tags(ctx: &Ctx, name: &str) -> anyhow::Result<Vec<Tag>> {
    Ok(vec![
        Tag::builder().key("Name").value(name).build()?,
        Tag::builder().key(OWNER_TAG).value(ctx.env()).build()?,
    ])
}

pub(super) fn owned(ctx: &Ctx, tags: &[Tag]) -> bool {
    tags.iter()
        .any(|t| t.key() == OWNER_TAG && t.value() == ctx.env())
}

pub(super) fn taken(ctx: &Ctx, what: &'static str, name: String) -> anyhow::Error {
    NameTaken {
        what,
        name,
        env: ctx.env().to_string(),
    }
    .into()
}
