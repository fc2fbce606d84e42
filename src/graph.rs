//! The dependency graph of an environment and the walks over it.
//!
//! Resources declare what they depend on; this module is the only place that turns that into an
//! order. Creation starts every resource whose dependencies are ready, deletion every resource whose
//! dependents are gone, so independent work (IAM, the key pair, the image lookup, the network)
//! proceeds concurrently, bounded by `max_concurrency`. A failure stops only what depends on the
//! failed resource; work already in flight finishes and is recorded, so a re-run continues cleanly.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};

use crate::resources::{Ctx, Key, NameTaken, Resource};
use crate::state::Record;
use crate::{aws, report};

/// Which way to walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    /// Dependencies first.
    Create,
    /// Dependents first.
    Delete,
}

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

/// For each resource, the resources that must be done before it in `direction`.
fn prerequisites(
    resources: &[Box<dyn Resource>],
    direction: Direction,
) -> BTreeMap<Key, BTreeSet<Key>> {
    let present: BTreeSet<Key> = resources.iter().map(|r| r.key()).collect();
    let mut before: BTreeMap<Key, BTreeSet<Key>> =
        present.iter().map(|k| (*k, BTreeSet::new())).collect();
    for resource in resources {
        for dependency in resource
            .depends_on()
            .into_iter()
            .filter(|d| present.contains(d))
        {
            match direction {
                Direction::Create => before.entry(resource.key()).or_default().insert(dependency),
                Direction::Delete => before.entry(dependency).or_default().insert(resource.key()),
            };
        }
    }
    before
}

/// The order a walk with one worker visits the resources in; panics on a cycle.
pub fn sequential_order(resources: &[Box<dyn Resource>], delete: bool) -> Vec<Key> {
    let direction = if delete {
        Direction::Delete
    } else {
        Direction::Create
    };
    let mut before = prerequisites(resources, direction);
    let mut order = Vec::new();
    while let Some(next) = before
        .iter()
        .find(|(_, waits_on)| waits_on.is_empty())
        .map(|(k, _)| *k)
    {
        before.remove(&next);
        for waits_on in before.values_mut() {
            waits_on.remove(&next);
        }
        order.push(next);
    }
    assert!(before.is_empty(), "dependency cycle among {before:?}");
    order
}

