//! What others create inside the environment: load balancers, volumes and security groups that
//! Kubernetes makes for Services and PersistentVolumes (tagged with the cluster tag), and VMs that
//! BOSH launches into the VPC. None of it is in the state, yet all of it blocks deleting the VPC.

use std::time::Duration;

use aws_sdk_ec2::types::{Instance, IpPermission, SecurityGroup, Volume};

use crate::aws::{self, Policy, wait};
use crate::ec2::tags::{CLUSTER_TAG, cluster_key, has_tag};
use crate::ec2::{self, filters, instance, security_group};
use crate::elb;
use crate::key::Key;
use crate::resources::{Ctx, delete_load_balancer_interfaces};
use crate::state::Origin;
use crate::{census, report};

fn tagged_for(cluster_tag: &str, key: &str, value: Option<&str>) -> bool {
    (key == CLUSTER_TAG && value == Some(cluster_tag)) || key == cluster_key(cluster_tag)
}

/// The cluster's VMs left in the VPC — carrying its cluster tag, which kubo's AWS ops-file gives the
/// deployment — when the director that made them was deleted without its deployment (the bastion
/// could not run the teardown): terminated, and waited for, before their disks are deleted.
async fn terminate_cluster_vms(ctx: &Ctx, vpc_id: &str, cluster_tag: &str) -> anyhow::Result<()> {
    let [tagged, _] = filters::cluster(cluster_tag);
    let wanted = vec![filters::vpc(vpc_id), tagged, filters::not_terminated()];
    let found: Vec<Instance> = ec2::matching(&ctx.aws.ec2, wanted, &Policy::standard()).await?;
    let ids: Vec<String> = found
        .iter()
        // Matched here too: the emulator used in tests does not filter by VPC or tag.
        .filter(|i| i.vpc_id() == Some(vpc_id))
        .filter(|i| has_tag(i.tags(), CLUSTER_TAG, cluster_tag))
        .filter(|i| instance::is_live(i))
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    terminate(ctx, &ids).await
}

/// Deletes the load balancers, volumes and security groups Kubernetes created for the cluster.
pub async fn delete_kubernetes_resources(ctx: &Ctx) -> anyhow::Result<()> {
    let cluster_tag = ctx.state.snapshot().cluster_tag;
    let Ok(vpc_id) = ctx.id(Key::Vpc) else {
        return Ok(());
    };
    let master = ctx.state.get(Key::MasterLoadBalancer).map(|r| r.id);
    let elb = &ctx.aws.elb;
    let in_vpc: Vec<String> = elb::every(elb)
        .await?
        .iter()
        .filter(|d| d.vpc_id() == Some(vpc_id.as_str()))
        .filter_map(|d| d.load_balancer_name().map(str::to_string))
        .filter(|name| Some(name) != master.as_ref())
        .collect();
    for (name, tags) in elb::tags(elb, &in_vpc).await? {
        if !tags
            .iter()
            .any(|(k, v)| tagged_for(&cluster_tag, k, Some(v.as_str())))
        {
            continue;
        }
        aws::call("DeleteLoadBalancer", &Policy::standard(), || {
            elb.delete_load_balancer().load_balancer_name(&name).send()
        })
        .await?;
        report::note(&format!("deleted   Kubernetes load balancer {name}"));
        delete_load_balancer_interfaces(ctx, &name).await?;
    }

    terminate_cluster_vms(ctx, &vpc_id, &cluster_tag).await?;
    let ec2 = &ctx.aws.ec2;
    // Volumes stay attached, and groups referenced, until the instances using them are gone.
    let releasing = Policy::releasing();
    for filter in filters::cluster(&cluster_tag) {
        let volumes: Vec<Volume> =
            ec2::matching(ec2, vec![filter.clone()], &Policy::standard()).await?;
        for id in volumes.iter().filter_map(|v| v.volume_id()) {
            aws::absent_ok(
                aws::call("DeleteVolume", &releasing, || {
                    ec2.delete_volume().volume_id(id).send()
                })
                .await,
            )?;
            report::note(&format!("deleted   Kubernetes volume {id}"));
        }
        let in_vpc = vec![filter, filters::vpc(&vpc_id)];
        let groups: Vec<SecurityGroup> = ec2::matching(ec2, in_vpc, &Policy::standard()).await?;
        for id in groups.iter().filter_map(|g| g.group_id()) {
            revoke_references(ctx, &vpc_id, id).await?;
            aws::absent_ok(
                aws::call("DeleteSecurityGroup", &releasing, || {
                    ec2.delete_security_group().group_id(id).send()
                })
                .await,
            )?;
            report::note(&format!("deleted   Kubernetes security group {id}"));
        }
    }
    Ok(())
}

