//! Helpers on [`Event`], the generated CloudEvents record.
//!
//! They take and return the event by value so a processor can write the common
//! case, "same event, somewhere else, with new data", as one chain:
//!
//! ```ignore
//! let out = event.with_topic("orders/enriched").with_json(&order)?;
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Event, Failure};

/// The content type [`Event::with_json`] sets.
pub const APPLICATION_JSON: &str = "application/json";

impl Event {
    /// A new event of CloudEvents `type_` for `topic`, with no data and every
    /// other attribute empty, for a connector to fill in with the `with_*` helpers.
    ///
    /// The host gives an empty `id` a fresh UUID and an empty `source`
    /// `/weft/modules/NAME`. An ingress connector should set the id the outside
    /// world has for the event ([`Event::with_id`]), so a repeat is dropped.
    pub fn new(type_: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            id: String::new(),
            source: String::new(),
            type_: type_.into(),
            subject: None,
            time: None,
            datacontenttype: None,
            dataschema: None,
            extensions: Vec::new(),
            topic: topic.into(),
            data: Vec::new(),
        }
    }

    /// Sets the id, unique per `source`.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets the source, a URI-reference naming where the event came from.
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// Sets the subject: what in the source the event is about.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the time, an RFC 3339 timestamp.
    pub fn with_time(mut self, time: impl Into<String>) -> Self {
        self.time = Some(time.into());
        self
    }

    /// Sets the data's media type.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.datacontenttype = Some(content_type.into());
        self
    }

    /// Parses the data as JSON into `T`.
    ///
    /// Data that does not parse, or does not have the shape of `T`, is a property
    /// of the event and will not get better on redelivery, so the error is a
    /// `reject` naming what was wrong.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        serde_json::from_slice(&self.data)
            .map_err(|err| Failure::reject(format!("data is not the expected JSON: {err}")))
    }

    /// Replaces the data with `value` serialized as JSON and sets
    /// `datacontenttype` to `application/json`, so consumers need not guess.
    pub fn with_json<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self, Failure> {
        self.data = serde_json::to_vec(value)
            .map_err(|err| Failure::reject(format!("cannot serialize data as JSON: {err}")))?;
        self.datacontenttype = Some(APPLICATION_JSON.to_owned());
        Ok(self)
    }

    /// Replaces the data with raw bytes, leaving `datacontenttype` as it was.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// Sends the event to `topic`. The module's manifest must grant it in `publish`,
    /// or the host refuses the output.
    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = topic.into();
        self
    }

    /// The data as UTF-8 text; data that is not text is rejected.
    pub fn text(&self) -> Result<&str, Failure> {
        core::str::from_utf8(&self.data)
            .map_err(|err| Failure::reject(format!("data is not UTF-8 text: {err}")))
    }

    /// The value of the CloudEvents extension attribute `name`, if present.
    ///
    /// Extension names are lower-case by the spec; the lookup is exact.
    pub fn extension(&self, name: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Sets the extension attribute `name`, replacing an earlier value, so an
    /// event never carries the same attribute twice.
    pub fn with_extension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        let value = value.into();
        match self.extensions.iter_mut().find(|(key, _)| *key == name) {
            Some(slot) => slot.1 = value,
            None => self.extensions.push((name, value)),
        }
        self
    }

    /// The reply address of a request (the extension `replyto` the host sets on
    /// an event sent with `POST /v1/requests/{topic}`), if this event is one.
    pub fn reply_to(&self) -> Option<&str> {
        self.extension(REPLYTO).filter(|a| a.starts_with("_reply/"))
    }

    /// A reply to this request: a new event of type `type_` addressed to its
    /// `replyto`, carrying its id as `correlationid`, or `None` when this event
    /// is no request. Add data with [`Event::with_json`] or [`Event::with_data`]
    /// and emit it; the host hands it to the waiting caller. A module may emit to
    /// the `replyto` of the event it handles without a `publish` grant, and to no
    /// other reply address.
    pub fn reply(&self, type_: impl Into<String>) -> Option<Event> {
        let address = self.reply_to()?;
        Some(Event::new(type_, address).with_extension(CORRELATIONID, self.id.clone()))
    }
}

/// The extension a request carries its reply address in.
pub const REPLYTO: &str = "replyto";
/// The extension a reply carries its request's id in.
pub const CORRELATIONID: &str = "correlationid";
