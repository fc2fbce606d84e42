//! Refresh: what AWS holds now for the resources in the state, read in a handful of batched,
//! concurrent calls (one listing per kind, not one describe per resource), and each resource's
//! health judged from it. `pave` refreshes before it walks the graph, `status` shows the result.
//!
//! A snapshot that does not show a resource proves little (a listing can lag, a resource can lose
//! its tags), so a resource the snapshot misses is confirmed with its own describe call.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_ec2::types::{Instance, NatGateway, RouteTable, SecurityGroup};
use aws_sdk_elasticloadbalancing::types::LoadBalancerDescription;
use aws_sdk_iam::types::InstanceProfile;
use futures::future::{join_all, try_join4};

use crate::aws::{self, Policy, wait};
use crate::ec2::filters::filter;
use crate::ec2::{self, Described};
use crate::key::Key;
use crate::resources::{Ctx, Health, Observed, Resource, iam_listing};
use crate::state::Record;

/// Ids of the recorded resources of `keys`.
fn ids(ctx: &Ctx, keys: &[Key]) -> Vec<String> {
    keys.iter()
        .filter_map(|k| ctx.state.get(*k))
        .map(|r| r.id)
        .collect()
}

/// Reads the snapshot for the resources recorded in the state: every listing at once.
pub async fn observe(ctx: &Ctx, resources: &[Box<dyn Resource>]) -> anyhow::Result<Observed> {
    let tag_ids: Vec<String> = resources
        .iter()
        .filter_map(|r| r.tag_id(&ctx.state.get(r.key())?))
        .collect();
    let (tags, network, elb, iam) = try_join4(
        ec2_tags(ctx, tag_ids),
        network(ctx),
        load_balancers(ctx),
        iam(ctx),
    )
    .await?;
    let (nat_gateways, instances, security_groups, route_tables) = network;
    let (instance_profiles, roles, policies, users) = iam;
    Ok(Observed {
        ec2_tags: tags,
        nat_gateways,
        instances,
        security_groups,
        route_tables,
        load_balancers: elb,
        instance_profiles,
        roles,
        policies,
        users,
    })
}

async fn ec2_tags(
    ctx: &Ctx,
    ids: Vec<String>,
) -> anyhow::Result<BTreeMap<String, BTreeMap<String, String>>> {
    let mut tags: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    if ids.is_empty() {
        return Ok(tags);
    }
    let by_resource = vec![filter("resource-id", ids)];
    let listed = ec2::tag_listing(&ctx.aws.ec2, by_resource, &Policy::standard()).await?;
    for tag in &listed {
        if let (Some(id), Some(key)) = (tag.resource_id(), tag.key()) {
            tags.entry(id.to_string())
                .or_default()
                .insert(key.to_string(), tag.value().unwrap_or_default().to_string());
        }
    }
    Ok(tags)
}

type Network = (
    BTreeMap<String, NatGateway>,
    BTreeMap<String, Instance>,
    BTreeMap<String, SecurityGroup>,
    BTreeMap<String, RouteTable>,
);

/// The kinds whose state or contents matter beyond their tags, each in one listing.
async fn network(ctx: &Ctx) -> anyhow::Result<Network> {
    try_join4(
        recorded(ctx, &[Key::NatGateway]),
        recorded(ctx, &[Key::Bastion]),
        recorded(
            ctx,
            &[Key::NodeAccessSecurityGroup, Key::ApiAccessSecurityGroup],
        ),
        recorded(ctx, &[Key::PublicRouteTable, Key::PrivateRouteTable]),
    )
    .await
}

/// The recorded resources of `keys` as AWS lists them, by id. Filters, not id lists: an id list
/// fails whole when one id is gone.
async fn recorded<T: Described>(ctx: &Ctx, keys: &[Key]) -> anyhow::Result<BTreeMap<String, T>> {
    let ids = ids(ctx, keys);
    let found: Vec<T> = ec2::listed(&ctx.aws.ec2, ids.clone(), &Policy::standard()).await?;
    // Matched by id here too: LocalStack's emulation ignores some of the filters.
    Ok(found
        .into_iter()
        .filter_map(|item| Some((item.id()?.to_string(), item)))
        .filter(|(id, _)| ids.contains(id))
        .collect())
}

async fn load_balancers(ctx: &Ctx) -> anyhow::Result<BTreeMap<String, LoadBalancerDescription>> {
    let names = ids(ctx, &[Key::MasterLoadBalancer]);
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let elb = &ctx.aws.elb;
    let out = aws::absent_ok(
        aws::call("DescribeLoadBalancers", &Policy::standard(), || {
            elb.describe_load_balancers()
                .set_load_balancer_names(Some(names.clone()))
                .send()
        })
        .await,
    )?;
    Ok(out
        .iter()
        .flat_map(|o| o.load_balancer_descriptions())
        .filter_map(|d| Some((d.load_balancer_name()?.to_string(), d.clone())))
        .collect())
}

