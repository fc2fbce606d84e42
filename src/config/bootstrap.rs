//! The hand-off's settings (tool versions, upstream refs, the cluster's size) and their checks.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::check::{checksum, instance_type, pinned_checksum, web_url, word};
use super::defaults::{
    DEFAULT_BOSH_CLI_SHA256, DEFAULT_BOSH_CLI_VERSION, DEFAULT_CREDHUB_CLI_SHA256,
    DEFAULT_CREDHUB_CLI_VERSION, DEFAULT_DIRECTOR_INSTANCE_TYPE,
    DEFAULT_SMALL_HIGHMEM_INSTANCE_TYPE, DEFAULT_SMALL_INSTANCE_TYPE, DEFAULT_WORKER_COUNT,
    v0_16_kubectl_sha512,
};
use super::error::{ValidationError, invalid};
use super::values::ConfigValues;
use crate::compat;

/// Settings of the bastion hand-off: tool versions, upstream refs and the cluster's size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapSettings {
    pub worker_count: u16,
    pub director_instance_type: String,
    pub small_instance_type: String,
    pub small_highmem_instance_type: String,
    pub bosh_cli_version: String,
    pub bosh_cli_sha256: String,
    pub credhub_cli_version: String,
    pub credhub_cli_sha256: String,
    pub kubectl_version: String,
    #[serde(default = "v0_16_kubectl_sha512")]
    pub kubectl_sha512: String,
    pub bosh_deployment_ref: String,
    pub kubo_deployment_ref: String,
    /// A kubo release in place of the line's; `None`: the line's own (`compat::KuboLine`).
    #[serde(default)]
    pub kubo_release: Option<KuboRelease>,
    /// The operator's choice for the cluster VMs' IMDS; `None`: decided per line at render time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_http_tokens: Option<HttpTokens>,
    /// The operator's stemcell for the cluster, replacing the one kubo-deployment names.
    #[serde(default)]
    pub cfcr_stemcell: Option<Stemcell>,
    /// Where the bastion downloads from instead of the upstream sites (no trailing slash).
    #[serde(default)]
    pub downloads_mirror: Option<String>,
}

/// EC2's `HttpTokens` for an instance's metadata service, as the AWS CPI's `metadata_options`
/// takes it: `required` is IMDSv2 only, `optional` keeps IMDSv1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpTokens {
    Required,
    Optional,
}

/// A kubo release the CFCR deploy pins in place of the line's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KuboRelease {
    pub version: String,
    pub url: String,
    pub sha1: String,
}

fn kubo_release_url(version: &str) -> String {
    format!("https://bosh.io/d/github.com/cloudfoundry-incubator/kubo-release?v={version}")
}

/// A stemcell the operator brings for the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stemcell {
    /// An http(s) URL, or a local tarball's path (uploaded through the bastion).
    pub url: String,
    pub sha1: String,
    pub os: String,
    pub version: String,
}

impl Stemcell {
    /// Whether the tarball is on this machine (uploaded by cfcr-aws) rather than at a URL.
    pub fn is_local(&self) -> bool {
        !(self.url.starts_with("https://") || self.url.starts_with("http://"))
    }
}

impl Default for BootstrapSettings {
    fn default() -> BootstrapSettings {
        BootstrapSettings::validate(&ConfigValues::default()).expect("the defaults are valid")
    }
}

fn worker_count(values: &ConfigValues) -> Result<u16, ValidationError> {
    let count = values.worker_count.unwrap_or(DEFAULT_WORKER_COUNT);
    u16::try_from(count)
        .ok()
        .filter(|c| (1..=100).contains(c))
        .ok_or_else(|| {
            invalid(
                "worker_count",
                format!("{count} is out of range; use 1 to 100"),
            )
        })
}

