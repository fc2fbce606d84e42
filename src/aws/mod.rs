//! AWS access: the SDK clients, and the retry and wait policies every request goes through.

pub mod retry;
pub mod wait;

use std::time::Duration;

use anyhow::Context;
use aws_config::meta::region::ProvideRegion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::ProvideCredentials;

pub use retry::{
    ErrorClass, MAX_ATTEMPTS, Policy, Tolerate, absent_ok, all_pages, call, delay_before_retry,
    exists_ok, is_class, is_transient,
};

/// One client per AWS service the tool speaks to.
#[derive(Clone, Debug)]
pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancing::Client,
    pub iam: aws_sdk_iam::Client,
    pub quotas: aws_sdk_servicequotas::Client,
    /// The Price List API, in its own region (below).
    pub pricing: aws_sdk_pricing::Client,
}

/// Where the Price List Query API is asked. It has endpoints in a few regions only, and each
/// answers with the prices of every region.
pub const PRICE_LIST_REGION: &str = "us-east-1";

/// The region named by the SDK's provider chain (AWS_REGION, the profile), if any.
pub async fn chain_region() -> Option<String> {
    aws_config::default_provider::region::default_provider()
        .region()
        .await
        .map(|r| r.to_string())
}

/// Credentials that could not be found or loaded: reported before any request is sent.
#[derive(Debug, thiserror::Error)]
#[error(
    "no usable AWS credentials: {0}. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run where an instance role is available"
)]
pub struct CredentialsError(String);

/// How long one request may take. The SDK sets no read or attempt timeout of its own, and with its
/// retries off a request that AWS accepted but never answered would hang the command for ever.
/// A timed-out attempt is a transient failure: retry.rs retries reads, and a create that timed out
/// is looked for before it is sent again. EC2's slowest calls here (RunInstances, a paginated
/// DescribeInstances) answer in a few seconds; the margins are wide.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(30))
        .operation_attempt_timeout(Duration::from_secs(45))
        .build()
}

/// The SDK configuration from the standard AWS chain, with credentials known to resolve.
/// `endpoint_url` (or `AWS_ENDPOINT_URL`, which the chain honours) points every service elsewhere,
/// e.g. at LocalStack. The SDK's own retries are off: retry.rs retries.
async fn sdk_config(
    region: &str,
    endpoint_url: Option<&str>,
) -> anyhow::Result<aws_types::SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts());
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    let provider = config
        .credentials_provider()
        .ok_or_else(|| CredentialsError("no credentials provider is configured".into()))?;
    provider
        .provide_credentials()
        .await
        .map_err(|e| CredentialsError(e.to_string()))
        .context("loading AWS credentials")?;
    Ok(config)
}

/// An S3 client for the state bucket. With an endpoint (LocalStack), buckets are addressed by
/// path: there is no DNS for `<bucket>.127.0.0.1`.
pub async fn s3_client(
    region: &str,
    endpoint_url: Option<&str>,
) -> anyhow::Result<aws_sdk_s3::Client> {
    let config = sdk_config(region, endpoint_url).await?;
    let mut s3 = aws_sdk_s3::config::Builder::from(&config);
    if endpoint_url.is_some() || std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        s3 = s3.force_path_style(true);
    }
    Ok(aws_sdk_s3::Client::from_conf(s3.build()))
}

/// The clients of the services an environment is made of.
pub async fn connect(region: &str, endpoint_url: Option<&str>) -> anyhow::Result<Clients> {
    let config = sdk_config(region, endpoint_url).await?;
    Ok(Clients {
        ec2: aws_sdk_ec2::Client::new(&config),
        elb: aws_sdk_elasticloadbalancing::Client::new(&config),
        iam: aws_sdk_iam::Client::new(&config),
        quotas: aws_sdk_servicequotas::Client::new(&config),
        pricing: aws_sdk_pricing::Client::from_conf(
            aws_sdk_pricing::config::Builder::from(&config)
                .region(Region::new(PRICE_LIST_REGION))
                .build(),
        ),
    })
}
