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
use super::error::{ValidationError, ValidationErrors, invalid};
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

/// The line a kubo-deployment ref deploys; a ref the tool does not know is rendered as the default.
fn kubo_line(deployment_ref: &str) -> &'static compat::KuboLine {
    compat::kubo_line(deployment_ref).unwrap_or(compat::DEFAULT_KUBO_LINE)
}

/// A tool's version and the checksum of its download: the pinned pair by default. The checksum is
/// not checked against a bad version.
fn versioned(
    (version_field, version): (&str, &Option<String>),
    (sum_field, sum): (&str, &Option<String>),
    sum_kind: (usize, &str),
    pinned: (&str, &str),
) -> Result<(String, String), ValidationError> {
    let version = word(version_field, version, pinned.0, false)?;
    let sum = pinned_checksum(sum_field, sum, sum_kind, &version, pinned)?;
    Ok((version, sum))
}

/// The URL given for `field`, if any.
fn given_url(field: &str, given: &Option<String>) -> Result<Option<String>, ValidationError> {
    given.as_deref().map(|url| web_url(field, url)).transpose()
}

/// The mirror's URL without a trailing slash, if one is given.
fn downloads_mirror(values: &ConfigValues) -> Result<Option<String>, ValidationError> {
    let mirror = given_url("downloads_mirror", &values.downloads_mirror)?;
    Ok(mirror.map(|url| url.trim_end_matches('/').to_string()))
}

/// The kubo release the operator names in place of the line's; without a version, the line's pin
/// (v0.16.0's cfcr.yml pins none of its own), with the operator's URL or mirror if given.
fn kubo_release(
    values: &ConfigValues,
    line: &compat::KuboLine,
    mirror: Option<&str>,
) -> Result<Option<KuboRelease>, ValidationErrors> {
    let pin = line.kubo_release_pin.as_ref();
    let version = match (&values.kubo_release_version, pin) {
        (Some(_), _) => word(
            "kubo_release_version",
            &values.kubo_release_version,
            "0.44.0",
            false,
        ),
        (None, Some(pin)) => Ok(pin.version.to_string()),
        (None, None) => return no_kubo_release(values, line),
    };
    let mut errors = ValidationErrors::default();
    let version = errors.keep(version);
    let url = errors.or_default(given_url("kubo_release_url", &values.kubo_release_url));
    // The checksum pinned for the line's release is no use with another version.
    let Some(version) = version else {
        return Err(errors);
    };
    let pinned = pin.map_or(("", ""), |p| (p.version, p.sha1));
    let sha1 = errors.or_default(pinned_checksum(
        "kubo_release_sha1",
        &values.kubo_release_sha1,
        (40, "SHA-1"),
        &version,
        pinned,
    ));
    let url = match (url, mirror) {
        (Some(url), _) => url,
        (None, Some(mirror)) => format!("{mirror}/kubo-release-{version}.tgz"),
        (None, None) => kubo_release_url(&version),
    };
    errors.finish(Some(KuboRelease { version, url, sha1 }))
}

/// A line whose cfcr.yml pins its own releases, and no version to replace them: a release URL or
/// checksum has no use.
fn no_kubo_release(
    values: &ConfigValues,
    line: &compat::KuboLine,
) -> Result<Option<KuboRelease>, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    for (field, given) in [
        ("kubo_release_url", &values.kubo_release_url),
        ("kubo_release_sha1", &values.kubo_release_sha1),
    ] {
        if given.is_some() {
            errors.push(invalid(
                field,
                format!(
                    "needs kubo_release_version: kubo {} deploys the releases its cfcr.yml pins; name the release that replaces them",
                    line.deployment_ref
                ),
            ));
        }
    }
    errors.finish(None)
}

/// The operator's stemcell: all four keys or none; a URL or a file on this machine; a line a
/// current director can run.
fn cfcr_stemcell(values: &ConfigValues) -> Result<Option<Stemcell>, ValidationErrors> {
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
            )
            .into());
        }
    }
    let mut errors = ValidationErrors::default();
    let stemcell = Stemcell {
        url: errors.or_default(stemcell_location(&values.cfcr_stemcell_url)),
        os: errors.or_default(stemcell_os(&values.cfcr_stemcell_os)),
        sha1: errors
            .or_default(checksum(
                "cfcr_stemcell_sha1",
                &values.cfcr_stemcell_sha1,
                40,
                "SHA-1",
            ))
            .unwrap_or_default(),
        version: errors.or_default(word(
            "cfcr_stemcell_version",
            &values.cfcr_stemcell_version,
            "621.125",
            false,
        )),
    };
    errors.finish(Some(stemcell))
}

