//! The deployer key pair `P-deployer`: generated locally (see keys.rs), kept in the state, imported
//! into EC2 for the bastion and the BOSH VMs.

use async_trait::async_trait;
use aws_sdk_ec2::primitives::Blob;
use aws_sdk_ec2::types::{KeyPairInfo, ResourceType};

use super::resource::{Ctx, NameTaken, Needs, Resource};
use super::snapshot::{Health, Observed};
use crate::aws::{self, Policy};
use crate::config::Settings;
use crate::ec2::tags::owned_by;
use crate::key::Key;
use crate::state::Record;

const KEY_PAIR_ID: &str = "key_pair_id";

pub struct DeployerKeyPair;

const NAME: &str = "deployer";

#[async_trait]
impl Resource for DeployerKeyPair {
    fn key(&self) -> Key {
        Key::DeployerKeyPair
    }

    fn name(&self, settings: &Settings) -> String {
        settings.name(NAME)
    }

    fn needs(&self) -> Needs {
        Needs::default()
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        let name = ctx.name(NAME);
        let Some(pair) = ctx.described::<KeyPairInfo>(&name).await? else {
            return Ok(None);
        };
        if !owned_by(pair.tags(), ctx.env()) {
            return Err(NameTaken {
                what: "key pair",
                name,
                env: ctx.env().to_string(),
            }
            .into());
        }
        Ok(Some(record(&name, pair.key_pair_id())))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let ec2 = &ctx.aws.ec2;
        let name = ctx.name(NAME);
        let public_key = ctx.state.snapshot().deployer_key.public_key;
        let out = aws::call("ImportKeyPair", &Policy::create(), || {
            ec2.import_key_pair()
                .key_name(&name)
                .public_key_material(Blob::new(public_key.as_bytes()))
                .tag_specifications(ctx.ec2_tags(ResourceType::KeyPair, &name))
                .send()
        })
        .await?;
        Ok(record(&name, out.key_pair_id()))
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        Ok(ctx.described::<KeyPairInfo>(&record.id).await?.is_some())
    }

    fn tag_id(&self, record: &Record) -> Option<String> {
        record.attribute(KEY_PAIR_ID).map(str::to_string)
    }

    fn observe(&self, ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        ctx.tagged_health(seen, record.attribute(KEY_PAIR_ID)?, &record.id)
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let ec2 = &ctx.aws.ec2;
        aws::absent_ok(
            aws::call("DeleteKeyPair", &Policy::standard(), || {
                ec2.delete_key_pair().key_name(&record.id).send()
            })
            .await,
        )?;
        Ok(())
    }
}

fn record(name: &str, key_pair_id: Option<&str>) -> Record {
    let record = Record::new(name);
    match key_pair_id {
        Some(id) => record.with(KEY_PAIR_ID, id),
        None => record,
    }
}
