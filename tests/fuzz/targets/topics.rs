//! Topics and patterns (`weft_core::topic`): what publishers send in URLs and
//! manifests and configs name.

use weft_core::{Pattern, Topic};
use weft_fuzz::{Bound, Dictionary, clear, mutate, text};

const SEEDS: &[&[u8]] = &[
    b"orders/created",
    b"orders/*/created",
    b"orders/>",
    b"a",
    b"a-b_c/D9/e",
    b"*",
    b">",
];
const DICT: Dictionary = &[
    b"/",
    b"*",
    b">",
    b"//",
    b"-",
    b"_",
    b"a",
    b"\xc3\xa9",
    b".",
    b" ",
];

#[test]
fn topics_and_patterns() {
    weft_fuzz::run(
        "topics_and_patterns",
        20_000,
        Some(Bound {
            per_byte: 8,
            base: 4096,
        }),
        |u| {
            let s = text(&mutate(u, SEEDS, DICT, 1024)?);
            let size = s.len();
            Ok((s, size))
        },
        |s| {
            let topic = Topic::parse(&s);
            let pattern = Pattern::parse(&s);
            match &topic {
                Ok(t) if t.as_str() != s => return Err(format!("{s:?} parsed as {t:?}")),
                Ok(_) => {}
                Err(e) => clear(&e.to_string())?,
            }
            match (&topic, &pattern) {
                // Every topic is a pattern that matches itself (and only itself).
                (Ok(t), Ok(p)) if !p.matches(t) => {
                    return Err(format!("pattern {p} does not match topic {t}"));
                }
                (Ok(t), Err(e)) => return Err(format!("topic {t} is not a pattern: {e}")),
                (_, Err(e)) => clear(&e.to_string())?,
                _ => {}
            }
            // A pattern matches only topics of its level count (or more, with `>`).
            if let (Ok(p), Ok(other)) = (&pattern, Topic::parse("orders/eu/created")) {
                let levels = p.as_str().split('/').count();
                let tail = p.as_str().ends_with('>');
                if p.matches(&other) && !(levels == 3 || tail && levels <= 3) {
                    return Err(format!("pattern {p} matches orders/eu/created"));
                }
            }
            Ok(())
        },
    );
}
