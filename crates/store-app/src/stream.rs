//! `simulate`'s run: rounds of the simulated chain streamed into the sink at a rate, as a history
//! ending now or live until a deadline or Ctrl-C, with the deliveries recorded in the ledger
//! applied to the shelves on a live run.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use store_model::ports::{Ledger, READINGS_PER_PUT, ReadingSink, SinkStats};

use crate::simulate::Chain;
use crate::summary;

/// How a simulation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// A history of `count` readings ending now, `step` seconds between a shelf's readings.
    History {
        /// Readings in all.
        count: u64,
        /// Seconds between two readings of a shelf.
        step: i64,
    },
    /// Live readings stamped with the current time, until a deadline or Ctrl-C.
    Live {
        /// When to stop; Ctrl-C only when `None`.
        until: Option<Instant>,
    },
}

/// How often a live run looks for new deliveries.
const DELIVERY_POLL: Duration = Duration::from_secs(1);

/// Applies the deliveries recorded since the run started that it has not applied yet, saying
/// so above `progress`.
async fn apply_deliveries(
    ledger: &dyn Ledger,
    chain: &mut Chain,
    since: i64,
    applied: &mut HashSet<String>,
    progress: &ProgressBar,
) -> Result<()> {
    // Deliveries are filed under their alert's planning hour; look back over the expiry.
    for d in ledger
        .deliveries_since(since - 2 * 24 * 3600)
        .await
        .context("reading deliveries")?
    {
        if d.delivered_at < since || !applied.insert(d.dispatch_id.clone()) {
            continue;
        }
        let line = match chain.deliver(&d.store_id, &d.product_id, d.quantity) {
            Some((before, after)) => format!(
                "store-app: delivery applied: {} {} +{} by {}, stock {before} -> {after}",
                d.store_id, d.product_id, d.quantity, d.truck_id
            ),
            None => format!(
                "store-app: delivery for {} {} is not for a simulated shelf; ignored",
                d.store_id, d.product_id
            ),
        };
        progress.suspend(|| eprintln!("{line}"));
    }
    Ok(())
}

/// Streams `chain`'s rounds into `sink` at `rate` readings per second (0: as fast as possible)
/// as `run` says, applying `deliveries` on a live run; returns what the sink delivered.
pub async fn simulate(
    sink: Arc<dyn ReadingSink>,
    mut chain: Chain,
    rate: f64,
    run: Run,
    deliveries: Option<Arc<dyn Ledger>>,
) -> Result<SinkStats> {
    let started = Instant::now();
    let shelves = chain.shelves() as u64;
    let now = chrono::Utc::now().timestamp();
    let (total, first_time, until) = match run {
        Run::History { count, step } => {
            let rounds = count.div_ceil(shelves) as i64;
            (Some(count), Some((now - (rounds - 1) * step, step)), None)
        }
        Run::Live { until } => (None, None, until),
    };
    // Only a live run lives long enough for trucks to arrive.
    let deliveries = deliveries.filter(|_| first_time.is_none());
    let mut applied = HashSet::new();
    let mut last_poll = Instant::now();
    // Ctrl-C flips this once; the loop checks it every round and waits on it while throttled.
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    let stop_signal = store_runtime::shutdown_signal();
    tokio::spawn(async move {
        stop_signal.await;
        let _ = stop_tx.send(true);
    });
    let mut sent: u64 = 0;
    let mut round: i64 = 0;
    let progress = crate::progress::readings(total);
    loop {
        if total.is_some_and(|t| sent >= t)
            || until.is_some_and(|u| Instant::now() >= u)
            || *stop.borrow()
        {
            break;
        }
        if let Some(ledger) = &deliveries
            && last_poll.elapsed() >= DELIVERY_POLL
        {
            last_poll = Instant::now();
            // A ledger outage must not stop the stores: report it and try again later.
            if let Err(e) =
                apply_deliveries(&**ledger, &mut chain, now, &mut applied, &progress).await
            {
                progress.suspend(|| eprintln!("store-app: {e:#}"));
            }
        }
        let time = first_time.map_or_else(
            || chrono::Utc::now().timestamp(),
            |(start, step)| start + round * step,
        );
        let mut readings = chain.round(time);
        if let Some(t) = total {
            readings.truncate((t - sent).min(readings.len() as u64) as usize);
        }
        for chunk in readings.chunks(READINGS_PER_PUT) {
            sink.put(chunk).await.context("sending readings")?;
            sent += chunk.len() as u64;
            progress.set_position(sent);
            if rate > 0.0 {
                let due = started + Duration::from_secs_f64(sent as f64 / rate);
                tokio::select! {
                    () = tokio::time::sleep_until(due.into()) => {}
                    _ = stop.changed() => return finish(&*sink, started, &progress).await,
                }
            }
        }
        sink.flush_if_due().await.context("delivering readings")?;
        round += 1;
    }
    finish(&*sink, started, &progress).await
}

async fn finish(
    sink: &dyn ReadingSink,
    started: Instant,
    progress: &ProgressBar,
) -> Result<SinkStats> {
    progress.finish_and_clear();
    let stats = sink.flush().await.context("delivering the last readings")?;
    eprintln!("store-app: {}", summary(&stats, started));
    Ok(stats)
}
