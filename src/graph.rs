//! The dependency graph of an environment and the walks over it.
//!
//! Resources declare what they depend on; this module is the only place that turns that into an
//! order. Creation starts every resource whose dependencies are ready, deletion every resource whose
//! dependents are gone, so independent work (IAM, the key pair, the image lookup, the network)
//! proceeds concurrently, bounded by `max_concurrency`. A failure stops only what depends on the
//! failed resource; work already in flight finishes and is recorded, so a re-run continues cleanly.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write};

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};

use crate::decision::{self, Action, Decisions};
use crate::key::Key;
use crate::resources::{Ctx, NameTaken, Need, NotInState, Resource};
use crate::state::{Origin, Record};
use crate::{aws, report};

/// One or more resources failed; the rest of the walk finished what it could.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(.failures, .blocked))]
pub struct WalkError {
    pub failures: Vec<(Key, anyhow::Error)>,
    /// Resources not attempted because something they wait on failed.
    pub blocked: Vec<Key>,
}

fn describe(failures: &[(Key, anyhow::Error)], blocked: &[Key]) -> String {
    let mut text = String::new();
    for (i, (key, err)) in failures.iter().enumerate() {
        if i > 0 {
            text.push_str("; ");
        }
        let _ = write!(text, "{key}: {err:#}");
    }
    if !blocked.is_empty() {
        let names: Vec<String> = blocked.iter().map(Key::to_string).collect();
        let _ = write!(text, " (not attempted: {})", names.join(", "));
    }
    text
}

/// A point in a resource's creation: its id is known (`Created`), or its follow-up steps and
/// waits are done too (`Ready`). Dependents wait for whichever they need, so a subnet is created
/// while the VPC's attributes are still being set, and an address is allocated long before the
/// instance it will be associated with is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Created,
    Ready,
}

fn node(need: &Need) -> (Key, Stage) {
    match *need {
        Need::Id(key) => (key, Stage::Created),
        Need::Ready(key) => (key, Stage::Ready),
    }
}

/// For each point of each resource's creation, the points that must be reached first.
fn creation_graph(
    resources: &[Box<dyn Resource>],
) -> BTreeMap<(Key, Stage), BTreeSet<(Key, Stage)>> {
    let present: BTreeSet<Key> = resources.iter().map(|r| r.key()).collect();
    let known = |needs: &[Need]| -> BTreeSet<(Key, Stage)> {
        needs
            .iter()
            .map(node)
            .filter(|(k, _)| present.contains(k))
            .collect()
    };
    let mut graph = BTreeMap::new();
    for resource in resources {
        let key = resource.key();
        let needs = resource.needs();
        graph.insert((key, Stage::Created), known(&needs.create));
        let mut ready = known(&needs.complete);
        ready.insert((key, Stage::Created));
        graph.insert((key, Stage::Ready), ready);
    }
    graph
}

/// For each resource, the resources that must be deleted before it: everything that needs it.
fn deletion_graph(resources: &[Box<dyn Resource>]) -> BTreeMap<Key, BTreeSet<Key>> {
    let present: BTreeSet<Key> = resources.iter().map(|r| r.key()).collect();
    let mut graph: BTreeMap<Key, BTreeSet<Key>> =
        present.iter().map(|k| (*k, BTreeSet::new())).collect();
    for resource in resources {
        let needs = resource.needs();
        let used = needs
            .create
            .iter()
            .chain(&needs.complete)
            .map(|n| node(n).0)
            .filter(|k| !needs.delete_independently.contains(k))
            .chain(needs.delete_before);
        for dependency in used.filter(|d| present.contains(d)) {
            graph.entry(dependency).or_default().insert(resource.key());
        }
    }
    graph
}

