//! The event weft moves: CloudEvents 1.0 attributes plus a routing topic.
//!
//! Events are stored in a compact binary form (postcard) rather than JSON: a 1 KiB
//! payload as a JSON byte array would cost several times its size and the CPU to
//! parse it on every delivery.

use serde::{Deserialize, Serialize};

use crate::topic::Topic;

/// CloudEvents spec version weft speaks.
pub const SPEC_VERSION: &str = "1.0";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub subject: Option<String>,
    pub time: Option<String>,
    pub datacontenttype: Option<String>,
    pub dataschema: Option<String>,
    pub extensions: Vec<(String, String)>,
    pub topic: String,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// A stored event could not be decoded: the store holds bytes this build cannot read.
#[derive(Debug, thiserror::Error)]
#[error("stored event is not readable by this weft ({0}); the store may be from another version")]
pub struct DecodeError(#[from] postcard::Error);

impl Event {
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain owned data into a Vec cannot fail.
        postcard::to_allocvec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(postcard::from_bytes(bytes)?)
    }

    /// The key publishers are deduplicated on: CloudEvents says `source` + `id` is unique.
    pub fn dedup_key(&self) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.source.len() + self.id.len() + 1);
        key.extend_from_slice(self.source.as_bytes());
        key.push(0);
        key.extend_from_slice(self.id.as_bytes());
        key
    }

    pub fn topic(&self) -> Result<Topic, crate::topic::TopicError> {
        Topic::parse(&self.topic)
    }

    pub fn extension(&self, name: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The id of the `position`-th output a module made of `input`.
///
/// Derived, not random: a processor re-run on the same input after a crash emits
/// the same ids, so whoever consumes them downstream can deduplicate.
pub fn derived_id(input: &Event, module: &str, position: usize) -> String {
    let name = format!(
        "{}\u{0}{}\u{0}{}\u{0}{}",
        input.source, input.id, module, position
    );
    uuid::Uuid::new_v5(&WEFT_NAMESPACE, name.as_bytes()).to_string()
}

const WEFT_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x8f6d_1b7c_52a4_4d0e_9a63_0c1e_7f2b_5e41);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    pub(crate) fn sample() -> Event {
        Event {
            id: "1".into(),
            source: "/test".into(),
            ty: "t".into(),
            subject: Some("s".into()),
            time: None,
            datacontenttype: Some("application/json".into()),
            dataschema: None,
            extensions: vec![("traceparent".into(), "00-x".into())],
            topic: "a/b".into(),
            data: b"{\"x\":1}".to_vec(),
        }
    }

    #[test]
    fn events_round_trip_through_their_stored_form() {
        let e = sample();
        assert_eq!(Event::decode(&e.encode()).unwrap(), e);
        assert!(Event::decode(b"\xff\xff\xff").is_err());
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let e = sample();
        assert_eq!(derived_id(&e, "m", 0), derived_id(&e, "m", 0));
        assert_ne!(derived_id(&e, "m", 0), derived_id(&e, "m", 1));
        assert_ne!(derived_id(&e, "m", 0), derived_id(&e, "n", 0));
    }
}
