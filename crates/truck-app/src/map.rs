//! The map both pages draw: depots and stores as inline SVG (no tiles or scripts from
//! elsewhere, so a page opens offline), on a projection fitted to the places.

use std::collections::HashMap;
use std::fmt::Write as _;

use store_model::places::{Fleet, GeoPoint, Stores};

/// Colours of the routes, one per truck in fleet order.
const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

/// The canvas, in SVG units.
pub const WIDTH: f64 = 900.0;
/// The canvas, in SVG units.
pub const HEIGHT: f64 = 640.0;
const MARGIN: f64 = 40.0;

/// Escapes text for HTML: element content and quoted attribute values alike.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Each truck's colour, by truck id.
pub fn truck_colours(fleet: &Fleet) -> HashMap<&str, &'static str> {
    fleet
        .trucks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.truck_id.as_str(), PALETTE[i % PALETTE.len()]))
        .collect()
}

/// Maps coordinates onto the SVG canvas (equirectangular, scaled by the cosine of the mean
/// latitude so distances look right over a city).
#[derive(Debug, Clone, Copy)]
pub struct Projection {
    min_lon: f64,
    max_lat: f64,
    x_scale: f64,
    y_scale: f64,
}

impl Projection {
    /// The projection that fits every depot and store on the canvas.
    pub fn of_places(fleet: &Fleet, stores: &Stores) -> Self {
        let points: Vec<GeoPoint> = fleet
            .depots
            .iter()
            .map(|d| d.point())
            .chain(stores.stores.iter().map(|s| s.point()))
            .collect();
        Self::fit(&points)
    }

    fn fit(points: &[GeoPoint]) -> Self {
        let (mut min_lat, mut max_lat, mut min_lon, mut max_lon) =
            (90.0_f64, -90.0_f64, 180.0_f64, -180.0_f64);
        for p in points {
            min_lat = min_lat.min(p.lat);
            max_lat = max_lat.max(p.lat);
            min_lon = min_lon.min(p.lon);
            max_lon = max_lon.max(p.lon);
        }
        let cos = ((min_lat + max_lat) / 2.0).to_radians().cos();
        let w = ((max_lon - min_lon) * cos).max(1e-6);
        let h = (max_lat - min_lat).max(1e-6);
        let scale = ((WIDTH - 2.0 * MARGIN) / w).min((HEIGHT - 2.0 * MARGIN) / h);
        Self {
            min_lon,
            max_lat,
            x_scale: scale * cos,
            y_scale: scale,
        }
    }

    /// Where a point lands on the canvas.
    pub fn xy(&self, p: GeoPoint) -> (f64, f64) {
        (
            MARGIN + (p.lon - self.min_lon) * self.x_scale,
            MARGIN + (self.max_lat - p.lat) * self.y_scale,
        )
    }
}

/// The opening tag of the map and its background.
pub fn open_svg(label: &str) -> String {
    format!(
        r##"<svg id="map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{}"><rect width="100%" height="100%" fill="#f7f7f2"/>"##,
        esc(label)
    )
}

/// The stores (each a `g.store` with its id in `data-store`) and the depots, drawn on top of
/// whatever came before.
pub fn places_svg(fleet: &Fleet, stores: &Stores, proj: &Projection) -> String {
    let mut svg = String::new();
    for s in &stores.stores {
        let (x, y) = proj.xy(s.point());
        let _ = write!(
            svg,
            r##"<g class="store" data-store="{id}"><circle cx="{x:.1}" cy="{y:.1}" r="6" fill="#fff" stroke="#444" stroke-width="2"/><text x="{:.1}" y="{:.1}" font-size="12" fill="#222">{id}</text><title>{id} — {}</title></g>"##,
            x + 8.0,
            y + 4.0,
            esc(&s.name),
            id = esc(&s.store_id),
        );
    }
    for d in &fleet.depots {
        let (x, y) = proj.xy(d.point());
        let _ = write!(
            svg,
            r##"<g class="depot"><rect x="{:.1}" y="{:.1}" width="14" height="14" fill="#222"/><text x="{:.1}" y="{:.1}" font-size="12" font-weight="bold" fill="#222">{}</text><title>{}</title></g>"##,
            x - 7.0,
            y - 7.0,
            x + 10.0,
            y - 8.0,
            esc(&d.name),
            esc(&d.depot_id)
        );
    }
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use store_model::ConfigFile;

    #[test]
    fn every_place_lands_on_the_canvas_and_names_are_escaped() {
        let fleet = Fleet::shipped();
        let mut stores = Stores::shipped();
        stores.stores[0].store_id = "S\"1<".into();
        stores.stores[0].name = "<b>Bánh & Co</b>".into();
        let proj = Projection::of_places(&fleet, &stores);
        for s in &stores.stores {
            let (x, y) = proj.xy(s.point());
            assert!((0.0..=WIDTH).contains(&x) && (0.0..=HEIGHT).contains(&y));
        }
        let svg = places_svg(&fleet, &stores, &proj);
        assert!(svg.contains(r#"data-store="S&quot;1&lt;""#), "{svg}");
        assert!(svg.contains("&lt;b&gt;Bánh &amp; Co&lt;/b&gt;"));
        assert!(!svg.contains("<b>"));
        assert_eq!(svg.matches("class=\"store\"").count(), 10);
        assert_eq!(svg.matches("class=\"depot\"").count(), 2);
    }
}
