//! Waiting for AWS to reach a state: poll fast at first, then back off to a cap, within a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

const FIRST_DELAY: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(10);

/// A wait that ran out of time.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {waited:?} waiting for {what}; run the command again to keep waiting")]
pub struct WaitTimeout {
    pub what: String,
    pub waited: Duration,
}

/// Polls `probe` until it yields a value. The first probe is immediate; later ones are spaced
/// 250 ms, 375 ms, ... up to 10 s apart, so a fast state change is seen at once and a slow one
/// costs few requests.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let started = Instant::now();
    let mut delay = FIRST_DELAY;
    loop {
        if let Some(value) = probe().await? {
            return Ok(value);
        }
        if started.elapsed() >= timeout {
            return Err(WaitTimeout {
                what: what.to_string(),
                waited: started.elapsed(),
            }
            .into());
        }
        tracing::debug!(what, ?delay, "still waiting");
        tokio::time::sleep(delay).await;
        delay = (delay * 3 / 2).min(MAX_DELAY);
    }
}