/// An http(s) URL, or a file on this machine, made absolute.
fn stemcell_location(given: &Option<String>) -> Result<String, ValidationError> {
    let url = given.clone().unwrap_or_default();
    if url.starts_with("https://") || url.starts_with("http://") {
        web_url("cfcr_stemcell_url", &url)
    } else if Path::new(&url).is_file() {
        Ok(std::path::absolute(&url).map_or(url, |p| p.display().to_string()))
    } else {
        Err(invalid(
            "cfcr_stemcell_url",
            format!("{url:?} is neither an http(s) URL nor a file on this machine"),
        ))
    }
}

/// A stemcell line a current director can run.
fn stemcell_os(given: &Option<String>) -> Result<String, ValidationError> {
    let os = word("cfcr_stemcell_os", given, "ubuntu-xenial", false)?;
    match compat::stemcell_runs_today(&os) {
        Ok(()) => Ok(os),
        Err(why) => Err(invalid(
            "cfcr_stemcell_os",
            format!(
                "{why}; bring a stemcell of a line with api_version 2 (ubuntu-xenial 621.x for kubo v0.44.0)"
            ),
        )),
    }
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
    /// The hand-off's keys, every problem reported; what depends on the kubo line is checked only
    /// against a valid `kubo_deployment_ref`.
    pub(super) fn validate(values: &ConfigValues) -> Result<BootstrapSettings, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let worker_count = errors.or_default(worker_count(values));
        let director_instance_type = errors.or_default(instance_type(
            "director_instance_type",
            &values.director_instance_type,
            DEFAULT_DIRECTOR_INSTANCE_TYPE,
        ));
        let small_instance_type = errors.or_default(instance_type(
            "small_instance_type",
            &values.small_instance_type,
            DEFAULT_SMALL_INSTANCE_TYPE,
        ));
        let small_highmem_instance_type = errors.or_default(instance_type(
            "small_highmem_instance_type",
            &values.small_highmem_instance_type,
            DEFAULT_SMALL_HIGHMEM_INSTANCE_TYPE,
        ));
        let (bosh_cli_version, bosh_cli_sha256) = errors.or_default(versioned(
            ("bosh_cli_version", &values.bosh_cli_version),
            ("bosh_cli_sha256", &values.bosh_cli_sha256),
            (64, "SHA-256"),
            (DEFAULT_BOSH_CLI_VERSION, DEFAULT_BOSH_CLI_SHA256),
        ));
        let (credhub_cli_version, credhub_cli_sha256) = errors.or_default(versioned(
            ("credhub_cli_version", &values.credhub_cli_version),
            ("credhub_cli_sha256", &values.credhub_cli_sha256),
            (64, "SHA-256"),
            (DEFAULT_CREDHUB_CLI_VERSION, DEFAULT_CREDHUB_CLI_SHA256),
        ));
        let bosh_deployment_ref = errors.or_default(word(
            "bosh_deployment_ref",
            &values.bosh_deployment_ref,
            compat::DIRECTOR_STACK.deployment_ref,
            true,
        ));
        let kubo_deployment_ref = errors.keep(word(
            "kubo_deployment_ref",
            &values.kubo_deployment_ref,
            compat::DEFAULT_KUBO_LINE.deployment_ref,
            true,
        ));
        let downloads_mirror = errors.or_default(downloads_mirror(values));
        let ((kubectl_version, kubectl_sha512), kubo_release) = match &kubo_deployment_ref {
            Some(deployment_ref) => {
                let line = kubo_line(deployment_ref);
                (
                    errors.or_default(versioned(
                        ("kubectl_version", &values.kubectl_version),
                        ("kubectl_sha512", &values.kubectl_sha512),
                        (128, "SHA-512"),
                        (line.kubectl.version, line.kubectl.sha512),
                    )),
                    errors.or_default(kubo_release(values, line, downloads_mirror.as_deref())),
                )
            }
            None => Default::default(),
        };
        let cluster_http_tokens = errors.or_default(http_tokens(values));
        let cfcr_stemcell = errors.or_default(cfcr_stemcell(values));
        errors.finish(BootstrapSettings {
            worker_count,
            director_instance_type,
            small_instance_type,
            small_highmem_instance_type,
            bosh_cli_version,
            bosh_cli_sha256,
            credhub_cli_version,
            credhub_cli_sha256,
            kubectl_version,
            kubectl_sha512,
            bosh_deployment_ref,
            kubo_deployment_ref: kubo_deployment_ref.unwrap_or_default(),
            kubo_release,
            cluster_http_tokens,
            cfcr_stemcell,
            downloads_mirror,
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
    use super::*;
    use crate::config::values::from_toml;

    fn check(toml_text: &str) -> Result<BootstrapSettings, ValidationError> {
        BootstrapSettings::validate(&from_toml(toml_text)).map_err(ValidationErrors::only)
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
