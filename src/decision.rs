//! What `pave` does to each resource, decided once from the state and the refresh's findings, as
//! data: `plan` prints the decisions and `pave` carries them out, so the two cannot differ (as kops
//! runs the same tasks against a dry-run target or the cloud).

use std::collections::{BTreeMap, BTreeSet};

use crate::key::Key;
use crate::resources::{Health, Need, Resource};
use crate::state::{Origin, State};

/// What pave does to one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Not recorded: created.
    Create,
    /// Not recorded, but a crashed run may have sent its create: looked for first, so that it is
    /// recovered rather than duplicated; created if AWS has none.
    Recover,
    /// The configuration's own, not recorded yet: found by its id.
    Adopt,
    /// A data source not recorded yet (or gone): looked up.
    LookUp,
    /// Recorded, but gone from AWS: forgotten and created again.
    Recreate,
    /// Recorded, but not as declared: its tags and follow-up steps are put back. `reruns`: the
    /// recreated resources those steps will use.
    Repair {
        changes: Vec<String>,
        reruns: Vec<Key>,
    },
    /// Created by a run that stopped before its follow-up steps: they are run.
    Finish,
    /// As declared, but its follow-up steps use resources that are recreated: they run again (the
    /// address is associated with the new instance, the profile takes the new role).
    Update(Vec<Key>),
    /// Adopted, and gone from AWS: pave stops, for it does not recreate the operator's resources.
    Refuse,
    /// As declared: nothing to do.
    Unchanged,
}

impl Action {
    /// Whether the resource is given an id anew, which the preflight checks look at first.
    pub fn creates(&self) -> bool {
        matches!(
            self,
            Action::Create | Action::Recover | Action::Adopt | Action::LookUp | Action::Recreate
        )
    }

    /// The word `plan` shows; `pave` names the decisions it carries out with it too.
    pub fn word(&self) -> &'static str {
        match self {
            Action::Create | Action::Recover | Action::Recreate => "create",
            Action::Adopt => "adopt",
            Action::LookUp => "look up",
            Action::Repair { .. } => "repair",
            Action::Finish => "finish",
            Action::Update(_) => "update",
            Action::Refuse => "missing",
            Action::Unchanged => "unchanged",
        }
    }
}

/// Every resource's action.
#[derive(Debug)]
pub struct Decisions(BTreeMap<Key, Action>);

impl Decisions {
    /// The action decided for `key`.
    pub fn of(&self, key: Key) -> &Action {
        self.0.get(&key).unwrap_or(&Action::Unchanged)
    }

    /// The resources to be given an id.
    pub fn to_create(&self) -> BTreeSet<Key> {
        self.0
            .iter()
            .filter(|(_, action)| action.creates())
            .map(|(key, _)| *key)
            .collect()
    }

    /// Notes that `key`'s action was carried out before the walk (the preflight checks resolve
    /// the image on their way).
    pub fn carried_out_before(&mut self, key: Key) {
        if let Some(action) = self.0.insert(key, Action::Unchanged) {
            carried_out(key, &action);
        }
    }
}

/// Logged, at debug level, as each decision is carried out: what `plan` said, checkable.
pub fn carried_out(key: Key, action: &Action) {
    tracing::debug!(resource = %key, action = action.word(), "carried out");
}

/// Decides what pave does to each resource, from the state and the refresh's `health` of what it
/// records as ready. Reads nothing else: plan and pave decide alike.
pub fn decide(
    state: &State,
    resources: &[Box<dyn Resource>],
    health: &BTreeMap<Key, Health>,
) -> Decisions {
    let missing: BTreeSet<Key> = health
        .iter()
        .filter(|(_, h)| **h == Health::Missing)
        .map(|(k, _)| *k)
        .collect();
    Decisions(
        resources
            .iter()
            .map(|r| {
                (
                    r.key(),
                    action(state, r.as_ref(), health.get(&r.key()), &missing),
                )
            })
            .collect(),
    )
}

