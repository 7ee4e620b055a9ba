//! The HTML reports: one self-contained page per run (`report.html`) or comparison
//! (`compare.html`), plots drawn as inline SVG: no script, no font or style from elsewhere.

use std::fmt::Write;

use crate::kpis::Kpis;

/// Colours of the series, in order (policies in a comparison).
const COLOURS: [&str; 6] = [
    "#d1495b", "#00798c", "#edae49", "#30638e", "#66a182", "#8d5a97",
];

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;
const RIGHT: f64 = 12.0;

/// Text made safe for HTML, control characters shown escaped (the truck app's reports' rule).
pub fn escape(text: &str) -> String {
    store_truck_app::map::esc(&store_model::planning::printable(text))
}

/// A number with a sensible number of decimals.
fn num(x: f64) -> String {
    if x.abs() >= 100.0 || x == x.trunc() {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

/// A line chart of `series` (name, values per day) over `labels`.
fn line_chart(title: &str, labels: &[String], series: &[(&str, Vec<f64>)]) -> String {
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let n = labels.len().max(2) as f64 - 1.0;
    let x = |i: usize| LEFT + (WIDTH - LEFT - RIGHT) * i as f64 / n;
    let y = |v: f64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - v / max);
    let mut svg = format!(
        r#"<figure><figcaption>{}</figcaption><svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{}">"#,
        escape(title),
        escape(title)
    );
    axes(&mut svg, max, labels, &x);
    for (k, (name, values)) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"><title>{}</title></polyline>"#,
            points.join(" "),
            escape(name)
        );
    }
    svg.push_str("</svg>");
    legend(&mut svg, series.iter().map(|(n, _)| *n));
    svg.push_str("</figure>");
    svg
}

/// Bars of a histogram per series, side by side.
fn bar_chart(title: &str, labels: &[String], series: &[(&str, Vec<f64>)]) -> String {
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let slots = labels.len().max(1) as f64;
    let slot_w = (WIDTH - LEFT - RIGHT) / slots;
    let bar_w = slot_w / series.len().max(1) as f64;
    let x = |i: usize| LEFT + slot_w * i as f64;
    let mut svg = format!(
        r#"<figure><figcaption>{}</figcaption><svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{}">"#,
        escape(title),
        escape(title)
    );
    axes(&mut svg, max, labels, &x);
    let plot_h = HEIGHT - TOP - BOTTOM;
    for (k, (name, values)) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        for (i, v) in values.iter().enumerate() {
            let h = plot_h * v / max;
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{colour}"><title>{}: {}</title></rect>"#,
                x(i) + bar_w * k as f64,
                TOP + plot_h - h,
                (bar_w - 0.5).max(0.5),
                escape(name),
                num(*v)
            );
        }
    }
    svg.push_str("</svg>");
    legend(&mut svg, series.iter().map(|(n, _)| *n));
    svg.push_str("</figure>");
    svg
}

/// Axes, the top value and up to ten labels along the bottom.
fn axes(svg: &mut String, max: f64, labels: &[String], x: &dyn Fn(usize) -> f64) {
    let base = HEIGHT - BOTTOM;
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="#888"/><line x1="{LEFT}" y1="{base}" x2="{}" y2="{base}" stroke="#888"/><text x="{}" y="{}" font-size="11" text-anchor="end">{}</text><text x="{}" y="{base}" font-size="11" text-anchor="end">0</text>"##,
        WIDTH - RIGHT,
        LEFT - 4.0,
        TOP + 10.0,
        num(max),
        LEFT - 4.0
    );
    let every = labels.len().div_ceil(10).max(1);
    for (i, label) in labels.iter().enumerate().step_by(every) {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle">{}</text>"#,
            x(i),
            HEIGHT - 10.0,
            escape(label)
        );
    }
}

