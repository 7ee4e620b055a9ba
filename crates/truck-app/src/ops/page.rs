//! The page itself: one self-contained file compiled in (`page.html`: its style, its script, no
//! request to anywhere but this server), filled with the map and the first view.
//!
//! Names in the data are user input. The map escapes them as HTML; the first view goes in as
//! JSON with `<`, `>` and `&` escaped, so no text can close its script element; the script puts
//! every string from data into the page as text, never as markup. The content security policy
//! runs only the page's own script (by a nonce fresh for each response) and connects only here.

use crate::map::{Projection, open_svg, places_svg};
use store_model::places::{Fleet, Stores};

const TEMPLATE: &str = include_str!("page.html");

/// The map of depots and stores the page colours and moves trucks over.
pub fn map(fleet: &Fleet, stores: &Stores, projection: &Projection) -> String {
    let mut svg = open_svg("Map of depots and stores, coloured by their worst shelf");
    svg.push_str(&places_svg(fleet, stores, projection));
    svg.push_str("</svg>");
    svg
}

/// The page with its map, the first view (as JSON), the nonce of its style and script, and the
/// server's clock (epoch milliseconds) as it was sent.
pub fn html(map: &str, view_json: &str, nonce: &str, server_ms: i64) -> String {
    let view = script_safe(view_json);
    let server_ms = server_ms.to_string();
    fill(
        TEMPLATE,
        &[
            ("nonce", nonce),
            ("map", map),
            ("view", view.as_str()),
            ("server_ms", server_ms.as_str()),
        ],
    )
}

/// The content security policy of a page served with `nonce`.
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; img-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
}

/// JSON that cannot end the script element holding it, nor open a comment in it.
fn script_safe(json: &str) -> String {
    json.replace('&', "\\u0026")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
}

/// The template with each `{{name}}` replaced by its value, in one pass over the template, so
/// a value holding `{{…}}` is never itself filled.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}").and_then(|end| {
            values
                .iter()
                .find(|(k, _)| *k == &after[..end])
                .map(|(_, v)| (end, v))
        }) {
            Some((end, value)) => {
                out.push_str(value);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use store_model::ConfigFile;

    #[test]
    fn values_are_filled_once_and_never_refilled() {
        let page = fill("a {{x}} b {{y}} {{unknown}}", &[("x", "{{y}}"), ("y", "2")]);
        assert_eq!(page, "a {{y}} b 2 {{unknown}}");
    }

    #[test]
    fn data_cannot_leave_its_place_in_the_page() {
        let fleet = Fleet::shipped();
        let mut stores = Stores::shipped();
        stores.stores[0].name = "</title><script>alert(1)</script>".into();
        let map = map(&fleet, &stores, &Projection::of_places(&fleet, &stores));
        let view =
            serde_json::json!({"text": "</script><script>alert(2)</script><!--"}).to_string();
        let page = html(&map, &view, "n0nce", 1_764_000_000_000);
        assert_eq!(
            page.matches("<script").count(),
            2,
            "the view and the page's own script"
        );
        assert!(!page.contains("alert(1)</script>") && !page.contains("alert(2)</script>"));
        assert!(page.contains(r#"\u003c/script\u003e\u003cscript\u003ealert(2)"#));
        assert!(page.contains("&lt;/title&gt;&lt;script&gt;alert(1)"));
        assert_eq!(page.matches("nonce=\"n0nce\"").count(), 2);
        assert!(!page.contains("{{"), "every placeholder is filled");
        assert!(page.contains(r#"data-server-ms="1764000000000""#));
        assert!(
            !page.contains("https://"),
            "nothing is loaded from elsewhere"
        );
        assert_eq!(page.matches("class=\"store\"").count(), 10);
    }
}