/// The kubo release the operator names in place of the line's; without a version, the line's pin
/// (v0.16.0's cfcr.yml pins none of its own), with the operator's URL or mirror if given.
fn kubo_release(
    values: &ConfigValues,
    line: &compat::KuboLine,
    mirror: Option<&str>,
) -> Result<Option<KuboRelease>, ValidationError> {
    let pin = line.kubo_release_pin.as_ref();
    let version = match (&values.kubo_release_version, pin) {
        (Some(_), _) => word(
            "kubo_release_version",
            &values.kubo_release_version,
            "0.44.0",
            false,
        )?,
        (None, Some(pin)) => pin.version.to_string(),
        (None, None) => {
            for (field, given) in [
                ("kubo_release_url", &values.kubo_release_url),
                ("kubo_release_sha1", &values.kubo_release_sha1),
            ] {
                if given.is_some() {
                    return Err(invalid(
                        field,
                        format!(
                            "needs kubo_release_version: kubo {} deploys the releases its cfcr.yml pins; name the release that replaces them",
                            line.deployment_ref
                        ),
                    ));
                }
            }
            return Ok(None);
        }
    };
    let url = match (&values.kubo_release_url, mirror) {
        (Some(url), _) => web_url("kubo_release_url", url)?,
        (None, Some(mirror)) => format!("{mirror}/kubo-release-{version}.tgz"),
        (None, None) => kubo_release_url(&version),
    };
    let pinned = pin.map_or(("", ""), |p| (p.version, p.sha1));
    let sha1 = pinned_checksum(
        "kubo_release_sha1",
        &values.kubo_release_sha1,
        (40, "SHA-1"),
        &version,
        pinned,
    )?;
    Ok(Some(KuboRelease { version, url, sha1 }))
}

/// The operator's stemcell: all four keys or none; a URL or a file on this machine; a line a
/// current director can run.
fn cfcr_stemcell(values: &ConfigValues) -> Result<Option<Stemcell>, ValidationError> {
    let keys = [
        &values.cfcr_stemcell_url,
        &values.cfcr_stemcell_sha1,
        &values.cfcr_stemcell_os,
        &values.cfcr_stemcell_version,
    ];
    match keys.iter().filter(|v| v.is_some()).count() {
        0 => return Ok(None),
        4 => {}
        _ => {
            return Err(invalid(
                "cfcr_stemcell_url",
                "cfcr_stemcell_url, cfcr_stemcell_sha1, cfcr_stemcell_os and cfcr_stemcell_version go together: set all four, or none",
            ));
        }
    }
    let url = values.cfcr_stemcell_url.clone().unwrap_or_default();
    let url = if url.starts_with("https://") || url.starts_with("http://") {
        web_url("cfcr_stemcell_url", &url)?
    } else if Path::new(&url).is_file() {
        std::path::absolute(&url).map_or(url, |p| p.display().to_string())
    } else {
        return Err(invalid(
            "cfcr_stemcell_url",
            format!("{url:?} is neither an http(s) URL nor a file on this machine"),
        ));
    };
    let os = word(
        "cfcr_stemcell_os",
        &values.cfcr_stemcell_os,
        "ubuntu-xenial",
        false,
    )?;
    compat::stemcell_runs_today(&os).map_err(|why| {
        invalid(
            "cfcr_stemcell_os",
            format!("{why}; bring a stemcell of a line with api_version 2 (ubuntu-xenial 621.x for kubo v0.44.0)"),
        )
    })?;
    Ok(Some(Stemcell {
        url,
        sha1: checksum(
            "cfcr_stemcell_sha1",
            &values.cfcr_stemcell_sha1,
            40,
            "SHA-1",
        )?
        .unwrap_or_default(),
        os,
        version: word(
            "cfcr_stemcell_version",
            &values.cfcr_stemcell_version,
            "621.125",
            false,
        )?,
    }))
}

fn http_tokens(values: &ConfigValues) -> Result<Option<HttpTokens>, ValidationError> {
    match values.cluster_http_tokens.as_deref() {
        None => Ok(None),
        Some("required") => Ok(Some(HttpTokens::Required)),
        Some("optional") => Ok(Some(HttpTokens::Optional)),
        Some(other) => Err(invalid(
            "cluster_http_tokens",
            format!(
                "{other:?} is not EC2's HttpTokens; use \"required\" (IMDSv2 only) or \"optional\" (IMDSv1 kept), or leave it unset to decide per kubo line"
            ),
        )),
    }
}

