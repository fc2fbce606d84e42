//! The state: the single source of truth about what an environment owns in AWS.
//!
//! One JSON file per environment, `<state-dir>/<prefix>.json`. Every write replaces the file
//! atomically (temp file, fsync, rename, fsync of the directory) and the file is created with mode
//! 0600 from the start, because it holds private keys. The format is documented in docs/state.md.
//! Where states live is [`backend`]'s concern: a local directory (locked by [`lock`]) or S3
//! ([`s3`], the keys apart: [`secrets`]). What an interrupt settles is [`held`]'s.

mod backend;
mod document;
mod file;
mod held;
mod lock;
mod s3;
mod secrets;
mod store;

pub use backend::{Backend, Loaded, UnlockRefused};
pub use document::{
    AccessKey, BastionRecord, BootstrapProgress, CIDR_BLOCK, Held, Origin, Record, SCHEMA_VERSION,
    State, Step, StepStatus,
};
pub use file::{load, path_for};
pub use held::settle;
pub use s3::{BucketElsewhere, S3Location, S3Store};
pub use store::StateStore;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::document::*;
    use super::file::*;
    use super::store::*;
    use crate::config::Settings;
    use crate::key::{Key, PrivateEgress};

    #[test]
    fn private_files_are_0600_and_replaced_whole() {
        let dir = std::env::temp_dir().join(format!("cfcr-aws-state-test-{}", std::process::id()));
        let path = dir.join("x.json");
        crate::files::write_private(&path, b"one").unwrap();
        crate::files::write_private(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!path.with_extension("tmp").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    /// A state of environment `env` holding `resources`.
    fn sample(env: &str, resources: BTreeMap<Key, Record>) -> State {
        let values = crate::config::ConfigValues {
            prefix: Some(env.into()),
            region: Some("us-east-1".into()),
            ..Default::default()
        };
        State {
            schema_version: SCHEMA_VERSION,
            env: env.into(),
            region: "us-east-1".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            settings: Settings::validate(values, None).unwrap(),
            cluster_tag: "tag".into(),
            deployer_key: Default::default(),
            bastion_host_key: Default::default(),
            director_access_key: None,
            resources,
            creating: Default::default(),
            private_egress: PrivateEgress::OwnNatGateway,
            bootstrap: Default::default(),
            recovered: false,
        }
    }

    #[test]
    fn a_version_1_state_reads_as_created_with_the_image_looked_up() {
        let state = sample(
            "old",
            [
                (Key::Vpc, Record::new("vpc-1")),
                (Key::BastionImage, Record::new("ami-1")),
            ]
            .into(),
        );
        let mut old = serde_json::to_value(&state).unwrap();
        old["schema_version"] = 1.into();
        old.as_object_mut().unwrap().remove("private_egress");
        for record in old["resources"].as_object_mut().unwrap().values_mut() {
            record.as_object_mut().unwrap().remove("origin");
        }
        let read = parse(old.to_string().as_bytes(), "test").unwrap();
        assert_eq!(read.schema_version, 2);
        assert_eq!(read.resources[&Key::Vpc].origin, Origin::Created);
        assert_eq!(read.resources[&Key::BastionImage].origin, Origin::LookedUp);
        assert_eq!(read.private_egress, PrivateEgress::OwnNatGateway);
        assert_eq!(read.vpc_cidr().unwrap().to_string(), "10.0.0.0/16");
    }

    #[test]
    fn damaged_and_newer_states_are_refused() {
        let dir = std::env::temp_dir().join(format!("cfcr-aws-state-test2-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.json");
        for (text, expected) in [
            ("{\"schema_version\": 1, \"env\": ", "not valid JSON"),
            ("{\"schema_version\": 99}", "newer cfcr-aws"),
            ("{\"env\": \"x\"}", "no schema_version"),
            (
                "{\"schema_version\": 1, \"env\": \"x\"}",
                "not a valid cfcr-aws state",
            ),
        ] {
            fs::write(&path, text).unwrap();
            let err = load(&path).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
            assert_eq!(fs::read_to_string(&path).unwrap(), text);
        }
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn readiness_rides_with_the_next_write_or_is_stored_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.json");
        let stored = |key: &str| -> serde_json::Value {
            let state: serde_json::Value =
                serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
            state["resources"][key].clone()
        };
        let store = StateStore::create(path.clone(), sample("e", BTreeMap::new())).unwrap();
        store.record(Key::Vpc, Record::new("vpc-1")).unwrap();
        // Every write replaces the file: a new inode.
        let inode = || std::os::unix::fs::MetadataExt::ino(&fs::metadata(&path).unwrap());
        let written = inode();
        // Ready alone: kept back; the same state again: not written.
        let ready = Record {
            ready: true,
            ..Record::new("vpc-1")
        };
        store.record(Key::Vpc, ready.clone()).unwrap();
        store.update(|_| {}).unwrap();
        assert_eq!(stored("vpc")["ready"], false);
        assert_eq!(inode(), written);
        // An intent is written at once, with it.
        store.intend(Key::InternetGateway).unwrap();
        assert_eq!(stored("vpc")["ready"], true);
        store
            .record(Key::InternetGateway, Record::new("igw-1"))
            .unwrap();
        store
            .record(
                Key::InternetGateway,
                Record {
                    ready: true,
                    ..Record::new("igw-1")
                },
            )
            .unwrap();
        assert_eq!(stored("internet_gateway")["ready"], false);
        drop(store);
        assert_eq!(stored("internet_gateway")["ready"], true);
    }
}
