//! The bastion's image: a data source, not something the environment owns. Looked up once and
//! recorded, so a newer Ubuntu release never replaces a running bastion behind the operator's back.

use anyhow::bail;
use async_trait::async_trait;
use aws_sdk_ec2::types::Image;

use super::resource::{Ctx, Needs, Resource};
use super::snapshot::{Health, Observed};
use crate::aws::{self, Policy};
use crate::config::{AmiSource, CANONICAL_OWNER_ID, Settings};
use crate::ec2::{self, image};
use crate::key::Key;
use crate::state::{Origin, Record};

pub struct BastionImage;

#[async_trait]
impl Resource for BastionImage {
    fn key(&self) -> Key {
        Key::BastionImage
    }

    fn name(&self, settings: &Settings) -> String {
        match &settings.bastion_ami {
            AmiSource::Id(id) => id.clone(),
            AmiSource::NamePattern(pattern) => pattern.clone(),
        }
    }

    fn origin(&self) -> Origin {
        Origin::LookedUp
    }

    fn needs(&self) -> Needs {
        Needs::default()
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        let ec2 = &ctx.aws.ec2;
        let policy = Policy::standard();
        let images: Vec<Image> = match &ctx.settings.bastion_ami {
            AmiSource::Id(id) => ec2::by_id(ec2, id, &policy).await?.into_iter().collect(),
            AmiSource::NamePattern(pattern) => {
                let found = image::named_like(ec2, CANONICAL_OWNER_ID, pattern, &policy).await;
                aws::absent_ok(found)?.unwrap_or_default()
            }
        };
        // The newest current image wins over any deprecated one.
        let newest = images
            .iter()
            .filter(|i| i.image_id().is_some())
            .max_by_key(|i| {
                (
                    !image::deprecated(i),
                    i.creation_date().unwrap_or_default().to_string(),
                )
            });
        Ok(newest.map(|image| {
            Record {
                origin: Origin::LookedUp,
                ..Record::new(image.image_id().unwrap_or_default())
            }
            .with("name", image.name().unwrap_or_default())
        }))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        match &ctx.settings.bastion_ami {
            AmiSource::Id(id) => bail!(
                "bastion_ami: image {id} does not exist in {}; use an AMI id of that region",
                ctx.settings.region
            ),
            AmiSource::NamePattern(pattern) => bail!(
                "bastion_ami_name: no image of Canonical ({CANONICAL_OWNER_ID}) in {} matches {pattern:?}; use another pattern or set bastion_ami",
                ctx.settings.region
            ),
        }
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        Ok(ctx.described::<Image>(&record.id).await?.is_some())
    }

    fn observe(&self, _ctx: &Ctx, _record: &Record, _seen: &Observed) -> Option<Health> {
        // Looked up once; what matters later is the instance made from it.
        Some(Health::Present)
    }

    async fn delete(&self, _ctx: &Ctx, _record: &Record) -> anyhow::Result<()> {
        // Not ours: forgetting it is all there is to do.
        Ok(())
    }
}