async fn walk<'a>(
    resources: &'a [Box<dyn Resource>],
    direction: Direction,
    max_concurrency: usize,
    step: impl Fn(&'a dyn Resource) -> BoxFuture<'a, anyhow::Result<()>>,
) -> Result<(), WalkError> {
    let by_key: BTreeMap<Key, &dyn Resource> =
        resources.iter().map(|r| (r.key(), r.as_ref())).collect();
    let mut before = prerequisites(resources, direction);
    let mut running = FuturesUnordered::new();
    let mut failures = Vec::new();
    let max_concurrency = max_concurrency.max(1);
    loop {
        let ready: Vec<Key> = before
            .iter()
            .filter(|(_, waits_on)| waits_on.is_empty())
            .map(|(k, _)| *k)
            .take(max_concurrency.saturating_sub(running.len()))
            .collect();
        for key in ready {
            before.remove(&key);
            let future = step(by_key[&key]);
            running.push(async move { (key, future.await) });
        }
        let Some((key, result)) = running.next().await else {
            break;
        };
        match result {
            Ok(()) => {
                for waits_on in before.values_mut() {
                    waits_on.remove(&key);
                }
            }
            Err(err) => failures.push((key, err)),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(WalkError {
            failures,
            blocked: before.into_keys().collect(),
        })
    }
}

/// Brings every resource to ready: adopts what exists, creates what does not, finishes what a
/// crashed run left half-done. Each id is in the state before any follow-up step or wait.
pub async fn apply(
    ctx: &Ctx,
    resources: &[Box<dyn Resource>],
    max_concurrency: usize,
) -> Result<(), WalkError> {
    walk(resources, Direction::Create, max_concurrency, |r| {
        Box::pin(ensure(ctx, r))
    })
    .await
}

/// Deletes every resource in the state, dependents first.
pub async fn destroy(
    ctx: &Ctx,
    resources: &[Box<dyn Resource>],
    max_concurrency: usize,
) -> Result<(), WalkError> {
    walk(resources, Direction::Delete, max_concurrency, |r| {
        Box::pin(remove(ctx, r))
    })
    .await
}

/// Finds the resources of an environment whose state was lost, by ownership tag and name, and
/// records them as ready, in creation order (a find may need what an earlier one found). A resource
/// whose dependencies were not found is not looked for. Returns how many were found.
pub async fn discover(ctx: &Ctx, resources: &[Box<dyn Resource>]) -> anyhow::Result<usize> {
    let owned: BTreeSet<Key> = resources
        .iter()
        .filter(|r| r.owned())
        .map(|r| r.key())
        .collect();
    let mut found = 0;
    for key in sequential_order(resources, false) {
        let resource = resources
            .iter()
            .find(|r| r.key() == key)
            .expect("ordered keys");
        let missing_dependency = resource
            .depends_on()
            .iter()
            .any(|d| owned.contains(d) && ctx.state.get(*d).is_none());
        if !resource.owned() || missing_dependency {
            continue;
        }
        match resource.find(ctx).await {
            Ok(Some(mut record)) => {
                record.ready = true;
                report::resource("found", key, &resource.name(&ctx.settings), &record.id);
                ctx.state.record(key, record)?;
                found += 1;
            }
            Ok(None) => {}
            // Someone else's: not ours to delete.
            Err(e) if e.is::<NameTaken>() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

/// A resource that the state says is ready but that AWS no longer has.
#[derive(Debug, thiserror::Error)]
#[error(
    "{name} ({id}) is recorded in the state but no longer exists in AWS; pave cannot repair that yet: run `cfcr-aws unpave` and pave again"
)]
pub struct Vanished {
    pub name: String,
    pub id: String,
}

async fn ensure(ctx: &Ctx, resource: &dyn Resource) -> anyhow::Result<()> {
    let key = resource.key();
    let name = resource.name(&ctx.settings);
    let record = match ctx.state.get(key) {
        Some(record) if record.ready => {
            if resource.exists(ctx, &record).await? {
                return Ok(());
            }
            return Err(Vanished {
                name,
                id: record.id,
            }
            .into());
        }
        Some(record) => {
            report::resource("resuming", key, &name, &record.id);
            record
        }
        None => match resource.find(ctx).await? {
            Some(found) => {
                ctx.state.record(key, found.clone())?;
                let verb = if resource.owned() {
                    "adopted"
                } else {
                    "resolved"
                };
                report::resource(verb, key, &name, &found.id);
                found
            }
            None => create_or_adopt(ctx, resource, &name).await?,
        },
    };
    let mut record = resource.complete(ctx, record).await?;
    record.ready = true;
    ctx.state.record(key, record)?;
    Ok(())
}

/// Creates a resource and records it. A create that failed in transit may have happened anyway, so
/// before trying again it looks for the resource, and adopts it if AWS made it after all.
async fn create_or_adopt(ctx: &Ctx, resource: &dyn Resource, name: &str) -> anyhow::Result<Record> {
    let key = resource.key();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match resource.create(ctx).await {
            Ok(created) => {
                ctx.state.record(key, created.clone())?;
                report::resource("created", key, name, &created.id);
                return Ok(created);
            }
            Err(e) if aws::is_transient(&e) && attempt < aws::MAX_ATTEMPTS => {
                tracing::debug!(%key, attempt, "create failed in transit, looking before retrying: {e:#}");
                tokio::time::sleep(aws::delay_before_retry(attempt)).await;
                if let Some(found) = resource.find(ctx).await? {
                    ctx.state.record(key, found.clone())?;
                    report::resource("adopted", key, name, &found.id);
                    return Ok(found);
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
    resource.delete(ctx, &record).await?;
    ctx.state.forget(key)?;
    if resource.owned() {
        report::resource("deleted", key, &resource.name(&ctx.settings), &record.id);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigValues, Settings};
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
            let resources = inventory(&settings(mode));
            let order = sequential_order(&resources, false);
            assert_eq!(order.len(), resources.len());
            for r in &resources {
                for d in r.depends_on() {
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
        let resources = inventory(&settings("access-key"));
        let order = sequential_order(&resources, true);
        let before =
            |a: Key, b: Key| assert!(position(&order, a) < position(&order, b), "{a} before {b}");
        before(Key::BastionEip, Key::Bastion);
        before(Key::Bastion, Key::DirectorInstanceProfile);
        before(Key::MasterLoadBalancer, Key::PublicSubnet);
        before(Key::PrivateRouteTable, Key::NatGateway);
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