impl BootstrapSettings {
    pub(super) fn validate(values: &ConfigValues) -> Result<BootstrapSettings, ValidationError> {
        let kubo_deployment_ref = word(
            "kubo_deployment_ref",
            &values.kubo_deployment_ref,
            compat::DEFAULT_KUBO_LINE.deployment_ref,
            true,
        )?;
        // A ref the tool does not know is rendered as the default line.
        let line = compat::kubo_line(&kubo_deployment_ref).unwrap_or(compat::DEFAULT_KUBO_LINE);
        let downloads_mirror = match &values.downloads_mirror {
            Some(url) => Some(
                web_url("downloads_mirror", url)?
                    .trim_end_matches('/')
                    .to_string(),
            ),
            None => None,
        };
        let bosh_cli_version = word(
            "bosh_cli_version",
            &values.bosh_cli_version,
            DEFAULT_BOSH_CLI_VERSION,
            false,
        )?;
        let credhub_cli_version = word(
            "credhub_cli_version",
            &values.credhub_cli_version,
            DEFAULT_CREDHUB_CLI_VERSION,
            false,
        )?;
        let kubectl_version = word(
            "kubectl_version",
            &values.kubectl_version,
            line.kubectl.version,
            false,
        )?;
        Ok(BootstrapSettings {
            worker_count: worker_count(values)?,
            director_instance_type: instance_type(
                "director_instance_type",
                &values.director_instance_type,
                DEFAULT_DIRECTOR_INSTANCE_TYPE,
            )?,
            small_instance_type: instance_type(
                "small_instance_type",
                &values.small_instance_type,
                DEFAULT_SMALL_INSTANCE_TYPE,
            )?,
            small_highmem_instance_type: instance_type(
                "small_highmem_instance_type",
                &values.small_highmem_instance_type,
                DEFAULT_SMALL_HIGHMEM_INSTANCE_TYPE,
            )?,
            bosh_cli_sha256: pinned_checksum(
                "bosh_cli_sha256",
                &values.bosh_cli_sha256,
                (64, "SHA-256"),
                &bosh_cli_version,
                (DEFAULT_BOSH_CLI_VERSION, DEFAULT_BOSH_CLI_SHA256),
            )?,
            credhub_cli_sha256: pinned_checksum(
                "credhub_cli_sha256",
                &values.credhub_cli_sha256,
                (64, "SHA-256"),
                &credhub_cli_version,
                (DEFAULT_CREDHUB_CLI_VERSION, DEFAULT_CREDHUB_CLI_SHA256),
            )?,
            kubectl_sha512: pinned_checksum(
                "kubectl_sha512",
                &values.kubectl_sha512,
                (128, "SHA-512"),
                &kubectl_version,
                (line.kubectl.version, line.kubectl.sha512),
            )?,
            bosh_cli_version,
            credhub_cli_version,
            kubectl_version,
            kubo_release: kubo_release(values, line, downloads_mirror.as_deref())?,
            cluster_http_tokens: http_tokens(values)?,
            cfcr_stemcell: cfcr_stemcell(values)?,
            downloads_mirror,
            bosh_deployment_ref: word(
                "bosh_deployment_ref",
                &values.bosh_deployment_ref,
                compat::DIRECTOR_STACK.deployment_ref,
                true,
            )?,
            kubo_deployment_ref,
        })
    }

