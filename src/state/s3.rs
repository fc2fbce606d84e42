//! The state in S3, for teams: environment E's state is `<prefix>/E.json`, written with conditional
//! PUTs (`If-Match` on the ETag read or written last, `If-None-Match: *` for a new one), so two
//! writers can never overwrite each other silently, and with server-side encryption requested. Its
//! keys are kept apart, in `<prefix>/E.secrets.json`, written only when they change, so that the
//! bucket's many versions of the state hold none. A command holds `<prefix>/E.lock`, created with
//! `If-None-Match: *` and naming its holder; it is deleted at the end, or on SIGINT and SIGTERM. A
//! lock whose holder died stays until `cfcr-aws force-unlock ID` removes it: never automatically,
//! since only the operator can know the holder is dead.

use anyhow::{Context, bail};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    ServerSideEncryption, VersioningConfiguration,
};
use serde::{Deserialize, Serialize};

use crate::aws::retry::AwsError;
use crate::aws::{self, ErrorClass, Policy};

/// An `s3://BUCKET/PREFIX` location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

impl S3Location {
    /// Checked here as S3 checks bucket names, so that a name S3 would refuse is bad input, said
    /// before any request.
    pub fn parse(url: &str) -> anyhow::Result<S3Location> {
        let Some(rest) = url.strip_prefix("s3://") else {
            bail!("{url:?} is not an s3://BUCKET/PREFIX address");
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if let Some(problem) = bucket_name_problem(bucket) {
            bail!("{bucket:?} is not a valid S3 bucket name: {problem}");
        }
        Ok(S3Location {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    pub(super) fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    pub fn state_key(&self, env: &str) -> String {
        self.key(&format!("{env}.json"))
    }

    pub(super) fn lock_key(&self, env: &str) -> String {
        self.key(&format!("{env}.lock"))
    }

    /// The object holding the keys of environment `env`'s state.
    pub(super) fn secrets_key(&self, env: &str) -> String {
        self.key(&secrets_name(env))
    }

    /// A file of the director's in custody, beside the state.
    pub(super) fn custody_key(&self, env: &str, name: &str) -> String {
        self.key(&format!("{env}.director/{name}"))
    }
}

/// What S3's naming rules for general purpose buckets say against `name`, if anything.
fn bucket_name_problem(name: &str) -> Option<&'static str> {
    let alphanumeric =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !(3..=63).contains(&name.len()) {
        Some("it must be 3 to 63 characters long")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        Some("it may hold only lowercase letters, digits, dots and hyphens")
    } else if !alphanumeric(name.chars().next()) || !alphanumeric(name.chars().last()) {
        Some("it must begin and end with a letter or digit")
    } else if name.contains("..") {
        Some("it must not hold two dots in a row")
    } else if name.parse::<std::net::Ipv4Addr>().is_ok() {
        Some("it must not look like an IP address")
    } else if ["xn--", "sthree-", "amzn-s3-demo-"]
        .iter()
        .any(|p| name.starts_with(p))
    {
        Some("it must not begin with xn--, sthree- or amzn-s3-demo- (reserved by S3)")
    } else if ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
        .iter()
        .any(|s| name.ends_with(s))
    {
        Some("it must not end with -s3alias, --ol-s3, .mrap, --x-s3 or --table-s3 (reserved by S3)")
    } else {
        None
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// The name, beside the state, of the object holding its keys.
pub(super) fn secrets_name(env: &str) -> String {
    format!("{env}.secrets.json")
}

/// An S3 client and the location it serves.
#[derive(Clone, Debug)]
pub struct S3Store {
    pub client: aws_sdk_s3::Client,
    pub location: S3Location,
    /// The KMS key every object is encrypted with (`state_kms_key`); S3's own keys without one.
    pub kms_key: Option<String>,
}

/// The holder of a remote lock, as stored in the lock object.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Holder {
    pub id: String,
    pub command: String,
    pub host: String,
    pub pid: u32,
    pub started: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} by pid {} on {}, since {}; lock ID {}",
            self.command, self.pid, self.host, self.started, self.id
        )
    }
}

/// The command that removes a remote lock, for messages.
pub(super) fn force_unlock_command(location: &S3Location, id: &str, env: &str) -> String {
    format!("cfcr-aws --state {location} force-unlock {id} --env {env}")
}

/// Another command holds the environment's remote lock.
#[derive(Debug)]
pub struct Locked {
    pub env: String,
    pub holder: Holder,
    pub location: S3Location,
    /// The holder's pid is alive on this host.
    pub running_here: bool,
}

impl std::fmt::Display for Locked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (env, holder) = (&self.env, &self.holder);
        let unlock = force_unlock_command(&self.location, &holder.id, env);
        if self.running_here {
            write!(
                f,
                "environment {env:?} is locked ({holder}), and that command is still running on this host: wait for it to finish, or stop it (`kill {pid}` releases the lock). Only if pid {pid} is not that command, remove the lock with `{unlock} --even-if-running`",
                pid = holder.pid
            )
        } else {
            write!(
                f,
                "environment {env:?} is locked ({holder}). Wait for that command to finish; if it died, remove the lock with `{unlock}`"
            )
        }
    }
}

