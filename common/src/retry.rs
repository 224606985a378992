//! The one retry helper of the pipeline: a call is tried again with exponential backoff while
//! its failure is transient, given up at once when it is permanent, and abandoned when the
//! stage is told to stop (so a stop never waits on a broker or database that is away).

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How long to wait between tries: `first`, doubling up to `longest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub longest: Duration,
}

impl Backoff {
    pub const fn new(first: Duration, longest: Duration) -> Self {
        Backoff { first, longest }
    }

    /// What most calls to the broker or ClickHouse use: 250 ms doubling up to 30 s.
    pub const STANDARD: Backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(30));
}

/// A failed try, as the caller judges it.
#[derive(Debug)]
pub enum Failure<E> {
    /// Worth another try (unreachable, timed out, overloaded).
    Transient(E),
    /// Trying again cannot help (the request itself is refused).
    Permanent(E),
}

/// Why [`retry`] ended without success.
#[derive(Debug, thiserror::Error)]
pub enum Gaveup<E> {
    #[error("stopped before it succeeded")]
    Stopped,
    #[error("{0}")]
    Permanent(E),
}

/// Stopped while waiting for something to succeed: the work in hand is not done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stopped before the work in hand was done")]
pub struct Stopped;

impl<E> From<Stopped> for Gaveup<E> {
    fn from(_: Stopped) -> Self {
        Gaveup::Stopped
    }
}

/// Tries `attempt` until it succeeds, fails permanently, or `stop` is cancelled; `what` names
/// the call in the log.
pub async fn retry<T, E, F, Fut>(
    what: &str,
    backoff: Backoff,
    stop: &CancellationToken,
    mut attempt: F,
) -> Result<T, Gaveup<E>>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure<E>>>,
{
    let mut wait = backoff.first;
    let mut tries: u32 = 0;
    loop {
        if stop.is_cancelled() && tries > 0 {
            return Err(Gaveup::Stopped);
        }
        tries += 1;
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(Failure::Permanent(error)) => return Err(Gaveup::Permanent(error)),
            Err(Failure::Transient(error)) => {
                tracing::warn!(what, %error, tries, retry_in_ms = wait.as_millis() as u64, "failed, retrying");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return Err(Gaveup::Stopped),
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(backoff.longest);
    }
}

/// [`retry`] of a call whose every failure is transient.
pub async fn retry_transient<T, E, F, Fut>(
    what: &str,
    backoff: Backoff,
    stop: &CancellationToken,
    mut attempt: F,
) -> Result<T, Stopped>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let outcome = retry(what, backoff, stop, || {
        let call = attempt();
        async move { call.await.map_err(Failure::Transient) }
    })
    .await;
    match outcome {
        Ok(value) => Ok(value),
        Err(Gaveup::Stopped) => Err(Stopped),
        Err(Gaveup::Permanent(_)) => unreachable!("every failure is transient here"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    const QUICK: Backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(4));

    #[tokio::test]
    async fn transient_failures_are_tried_again_until_success() {
        let tries = AtomicU32::new(0);
        let outcome: Result<u32, Gaveup<String>> =
            retry("test call", QUICK, &CancellationToken::new(), || async {
                match tries.fetch_add(1, Ordering::SeqCst) {
                    0..=2 => Err(Failure::Transient("away".to_string())),
                    n => Ok(n),
                }
            })
            .await;
        assert_eq!(outcome.unwrap(), 3);
    }

    #[tokio::test]
    async fn a_permanent_failure_ends_at_once() {
        let tries = AtomicU32::new(0);
        let outcome: Result<(), Gaveup<String>> =
            retry("test call", QUICK, &CancellationToken::new(), || async {
                tries.fetch_add(1, Ordering::SeqCst);
                Err(Failure::Permanent("refused".to_string()))
            })
            .await;
        assert!(matches!(outcome, Err(Gaveup::Permanent(reason)) if reason == "refused"));
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_stop_ends_the_waiting() {
        let stop = CancellationToken::new();
        let slow = Backoff::new(Duration::from_secs(3600), Duration::from_secs(3600));
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            stopper.cancel();
        });
        let started = std::time::Instant::now();
        let outcome: Result<(), Stopped> =
            retry_transient("test call", slow, &stop, || async { Err("away") }).await;
        assert_eq!(outcome, Err(Stopped));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