/// The order a walk with one worker visits the nodes of `graph` in; panics on a cycle.
fn topological<N: Ord + Copy + fmt::Debug>(mut graph: BTreeMap<N, BTreeSet<N>>) -> Vec<N> {
    let mut order = Vec::new();
    while let Some(next) = graph
        .iter()
        .find(|(_, waits_on)| waits_on.is_empty())
        .map(|(n, _)| *n)
    {
        graph.remove(&next);
        for waits_on in graph.values_mut() {
            waits_on.remove(&next);
        }
        order.push(next);
    }
    assert!(graph.is_empty(), "dependency cycle among {graph:?}");
    order
}

/// The order resources are created in (by their create calls) or deleted in, one at a time.
pub fn sequential_order(resources: &[Box<dyn Resource>], delete: bool) -> Vec<Key> {
    if delete {
        return topological(deletion_graph(resources));
    }
    topological(creation_graph(resources))
        .into_iter()
        .filter(|(_, stage)| *stage == Stage::Created)
        .map(|(key, _)| key)
        .collect()
}

/// Runs `step` for every node of `graph` once the nodes it waits on are done, at most
/// `max_concurrency` at a time. A failed node blocks only what waits on it.
async fn walk<'a, N>(
    mut graph: BTreeMap<N, BTreeSet<N>>,
    max_concurrency: usize,
    step: impl Fn(N) -> BoxFuture<'a, anyhow::Result<()>>,
) -> Result<(), (Vec<(N, anyhow::Error)>, Vec<N>)>
where
    N: Ord + Copy + 'a,
{
    let mut running = FuturesUnordered::new();
    let mut failures = Vec::new();
    let max_concurrency = max_concurrency.max(1);
    loop {
        let ready: Vec<N> = graph
            .iter()
            .filter(|(_, waits_on)| waits_on.is_empty())
            .map(|(n, _)| *n)
            .take(max_concurrency.saturating_sub(running.len()))
            .collect();
        for node in ready {
            graph.remove(&node);
            let future = step(node);
            running.push(async move { (node, future.await) });
        }
        let Some((node, result)) = running.next().await else {
            break;
        };
        match result {
            Ok(()) => {
                for waits_on in graph.values_mut() {
                    waits_on.remove(&node);
                }
            }
            Err(err) => failures.push((node, err)),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err((failures, graph.into_keys().collect()))
    }
}

/// Carries out the decisions (after [`prepare`]): creates, recovers, adopts, looks up, finishes,
/// updates and repairs, each as soon as what it needs is ready. Each id is in the state before any
/// follow-up step.
pub async fn apply(
    ctx: &Ctx,
    resources: &[Box<dyn Resource>],
    decisions: &Decisions,
    max_concurrency: usize,
) -> Result<(), WalkError> {
    let by_key: BTreeMap<Key, &dyn Resource> =
        resources.iter().map(|r| (r.key(), r.as_ref())).collect();
    walk(
        creation_graph(resources),
        max_concurrency,
        |(key, stage)| {
            let action = decisions.of(key);
            match stage {
                Stage::Created => Box::pin(ensure_created(ctx, by_key[&key], action)),
                Stage::Ready => Box::pin(ensure_ready(ctx, by_key[&key], action)),
            }
        },
    )
    .await
    .map_err(|(failures, blocked)| {
        let failed: BTreeSet<Key> = failures.iter().map(|((k, _), _)| *k).collect();
        WalkError {
            failures: failures.into_iter().map(|((k, _), e)| (k, e)).collect(),
            blocked: blocked
                .into_iter()
                .map(|(k, _)| k)
                .filter(|k| !failed.contains(k))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        }
    })
}

/// Deletes every resource in the state, dependents first.
pub async fn destroy(
    ctx: &Ctx,
    resources: &[Box<dyn Resource>],
    max_concurrency: usize,
) -> Result<(), WalkError> {
    let by_key: BTreeMap<Key, &dyn Resource> =
        resources.iter().map(|r| (r.key(), r.as_ref())).collect();
    settle_intents(ctx, resources).await?;
    walk(deletion_graph(resources), max_concurrency, |key| {
        Box::pin(remove(ctx, by_key[&key]))
    })
    .await
    .map_err(|(failures, blocked)| WalkError { failures, blocked })
}

/// Resources whose create call a crashed run sent without recording the answer: found and
/// recorded if AWS made them, so that unpave deletes them too.
async fn settle_intents(ctx: &Ctx, resources: &[Box<dyn Resource>]) -> Result<(), WalkError> {
    for key in sequential_order(resources, false) {
        if !ctx.state.intended(key) || ctx.state.get(key).is_some() {
            continue;
        }
        let resource = resources
            .iter()
            .find(|r| r.key() == key)
            .expect("ordered keys");
        let settled = async {
            match resource.find(ctx).await? {
                Some(record) => record_found(ctx, resource.as_ref(), record),
                None => ctx.state.forget(key),
            }
        };
        settled.await.map_err(|e| WalkError {
            failures: vec![(key, e)],
            blocked: Vec::new(),
        })?;
    }
    Ok(())
}

/// Finds the resources of an environment whose state was lost, by ownership tag and name (and the
/// adopted ones by the ids the configuration or the discovery names), and records them as ready, in
/// creation order (a find may need what an earlier one found). Returns how many of the
/// environment's own were found.
pub async fn discover(ctx: &Ctx, resources: &[Box<dyn Resource>]) -> anyhow::Result<usize> {
    let mut found = 0;
    for key in sequential_order(resources, false) {
        let resource = resources
            .iter()
            .find(|r| r.key() == key)
            .expect("ordered keys");
        if resource.origin() == Origin::LookedUp {
            continue;
        }
        // Each kind is looked for by its own tags and name, whatever was found before it: a
        // bastion is found without the subnet it runs in. Only a lookup that needs another
        // resource's id (a route needs its table) waits for that one to be found.
        match resource.find(ctx).await {
            Ok(Some(mut record)) => {
                record.ready = true;
                record.origin = resource.origin();
                let verb = if resource.owned() { "found" } else { "adopted" };
                report::resource(verb, key, &resource.name(&ctx.settings), &record.id);
                ctx.state.record(key, record)?;
                found += usize::from(resource.owned());
            }
            Ok(None) => {}
            Err(e) if e.is::<NotInState>() => {}
            // Someone else's: not ours to delete.
            Err(e) if e.is::<NameTaken>() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

/// Makes the state say what the decisions imply, before any of them is carried out: a resource
/// given an id anew is forgotten (its old id would mislead what uses it), and one whose follow-up
/// steps run again is marked unready, so that a run stopped before them still runs them. An adopted
/// resource gone from AWS stops pave, with the state unchanged.
pub fn prepare(
    ctx: &Ctx,
    resources: &[Box<dyn Resource>],
    decisions: &Decisions,
) -> anyhow::Result<()> {
    for resource in resources {
        if let (Action::Refuse, Some(record)) =
            (decisions.of(resource.key()), ctx.state.get(resource.key()))
        {
            return Err(refusal(resource.key(), &record));
        }
    }
    for resource in resources {
        let key = resource.key();
        let Some(record) = ctx.state.get(key) else {
            continue;
        };
        match decisions.of(key) {
            action if action.creates() => {
                report::resource("missing", key, &resource.name(&ctx.settings), &record.id);
                ctx.state.forget(key)?;
            }
            Action::Update(_) => ctx.state.record(
                key,
                Record {
                    ready: false,
                    ..record
                },
            )?,
            _ => {}
        }
    }
    Ok(())
}

fn refusal(key: Key, record: &Record) -> anyhow::Error {
    anyhow::anyhow!(
        "{key} {} is gone from AWS; it was adopted (named in the configuration), so pave does not recreate it: restore it, or run `cfcr-aws unpave` and pave again with other ids",
        record.id
    )
}

/// Records a resource found in AWS: one a crashed run created, one the configuration names as
/// existing, or a data source.
fn record_found(ctx: &Ctx, resource: &dyn Resource, mut record: Record) -> anyhow::Result<()> {
    let key = resource.key();
    record.origin = resource.origin();
    let verb = match record.origin {
        Origin::Created => "recovered",
        Origin::Adopted => "adopted",
        Origin::LookedUp => "resolved",
    };
    report::resource(verb, key, &resource.name(&ctx.settings), &record.id);
    ctx.state.record(key, record)
}

/// Gives the resource an id in the state, as decided. Only what a crashed run may have created,
/// and what is adopted or looked up, is looked for first: a new environment's resources are simply
/// created.
async fn ensure_created(ctx: &Ctx, resource: &dyn Resource, action: &Action) -> anyhow::Result<()> {
    let key = resource.key();
    match action {
        Action::Create | Action::Recreate => create_or_recover(ctx, resource).await,
        Action::Recover | Action::Adopt | Action::LookUp => match resource.find(ctx).await? {
            Some(found) => record_found(ctx, resource, found),
            None => create_or_recover(ctx, resource).await,
        },
        Action::Finish | Action::Update(_) => {
            let record = recorded(ctx, key)?;
            report::resource("resuming", key, &resource.name(&ctx.settings), &record.id);
            Ok(())
        }
        Action::Refuse => Err(refusal(key, &recorded(ctx, key)?)),
        Action::Repair { .. } | Action::Unchanged => Ok(()),
    }
}

fn recorded(ctx: &Ctx, key: Key) -> anyhow::Result<Record> {
    ctx.state
        .get(key)
        .ok_or_else(|| anyhow::anyhow!("{key} was not created"))
}

/// Runs the follow-up steps and waits of a resource given an id (or a repair's, once what they use
/// is ready) and marks it ready.
async fn ensure_ready(ctx: &Ctx, resource: &dyn Resource, action: &Action) -> anyhow::Result<()> {
    let key = resource.key();
    let record = recorded(ctx, key)?;
    let name = resource.name(&ctx.settings);
    match action {
        Action::Unchanged => return Ok(()),
        Action::Refuse => return Err(refusal(key, &record)),
        Action::Repair { changes, .. } => {
            resource.repair(ctx, &record).await?;
            report::resource("repaired", key, &name, &record.id);
            for change in changes {
                report::note(&format!("          {change}"));
            }
        }
        _ => follow_up(ctx, resource, record, &name).await?,
    }
    decision::carried_out(key, action);
    Ok(())
}

/// Runs a resource's follow-up steps and waits and records it ready.
async fn follow_up(
    ctx: &Ctx,
    resource: &dyn Resource,
    record: Record,
    name: &str,
) -> anyhow::Result<()> {
    let key = resource.key();
    let _shown = report::activity(format!("{key} {name}: follow-up steps and waits"));
    let started = std::time::Instant::now();
    let mut record = resource.complete(ctx, record).await?;
    record.ready = true;
    let id = record.id.clone();
    ctx.state.record(key, record)?;
    // A wait worth knowing about in a log: the NAT gateway, the instance.
    if started.elapsed() > std::time::Duration::from_secs(2) {
        let waited =
            humantime::format_duration(std::time::Duration::from_secs(started.elapsed().as_secs()));
        report::resource("ready", key, name, &format!("{id} (after {waited})"));
    }
    Ok(())
}

/// How long AWS's tag-filtered listings may omit a resource after its create call answered. AWS
/// documents no bound ("eventual consistency" in the EC2 and IAM API references); seconds is what
/// is observed, and the test suite's realism layer models one to five.
const LISTING_LAG: std::time::Duration = std::time::Duration::from_secs(5);

/// Creates a resource and records it, with its intent noted first. A create that failed in transit
/// may have happened anyway, and a name that already exists may be ours from a lost run: either
/// way it looks, and recovers what it finds.
async fn create_or_recover(ctx: &Ctx, resource: &dyn Resource) -> anyhow::Result<()> {
    let key = resource.key();
    let name = resource.name(&ctx.settings);
    let _shown = report::activity(format!("creating {key} {name}"));
    if resource.owned() {
        ctx.state.intend(key)?;
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        match resource.create(ctx).await {
            Ok(created) => {
                report::resource("created", key, &name, &created.id);
                return ctx.state.record(key, created.created_now());
            }
            Err(e) if aws::is_class(&e, aws::ErrorClass::AlreadyExists) => {
                return match resource.find(ctx).await? {
                    Some(found) => record_found(ctx, resource, found),
                    None => Err(e),
                };
            }
            Err(e) if aws::is_transient(&e) && attempt < aws::MAX_ATTEMPTS => {
                tracing::debug!(%key, attempt, "create failed in transit, looking before retrying: {e:#}");
                // Listings lag behind creates by seconds: look only once a resource made by the
                // failed call would show.
                let pause = aws::delay_before_retry(attempt).max(LISTING_LAG);
                tokio::time::sleep(pause).await;
                if let Some(found) = resource.find(ctx).await? {
                    return record_found(ctx, resource, found);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

async fn remove(ctx: &Ctx, resource: &dyn Resource) -> anyhow::Result<()> {
    let key = resource.key();
    let Some(record) = ctx.state.get(key) else {
        return Ok(());
    };
    let _shown = report::activity(format!("deleting {key} {}", record.id));
    resource.delete(ctx, &record).await?;
    ctx.state.forget(key)?;
    match resource.origin() {
        Origin::Created => {
            report::resource("deleted", key, &resource.name(&ctx.settings), &record.id)
        }
        Origin::Adopted => report::resource("kept", key, &resource.name(&ctx.settings), &record.id),
        Origin::LookedUp => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigValues, Settings};
    use crate::key::PrivateEgress;
    use crate::resources::inventory;

    fn settings(mode: &str) -> Settings {
        let values = ConfigValues {
            prefix: Some("t".into()),
            region: Some("us-east-1".into()),
            director_credentials: Some(mode.into()),
            ..Default::default()
        };
        Settings::validate(values, None).unwrap()
    }

    fn position(order: &[Key], key: Key) -> usize {
        order.iter().position(|k| *k == key).unwrap()
    }

    #[test]
    fn creation_respects_every_dependency() {
        for mode in ["instance-profile", "access-key"] {
            let resources = inventory(&settings(mode), PrivateEgress::OwnNatGateway);
            let order = sequential_order(&resources, false);
            assert_eq!(order.len(), resources.len());
            for r in &resources {
                for d in r.needs().create.iter().map(|n| node(n).0) {
                    assert!(
                        position(&order, d) < position(&order, r.key()),
                        "{d} before {}",
                        r.key()
                    );
                }
            }
        }
    }

    #[test]
    fn deletion_follows_the_documented_order() {
        let resources = inventory(&settings("access-key"), PrivateEgress::OwnNatGateway);
        let order = sequential_order(&resources, true);
        let before =
            |a: Key, b: Key| assert!(position(&order, a) < position(&order, b), "{a} before {b}");
        before(Key::BastionEip, Key::InternetGateway);
        before(Key::Bastion, Key::PublicSubnet);
        before(Key::Bastion, Key::NodeAccessSecurityGroup);
        before(Key::Bastion, Key::DirectorInstanceProfile);
        before(Key::MasterLoadBalancer, Key::PublicSubnet);
        before(Key::PrivateRoute, Key::NatGateway);
        before(Key::PrivateRoute, Key::PrivateRouteTable);
        before(Key::PublicRoute, Key::InternetGateway);
        before(Key::NatGateway, Key::NatEip);
        before(Key::NatEip, Key::InternetGateway);
        before(Key::NodeAccessSecurityGroup, Key::Vpc);
        before(Key::PublicSubnet, Key::Vpc);
        before(Key::InternetGateway, Key::Vpc);
        before(Key::DirectorUser, Key::DirectorPolicy);
        before(Key::DirectorPolicy, Key::DirectorRole);
        before(Key::MasterInstanceProfile, Key::MasterRole);
    }
}
