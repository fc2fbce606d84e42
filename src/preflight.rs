//! Preflight: everything that would stop a pave half-way but can be known before the first create —
//! the zone, the image, the quotas (quotas.rs), names taken by others, remains of a lost state —
//! checked at once and reported together. `pave` runs it before creating anything; `plan` shows it.
//! Read-only: it records nothing.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{AvailabilityZoneState, LocationType, Vpc};
use futures::future::join_all;

use crate::aws::{self, Policy};
use crate::config::AmiSource;
use crate::ec2::filters::{self, filter};
use crate::ec2::tags::owned_by;
use crate::ec2::{self, security_group};
use crate::hand_off::HandOffMode;
use crate::key::Key;
use crate::resources::{Ctx, NameTaken, Resource};
use crate::state::Record;

/// The resources whose names are unique in the account or region, so someone else may hold them.
const NAMED: [Key; 9] = [
    Key::DeployerKeyPair,
    Key::MasterLoadBalancer,
    Key::MasterRole,
    Key::WorkerRole,
    Key::DirectorRole,
    Key::MasterInstanceProfile,
    Key::WorkerInstanceProfile,
    Key::DirectorInstanceProfile,
    Key::DirectorUser,
];

/// What preflight found.
#[derive(Debug, Default)]
pub struct Findings {
    /// Each would stop the pave; all are reported together.
    pub problems: Vec<String>,
    /// The bastion's image (what was looked for, and what was found), resolved on the way: pave
    /// records it.
    pub image: Option<(String, Record)>,
    /// What to say about the quotas without stopping: AWS's defaults stood in (Service Quotas did
    /// not answer), or the checks were skipped.
    pub quota_warnings: Vec<String>,
}

/// Problems found before anything was created.
#[derive(Debug, thiserror::Error)]
#[error("preflight found {} problem(s); nothing was created:\n  - {}", .0.len(), .0.join("\n  - "))]
pub struct PreflightFailed(pub Vec<String>);

/// Checks what the resources `to_create` need. `new` says the environment has no state, so
/// anything of it in AWS is the remains of a lost state; `hand_off` which VMs the hand-off starts
/// after them, to count against the vCPU quota.
pub async fn check(
    ctx: &Ctx,
    resources: &[Box<dyn Resource>],
    to_create: &BTreeSet<Key>,
    new: bool,
    check_quota: bool,
    hand_off: HandOffMode,
) -> anyhow::Result<Findings> {
    if to_create.is_empty() {
        return Ok(Findings::default());
    }
    let image = async {
        let resource = resources.iter().find(|r| r.key() == Key::BastionImage)?;
        if !to_create.contains(&Key::BastionImage) {
            return None;
        }
        Some(match resource.find(ctx).await {
            Ok(Some(record)) => Ok((resource.name(&ctx.settings), record)),
            Ok(None) => Err(format!(
                "{}: no image matches {}; name another image or pattern",
                image_key(ctx),
                resource.name(&ctx.settings)
            )),
            Err(e) => Err(format!("{}: {e:#}", image_key(ctx))),
        })
    };
    let names = join_all(
        resources
            .iter()
            .filter(|r| NAMED.contains(&r.key()) && to_create.contains(&r.key()))
            .map(|r| name_free(ctx, r.as_ref(), new)),
    );
    let instance_type = async {
        if to_create.contains(&Key::Bastion) {
            instance_type_offered(ctx).await
        } else {
            Ok(None)
        }
    };
    // Quotas count what is created: not an adopted VPC or gateway.
    let created: BTreeSet<Key> = resources
        .iter()
        .filter(|r| r.owned() && to_create.contains(&r.key()))
        .map(|r| r.key())
        .collect();
    let quotas = async {
        if check_quota {
            crate::quotas::problems(ctx, &created, hand_off).await
        } else {
            Ok((Vec::new(), vec![crate::quotas::skipped()]))
        }
    };
    let (image, names, zone, orphans, instance_type, quotas) = futures::join!(
        image,
        names,
        zone(ctx),
        orphans(ctx, new),
        instance_type,
        quotas
    );
    let mut findings = Findings::default();
    match image {
        Some(Ok(image)) => findings.image = Some(image),
        Some(Err(problem)) => findings.problems.push(problem),
        None => {}
    }
    findings.problems.extend(names.into_iter().flatten());
    findings.problems.extend(zone?);
    findings.problems.extend(orphans?);
    findings.problems.extend(instance_type?);
    let (quota_problems, quota_warnings) = quotas?;
    findings.problems.extend(quota_problems);
    findings.quota_warnings = quota_warnings;
    Ok(findings)
}

