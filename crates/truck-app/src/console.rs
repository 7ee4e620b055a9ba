//! What the command line prints: a step's departures, dispatches and deliveries, and the fleet
//! board under a line of queue and ledger counts. Every name from data goes through
//! [`printable`].

use anyhow::Result;
use store_model::Fleet;
use store_model::planning::printable;

use crate::{BatchReport, Dispatcher, LOOKBACK_SECONDS, board};

/// Prints what a step did: departures, dispatches, deliveries, what waits for a truck.
pub fn show(report: &BatchReport, fleet: &Fleet, time_scale: f64) {
    for route in &report.routes {
        let departed = report
            .dispatched
            .iter()
            .find(|d| d.truck_id == route.truck_id)
            .map_or(0, |d| d.dispatched_at);
        println!(
            "{}",
            board::departure_line(route, fleet, time_scale, departed)
        );
        for d in report
            .dispatched
            .iter()
            .filter(|d| d.truck_id == route.truck_id)
        {
            println!("   {}", d.human_line());
        }
    }
    // Dispatches of trips claimed before this step, recorded now.
    for d in report
        .dispatched
        .iter()
        .filter(|d| !report.routes.iter().any(|r| r.truck_id == d.truck_id))
    {
        println!("{} (trip {})", d.human_line(), d.route_id);
    }
    for d in &report.delivered {
        println!("{}", d.human_line());
    }
    for u in &report.unassigned {
        println!(
            "⏳ {} for {} ({} units) waits for a truck: {}",
            u.demand_id,
            printable(&u.store_id),
            u.quantity,
            u.reason
        );
    }
    for c in &report.closed {
        println!(
            "✖ order {} for {} closed ({}): {}; {} of {} units not delivered",
            c.alert_id,
            printable(&c.store_id),
            c.reason,
            c.detail,
            c.undelivered,
            c.quantity
        );
    }
    if report.accepted + report.duplicates + report.dead_lettered + report.retried > 0 {
        println!(
            "   ({} alert(s) accepted, {} accepted before, {} to dead letters, {} to retry)",
            report.accepted, report.duplicates, report.dead_lettered, report.retried
        );
    }
}

/// Prints the fleet board, optionally under a line with the queue depth and ledger counts.
pub async fn print_board(dispatcher: &Dispatcher, clear: bool, queue_line: bool) -> Result<()> {
    let now = chrono::Utc::now().timestamp();
    let since = now - LOOKBACK_SECONDS;
    let dispatches = dispatcher.ledger.dispatches_since(since).await?;
    let deliveries = dispatcher.ledger.deliveries_since(since).await?;
    let text = board::render(
        &dispatcher.fleet,
        &dispatcher.stores,
        &dispatches,
        &deliveries,
        now,
    );
    if clear {
        print!("\x1b[H\x1b[2J");
    }
    if queue_line {
        let depth = dispatcher.queue.depth().await?;
        let (open, free) = dispatcher.waiting(now).await?;
        println!(
            "queue: {} waiting, {} in flight, {} dead; {} open order(s), {} of {} truck(s) free; {} dispatch(es) and {} deliveries in the last 48 h",
            depth.visible,
            depth.in_flight,
            depth.dead,
            open.len(),
            free.len(),
            dispatcher.fleet.trucks.len(),
            dispatches.len(),
            deliveries.len()
        );
    }
    println!("{text}");
    for problem in
        crate::ledger_problems(dispatcher.ledger.as_ref(), &dispatcher.fleet, now).await?
    {
        println!("⚠ {problem}");
    }
    Ok(())
}