impl std::error::Error for Locked {}

/// A conditional write refused: someone else wrote the state since this command read it.
#[derive(Debug, thiserror::Error)]
#[error(
    "the state {location} was changed by someone else since this command read it; nothing was overwritten. Run the command again (it reads the new state); if two commands ran at once, one of them did not hold the lock"
)]
pub struct StateConflict {
    pub location: String,
}

/// Deleted when dropped (at the end of the command, error or not), or by an interrupt.
pub struct RemoteLock {
    pub(super) store: S3Store,
    pub(super) key: String,
    pub(super) env: String,
    pub(super) id: String,
}

impl RemoteLock {
    /// Creates the lock object, unless another holds it (then `PreconditionFailed`). Registered
    /// for an interrupt to release in the same step, so that no lock is created behind its back.
    pub(super) fn acquire(
        store: &S3Store,
        env: &str,
        holder: &Holder,
    ) -> Result<RemoteLock, AwsError> {
        let key = store.location.lock_key(env);
        let body = serde_json::to_vec_pretty(holder).expect("a holder serialises");
        let unlock = force_unlock_command(&store.location, &holder.id, env);
        super::held::write(|| {
            blocking(store.put_if(&key, body, None, false))?;
            let (held, held_key) = (store.clone(), key.clone());
            super::held::holding(
                store.address(&key),
                Box::new(move || held.delete(&held_key)),
                unlock,
            );
            Ok(RemoteLock {
                store: store.clone(),
                key,
                env: env.to_string(),
                id: holder.id.clone(),
            })
        })
    }
}

impl Drop for RemoteLock {
    fn drop(&mut self) {
        let released = super::held::write(|| {
            super::held::released(&self.store.address(&self.key));
            self.store.delete(&self.key)
        });
        if let Err(e) = released {
            crate::report::warning(&format!(
                "could not release the lock: {e:#}; remove it with `{}`",
                force_unlock_command(&self.store.location, &self.id, &self.env)
            ));
        }
    }
}

/// Runs a future to completion from synchronous code inside the runtime (state writes happen
/// under the state's mutex, from async steps and from the synchronous hand-off alike).
fn blocking<F: std::future::Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

/// The state bucket lives in another region than the one asked: the caller follows it there.
#[derive(Debug, thiserror::Error)]
#[error("the state bucket {bucket} is in region {region}")]
pub struct BucketElsewhere {
    pub bucket: String,
    pub region: String,
}

/// A conditional request refused because the object is not as the condition said.
pub(super) fn precondition_failed(e: &AwsError) -> bool {
    e.code.as_deref() == Some("PreconditionFailed")
}

