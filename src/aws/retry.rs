//! The one place that knows how AWS fails and what to do about it.
//!
//! Every AWS request of the tool goes through [`call`]. The SDK's own retries are switched off (see
//! [`super::connect`]) so that throttling, server errors, broken connections and AWS's eventual
//! consistency are all handled here, by one policy, and logged in one way. Two budgets, kept apart:
//! consecutive throttled or failed answers (AWS's rate limits and outages), and the time windows for
//! which a request tolerates AWS's eventual consistency. A throttle in the middle of a long tolerated
//! wait spends the first, never the second.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_types::request_id::RequestId;

/// What kind of failure an AWS error is, independent of the service that returned it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request rate is too high; back off and try again.
    Throttled,
    /// A server-side or network failure that says nothing about the request itself.
    Transient,
    /// The resource does not exist (or does not exist *yet*, right after a create).
    NotFound,
    /// Something else still uses the resource (AWS releases such dependencies asynchronously).
    DependencyViolation,
    /// The resource, rule or association is already there.
    AlreadyExists,
    /// Anything else: a real error that retrying will not fix.
    Fatal,
}

/// A failed AWS request, classified.
#[derive(Debug)]
pub struct AwsError {
    pub operation: &'static str,
    pub class: ErrorClass,
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
    pub attempts: u32,
    /// S3's `x-amz-bucket-region`: where a bucket lives when it is not where it was asked for.
    pub bucket_region: Option<String>,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed", self.operation)?;
        if let Some(code) = &self.code {
            write!(f, ": {code}")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

impl StdError for AwsError {}

impl AwsError {
    pub fn is(&self, class: ErrorClass) -> bool {
        self.class == class
    }

    fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> AwsError
    where
        E: ProvideErrorMetadata + RequestId + StdError + Send + Sync + 'static,
    {
        match &err {
            SdkError::ServiceError(service) => {
                let inner = service.err();
                let status = service.raw().status().as_u16();
                let code = inner.code().map(str::to_string);
                let bucket_region = service
                    .raw()
                    .headers()
                    .get("x-amz-bucket-region")
                    .map(str::to_string);
                let mut message = inner.message().unwrap_or_default().to_string();
                if message.is_empty() && code.is_none() {
                    message = format!("HTTP status {status}");
                }
                AwsError {
                    operation,
                    class: classify(code.as_deref(), status),
                    message,
                    request_id: inner.request_id().map(str::to_string),
                    code,
                    attempts: 1,
                    bucket_region,
                }
            }
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => AwsError {
                operation,
                class: ErrorClass::Transient,
                code: None,
                message: error_chain(&err),
                request_id: None,
                attempts: 1,
                bucket_region: None,
            },
            _ => AwsError {
                operation,
                class: ErrorClass::Fatal,
                code: None,
                message: error_chain(&err),
                request_id: None,
                attempts: 1,
                bucket_region: None,
            },
        }
    }
}

/// An error and its causes on one line.
pub fn error_chain(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Maps an AWS error code (any of EC2, ELB and IAM) and HTTP status to its class.
pub fn classify(code: Option<&str>, status: u16) -> ErrorClass {
    let Some(code) = code else {
        // Answers without a body (S3's HEAD requests) say it with the status alone.
        return match status {
            404 => ErrorClass::NotFound,
            429 | 500.. => ErrorClass::Transient,
            _ => ErrorClass::Fatal,
        };
    };
    match code {
        "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "TooManyRequestsException"
        | "SlowDown"
        | "EC2ThrottledException"
        | "BandwidthLimitExceeded" => ErrorClass::Throttled,
        "InternalError"
        | "InternalFailure"
        | "ServiceUnavailable"
        | "Unavailable"
        | "ServiceFailure"
        | "RequestTimeout"
        | "RequestTimeoutException"
        | "RequestExpired"
        | "IDPCommunicationError"
        // S3: another conditional write to the object was in progress.
        | "ConditionalRequestConflict" => ErrorClass::Transient,
        "DependencyViolation"
        | "DeleteConflict"
        | "InvalidIPAddress.InUse"
        | "VolumeInUse"
        | "InvalidNetworkInterface.InUse" => {
            ErrorClass::DependencyViolation
        }
        "NoSuchEntity" | "LoadBalancerNotFound" | "AccessPointNotFound" | "NoSuchKey"
        | "NoSuchBucket" => ErrorClass::NotFound,
        "EntityAlreadyExists"
        | "DuplicateLoadBalancerName"
        | "DuplicateAccessPointName"
        | "RouteAlreadyExists"
        | "Resource.AlreadyAssociated"
        | "LimitExceeded.AlreadyAttached" => ErrorClass::AlreadyExists,
        c if c.ends_with(".NotFound") || c.ends_with("NotFound") => ErrorClass::NotFound,
        c if c.ends_with(".Duplicate") || c.ends_with("AlreadyExists") => ErrorClass::AlreadyExists,
        _ if status >= 500 => ErrorClass::Transient,
        _ => ErrorClass::Fatal,
    }
}

/// Errors that a particular request may see for a while because AWS is eventually consistent, and
/// how long to keep trying through them.
#[derive(Clone, Copy, Debug)]
pub enum Tolerate {
    /// Every error of a class, e.g. `NotFound` for a resource created a moment ago.
    Class(ErrorClass, Duration),
    /// Errors whose message contains a text, e.g. "Invalid IAM Instance Profile" from RunInstances
    /// while a new instance profile propagates.
    Message(&'static str, Duration),
}

/// The retry budget for throttling and transient failures: 15 consecutive throttled or failed
/// answers, with capped exponential backoff and full jitter (about a minute and a half in the worst
/// case). Any other answer starts the count again: AWS throttles in bursts, and a burst must not
/// end a wait that has been going well for minutes. See docs/reliability.md for why.
pub const MAX_ATTEMPTS: u32 = 15;
/// How long deletes wait for AWS to release a resource's dependents before giving up: the Terraform
/// AWS provider's delete timeouts for what this tool deletes are 15 minutes (security groups) and
/// 20 minutes (subnets, internet gateways), and ELB interfaces alone can linger for minutes.
pub const RELEASE_WINDOW: Duration = Duration::from_secs(20 * 60);
const BASE_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(10);
/// How long a request may be retried silently (for throttling and failures) before it is shown.
const SHOW_RETRIES_AFTER: Duration = Duration::from_secs(5);
/// Polling interval ceiling while waiting out eventual consistency.
const MAX_TOLERANCE_DELAY: Duration = Duration::from_secs(5);

/// Retry policy for one request: the standard budget plus the eventual-consistency errors it tolerates.
#[derive(Clone, Debug)]
pub struct Policy {
    tolerated: Vec<Tolerate>,
    /// Whether a transient failure (5xx, a broken connection) is retried here.
    retry_transient: bool,
}

impl Policy {
    pub fn standard() -> Policy {
        Policy {
            tolerated: Vec::new(),
            retry_transient: true,
        }
    }

    /// For a create call without an idempotency token: a transient failure may have happened after
    /// AWS acted, so it is not repeated blindly (that could make a second resource). The graph looks
    /// for the resource before it creates again.
    pub fn create() -> Policy {
        Policy {
            retry_transient: false,
            ..Policy::standard()
        }
    }

    /// For a call whose answer the caller can do without (it has a fallback, e.g. a quota's
    /// default): as for a create, a failure is not retried for a minute and a half; throttling is.
    pub fn optional() -> Policy {
        Policy::create()
    }

    /// For a delete that may meet `DependencyViolation` while AWS releases what used the resource
    /// (ELB network interfaces, a NAT gateway's address, terminating instances, attached volumes).
    pub fn releasing() -> Policy {
        Policy::standard().tolerate(Tolerate::Class(
            ErrorClass::DependencyViolation,
            RELEASE_WINDOW,
        ))
    }

    pub fn tolerate(mut self, tolerate: Tolerate) -> Policy {
        self.tolerated.push(tolerate);
        self
    }

    fn tolerance_for(&self, err: &AwsError) -> Option<Duration> {
        self.tolerated.iter().find_map(|t| match *t {
            Tolerate::Class(class, window) if err.class == class => Some(window),
            Tolerate::Message(text, window) if err.message.contains(text) => Some(window),
            _ => None,
        })
    }
}

/// Full-jitter exponential backoff: a random delay up to `base * 2^attempt`, capped.
fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base.saturating_mul(1 << attempt.min(16)).min(cap);
    let millis = u64::try_from(ceiling.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_millis(fastrand::u64(millis / 2..=millis))
}

/// Sends one AWS request (built anew by `send` on every attempt) under `policy`.
pub async fn call<T, E, F, Fut>(
    operation: &'static str,
    policy: &Policy,
    mut send: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + RequestId + StdError + Send + Sync + 'static,
{
    let started = Instant::now();
    let mut attempt: u32 = 0;
    // Consecutive throttled or failed answers, and tolerated answers: two separate budgets.
    let mut failed_in_a_row: u32 = 0;
    let mut tolerated: u32 = 0;
    loop {
        attempt += 1;
        let sent = Instant::now();
        let err = match send().await {
            Ok(output) => {
                tracing::debug!(
                    operation,
                    attempt,
                    "answered in {} ms",
                    sent.elapsed().as_millis()
                );
                return Ok(output);
            }
            Err(e) => AwsError::from_sdk(operation, e),
        };
        let retried = match err.class {
            ErrorClass::Throttled => true,
            ErrorClass::Transient => policy.retry_transient,
            _ => false,
        };
        let delay = if retried {
            failed_in_a_row += 1;
            (failed_in_a_row < MAX_ATTEMPTS)
                .then(|| backoff(failed_in_a_row, BASE_DELAY, MAX_DELAY))
        } else {
            failed_in_a_row = 0;
            tolerated += 1;
            policy
                .tolerance_for(&err)
                .filter(|window| started.elapsed() < *window)
                .map(|_| backoff(tolerated, BASE_DELAY, MAX_TOLERANCE_DELAY))
        };
        match delay {
            Some(delay) => {
                // Throttling and failures are shown once they have lasted a few seconds; tolerated
                // answers are expected and show with -v.
                if retried && started.elapsed() >= SHOW_RETRIES_AFTER {
                    crate::report::retrying(operation, &err.to_string(), started.elapsed());
                }
                tracing::debug!(
                    operation,
                    attempt,
                    code = err.code.as_deref().unwrap_or("-"),
                    ?delay,
                    "retrying: {}",
                    err.message
                );
                tokio::time::sleep(delay).await;
            }
            None => {
                return Err(AwsError {
                    attempts: attempt,
                    ..err
                });
            }
        }
    }
}

/// Every page of a paginated describe call: `send` gets the previous page's token (`None` first),
/// `next` reads the token for the page after.
pub async fn all_pages<T, E, F, Fut>(
    operation: &'static str,
    policy: &Policy,
    mut send: F,
    next: fn(&T) -> Option<&str>,
) -> Result<Vec<T>, AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + RequestId + StdError + Send + Sync + 'static,
{
    let mut pages = Vec::new();
    let mut token = None;
    loop {
        let page = call(operation, policy, || send(token.clone())).await?;
        token = next(&page).map(str::to_string);
        pages.push(page);
        if token.is_none() {
            return Ok(pages);
        }
    }
}

/// Whether an error is a transient AWS failure: the request may or may not have taken effect.
pub fn is_transient(err: &anyhow::Error) -> bool {
    is_class(err, ErrorClass::Transient)
}

/// Whether `err` is an AWS error of `class`.
pub fn is_class(err: &anyhow::Error, class: ErrorClass) -> bool {
    err.downcast_ref::<AwsError>().is_some_and(|e| e.is(class))
}

/// The wait before attempt `attempt + 1` of something retried outside [`call`].
pub fn delay_before_retry(attempt: u32) -> Duration {
    backoff(attempt, BASE_DELAY, MAX_DELAY)
}

/// Turns "not found" into `None`, for lookups and for deletes of things that may already be gone.
pub fn absent_ok<T>(result: Result<T, AwsError>) -> Result<Option<T>, AwsError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.is(ErrorClass::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Turns "already exists" into success, for idempotent follow-up steps (rules, routes, attachments).
pub fn exists_ok(result: Result<(), AwsError>) -> Result<(), AwsError> {
    match result {
        Err(e) if e.is(ErrorClass::AlreadyExists) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_codes_of_every_service() {
        assert_eq!(classify(Some("Throttling"), 400), ErrorClass::Throttled);
        assert_eq!(
            classify(Some("RequestLimitExceeded"), 503),
            ErrorClass::Throttled
        );
        assert_eq!(
            classify(Some("InvalidVpcID.NotFound"), 400),
            ErrorClass::NotFound
        );
        assert_eq!(classify(Some("NoSuchEntity"), 404), ErrorClass::NotFound);
        assert_eq!(classify(Some("NoSuchKey"), 404), ErrorClass::NotFound);
        assert_eq!(classify(None, 404), ErrorClass::NotFound);
        assert_eq!(classify(Some("PreconditionFailed"), 412), ErrorClass::Fatal);
        assert_eq!(
            classify(Some("LoadBalancerNotFound"), 400),
            ErrorClass::NotFound
        );
        assert_eq!(
            classify(Some("DependencyViolation"), 400),
            ErrorClass::DependencyViolation
        );
        assert_eq!(
            classify(Some("DeleteConflict"), 409),
            ErrorClass::DependencyViolation
        );
        assert_eq!(
            classify(Some("InvalidPermission.Duplicate"), 400),
            ErrorClass::AlreadyExists
        );
        assert_eq!(
            classify(Some("EntityAlreadyExists"), 409),
            ErrorClass::AlreadyExists
        );
        assert_eq!(classify(Some("InternalError"), 500), ErrorClass::Transient);
        assert_eq!(classify(Some("SomethingOdd"), 502), ErrorClass::Transient);
        assert_eq!(classify(None, 503), ErrorClass::Transient);
        assert_eq!(
            classify(Some("UnauthorizedOperation"), 403),
            ErrorClass::Fatal
        );
        assert_eq!(
            classify(Some("InvalidParameterValue"), 400),
            ErrorClass::Fatal
        );
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        for attempt in 1..30 {
            let d = backoff(attempt, BASE_DELAY, MAX_DELAY);
            assert!(d <= MAX_DELAY, "attempt {attempt}: {d:?}");
            let ceiling = BASE_DELAY
                .saturating_mul(1 << attempt.min(16))
                .min(MAX_DELAY);
            assert!(d >= ceiling / 2, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn tolerances_match_class_or_message() {
        let policy = Policy::standard()
            .tolerate(Tolerate::Class(
                ErrorClass::NotFound,
                Duration::from_secs(60),
            ))
            .tolerate(Tolerate::Message(
                "Invalid IAM Instance Profile",
                Duration::from_secs(120),
            ));
        let err = |class, message: &str| AwsError {
            operation: "RunInstances",
            class,
            code: None,
            message: message.into(),
            request_id: None,
            attempts: 1,
            bucket_region: None,
        };
        assert_eq!(
            policy.tolerance_for(&err(ErrorClass::NotFound, "")),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            policy.tolerance_for(&err(ErrorClass::Fatal, "Value (x) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name")),
            Some(Duration::from_secs(120))
        );
        assert_eq!(policy.tolerance_for(&err(ErrorClass::Fatal, "nope")), None);
    }
}
