//! The event weft moves: CloudEvents 1.0 attributes plus a routing topic.
//!
//! Events are stored in a compact binary form (postcard) rather than JSON: a 1 KiB
//! payload as a JSON byte array would cost several times its size and the CPU to
//! parse it on every delivery.
//!
//! # Kept as sent
//!
//! `data` is the bytes that arrived: a binary-mode body byte for byte, a
//! structured-mode JSON `data` member as the exact text it had in the request (its
//! whitespace, key order, duplicate keys and long numbers included), a string
//! member's UTF-8 bytes, `data_base64` decoded. `None` is no data, distinct from the
//! JSON `null` (`Some(b"null")`). Extension values keep their CloudEvents type
//! ([`ExtValue`]). `hops` and `origin` are weft's own, for the mesh.
//!
//! # Stored form (store format 2)
//!
//! postcard of [`Event`] as declared here, field by field. Format 1 (before typed
//! extensions, optional data, `hops` and `origin`) is read by [`upgrade_v1`] when a
//! format-1 store is migrated on open.

use serde::{Deserialize, Serialize};

use crate::topic::Topic;
use crate::value::{BadChar, ExtValue, check_string};

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
    pub extensions: Vec<(String, ExtValue)>,
    pub topic: String,
    /// The data as it arrived; `None` when the event has none (see the module docs).
    #[serde(with = "serde_bytes")]
    pub data: Option<Vec<u8>>,
    /// How many mesh hosts this event has crossed: 0 when accepted locally; a
    /// processor's outputs carry their input's count. Not a CloudEvents attribute:
    /// stored, never written into CloudEvents output nor shown to guests.
    pub hops: u32,
    /// The mesh host this event was imported from; `None` for local events. Like
    /// `hops`, stored only.
    pub origin: Option<String>,
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

    pub fn extension(&self, name: &str) -> Option<&ExtValue> {
        self.extensions
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The data's bytes, empty when there is none.
    pub fn data_bytes(&self) -> &[u8] {
        self.data.as_deref().unwrap_or_default()
    }

    /// The first string attribute that is not a CloudEvents String, by name: what
    /// refuses a module's output (see [`crate::value`]).
    pub fn bad_string(&self) -> Option<(String, BadChar)> {
        let attributes = [
            ("id", Some(&self.id)),
            ("source", Some(&self.source)),
            ("type", Some(&self.ty)),
            ("subject", self.subject.as_ref()),
            ("time", self.time.as_ref()),
            ("datacontenttype", self.datacontenttype.as_ref()),
            ("dataschema", self.dataschema.as_ref()),
        ];
        let named = attributes
            .into_iter()
            .filter_map(|(n, v)| Some((n, v?.as_str())))
            .map(|(n, v)| (n.to_owned(), v));
        let extensions = self
            .extensions
            .iter()
            .filter_map(|(n, v)| Some((n.clone(), v.as_text()?)));
        named
            .chain(extensions)
            .find_map(|(name, v)| check_string(v).err().map(|bad| (name, bad)))
    }
}

/// Re-encodes an event stored by format 1 in the current stored form: its
/// extensions become Strings (format 1 kept no types), empty data becomes no data,
/// `hops` 0 and no `origin` (format 1 had no mesh).
pub fn upgrade_v1(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let old: v1::Event = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
    Ok(Event::from(old).encode())
}

impl From<v1::Event> for Event {
    fn from(old: v1::Event) -> Self {
        Event {
            id: old.id,
            source: old.source,
            ty: old.ty,
            subject: old.subject,
            time: old.time,
            datacontenttype: old.datacontenttype,
            dataschema: old.dataschema,
            extensions: old
                .extensions
                .into_iter()
                .map(|(k, v)| (k, ExtValue::String(v)))
                .collect(),
            topic: old.topic,
            data: Some(old.data).filter(|d| !d.is_empty()),
            hops: 0,
            origin: None,
        }
    }
}

/// The stored form of format 1, kept to read format-1 stores (and, in tests, to
/// write one).
pub mod v1 {
    use serde::{Deserialize, Serialize};

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

    impl Event {
        pub fn encode(&self) -> Vec<u8> {
            postcard::to_allocvec(self).unwrap_or_default()
        }
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
            extensions: vec![
                ("traceparent".into(), "00-x".into()),
                ("count".into(), ExtValue::Integer(42)),
            ],
            topic: "a/b".into(),
            data: Some(b"{\"x\":1}".to_vec()),
            hops: 0,
            origin: None,
        }
    }

    #[test]
    fn events_round_trip_through_their_stored_form() {
        let e = sample();
        assert_eq!(Event::decode(&e.encode()).unwrap(), e);
        assert!(Event::decode(b"\xff\xff\xff").is_err());
        let no_data = Event {
            data: None,
            ..e.clone()
        };
        let null = Event {
            data: Some(b"null".to_vec()),
            ..e
        };
        assert_eq!(Event::decode(&no_data.encode()).unwrap(), no_data);
        assert_eq!(Event::decode(&null.encode()).unwrap(), null);
    }

    #[test]
    fn a_format_1_event_upgrades_with_string_extensions_and_no_mesh_fields() {
        let old = v1::Event {
            id: "1".into(),
            source: "/s".into(),
            ty: "t".into(),
            subject: None,
            time: None,
            datacontenttype: None,
            dataschema: None,
            extensions: vec![("count".into(), "42".into())],
            topic: "a".into(),
            data: Vec::new(),
        };
        let new = Event::decode(&upgrade_v1(&old.encode()).unwrap()).unwrap();
        assert_eq!(
            new.extensions,
            vec![("count".into(), ExtValue::String("42".into()))]
        );
        assert_eq!((new.data, new.hops, new.origin), (None, 0, None));
        assert!(upgrade_v1(b"\xff").is_err());
    }

    #[test]
    fn a_control_character_in_any_string_attribute_is_named() {
        let mut e = sample();
        assert_eq!(e.bad_string(), None);
        e.subject = Some("a\u{85}".into());
        assert_eq!(e.bad_string().unwrap().0, "subject");
        e.subject = None;
        e.extensions.push(("note".into(), "x\ny".into()));
        assert_eq!(e.bad_string().unwrap().0, "note");
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let e = sample();
        assert_eq!(derived_id(&e, "m", 0), derived_id(&e, "m", 0));
        assert_ne!(derived_id(&e, "m", 0), derived_id(&e, "m", 1));
        assert_ne!(derived_id(&e, "m", 0), derived_id(&e, "n", 0));
    }
}
