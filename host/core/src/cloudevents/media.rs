//! Media types: which mode a request is in, and which data is JSON or text.

/// Media type of one event in structured mode.
pub const STRUCTURED: &str = "application/cloudevents+json";
/// Media type of a batch of events.
pub const BATCH: &str = "application/cloudevents-batch+json";

/// A media type's lowercase `type/subtype` and its `charset` parameter, if any.
pub(crate) fn media_type(content_type: &str) -> (String, Option<String>) {
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let charset = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned());
    (essence, charset)
}

/// JSON-ish in the JSON event format's sense: `application/json`, `text/json`, `*/*+json`.
pub(crate) fn is_json(content_type: &str) -> bool {
    let (essence, _) = media_type(content_type);
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

/// `text/*` that is not JSON: its data travels in JSON as a string.
pub(crate) fn is_text(content_type: &str) -> bool {
    !is_json(content_type) && media_type(content_type).0.starts_with("text/")
}