fn legend<'a>(svg: &mut String, names: impl Iterator<Item = &'a str>) {
    svg.push_str(r#"<p class="legend">"#);
    for (k, name) in names.enumerate() {
        let _ = write!(
            svg,
            r#"<span style="color:{}">&#9632;</span> {} "#,
            COLOURS[k % COLOURS.len()],
            escape(name)
        );
    }
    svg.push_str("</p>");
}

/// Stock-out hours by store (rows) and day (columns), darker for more.
fn heatmap(kpis: &Kpis) -> String {
    let days = kpis.days.len().max(1);
    let rows = kpis.stores.len();
    let cell_w = ((WIDTH - LEFT - RIGHT) / days as f64).floor().max(2.0);
    let cell_h = if rows > 100 { 3.0 } else { 10.0 };
    let height = TOP + cell_h * rows as f64 + BOTTOM;
    let max = kpis
        .stores
        .iter()
        .flat_map(|s| s.stockout_hours_by_day.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let mut svg = format!(
        r#"<figure><figcaption>Stock-out shelf-hours by store and day (darkest: {})</figcaption><svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="stock-out heatmap">"#,
        num(max)
    );
    for (r, store) in kpis.stores.iter().enumerate() {
        for (d, v) in store.stockout_hours_by_day.iter().enumerate() {
            let shade = (v / max).clamp(0.0, 1.0);
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{cell_w:.1}" height="{cell_h:.1}" fill="rgb(209,73,91)" fill-opacity="{shade:.3}"><title>{} {}: {} h</title></rect>"#,
                LEFT + cell_w * d as f64,
                TOP + cell_h * r as f64,
                escape(&store.id),
                escape(&kpis.days.get(d).map(|x| x.date.clone()).unwrap_or_default()),
                num(*v)
            );
        }
        if rows <= 40 {
            let _ = write!(
                svg,
                r#"<text x="{}" y="{:.1}" font-size="9" text-anchor="end">{}</text>"#,
                LEFT - 4.0,
                TOP + cell_h * (r as f64 + 0.8),
                escape(&store.id)
            );
        }
    }
    svg.push_str("</svg></figure>");
    svg
}

/// The table rows of the headline figures: (label, value per run).
pub fn headline(runs: &[Kpis]) -> Vec<(&'static str, Vec<String>)> {
    let row = |label, f: &dyn Fn(&Kpis) -> String| (label, runs.iter().map(f).collect());
    vec![
        row("stock-out shelf-hours", &|k| {
            num(k.totals.stockout_shelf_hours)
        }),
        row("stock-out share of open shelf-hours", &|k| {
            format!("{:.2}%", 100.0 * k.totals.stockout_share)
        }),
        row("lost sales (units)", &|k| k.totals.lost_units.to_string()),
        row("lost share of demand", &|k| {
            format!("{:.2}%", 100.0 * k.totals.lost_share)
        }),
        row("fill rate", &|k| {
            format!("{:.2}%", 100.0 * k.totals.fill_rate)
        }),
        row("cycle service level", &|k| {
            format!("{:.2}%", 100.0 * k.totals.cycle_service_level)
        }),
        row("of cycles own orders ended", &|k| {
            k.totals
                .own_cycle_service_level
                .map_or_else(|| "-".to_owned(), |v| format!("{:.2}%", 100.0 * v))
        }),
        row("avg on hand (units)", &|k| num(k.totals.avg_on_hand_units)),
        row("days of cover", &|k| num(k.totals.days_of_cover)),
        row("units delivered", &|k| k.totals.units_delivered.to_string()),
        row("units sent back (no room)", &|k| {
            k.totals.units_overflow.to_string()
        }),
        row("trips", &|k| k.totals.trips.to_string()),
        row("truck km", &|k| num(k.totals.truck_km)),
        row("km per unit", &|k| num(k.totals.km_per_unit)),
        row("truck utilisation", &|k| {
            format!("{:.1}%", 100.0 * k.totals.truck_utilisation)
        }),
        row("alerts sent", &|k| k.totals.alerts_sent.to_string()),
        row("alerts joining a store's delivery", &|k| {
            k.totals
                .alerts_joined
                .map_or_else(|| "-".to_owned(), |n| n.to_string())
        }),
        row("alerts suppressed", &|k| {
            k.totals.alerts_suppressed.to_string()
        }),
        row("alerts dead-lettered", &|k| {
            k.totals.alerts_dead_lettered.to_string()
        }),
        row("lead time p50 / p95 (h)", &|k| {
            format!(
                "{} / {}",
                num(k.totals.lead_time_hours_p50),
                num(k.totals.lead_time_hours_p95)
            )
        }),
    ]
}

/// The headline table as text, for the terminal.
pub fn text_table(runs: &[Kpis]) -> String {
    let rows = headline(runs);
    let names: Vec<String> = runs.iter().map(|k| k.policy.clone()).collect();
    let label_w = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let col_w: Vec<usize> = (0..runs.len())
        .map(|i| {
            rows.iter()
                .map(|(_, v)| v[i].chars().count())
                .chain([names[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("{:label_w$}", "");
    for (i, n) in names.iter().enumerate() {
        let _ = write!(
            out,
            "  {:>w$}",
            store_model::planning::printable(n),
            w = col_w[i]
        );
    }
    out.push('\n');
    for (label, values) in rows {
        let _ = write!(out, "{label:label_w$}");
        for (i, v) in values.iter().enumerate() {
            let _ = write!(out, "  {v:>w$}", w = col_w[i]);
        }
        out.push('\n');
    }
    out
}

fn html_table(runs: &[Kpis]) -> String {
    let mut out = String::from("<table><tr><th></th>");
    for k in runs {
        let _ = write!(out, "<th>{}</th>", escape(&k.policy));
    }
    out.push_str("</tr>");
    for (label, values) in headline(runs) {
        let _ = write!(out, "<tr><td>{label}</td>");
        for v in values {
            let _ = write!(out, "<td>{}</td>", escape(&v));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{}</title><style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:60em;color:#222}}table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:.25em .75em;text-align:right}}td:first-child{{text-align:left}}figure{{margin:1.5em 0}}figcaption{{font-weight:600}}.legend{{font-size:.9em}}</style></head><body><h1>{}</h1>{body}</body></html>"#,
        escape(title),
        escape(title)
    )
}

/// The series a comparison draws: one per run.
fn per_run(runs: &[Kpis], f: impl Fn(&crate::kpis::DayKpis) -> f64) -> Vec<(&str, Vec<f64>)> {
    runs.iter()
        .map(|k| (k.policy.as_str(), k.days.iter().map(&f).collect()))
        .collect()
}

fn charts(runs: &[Kpis]) -> String {
    let labels: Vec<String> = runs
        .first()
        .map(|k| k.days.iter().map(|d| d.date[5..].to_owned()).collect())
        .unwrap_or_default();
    let lead_labels: Vec<String> = (0..runs
        .first()
        .map_or(0, |k| k.lead_time_hours_histogram.len()))
        .map(|h| h.to_string())
        .collect();
    let lead: Vec<(&str, Vec<f64>)> = runs
        .iter()
        .map(|k| {
            (
                k.policy.as_str(),
                k.lead_time_hours_histogram
                    .iter()
                    .map(|c| *c as f64)
                    .collect(),
            )
        })
        .collect();
    [
        line_chart(
            "Stock-out shelf-hours per day",
            &labels,
            &per_run(runs, |d| d.stockout_shelf_hours),
        ),
        line_chart(
            "Lost sales per day (units)",
            &labels,
            &per_run(runs, |d| d.lost_units as f64),
        ),
        line_chart(
            "Units on hand (average over the day)",
            &labels,
            &per_run(runs, |d| d.avg_on_hand_units),
        ),
        line_chart("Truck km per day", &labels, &per_run(runs, |d| d.truck_km)),
        bar_chart(
            "Alert-to-delivery lead time (deliveries per hour of lead time)",
            &lead_labels,
            &lead,
        ),
    ]
    .concat()
}

/// Stock-out shelf-hours per day of each run, as a standalone SVG file (for a README).
pub fn stockouts_svg(runs: &[Kpis]) -> String {
    let labels: Vec<String> = runs
        .first()
        .map(|k| k.days.iter().map(|d| d.date[5..].to_owned()).collect())
        .unwrap_or_default();
    let series = per_run(runs, |d| d.stockout_shelf_hours);
    let chart = line_chart("Stock-out shelf-hours per day", &labels, &series);
    // The figure's SVG, with its namespace, and the legend drawn inside it.
    let start = chart.find("<svg").unwrap_or(0);
    let end = chart.find("</svg>").unwrap_or(chart.len());
    let mut svg = chart[start..end].replacen(
        "<svg ",
        r#"<svg xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" style="background:#fff" "#,
        1,
    );
    for (k, (name, _)) in series.iter().enumerate() {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" font-size="12" fill="{}">{}</text>"#,
            WIDTH - RIGHT - 110.0,
            TOP + 14.0 * (k as f64 + 1.0),
            COLOURS[k % COLOURS.len()],
            escape(name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The page of one run.
pub fn run_page(kpis: &Kpis) -> String {
    let s = &kpis.scenario;
    let intro = format!(
        "<p>Policy <b>{}</b>: {} stores x {} products ({} shelves), {} days from {}, seed {}, planning every {} h, {} trucks.</p>",
        escape(&kpis.policy),
        s.stores,
        s.products,
        s.shelves,
        s.days,
        escape(&s.start),
        s.seed,
        s.planning_every_hours,
        s.trucks
    );
    let runs = std::slice::from_ref(kpis);
    page(
        "store-sim run",
        &format!(
            "{intro}{}{}{}",
            html_table(runs),
            charts(runs),
            heatmap(kpis)
        ),
    )
}

/// The page of a comparison: the policies on the same axes.
pub fn compare_page(runs: &[Kpis]) -> String {
    let intro = runs.first().map_or_else(String::new, |k| {
        let s = &k.scenario;
        format!(
            "<p>The same shoppers under each policy: {} stores x {} products, {} days from {}, seed {}, planning every {} h, {} trucks.</p>",
            s.stores, s.products, s.days, escape(&s.start), s.seed, s.planning_every_hours, s.trucks
        )
    });
    let heatmaps: String = runs
        .iter()
        .map(|k| format!("<h2>{}</h2>{}", escape(&k.policy), heatmap(k)))
        .collect();
    page(
        "store-sim compare",
        &format!("{intro}{}{}{heatmaps}", html_table(runs), charts(runs)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_pages_load_nothing_from_elsewhere() {
        assert_eq!(escape("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
        assert!(!escape("a\u{1b}[31m").contains('\u{1b}'));
        let svg = line_chart("t", &["a".into(), "b".into()], &[("p<", vec![1.0, 2.0])]);
        assert!(svg.contains("<polyline") && svg.contains("p&lt;"));
        let html = page("x", &svg);
        for outside in ["<script", "http://", "https://", "@import", "url("] {
            assert!(!html.contains(outside), "{outside}");
        }
    }
}
