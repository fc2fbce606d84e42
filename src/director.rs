//! The BOSH director as custody's copy of its `bosh create-env` state knows it: its VM, its
//! persistent disks, and the AMIs of the heavy stemcells its CPI registered (a light stemcell's AMI
//! is public and not the director's). `status` looks for them in AWS; an `unpave` whose teardown
//! cannot run on the bastion deletes them by id, so that nothing the director made is left.

use std::time::Duration;

use anyhow::Context;
use aws_sdk_ec2::types::{Image, Instance, Volume};
use serde::Deserialize;

use crate::aws::{self, Clients, Policy, wait};
use crate::ec2::{self, instance};
use crate::report;

/// What a `bosh create-env` state file names (its other fields are the CLI's own).
#[derive(Debug, Default, Deserialize)]
struct CreateEnvState {
    #[serde(default)]
    current_vm_cid: Option<String>,
    #[serde(default)]
    disks: Vec<Cid>,
    #[serde(default)]
    stemcells: Vec<Cid>,
}

#[derive(Debug, Deserialize)]
struct Cid {
    cid: String,
}

/// The director's resources by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Director {
    pub vm: Option<String>,
    pub disks: Vec<String>,
    /// Heavy stemcells' AMIs, which the CPI registered for the director.
    pub images: Vec<String>,
}

impl Director {
    /// Reads custody's copy of the state file.
    pub fn parse(bytes: &[u8]) -> anyhow::Result<Director> {
        let state: CreateEnvState = serde_json::from_slice(bytes)
            .context("custody's bosh-aws-state.json is not a bosh create-env state")?;
        Ok(Director {
            vm: state.current_vm_cid.filter(|id| !id.is_empty()),
            disks: state.disks.into_iter().map(|d| d.cid).collect(),
            // A light stemcell's cid is "<ami> light": the public AMI is not the director's.
            images: state
                .stemcells
                .into_iter()
                .map(|s| s.cid)
                .filter(|cid| !cid.ends_with(" light"))
                .collect(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.vm.is_none() && self.disks.is_empty() && self.images.is_empty()
    }
}

/// What of the director AWS still holds: `(what, id, present)`.
pub async fn observe(
    aws: &Clients,
    director: &Director,
) -> anyhow::Result<Vec<(String, String, bool)>> {
    let ec2 = &aws.ec2;
    let mut seen = Vec::new();
    if let Some(vm) = &director.vm {
        let running = listed_vm(ec2, vm)
            .await?
            .is_some_and(|i| instance::is_live(&i));
        seen.push(("the director's VM".to_string(), vm.clone(), running));
    }
    if !director.disks.is_empty() {
        let volumes: Vec<Volume> =
            ec2::listed(ec2, director.disks.clone(), &Policy::standard()).await?;
        for disk in &director.disks {
            let present = volumes.iter().any(|v| v.volume_id() == Some(disk.as_str()));
            seen.push(("the director's disk".to_string(), disk.clone(), present));
        }
    }
    Ok(seen)
}

/// Deletes the director by the ids custody's state names: its VM (waited for, so that its disk is
/// released), its disks, and its heavy stemcells' AMIs with their snapshots. What is gone already
/// counts as deleted.
pub async fn delete(aws: &Clients, director: &Director) -> anyhow::Result<()> {
    let ec2 = &aws.ec2;
    if let Some(vm) = &director.vm {
        let terminated = aws::absent_ok(
            aws::call("TerminateInstances", &Policy::standard(), || {
                ec2.terminate_instances().instance_ids(vm).send()
            })
            .await,
        )?;
        if terminated.is_some() {
            report::note(&format!("terminating the director's VM {vm}"));
            wait::until(
                "the director's VM to terminate",
                Duration::from_secs(600),
                || async {
                    let found = listed_vm(ec2, vm).await?;
                    Ok(found.is_none_or(|i| instance::terminated(&i)).then_some(()))
                },
            )
            .await?;
        }
    }
    for disk in &director.disks {
        aws::absent_ok(
            aws::call("DeleteVolume", &Policy::releasing(), || {
                ec2.delete_volume().volume_id(disk).send()
            })
            .await,
        )?;
        report::note(&format!("deleted the director's disk {disk}"));
    }
    for image in &director.images {
        delete_image(aws, image).await?;
    }
    Ok(())
}

/// The director's VM, by a filter on its id, which (unlike an id list) does not fail once AWS has
/// forgotten it.
async fn listed_vm(ec2: &aws_sdk_ec2::Client, vm: &str) -> anyhow::Result<Option<Instance>> {
    let found: Vec<Instance> = ec2::listed(ec2, vec![vm.to_string()], &Policy::standard()).await?;
    Ok(found.into_iter().find(|i| i.instance_id() == Some(vm)))
}

/// Deregisters an AMI the CPI registered and deletes its snapshots.
async fn delete_image(aws: &Clients, image: &str) -> anyhow::Result<()> {
    let ec2 = &aws.ec2;
    let found: Vec<Image> = ec2::listed(ec2, vec![image.to_string()], &Policy::standard()).await?;
    let snapshots: Vec<String> = found
        .iter()
        .filter(|i| i.image_id() == Some(image))
        .flat_map(|i| i.block_device_mappings())
        .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
        .map(str::to_string)
        .collect();
    aws::absent_ok(
        aws::call("DeregisterImage", &Policy::standard(), || {
            ec2.deregister_image().image_id(image).send()
        })
        .await,
    )?;
    for snapshot in &snapshots {
        aws::absent_ok(
            aws::call("DeleteSnapshot", &Policy::releasing(), || {
                ec2.delete_snapshot().snapshot_id(snapshot).send()
            })
            .await,
        )?;
    }
    report::note(&format!(
        "deregistered the director's stemcell image {image} and deleted its snapshots {}",
        snapshots.join(", ")
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vm_disks_and_heavy_stemcells_are_read_off_the_state() {
        let state = br#"{
            "director_id": "d", "installation_id": "i", "current_vm_cid": "i-0123",
            "current_disk_id": "x", "current_stemcell_id": "y",
            "disks": [{"id": "x", "cid": "vol-0abc", "size": 65536, "cloud_properties": {}}],
            "stemcells": [
                {"id": "y", "name": "bosh-aws-xen-hvm-ubuntu-noble-go_agent", "version": "1.484", "cid": "ami-0light light"},
                {"id": "z", "name": "bosh-aws-xen-hvm-ubuntu-xenial-go_agent", "version": "621.125", "cid": "ami-0heavy"}
            ],
            "releases": []
        }"#;
        let director = Director::parse(state).unwrap();
        assert_eq!(director.vm.as_deref(), Some("i-0123"));
        assert_eq!(director.disks, ["vol-0abc"]);
        assert_eq!(director.images, ["ami-0heavy"]);
        // After delete-env: an empty VM id and no disks.
        let gone = Director::parse(br#"{"current_vm_cid": "", "disks": [], "stemcells": []}"#);
        assert!(gone.unwrap().is_empty());
        assert!(Director::parse(b"not json").is_err());
    }
}
