//! Bounded excerpts of what a refusal quotes: a manifest or config value, the
//! line a TOML error is on. A reason is read by people (the log, `weft status`,
//! `/v1/status`), and a file's line can be megabytes long: quoted whole, one bad
//! line made a 600 KB refusal and a 1.1 MB status answer. So every quoted line
//! is cut to about [`LINE`] characters around what matters, a reason to
//! [`LINES`] lines, and each cut says so (`[... N bytes cut]`).

use std::ops::Range;

/// The most characters of one line kept in a reason.
pub const LINE: usize = 200;
/// The most lines kept in a reason.
pub const LINES: usize = 40;

/// `text` with each line cut to [`LINE`] characters and at most [`LINES`]
/// lines, each cut marked. Text within the bounds comes back unchanged.
pub fn bounded(text: &str) -> String {
    let mut out = Vec::new();
    let mut lines = text.lines();
    for line in lines.by_ref().take(LINES) {
        out.push(cut_line(line));
    }
    let rest = lines.count();
    if rest > 0 {
        out.push(format!("[... {rest} more lines cut]"));
    }
    out.join("\n")
}

fn cut_line(line: &str) -> String {
    match line.char_indices().nth(LINE) {
        None => line.to_owned(),
        Some((end, _)) => format!("{}[... {} bytes cut]", &line[..end], line.len() - end),
    }
}

/// A TOML error as a bounded reason: where it is (line and column), what is
/// wrong, and up to [`LINE`] characters of its line around the spot.
pub fn toml_error(text: &str, span: Option<Range<usize>>, message: &str) -> String {
    let message = bounded(message.trim());
    let Some(span) = span else {
        return format!("TOML parse error: {message}");
    };
    let at = floor_boundary(text, span.start.min(text.len()));
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line_no = text[..at].matches('\n').count() + 1;
    let column = text[line_start..at].chars().count() + 1;
    let excerpt = around(&text[line_start..line_end], at - line_start);
    format!("TOML parse error at line {line_no}, column {column}: {message}\n  near: {excerpt}")
}

/// Up to [`LINE`] characters of `line` around byte `at`, cuts marked.
fn around(line: &str, at: usize) -> String {
    let half = LINE / 2;
    let start = line[..at]
        .char_indices()
        .rev()
        .nth(half.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    let end = line[at..]
        .char_indices()
        .nth(half)
        .map_or(line.len(), |(i, _)| at + i);
    let mut s = String::new();
    if start > 0 {
        s.push_str(&format!("[{start} bytes cut ...]"));
    }
    s.push_str(line[start..end].trim_end_matches('\r'));
    if end < line.len() {
        s.push_str(&format!("[... {} bytes cut]", line.len() - end));
    }
    s
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn short_text_is_unchanged() {
        assert_eq!(bounded("a\nb"), "a\nb");
    }

    #[test]
    fn a_long_line_and_many_lines_are_cut_and_say_so() {
        let long = "é".repeat(1000);
        let b = bounded(&long);
        assert_eq!(b.chars().count(), LINE + "[... 1600 bytes cut]".len());
        assert!(b.ends_with("[... 1600 bytes cut]"), "{b}");
        let many = vec!["x"; 100].join("\n");
        let b = bounded(&many);
        assert_eq!(b.lines().count(), LINES + 1);
        assert!(b.ends_with("[... 60 more lines cut]"));
    }

    #[test]
    fn a_toml_error_shows_its_spot_in_a_bounded_excerpt() {
        let text = format!(
            "a = 1\nb = \"{}\" x{}\n",
            "v".repeat(300_000),
            "w".repeat(300_000)
        );
        let at = text.find(" x").unwrap() + 1;
        let e = toml_error(&text, Some(at..at + 1), "expected newline");
        assert!(e.len() < 400, "{} bytes", e.len());
        assert!(
            e.starts_with("TOML parse error at line 2, column 300008: expected newline"),
            "{e}"
        );
        assert!(e.contains("bytes cut ...]"), "{e}");
        assert!(e.contains("vvv\" xwww"), "{e}");
        assert!(e.ends_with("bytes cut]"), "{e}");
    }

    #[test]
    fn an_error_on_a_short_line_quotes_it_whole() {
        let e = toml_error("a = \n", Some(4..5), "expected a value");
        assert_eq!(
            e,
            "TOML parse error at line 1, column 5: expected a value\n  near: a = "
        );
    }
}
