//! The dispatch report: one self-contained HTML page with a map of depots, stores and routes
//! ([`crate::map`]) and the dispatch tables.

use std::collections::HashMap;
use std::fmt::Write as _;

use store_model::dispatch::clock;
use store_model::places::{Fleet, Stores};
use store_model::{Delivery, Dispatch};

use crate::board::{Trip, delivered_at, trips};
use crate::map::{Projection, esc, open_svg, places_svg, truck_colours};

/// The report page for the dispatches and deliveries of a period.
pub fn html(
    fleet: &Fleet,
    stores: &Stores,
    dispatches: &[Dispatch],
    deliveries: &[Delivery],
    now: i64,
) -> String {
    let trips = trips(dispatches);
    let delivered = delivered_at(deliveries);
    let colour = truck_colours(fleet);
    let svg = map_svg(fleet, stores, &trips, &colour);
    let legend = legend(fleet, &colour);
    let route_rows = trip_rows(fleet, &trips);
    let dispatch_rows = dispatch_rows(dispatches, &delivered);
    let total_units: i64 = dispatches.iter().map(|d| d.quantity).sum();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Truck dispatch report</title>
<style>
body{{font-family:system-ui,sans-serif;margin:24px;color:#222}}
table{{border-collapse:collapse;margin:12px 0 24px}}td,th{{border:1px solid #ccc;padding:4px 8px;font-size:13px}}
th{{background:#eee;text-align:left}}td.n{{text-align:right}}
ul.legend{{list-style:none;padding:0}}.swatch{{display:inline-block;width:14px;height:14px;margin-right:6px;vertical-align:middle}}
</style></head>
<body data-map-rendered="pending">
<h1>Truck dispatch report</h1>
<p>Generated {now_clock} UTC: {trips} trip(s), {dispatches} dispatch(es), {units} units, {delivered} delivered.</p>
{svg}
<ul class="legend">{legend}</ul>
<h2>Trips</h2>
<table><tr><th>Truck</th><th>Depot</th><th>Left</th><th>Back</th><th>Stops</th><th>Load</th><th>km</th></tr>{route_rows}</table>
<h2>Dispatches</h2>
<table><tr><th>Dispatch</th><th>Store</th><th>Product</th><th>Name</th><th>Units</th><th>Truck</th><th>Stop</th><th>ETA</th><th>Status</th></tr>{dispatch_rows}</table>
<script>
// Marks the page once the browser has laid out the map, for the headless check.
const map = document.getElementById('map');
const routes = map.querySelectorAll('polyline.route');
const drawn = [...routes].filter(r => {{ const b = r.getBBox(); return b.width > 0 || b.height > 0; }}).length;
const stores = map.querySelectorAll('g.store circle').length;
document.body.dataset.mapRendered = `routes=${{drawn}}/${{routes.length}} stores=${{stores}} width=${{Math.round(map.getBoundingClientRect().width)}}`;
</script>
</body></html>
"#,
        now_clock = clock(now),
        trips = trips.len(),
        dispatches = dispatches.len(),
        units = total_units,
        delivered = deliveries.len(),
    )
}

/// The map: routes first, so the places are drawn on top, then stores and depots.
fn map_svg(
    fleet: &Fleet,
    stores: &Stores,
    trips: &[Trip<'_>],
    colour: &HashMap<&str, &str>,
) -> String {
    let proj = Projection::of_places(fleet, stores);
    let mut svg = open_svg("Map of depots, stores and routes");
    for t in trips {
        let Some(depot) = fleet.depot(t.depot_id) else {
            continue;
        };
        let mut path = vec![proj.xy(depot.point())];
        for stop in &t.stops {
            if let Some(site) = stop.first().and_then(|d| stores.get(&d.store_id)) {
                path.push(proj.xy(site.point()));
            }
        }
        path.push(proj.xy(depot.point()));
        let pts: Vec<String> = path.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let c = colour.get(t.truck_id).copied().unwrap_or("#333");
        let _ = write!(
            svg,
            r#"<polyline class="route" data-route="{}" points="{}" fill="none" stroke="{c}" stroke-width="3" stroke-opacity="0.8" stroke-linejoin="round"><title>{} — {} stop(s), {} units</title></polyline>"#,
            esc(t.route_id),
            pts.join(" "),
            esc(t.route_id),
            t.stops.len(),
            t.load()
        );
    }
    svg.push_str(&places_svg(fleet, stores, &proj));
    svg.push_str("</svg>");
    svg
}

/// Each truck's colour, capacity, speed and depot.
fn legend(fleet: &Fleet, colour: &HashMap<&str, &str>) -> String {
    let mut legend = String::new();
    for t in &fleet.trucks {
        let c = colour.get(t.truck_id.as_str()).copied().unwrap_or("#333");
        let _ = write!(
            legend,
            r#"<li><span class="swatch" style="background:{c}"></span>{} ({} units, {} km/h, {})</li>"#,
            esc(&t.truck_id),
            t.capacity,
            t.speed_kmh,
            esc(&t.depot_id)
        );
    }

    legend
}

/// One row per trip.
fn trip_rows(fleet: &Fleet, trips: &[Trip<'_>]) -> String {
    let mut route_rows = String::new();
    for t in trips {
        let cap = fleet
            .trucks
            .iter()
            .find(|x| x.truck_id == t.truck_id)
            .map_or(0, |x| x.capacity);
        let _ = write!(
            route_rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}/{}</td><td class=n>{:.1}</td></tr>",
            esc(t.truck_id),
            esc(t.depot_id),
            clock(t.departed),
            clock(t.back_at),
            t.stops.len(),
            t.load(),
            cap,
            t.km()
        );
    }
    route_rows
}

/// One row per dispatch, with whether it was delivered.
fn dispatch_rows(dispatches: &[Dispatch], delivered: &HashMap<&str, i64>) -> String {
    let mut dispatch_rows = String::new();
    for d in dispatches {
        let status = delivered.get(d.dispatch_id.as_str()).map_or_else(
            || "on the way".to_owned(),
            |at| format!("delivered {}", clock(*at)),
        );
        let _ = write!(
            dispatch_rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=n>{}</td><td>{}</td><td class=n>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&d.dispatch_id),
            esc(&d.store_id),
            esc(&d.product_id),
            esc(&d.product_name),
            d.quantity,
            esc(&d.truck_id),
            d.stop,
            clock(d.eta),
            status
        );
    }
    dispatch_rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use store_model::ConfigFile;

    #[test]
    fn the_page_is_self_contained() {
        let fleet = Fleet::shipped();
        let stores = Stores::shipped();
        let page = html(&fleet, &stores, &[], &[], 0);
        assert_eq!(page.matches("http://").count(), 1, "only the SVG namespace");
        assert!(!page.contains("https://"));
        assert!(page.contains(r#"<svg id="map""#), "the map is inline");
    }
}