/// Revokes the rules of other groups in the VPC that name `group` as their source (only those
/// rules' pairs). AWS never deletes a group that another group's rule references, and Kubernetes'
/// cloud provider adds rules from its load balancers' groups to the nodes' group (node-access).
async fn revoke_references(ctx: &Ctx, vpc_id: &str, group: &str) -> anyhow::Result<()> {
    let ec2 = &ctx.aws.ec2;
    let policy = Policy::standard();
    for other in security_group::referencing(ec2, vpc_id, group, &policy).await? {
        let Some(other_id) = other.group_id() else {
            continue;
        };
        let referencing: Vec<IpPermission> = other
            .ip_permissions()
            .iter()
            .filter_map(|p| {
                let pairs: Vec<_> = p
                    .user_id_group_pairs()
                    .iter()
                    .filter(|pair| pair.group_id() == Some(group))
                    .cloned()
                    .collect();
                (!pairs.is_empty()).then(|| {
                    IpPermission::builder()
                        .set_ip_protocol(p.ip_protocol().map(str::to_string))
                        .set_from_port(p.from_port())
                        .set_to_port(p.to_port())
                        .set_user_id_group_pairs(Some(pairs))
                        .build()
                })
            })
            .collect();
        aws::absent_ok(
            aws::call("RevokeSecurityGroupIngress", &Policy::standard(), || {
                ec2.revoke_security_group_ingress()
                    .group_id(other_id)
                    .set_ip_permissions(Some(referencing.clone()))
                    .send()
            })
            .await,
        )?;
        report::note(&format!(
            "revoked   the rules of {other_id} that admit Kubernetes security group {group}"
        ));
    }
    Ok(())
}

/// Instances in the environment other than the bastion: `(id, Name tag)`. In its own VPC, every
/// instance there (each would block the VPC's deletion); in an adopted VPC, which holds the
/// operator's other workloads, those in the environment's security groups (BOSH gives its VMs
/// node-access).
pub async fn foreign_instances(ctx: &Ctx) -> anyhow::Result<Vec<(String, String)>> {
    let Some(vpc) = ctx.state.get(Key::Vpc) else {
        return Ok(Vec::new());
    };
    let vpc_id = vpc.id;
    let bastion = ctx.state.get(Key::Bastion).map(|r| r.id);
    let groups: Vec<String> = [Key::NodeAccessSecurityGroup, Key::ApiAccessSecurityGroup]
        .into_iter()
        .filter_map(|k| ctx.state.get(k).map(|r| r.id))
        .collect();
    let adopted = vpc.origin == Origin::Adopted;
    if adopted && groups.is_empty() {
        return Ok(Vec::new());
    }
    let scope = if adopted {
        filters::filter("instance.group-id", groups.clone())
    } else {
        filters::vpc(&vpc_id)
    };
    let wanted = vec![scope, filters::not_terminated()];
    let found: Vec<Instance> = ec2::matching(&ctx.aws.ec2, wanted, &Policy::standard()).await?;
    Ok(found
        .iter()
        // Matched here too: the emulator used in tests does not filter by VPC or group.
        .filter(|i| i.vpc_id() == Some(vpc_id.as_str()))
        .filter(|i| {
            !adopted
                || i.security_groups().iter().any(|g| {
                    g.group_id()
                        .is_some_and(|id| groups.iter().any(|o| o == id))
                })
        })
        .filter(|i| instance::is_live(i))
        .filter_map(|i| {
            let id = i.instance_id()?.to_string();
            let name = i
                .tags()
                .iter()
                .find(|t| t.key() == Some("Name"))
                .and_then(|t| t.value())
                .unwrap_or("-")
                .to_string();
            Some((id, name))
        })
        .filter(|(id, _)| Some(id) != bastion.as_ref())
        .collect())
}

/// Terminates instances and waits until they are gone.
pub async fn terminate(ctx: &Ctx, ids: &[String]) -> anyhow::Result<()> {
    let ec2 = &ctx.aws.ec2;
    aws::call("TerminateInstances", &Policy::standard(), || {
        ec2.terminate_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
    })
    .await?;
    for id in ids {
        report::note(&format!("terminating instance {id}"));
    }
    wait::until(
        "the VPC's instances to terminate",
        Duration::from_secs(600),
        || async {
            let found: Vec<Instance> = ec2::by_ids(ec2, ids.to_vec(), &Policy::standard()).await?;
            Ok(found.iter().all(instance::terminated).then_some(()))
        },
    )
    .await
}

/// Deletes what the last sweep found carrying the environment's tag, when that is safe without
/// knowing what it is for: instances (the director's VM), volumes (its disks), network interfaces,
/// addresses and key pairs. `false` for anything else: unpave names it and stops.
pub async fn delete_tagged(ctx: &Ctx, found: &census::Found) -> anyhow::Result<bool> {
    let ec2 = &ctx.aws.ec2;
    let id = found.id.as_str();
    let deleted = match found.kind {
        census::Kind::Instance => {
            terminate(ctx, std::slice::from_ref(&found.id)).await?;
            return Ok(true);
        }
        census::Kind::Volume => aws::absent_ok(
            aws::call("DeleteVolume", &Policy::releasing(), || {
                ec2.delete_volume().volume_id(id).send()
            })
            .await,
        )
        .map(drop),
        census::Kind::NetworkInterface => aws::absent_ok(
            aws::call("DeleteNetworkInterface", &Policy::releasing(), || {
                ec2.delete_network_interface()
                    .network_interface_id(id)
                    .send()
            })
            .await,
        )
        .map(drop),
        census::Kind::ElasticIp => aws::absent_ok(
            aws::call("ReleaseAddress", &Policy::releasing(), || {
                ec2.release_address().allocation_id(id).send()
            })
            .await,
        )
        .map(drop),
        census::Kind::KeyPair => aws::absent_ok(
            aws::call("DeleteKeyPair", &Policy::standard(), || {
                ec2.delete_key_pair().key_name(id).send()
            })
            .await,
        )
        .map(drop),
        _ => return Ok(false),
    };
    deleted?;
    report::note(&format!(
        "deleted {found}, left carrying the environment's tag"
    ));
    Ok(true)
}