impl S3Store {
    pub(super) fn address(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.location.bucket)
    }

    /// Whether the bucket exists; one that does must keep versions (so that every state ever
    /// written can be recovered).
    pub async fn bucket_exists(&self, region: &str) -> anyhow::Result<bool> {
        let (client, bucket) = (&self.client, &self.location.bucket);
        let policy = Policy::standard();
        let head = aws::call("HeadBucket", &policy, || {
            client.head_bucket().bucket(bucket).send()
        });
        match head.await {
            Ok(_) => {}
            Err(e) if e.is(ErrorClass::NotFound) => return Ok(false),
            // S3 answers a request sent to the wrong region with a redirect naming the right one.
            Err(AwsError {
                bucket_region: Some(elsewhere),
                ..
            }) if elsewhere != region => {
                return Err(BucketElsewhere {
                    bucket: bucket.clone(),
                    region: elsewhere,
                }
                .into());
            }
            Err(e) => {
                return Err(e).with_context(|| format!("checking the state bucket {bucket}"));
            }
        }
        let versioning = aws::call("GetBucketVersioning", &policy, || {
            client.get_bucket_versioning().bucket(bucket).send()
        })
        .await
        .with_context(|| format!("reading the versioning of {bucket}"))?;
        if versioning.status() != Some(&BucketVersioningStatus::Enabled) {
            bail!(
                "the state bucket {bucket} does not keep versions: a state overwritten by mistake could not be recovered. Enable versioning (aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled)"
            );
        }
        Ok(true)
    }

    /// Creates the bucket, versioned, in `region`.
    pub async fn create_bucket(&self, region: &str) -> anyhow::Result<()> {
        let (client, bucket) = (&self.client, &self.location.bucket);
        let location = (region != "us-east-1").then(|| {
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build()
        });
        aws::call("CreateBucket", &Policy::create(), || {
            client
                .create_bucket()
                .bucket(bucket)
                .set_create_bucket_configuration(location.clone())
                .send()
        })
        .await
        .with_context(|| format!("creating the state bucket {bucket}"))?;
        let enabled = VersioningConfiguration::builder()
            .status(BucketVersioningStatus::Enabled)
            .build();
        aws::call("PutBucketVersioning", &Policy::standard(), || {
            client
                .put_bucket_versioning()
                .bucket(bucket)
                .versioning_configuration(enabled.clone())
                .send()
        })
        .await
        .with_context(|| format!("enabling versioning on {bucket}"))?;
        crate::report::note(&format!("created the state bucket {bucket} (versioned)"));
        Ok(())
    }

    /// The object's bytes and ETag; `None` when there is none.
    pub(super) async fn get(&self, key: &str) -> anyhow::Result<Option<(Vec<u8>, Option<String>)>> {
        let client = &self.client;
        let out = aws::absent_ok(
            aws::call("GetObject", &Policy::standard(), || {
                client
                    .get_object()
                    .bucket(&self.location.bucket)
                    .key(key)
                    .send()
            })
            .await,
        )
        .with_context(|| format!("reading {}", self.address(key)))?;
        let Some(out) = out else {
            return Ok(None);
        };
        let etag = out.e_tag().map(str::to_string);
        let body = out
            .body
            .collect()
            .await
            .with_context(|| format!("reading {}", self.address(key)))?;
        Ok(Some((body.to_vec(), etag)))
    }

    /// Creates the object only if it does not exist (`If-None-Match: *`), or replaces it only if it
    /// is still at `version` (`If-Match`); returns the new version. A refusal after a retry may be
    /// this very write, whose first answer was lost: then the object holds exactly `bytes`.
    pub(super) async fn put_if(
        &self,
        key: &str,
        bytes: Vec<u8>,
        version: Option<&str>,
        encrypt: bool,
    ) -> Result<Option<String>, AwsError> {
        let client = &self.client;
        let written = aws::call("PutObject", &Policy::standard(), || {
            let request = self
                .encrypted(client.put_object(), encrypt)
                .bucket(&self.location.bucket)
                .key(key)
                .content_type("application/json")
                .body(ByteStream::from(bytes.clone()));
            match version {
                Some(etag) => request.if_match(etag),
                None => request.if_none_match("*"),
            }
            .send()
        })
        .await;
        match written {
            Ok(out) => Ok(out.e_tag().map(str::to_string)),
            Err(e) if precondition_failed(&e) && e.attempts > 1 => match self.get(key).await {
                Ok(Some((stored, etag))) if stored == bytes => Ok(etag),
                _ => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// A PUT encrypted at rest, with the configured KMS key or S3's own (SSE-S3).
    fn encrypted(
        &self,
        put: aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder,
        encrypt: bool,
    ) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
        match (encrypt, &self.kms_key) {
            (false, _) => put,
            (true, None) => put.server_side_encryption(ServerSideEncryption::Aes256),
            (true, Some(key)) => put
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(key),
        }
    }

    /// Writes a file of the director's custody: encrypted at rest, not conditional (the
    /// environment's lock is held), each write a version the bucket keeps.
    pub(super) async fn put_private(&self, key: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        let client = &self.client;
        aws::call("PutObject", &Policy::standard(), || {
            self.encrypted(client.put_object(), true)
                .bucket(&self.location.bucket)
                .key(key)
                .body(ByteStream::from(bytes.clone()))
                .send()
        })
        .await
        .with_context(|| format!("writing {}", self.address(key)))?;
        Ok(())
    }

    /// Deletes an object, from async code.
    pub(super) async fn delete_now(&self, key: &str) -> anyhow::Result<()> {
        let client = &self.client;
        aws::call("DeleteObject", &Policy::standard(), || {
            client
                .delete_object()
                .bucket(&self.location.bucket)
                .key(key)
                .send()
        })
        .await
        .with_context(|| format!("deleting {}", self.address(key)))?;
        Ok(())
    }

    /// Writes a state or its keys (encrypted: the state names every resource, the keys are
    /// private) only over `version`; returns the new one.
    pub(super) fn put_state(
        &self,
        key: &str,
        bytes: Vec<u8>,
        version: Option<&str>,
    ) -> anyhow::Result<Option<String>> {
        match blocking(self.put_if(key, bytes, version, true)) {
            Ok(version) => Ok(version),
            Err(e) if precondition_failed(&e) => Err(StateConflict {
                location: self.address(key),
            }
            .into()),
            Err(e) => Err(e).with_context(|| format!("writing {}", self.address(key))),
        }
    }

    /// The object's ETag, if it exists, from synchronous code.
    pub(super) fn version_of(&self, key: &str) -> anyhow::Result<Option<String>> {
        Ok(blocking(self.get(key))?.and_then(|(_, etag)| etag))
    }

    pub fn delete(&self, key: &str) -> anyhow::Result<()> {
        let client = &self.client;
        blocking(aws::call("DeleteObject", &Policy::standard(), || {
            client
                .delete_object()
                .bucket(&self.location.bucket)
                .key(key)
                .send()
        }))
        .with_context(|| format!("deleting {}", self.address(key)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_addresses_are_checked() {
        let at = S3Location::parse("s3://team-states/cfcr/prod/").unwrap();
        assert_eq!(at.bucket, "team-states");
        assert_eq!(at.state_key("dev"), "cfcr/prod/dev.json");
        assert_eq!(at.lock_key("dev"), "cfcr/prod/dev.lock");
        assert_eq!(at.secrets_key("dev"), "cfcr/prod/dev.secrets.json");
        assert_eq!(
            S3Location::parse("s3://b-1").unwrap().state_key("e"),
            "e.json"
        );
        assert!(S3Location::parse("https://x/y").is_err());
        for refused in [
            "Upper",
            "ab",
            "a_b",
            "-ab",
            "ab.",
            "a..b",
            "10.0.0.1",
            "xn--ab",
            "ab--ol-s3",
        ] {
            assert!(
                S3Location::parse(&format!("s3://{refused}/x")).is_err(),
                "{refused}"
            );
        }
        assert!(S3Location::parse("s3://my.team-states.2/x").is_ok());
    }
}