/// Whether the bastion's instance type is offered in the zone: older families (t2, m4) are missing
/// from newer regions and from some zones of older ones, and RunInstances would fail only at the
/// end of the network's creation.
async fn instance_type_offered(ctx: &Ctx) -> anyhow::Result<Option<String>> {
    let ec2 = &ctx.aws.ec2;
    let (zone, wanted) = (&ctx.settings.zone, &ctx.settings.bastion_instance_type);
    let out = aws::call("DescribeInstanceTypeOfferings", &Policy::standard(), || {
        ec2.describe_instance_type_offerings()
            .location_type(LocationType::AvailabilityZone)
            .filters(filter("location", [zone]))
            .filters(filter("instance-type", [wanted]))
            .send()
    })
    .await?;
    let offered = out.instance_type_offerings().iter().any(|o| {
        o.instance_type().map(|t| t.as_str()) == Some(wanted.as_str())
            && o.location() == Some(zone.as_str())
    });
    Ok((!offered).then(|| {
        format!(
            "bastion_instance_type: {wanted} is not offered in {zone}; choose a type the zone offers (e.g. t3.micro), or another zone (aws ec2 describe-instance-type-offerings --location-type availability-zone --filters Name=location,Values={zone})"
        )
    }))
}

/// The config key the operator set for the bastion's image.
fn image_key(ctx: &Ctx) -> &'static str {
    match ctx.settings.bastion_ami {
        AmiSource::Id(_) => "bastion_ami",
        AmiSource::NamePattern(_) => "bastion_ami_name",
    }
}

/// What a lost state's advice must add: the state may not be lost at all, only elsewhere.
const ELSEWHERE: &str = "If another operator or directory holds this environment's state (another --state-dir, or an S3 --state), the environment is live: find that state first, because unpave --env would destroy it";

/// A problem when the resource's name is held: by someone else, or by this environment without a
/// state (then the state was lost). With a state, the environment's own resource is one a crashed
/// run created: pave adopts it.
async fn name_free(ctx: &Ctx, resource: &dyn Resource, new: bool) -> Option<String> {
    let name = resource.name(&ctx.settings);
    match resource.find(ctx).await {
        Ok(None) => None,
        Ok(Some(_)) if !new => None,
        Ok(Some(_)) => Some(format!(
            "{} {name:?} already exists with this environment's tag but is not in the state: restore the state file, or run `cfcr-aws unpave --env {}` to delete what is left. {ELSEWHERE}",
            resource.key(),
            ctx.settings.prefix
        )),
        Err(e) if e.is::<NameTaken>() => Some(format!("{e:#}")),
        Err(e) => Some(format!("checking {} {name:?}: {e:#}", resource.key())),
    }
}

async fn zone(ctx: &Ctx) -> anyhow::Result<Option<String>> {
    let ec2 = &ctx.aws.ec2;
    let zone = &ctx.settings.zone;
    let out = aws::call("DescribeAvailabilityZones", &Policy::standard(), || {
        ec2.describe_availability_zones()
            .all_availability_zones(true)
            .send()
    })
    .await?;
    let zones = out.availability_zones();
    Ok(
        match zones.iter().find(|z| z.zone_name() == Some(zone.as_str())) {
            Some(z) if z.state() == Some(&AvailabilityZoneState::Available) => None,
            Some(z) => Some(format!(
                "zone: {zone} is {}, not available; choose another zone of {}",
                z.state()
                    .map(|s| s.as_str())
                    .unwrap_or("in an unknown state"),
                ctx.settings.region
            )),
            None => Some(format!(
                "zone: {zone} is not a zone of {}; it has {}",
                ctx.settings.region,
                zones
                    .iter()
                    .filter_map(|z| z.zone_name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        },
    )
}

/// A new environment whose VPC already exists: the remains of a lost state. (The other named
/// resources are checked by name; everything else of an environment lives in its VPC.) In an
/// adopted VPC, its security groups tell.
async fn orphans(ctx: &Ctx, new: bool) -> anyhow::Result<Option<String>> {
    if !new {
        return Ok(None);
    }
    if let Some(vpc_id) = &ctx.settings.vpc_id {
        return adopted_vpc_orphans(ctx, vpc_id).await;
    }
    let env = &ctx.settings.prefix;
    let vpcs: Vec<Vpc> =
        ec2::matching(&ctx.aws.ec2, vec![filters::owner(env)], &Policy::standard()).await?;
    let found: Vec<&str> = vpcs
        .iter()
        .filter(|v| owned_by(v.tags(), env))
        .filter_map(|v| v.vpc_id())
        .collect();
    Ok((!found.is_empty()).then(|| {
        format!(
            "AWS already holds VPC {} of environment {env:?} but there is no state file: run `cfcr-aws unpave --env {env}` to delete what is left (it finds it by tag and name), or restore the state file. {ELSEWHERE}",
            found.join(", ")
        )
    }))
}

/// The environment's security groups in the adopted VPC, without a state.
async fn adopted_vpc_orphans(ctx: &Ctx, vpc_id: &str) -> anyhow::Result<Option<String>> {
    let env = &ctx.settings.prefix;
    let groups =
        security_group::owned_by(&ctx.aws.ec2, env, Some(vpc_id), &Policy::standard()).await?;
    let found: Vec<&str> = groups.iter().filter_map(|g| g.group_id()).collect();
    Ok((!found.is_empty()).then(|| {
        format!(
            "VPC {vpc_id} already holds security groups {} of environment {env:?} but there is no state file: run `cfcr-aws unpave --env {env}` to delete what is left (the VPC itself is kept), or restore the state file. {ELSEWHERE}",
            found.join(", ")
        )
    }))
}
