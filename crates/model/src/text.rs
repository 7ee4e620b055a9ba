//! Which characters text from outside may hold, and how text is made safe to print.
//!
//! One rule for the door (readings), the queue (alerts received) and the planning event, and
//! one for terminals and logs ([`printable`]):
//! - no control characters anywhere (they reach terminals as escape sequences);
//! - no character the alert queue refuses: SQS accepts only `#x9 | #xA | #xD | #x20-#xD7FF |
//!   #xE000-#xFFFD | #x10000-#x10FFFF`, so U+FFFE and U+FFFF (the rest are control characters,
//!   and a Rust string holds no surrogate) would fail their alert's message on every run;
//! - in ids, no bidirectional controls or invisible formatting marks either: `STORE_\u{202e}1`
//!   prints as another store's id, and an id is what an operator acts on.

use std::borrow::Cow;

/// Bidirectional controls (overrides, embeddings, isolates and marks) and invisible
/// formatting marks (zero-width spaces and joiners, the word joiner, the byte-order mark):
/// text that prints as something other than what it is.
pub fn is_deceptive(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// Whether the alert queue (SQS's character set) refuses `c` in a message body.
pub fn queue_refuses(c: char) -> bool {
    !matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// What kind of text a field holds: an id is held to the stricter rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// An identifier (store, product, event, alert).
    Id,
    /// Free text for people (a product name, a status).
    Text,
}

/// Why `value` may not be the value of a field of `kind`, naming the first character that
/// breaks the rule; `None` when it may.
pub fn refused_char(value: &str, kind: Field) -> Option<String> {
    let c = value
        .chars()
        .find(|&c| c.is_control() || queue_refuses(c) || (kind == Field::Id && is_deceptive(c)))?;
    let what = if c.is_control() {
        "control characters"
    } else if queue_refuses(c) {
        "characters the alert queue refuses (U+FFFE, U+FFFF)"
    } else {
        "bidirectional controls or invisible formatting marks (an id must print as what it is)"
    };
    Some(format!(
        "must not contain {what} (found U+{:04X})",
        u32::from(c)
    ))
}

/// Whether `c` is written as an escape by [`printable`].
fn escaped(c: char) -> bool {
    c.is_control() || queue_refuses(c) || is_deceptive(c)
}

/// `text` safe to print to a terminal or a log: control characters, bidirectional controls,
/// invisible formatting marks and non-characters (which a foreign record in the lake may still
/// carry past the checks at the door) are written as escapes, never sent raw.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| {
            if escaped(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// The keys a JSON object names more than once at its top level, in the order of their first
/// repetition; none when `json` is not an object. A JSON map keeps the last value of a repeated
/// key, so `{"dry_run":true,"dry_run":false}` would quietly mean `false`: whoever reads text
/// from outside refuses such an object instead.
pub fn repeated_keys(json: &str) -> Vec<String> {
    struct Keys;
    impl<'de> serde::de::Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut seen = std::collections::HashSet::new();
            let mut repeated = Vec::new();
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                map.next_value::<serde::de::IgnoredAny>()?;
                if !seen.insert(key.clone()) && !repeated.iter().any(|r| *r == key) {
                    repeated.push(key.into_owned());
                }
            }
            Ok(repeated)
        }
    }
    struct Object(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Object {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(Keys).map(Object)
        }
    }
    serde_json::from_str::<Object>(json).map_or_else(|_| Vec::new(), |o| o.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_refuse_bidi_and_invisible_marks_text_only_controls_and_queue_refusals() {
        for c in [
            '\u{202E}', '\u{2066}', '\u{200B}', '\u{200D}', '\u{FEFF}', '\u{061C}',
        ] {
            let id = format!("STORE_{c}1");
            assert!(
                refused_char(&id, Field::Id)
                    .unwrap()
                    .contains("bidirectional"),
                "{c:?}"
            );
            assert_eq!(refused_char(&id, Field::Text), None, "{c:?}");
        }
        for c in ['\u{FFFE}', '\u{FFFF}'] {
            for kind in [Field::Id, Field::Text] {
                let why = refused_char(&format!("a{c}"), kind).unwrap();
                assert!(why.contains("alert queue refuses"), "{why}");
            }
        }
        let why = refused_char("a\u{1b}[31m", Field::Text).unwrap();
        assert!(why.contains("control") && why.contains("U+001B"), "{why}");
        assert_eq!(refused_char("Bánh mì 🍞 ٣", Field::Id), None);
    }

    #[test]
    fn printing_escapes_what_could_deceive_a_terminal() {
        assert_eq!(printable("STORE_\u{202e}1"), "STORE_\\u{202e}1");
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("x\u{ffff}"), "x\\u{ffff}");
        assert!(matches!(printable("Phở"), Cow::Borrowed(_)));
    }

    #[test]
    fn repeated_keys_are_found_in_order_of_repetition() {
        assert_eq!(
            repeated_keys(r#"{"a":1,"b":[1,{"a":2}],"a":3,"b":4,"a":5}"#),
            ["a", "b"]
        );
        assert!(repeated_keys(r#"{"a":{"x":1,"x":2}}"#).is_empty());
        assert!(repeated_keys("[1,1]").is_empty());
        assert!(repeated_keys("{").is_empty());
    }

    proptest! {
        /// SQS's character set, written out as its documentation gives it.
        #[test]
        fn the_queue_rule_is_sqs_character_set(c in any::<char>()) {
            let n = u32::from(c);
            let sqs = n == 0x9 || n == 0xA || n == 0xD || (0x20..=0xD7FF).contains(&n)
                || (0xE000..=0xFFFD).contains(&n) || (0x10000..=0x10FFFF).contains(&n);
            prop_assert_eq!(queue_refuses(c), !sqs);
            // Whatever the door lets through, the queue takes.
            if refused_char(&c.to_string(), Field::Text).is_none() {
                prop_assert!(sqs);
            }
        }

        /// Printed text never carries a character that could move the cursor or reorder text.
        #[test]
        fn printable_text_is_safe(s in any::<String>()) {
            let p = printable(&s);
            prop_assert!(!p.chars().any(escaped));
        }
    }
}