type Iam = (
    BTreeMap<String, InstanceProfile>,
    BTreeSet<String>,
    BTreeSet<String>,
    BTreeSet<String>,
);

/// What calls for each IAM listing, in [`Iam`]'s order: a recorded resource of the kind.
const IAM_KINDS: [&[Key]; 4] = [
    &[
        Key::MasterInstanceProfile,
        Key::WorkerInstanceProfile,
        Key::DirectorInstanceProfile,
    ],
    &[Key::MasterRole, Key::WorkerRole, Key::DirectorRole],
    &[Key::DirectorPolicy],
    &[Key::DirectorUser],
];

/// Everything under the environment's IAM path: one listing per kind, however many there are, and
/// none for a kind the state does not record.
async fn iam(ctx: &Ctx) -> anyhow::Result<Iam> {
    let [profiles, roles, policies, users] =
        IAM_KINDS.map(|keys| keys.iter().any(|k| ctx.state.get(*k).is_some()));
    let wanted = iam_listing::Wanted {
        profiles,
        roles,
        policies,
        users,
    };
    let found = iam_listing::under_path(&ctx.aws.iam, &ctx.settings.prefix, wanted).await?;
    Ok((
        found
            .profiles
            .into_iter()
            .map(|p| (p.instance_profile_name().to_string(), p))
            .collect(),
        found
            .roles
            .iter()
            .map(|r| r.role_name().to_string())
            .collect(),
        found
            .policies
            .iter()
            .filter_map(|p| p.arn().map(str::to_string))
            .collect(),
        found
            .users
            .iter()
            .map(|u| u.user_name().to_string())
            .collect(),
    ))
}

/// The health of every resource recorded as ready. What the snapshot does not show is confirmed
/// with the resource's own describe call, concurrently.
pub async fn health(
    ctx: &Ctx,
    resources: &[Box<dyn Resource>],
    seen: &Observed,
) -> anyhow::Result<BTreeMap<Key, Health>> {
    let checks = resources.iter().filter_map(|r| {
        let record = ctx.state.get(r.key()).filter(|rec| rec.ready)?;
        Some(async move { (r.key(), judge(ctx, r.as_ref(), &record, seen).await) })
    });
    let mut health = BTreeMap::new();
    for (key, result) in join_all(checks).await {
        health.insert(key, result?);
    }
    Ok(health)
}

async fn judge(
    ctx: &Ctx,
    resource: &dyn Resource,
    record: &Record,
    seen: &Observed,
) -> anyhow::Result<Health> {
    if let Some(health) = resource.observe(ctx, record, seen)
        && health != Health::Missing
    {
        return Ok(health);
    }
    if !resource.exists(ctx, record).await? && !appears(ctx, resource, record).await? {
        return Ok(Health::Missing);
    }
    // There after all: the snapshot missed it because its tags are gone.
    let untagged = resource
        .tag_id(record)
        .is_some_and(|id| !seen.ec2_tags.contains_key(&id));
    Ok(if untagged {
        Health::Changed(vec![resource.untagged()])
    } else {
        Health::Present
    })
}

/// How long after its creation a resource that AWS does not show is still taken for one AWS has not
/// made visible yet, rather than one deleted since. AWS gives no bound; seconds is what is observed
/// (the realism layer's model: up to 30 s), and a hand deletion within a minute of a pave is rare.
/// Creates themselves tolerate "not found" far longer ([`crate::resources::FRESH`]).
const VISIBILITY_WINDOW: Duration = Duration::from_secs(60);

/// Whether a resource created a moment ago, which AWS does not show yet, appears before it is
/// [`VISIBILITY_WINDOW`] old. An older one is missing at once.
async fn appears(ctx: &Ctx, resource: &dyn Resource, record: &Record) -> anyhow::Result<bool> {
    let Some(left) = record
        .age()
        .and_then(|age| VISIBILITY_WINDOW.checked_sub(age))
    else {
        return Ok(false);
    };
    let what = format!("{} {} to become visible", resource.key(), record.id);
    let shown = wait::until(&what, left, || async {
        Ok(resource.exists(ctx, record).await?.then_some(()))
    })
    .await;
    match shown {
        Ok(()) => Ok(true),
        Err(e) if e.is::<wait::WaitTimeout>() => Ok(false),
        Err(e) => Err(e),
    }
}