fn action(
    state: &State,
    resource: &dyn Resource,
    health: Option<&Health>,
    missing: &BTreeSet<Key>,
) -> Action {
    let key = resource.key();
    let origin = resource.origin();
    let Some(record) = state.resources.get(&key) else {
        return match origin {
            Origin::Adopted => Action::Adopt,
            Origin::LookedUp => Action::LookUp,
            Origin::Created if state.creating.contains(&key) => Action::Recover,
            Origin::Created => Action::Create,
        };
    };
    let reruns: Vec<Key> = resource
        .needs()
        .complete
        .iter()
        .map(|n| match n {
            Need::Id(k) | Need::Ready(k) => *k,
        })
        .filter(|k| missing.contains(k))
        .collect();
    match health {
        Some(Health::Missing) => match origin {
            Origin::Adopted => Action::Refuse,
            Origin::LookedUp => Action::LookUp,
            Origin::Created => Action::Recreate,
        },
        Some(Health::Changed(changes)) => Action::Repair {
            changes: changes.clone(),
            reruns,
        },
        _ if !record.ready => Action::Finish,
        _ if !reruns.is_empty() => Action::Update(reruns),
        _ => Action::Unchanged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigValues, Settings};
    use crate::key::PrivateEgress;
    use crate::resources::inventory;
    use crate::state::Record;

    /// In an existing VPC: its id, and the subnets to create in it.
    fn existing_vpc(values: &mut ConfigValues) {
        values.vpc_id = Some("vpc-0123456789abcdef0".into());
        values.public_subnet_ip_prefix = Some("10.0.1".into());
        values.private_subnet_ip_prefix = Some("10.0.2".into());
    }

    fn settings(extra: impl FnOnce(&mut ConfigValues)) -> Settings {
        let mut values = ConfigValues {
            prefix: Some("t".into()),
            region: Some("us-east-1".into()),
            ..Default::default()
        };
        extra(&mut values);
        Settings::validate(values, None).unwrap()
    }

    /// A state with every resource of `resources` recorded and ready.
    fn paved(resources: &[Box<dyn Resource>], settings: &Settings) -> State {
        let mut state = State {
            schema_version: crate::state::SCHEMA_VERSION,
            env: "t".into(),
            region: "us-east-1".into(),
            created_at: "2024-01-01T00:00:00Z".into(),
            settings: settings.clone(),
            cluster_tag: "c".into(),
            deployer_key: Default::default(),
            bastion_host_key: Default::default(),
            director_access_key: None,
            resources: Default::default(),
            creating: Default::default(),
            private_egress: PrivateEgress::OwnNatGateway,
            bootstrap: Default::default(),
            recovered: false,
        };
        for r in resources {
            let record = Record {
                origin: r.origin(),
                ready: true,
                ..Record::new(format!("id-{}", r.key()))
            };
            state.resources.insert(r.key(), record);
        }
        state
    }

    /// Every resource's action but the unchanged ones.
    fn changed(decisions: &Decisions) -> BTreeMap<Key, Action> {
        decisions
            .0
            .iter()
            .filter(|(_, a)| **a != Action::Unchanged)
            .map(|(k, a)| (*k, a.clone()))
            .collect()
    }

    #[test]
    fn one_state_with_every_action() {
        let settings = settings(|_| {});
        let resources = inventory(&settings, PrivateEgress::OwnNatGateway);
        let mut state = paved(&resources, &settings);
        state.resources.remove(&Key::DeployerKeyPair);
        state.resources.remove(&Key::ApiAccessSecurityGroup);
        state.creating.insert(Key::ApiAccessSecurityGroup);
        state.resources.remove(&Key::BastionImage);
        state.resources.get_mut(&Key::MasterRole).unwrap().ready = false;
        let health = BTreeMap::from([
            (Key::PublicRoute, Health::Missing),
            (Key::PrivateSubnet, Health::Changed(vec!["tag Name".into()])),
            (Key::Vpc, Health::Present),
        ]);
        let decisions = decide(&state, &resources, &health);
        assert_eq!(
            changed(&decisions),
            BTreeMap::from([
                (Key::DeployerKeyPair, Action::Create),
                (Key::ApiAccessSecurityGroup, Action::Recover),
                (Key::BastionImage, Action::LookUp),
                (Key::MasterRole, Action::Finish),
                (Key::PublicRoute, Action::Recreate),
                // The bastion is ready once its subnet routes to the internet.
                (Key::Bastion, Action::Update(vec![Key::PublicRoute])),
                (
                    Key::PrivateSubnet,
                    Action::Repair {
                        changes: vec!["tag Name".into()],
                        reruns: Vec::new()
                    }
                ),
            ])
        );
        assert_eq!(
            decisions.to_create(),
            BTreeSet::from([
                Key::DeployerKeyPair,
                Key::ApiAccessSecurityGroup,
                Key::BastionImage,
                Key::PublicRoute
            ])
        );
    }

    #[test]
    fn a_new_environment_is_created_adopted_and_looked_up() {
        let settings = settings(existing_vpc);
        let resources = inventory(&settings, PrivateEgress::OwnNatGateway);
        let mut state = paved(&resources, &settings);
        state.resources.clear();
        let decisions = decide(&state, &resources, &BTreeMap::new());
        for r in &resources {
            let expected = match r.key() {
                Key::Vpc | Key::InternetGateway => Action::Adopt,
                Key::BastionImage => Action::LookUp,
                _ => Action::Create,
            };
            assert_eq!(*decisions.of(r.key()), expected, "{}", r.key());
        }
    }

    #[test]
    fn an_adopted_resource_gone_is_refused_not_recreated() {
        let settings = settings(existing_vpc);
        let resources = inventory(&settings, PrivateEgress::OwnNatGateway);
        let state = paved(&resources, &settings);
        let health = BTreeMap::from([(Key::Vpc, Health::Missing)]);
        let decisions = decide(&state, &resources, &health);
        assert_eq!(*decisions.of(Key::Vpc), Action::Refuse);
        assert!(decisions.to_create().is_empty());
    }

    #[test]
    fn a_changed_resource_whose_dependency_is_recreated_is_repaired_with_it() {
        let settings = settings(|_| {});
        let resources = inventory(&settings, PrivateEgress::OwnNatGateway);
        let mut state = paved(&resources, &settings);
        state.resources.get_mut(&Key::NatGateway).unwrap().ready = false;
        let health = BTreeMap::from([
            (Key::Bastion, Health::Missing),
            (Key::BastionEip, Health::Changed(vec!["tag Name".into()])),
            // Not ready: the refresh does not judge it, whatever happened to its address.
            (Key::NatEip, Health::Missing),
        ]);
        let decisions = decide(&state, &resources, &health);
        assert_eq!(
            *decisions.of(Key::BastionEip),
            Action::Repair {
                changes: vec!["tag Name".into()],
                reruns: vec![Key::Bastion]
            }
        );
        assert_eq!(*decisions.of(Key::NatGateway), Action::Finish);
    }

    #[test]
    fn a_present_environment_has_nothing_to_do() {
        let settings = settings(|_| {});
        let resources = inventory(&settings, PrivateEgress::OwnNatGateway);
        let state = paved(&resources, &settings);
        let health = resources
            .iter()
            .map(|r| (r.key(), Health::Present))
            .collect();
        assert!(changed(&decide(&state, &resources, &health)).is_empty());
    }

    #[test]
    fn plan_words() {
        let words: Vec<&str> = [
            Action::Create,
            Action::Recover,
            Action::Recreate,
            Action::Adopt,
            Action::LookUp,
            Action::Repair {
                changes: Vec::new(),
                reruns: Vec::new(),
            },
            Action::Finish,
            Action::Update(Vec::new()),
            Action::Refuse,
        ]
        .iter()
        .map(Action::word)
        .collect();
        assert_eq!(
            words,
            [
                "create", "create", "create", "adopt", "look up", "repair", "finish", "update",
                "missing"
            ]
        );
    }
}