    /// What the compatibility check needs to know of these settings.
    pub fn hand_off(&self) -> compat::HandOff<'_> {
        compat::HandOff {
            bosh_deployment_ref: &self.bosh_deployment_ref,
            bosh_cli_version: &self.bosh_cli_version,
            kubo_deployment_ref: &self.kubo_deployment_ref,
            stemcell: self
                .cfcr_stemcell
                .as_ref()
                .map(|s| (s.os.as_str(), s.version.as_str(), s.url.as_str())),
        }
    }

    /// The cluster VMs' `http_tokens`: the operator's choice, else IMDSv2 only where the line's
    /// Kubernetes and its stemcell's agent can both use it; with the reason when IMDSv1 is kept.
    pub fn cluster_http_tokens(&self) -> (HttpTokens, Option<String>) {
        if let Some(chosen) = self.cluster_http_tokens {
            return (chosen, None);
        }
        let os = self.cfcr_stemcell.as_ref().map(|s| s.os.as_str());
        match compat::cluster_imdsv2(&self.kubo_deployment_ref, os) {
            Ok(()) => (HttpTokens::Required, None),
            Err(why) => (HttpTokens::Optional, Some(why)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::values::from_toml;
    use super::*;

    fn check(toml_text: &str) -> Result<BootstrapSettings, ValidationError> {
        BootstrapSettings::validate(&from_toml(toml_text))
    }

    #[test]
    fn hand_off_settings_have_pinned_defaults() {
        let b = check("").unwrap();
        assert_eq!(b.worker_count, 1);
        assert_eq!(b.bosh_cli_sha256, DEFAULT_BOSH_CLI_SHA256);
        assert_eq!(b.kubo_deployment_ref, "v0.44.0");
        assert_eq!(b.kubectl_version, "v1.17.17");
        assert!(b.kubectl_sha512.starts_with("b86ec78a"));
        assert_eq!(b.kubo_release, None, "v0.44.0 pins its own releases");
        assert_eq!(b.bosh_deployment_ref, "c3b2109");
        assert_eq!(b.director_instance_type, "t3.large");
        assert_eq!(b.cfcr_stemcell, None);
        assert_eq!(b.cluster_http_tokens().0, HttpTokens::Optional);
        // v0.16.0: its own kubectl and the release its cfcr.yml does not pin.
        let old = check("kubo_deployment_ref = \"v0.16.0\"").unwrap();
        assert_eq!(old.kubectl_version, "v1.10.13");
        assert_eq!(old.kubo_release.unwrap().version, "0.16.0");
        let forced = check("cluster_http_tokens = \"required\"").unwrap();
        assert_eq!(forced.cluster_http_tokens(), (HttpTokens::Required, None));
        let err = check("bosh_cli_version = \"7.0.0\"").unwrap_err();
        assert_eq!(err.field, "bosh_cli_sha256");
    }

    #[test]
    fn bad_hand_off_values_name_their_field() {
        for (line, field) in [
            ("worker_count = 0", "worker_count"),
            (
                "kubo_deployment_ref = \"v0.16.0; rm -rf /\"",
                "kubo_deployment_ref",
            ),
            ("kubectl_sha512 = \"abc\"", "kubectl_sha512"),
            ("kubectl_version = \"v1.17.16\"", "kubectl_sha512"),
            ("kubo_release_version = \"0.17.0\"", "kubo_release_sha1"),
            (
                "kubo_release_sha1 = \"8a513e48cccdea224c17a92ce73edbda04acee91\"",
                "kubo_release_sha1",
            ),
            ("cfcr_stemcell_os = \"ubuntu-jammy\"", "cfcr_stemcell_url"),
            ("cluster_http_tokens = \"v2\"", "cluster_http_tokens"),
            (
                "cfcr_stemcell_url = \"https://example.com/s.tgz\"\ncfcr_stemcell_sha1 = \"8a513e48cccdea224c17a92ce73edbda04acee91\"\ncfcr_stemcell_os = \"ubuntu-trusty\"\ncfcr_stemcell_version = \"3586.100\"",
                "cfcr_stemcell_os",
            ),
            ("downloads_mirror = \"x\"", "downloads_mirror"),
        ] {
            let err = check(line).unwrap_err();
            assert_eq!(err.field, field, "{line}");
        }
    }
}
