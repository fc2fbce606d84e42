//! Waiting for AWS to reach a state: poll fast at first, then back off to a cap, within a deadline.
//!
//! The cap bounds how late a wait notices the change: at most half a second, the difference
//! between a NAT gateway's wait ending with it or a poll interval later. Two describes a second
//! per waiting resource is a tenth of EC2's per-account refill rate for describe calls (20/s),
//! and only the NAT gateway and the bastion are ever waited for.

use std::future::Future;
use std::time::{Duration, Instant};

const FIRST_DELAY: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_millis(500);

/// A wait that ran out of time.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {waited:?} waiting for {what}; run the command again to keep waiting")]
pub struct WaitTimeout {
    pub what: String,
    pub waited: Duration,
}

/// Polls `probe` until it yields a value. The first probe is immediate; later ones start 250 ms,
/// 375 ms, then 500 ms after the one before (however long its round trip took), so a change is
/// seen within half a second of happening.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let started = Instant::now();
    let mut delay = FIRST_DELAY;
    loop {
        let polled = Instant::now();
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
        tokio::time::sleep_until((polled + delay).into()).await;
        delay = (delay * 3 / 2).min(MAX_DELAY);
    }
}
