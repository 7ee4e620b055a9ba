//! The dispatcher's loop (`watch`): steps until shutdown, which is raced only against waiting,
//! never against a step's ledger writes or deletes (as mini-redis races shutdown against
//! `read_frame` only).

use std::time::Duration;

use tracing::warn;

use crate::{BatchReport, Dispatcher, ExecutionOutcome};

impl Dispatcher {
    /// Runs steps until `shutdown` completes, calling `on_step` after each step that did
    /// something. Shutdown is raced only against waiting (for messages, or for a truck to come
    /// back): a step that is recording finishes first, so no trip is left half recorded and no
    /// accepted message undeleted. Queue errors are reported and retried after a pause, so a
    /// passing outage does not end the watch; with every truck out, it sleeps until one is back
    /// (at most a second, so deliveries are still recorded on time).
    pub async fn run_until(
        &self,
        shutdown: impl Future<Output = ()>,
        mut on_step: impl FnMut(&BatchReport),
    ) {
        let (asked, stop) = tokio::sync::watch::channel(false);
        let signal = async move {
            shutdown.await;
            let _ = asked.send(true);
            std::future::pending::<()>().await;
        };
        let steps = async {
            let mut stop = Stop(Some(stop));
            while !stop.asked() {
                let pause = match self.step(&mut stop).await {
                    Ok(ExecutionOutcome::TaskCompleted(report)) => {
                        on_step(&report);
                        None
                    }
                    Ok(ExecutionOutcome::EmptyQueue) => None,
                    Ok(ExecutionOutcome::NoFreeTruck { report, .. }) => {
                        if !report.is_empty() {
                            on_step(&report);
                        }
                        Some(Duration::from_secs(1))
                    }
                    Err(e) => {
                        warn!(error = %e, "dispatching failed; trying again shortly");
                        Some(Duration::from_secs(1))
                    }
                };
                if let Some(pause) = pause {
                    stop.or(tokio::time::sleep(pause)).await;
                }
            }
        };
        tokio::select! {
            () = steps => {}
            () = signal => {}
        }
    }
}

/// A request to stop, as a step sees it: raced only against waits.
pub(crate) struct Stop(Option<tokio::sync::watch::Receiver<bool>>);

impl Stop {
    /// A stop never asked (a single step).
    pub(crate) fn never() -> Self {
        Self(None)
    }

    /// Whether stopping has been asked.
    fn asked(&self) -> bool {
        self.0.as_ref().is_some_and(|r| *r.borrow())
    }

    /// `wait`'s output, or `None` when stopping is asked first (or was already).
    pub(crate) async fn or<T>(&mut self, wait: impl Future<Output = T>) -> Option<T> {
        let Some(asked) = self.0.as_mut() else {
            return Some(wait.await);
        };
        tokio::pin!(wait);
        tokio::select! {
            biased;
            result = asked.wait_for(|stop| *stop) => match result {
                Ok(_) => None,
                // The sender is gone: nobody can ask any more.
                Err(_) => Some(wait.as_mut().await),
            },
            out = wait.as_mut() => Some(out),
        }
    }
}
