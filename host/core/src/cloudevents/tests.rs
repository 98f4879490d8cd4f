#![allow(clippy::unwrap_used, reason = "tests")]

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::json;

use super::*;

const LIMITS: Limits = Limits { max_events: 3 };

fn topic() -> Topic {
    Topic::parse("orders/created").unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn binary(extra: &[(&str, &str)]) -> HeaderMap {
    let mut pairs = vec![
        ("ce-specversion", "1.0"),
        ("ce-id", "42"),
        ("ce-source", "/shop"),
        ("ce-type", "order.created"),
    ];
    pairs.extend_from_slice(extra);
    headers(&pairs)
}

fn structured(body: &Value) -> Result<Vec<Event>, DecodeError> {
    let h = headers(&[("content-type", STRUCTURED)]);
    decode(&h, body.to_string().as_bytes(), &topic(), &LIMITS)
}

fn batch(body: &Value) -> Result<Vec<Event>, DecodeError> {
    let h = headers(&[("content-type", BATCH)]);
    decode(&h, body.to_string().as_bytes(), &topic(), &LIMITS)
}

fn minimal() -> Value {
    json!({"specversion": "1.0", "id": "42", "source": "/shop", "type": "order.created"})
}

fn with(mut event: Value, name: &str, value: Value) -> Value {
    event.as_object_mut().unwrap().insert(name.into(), value);
    event
}

fn without(mut event: Value, name: &str) -> Value {
    event.as_object_mut().unwrap().remove(name);
    event
}

fn error(result: Result<Vec<Event>, DecodeError>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn binary_mode_reads_percent_encoded_headers_and_extensions() {
    let h = binary(&[
        ("ce-subject", "caf%C3%A9%20au%20lait"),
        ("ce-time", "2024-05-01T12:00:00+02:00"),
        ("ce-dataschema", "https://example.com/order.json"),
        ("CE-TraceParent", "00-abc-01"),
        ("ce-note", "50%25%20off"),
        ("content-type", "text/plain; charset=utf-8"),
        ("x-other", "ignored"),
    ]);
    let events = decode(&h, b"hello", &topic(), &LIMITS).unwrap();
    assert_eq!(
        events,
        vec![Event {
            id: "42".into(),
            source: "/shop".into(),
            ty: "order.created".into(),
            subject: Some("café au lait".into()),
            time: Some("2024-05-01T12:00:00+02:00".into()),
            datacontenttype: Some("text/plain; charset=utf-8".into()),
            dataschema: Some("https://example.com/order.json".into()),
            extensions: vec![
                ("note".into(), "50% off".into()),
                ("traceparent".into(), "00-abc-01".into()),
            ],
            topic: "orders/created".into(),
            data: b"hello".to_vec(),
        }]
    );
}

#[test]
fn binary_mode_without_content_type_keeps_the_body_as_bytes() {
    let events = decode(&binary(&[]), b"\x00\xff", &topic(), &LIMITS).unwrap();
    assert_eq!(events[0].datacontenttype, None);
    assert_eq!(events[0].data, b"\x00\xff");
    assert!(events[0].extensions.is_empty());
}

#[test]
fn structured_mode_reads_json_data_and_typed_extensions() {
    let body = with(
        with(
            with(minimal(), "data", json!({"sku": "A1", "qty": 2})),
            "priority",
            json!(5),
        ),
        "urgent",
        json!(true),
    );
    let h = headers(&[(
        "content-type",
        "Application/CloudEvents+JSON; charset=UTF-8",
    )]);
    let events = decode(&h, body.to_string().as_bytes(), &topic(), &LIMITS).unwrap();
    let event = &events[0];
    assert_eq!(event.id, "42");
    assert_eq!(event.topic, "orders/created");
    assert_eq!(event.datacontenttype, None);
    assert_eq!(event.data, br#"{"qty":2,"sku":"A1"}"#);
    assert_eq!(event.extension("priority"), Some("5"));
    assert_eq!(event.extension("urgent"), Some("true"));
}

#[test]
fn structured_mode_reads_base64_and_text_data() {
    let body = with(
        with(
            minimal(),
            "datacontenttype",
            json!("application/octet-stream"),
        ),
        "data_base64",
        json!("AP8="),
    );
    assert_eq!(structured(&body).unwrap()[0].data, b"\x00\xff");

    let text = with(
        with(minimal(), "datacontenttype", json!("text/plain")),
        "data",
        json!("hi"),
    );
    assert_eq!(structured(&text).unwrap()[0].data, b"hi");

    // A JSON string under a JSON content type is JSON: the quotes are part of the data.
    let json_string = with(minimal(), "data", json!("hi"));
    assert_eq!(structured(&json_string).unwrap()[0].data, br#""hi""#);

    // Null optional attributes are absent.
    let nulls = with(with(minimal(), "subject", Value::Null), "data", Value::Null);
    let event = &structured(&nulls).unwrap()[0];
    assert_eq!((event.subject.as_deref(), event.data.len()), (None, 0));
}

#[test]
fn a_batch_decodes_every_event_in_order() {
    let events = batch(&json!([
        with(minimal(), "id", json!("a")),
        with(minimal(), "id", json!("b")),
    ]))
    .unwrap();
    let ids: Vec<_> = events
        .iter()
        .map(|e| (e.id.as_str(), e.topic.as_str()))
        .collect();
    assert_eq!(ids, [("a", "orders/created"), ("b", "orders/created")]);
}

#[test]
fn missing_attributes_are_named_with_what_to_send() {
    let h = headers(&[
        ("ce-specversion", "1.0"),
        ("ce-source", "/s"),
        ("ce-type", "t"),
    ]);
    assert_eq!(
        error(decode(&h, b"", &topic(), &LIMITS)),
        "header `ce-id` is missing; binary mode needs the headers ce-specversion: 1.0, ce-id, \
         ce-source and ce-type (or send the event as JSON with Content-Type: \
         application/cloudevents+json)"
    );
    assert_eq!(
        error(structured(&without(minimal(), "id"))),
        "`id` is missing; every CloudEvent needs specversion \"1.0\", id, source and type"
    );
    assert_eq!(
        error(batch(&json!([minimal(), without(minimal(), "type")]))),
        "`type` of batch element 1 is missing; every CloudEvent needs specversion \"1.0\", \
         id, source and type"
    );
    assert_eq!(
        error(structured(&with(minimal(), "source", json!("")))),
        "`source` is empty; give it a value, or leave an optional attribute out"
    );
    assert_eq!(
        error(structured(&with(minimal(), "id", json!(7)))),
        "`id` must be a JSON string, got a number"
    );
}

#[test]
fn a_wrong_specversion_is_refused() {
    let h = headers(&[("ce-specversion", "0.3"), ("ce-id", "1")]);
    assert_eq!(
        error(decode(&h, b"", &topic(), &LIMITS)),
        "header `ce-specversion` must be \"1.0\", got \"0.3\"; weft accepts CloudEvents 1.0 only"
    );
    assert_eq!(
        error(structured(&with(minimal(), "specversion", json!("1.1")))),
        "`specversion` must be \"1.0\", got \"1.1\"; weft accepts CloudEvents 1.0 only"
    );
}

#[test]
fn time_must_be_rfc3339_and_dataschema_a_uri() {
    let h = binary(&[("ce-time", "yesterday")]);
    assert_eq!(
        error(decode(&h, b"", &topic(), &LIMITS)),
        "header `ce-time` must be an RFC 3339 timestamp such as \"2024-05-01T12:00:00Z\", \
         got \"yesterday\""
    );
    assert_eq!(
        error(structured(&with(
            minimal(),
            "dataschema",
            json!("order.json")
        ))),
        "`dataschema` must be an absolute URI such as \"https://example.com/order.json\", \
         got \"order.json\""
    );
}

#[test]
fn data_and_data_base64_together_are_refused() {
    let body = with(
        with(minimal(), "data", json!(1)),
        "data_base64",
        json!("AA=="),
    );
    assert_eq!(
        error(batch(&json!([body]))),
        "batch element 0 has both `data` and `data_base64`; send only one"
    );
    let bad = with(minimal(), "data_base64", json!("not base64!"));
    assert!(error(structured(&bad)).starts_with("`data_base64` is not valid base64 (Invalid"));
    let object_as_text = with(
        with(minimal(), "datacontenttype", json!("text/plain")),
        "data",
        json!({"a": 1}),
    );
    assert_eq!(
        error(structured(&object_as_text)),
        "`data` must be a JSON string when datacontenttype is \"text/plain\", got an object; \
         use a JSON datacontenttype for JSON data, or data_base64 for bytes"
    );
}

#[test]
fn bad_extension_names_and_values_are_refused() {
    let h = binary(&[("ce-trace_id", "x")]);
    assert_eq!(
        error(decode(&h, b"", &topic(), &LIMITS)),
        "header `ce-trace_id` is not a valid extension name: extension names use only \
         lowercase letters a-z and digits 0-9"
    );
    assert_eq!(
        error(structured(&with(minimal(), "traceId", json!("x")))),
        "`traceId` is not a valid extension name: extension names use only lowercase \
         letters a-z and digits 0-9"
    );
    assert_eq!(
        error(structured(&with(minimal(), "tags", json!(["a"])))),
        "`tags` is an array; extension values must be a string, number or boolean"
    );
    let h = binary(&[("ce-datacontenttype", "text/plain")]);
    assert_eq!(
        error(decode(&h, b"", &topic(), &LIMITS)),
        "header `ce-datacontenttype` is not allowed: send the data's media type as the \
         Content-Type header"
    );
    let long = "a".repeat(40);
    let h = binary(&[(format!("ce-{long}").as_str(), "accepted")]);
    assert_eq!(
        decode(&h, b"", &topic(), &LIMITS).unwrap()[0].extension(&long),
        Some("accepted")
    );
}

#[test]
fn bad_percent_encoding_names_the_header() {
    let h = binary(&[("ce-subject", "50% off")]);
    assert_eq!(
        error(decode(&h, b"", &topic(), &LIMITS)),
        "header `ce-subject` has invalid percent-encoding: the `%` at position 2 is not \
         followed by two hex digits; write `%` as %25 and other bytes as %XX of their UTF-8 \
         encoding"
    );
    let h = binary(&[("ce-subject", "%FF%FE")]);
    assert_eq!(
        error(decode(&h, b"", &topic(), &LIMITS)),
        "header `ce-subject` has invalid percent-encoding: the decoded bytes are not UTF-8; \
         write `%` as %25 and other bytes as %XX of their UTF-8 encoding"
    );
    let h = binary(&[("ce-subject", "trailing%4")]);
    assert!(matches!(
        decode(&h, b"", &topic(), &LIMITS),
        Err(DecodeError::PercentEncoding { header, .. }) if header == "ce-subject"
    ));
    let mut h = binary(&[]);
    h.insert(
        "ce-subject",
        HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
    );
    assert_eq!(
        error(decode(&h, b"", &topic(), &LIMITS)),
        "header `ce-subject` is not visible ASCII; percent-encode other characters as UTF-8 \
         (é as %C3%A9)"
    );
    let h = binary(&[("ce-id", "again")]);
    assert_eq!(
        error(decode(&h, b"", &topic(), &LIMITS)),
        "header `ce-id` appears more than once; send each ce- header once"
    );
}

#[test]
fn batches_must_hold_between_one_and_the_limit_events() {
    assert_eq!(
        error(batch(&json!([]))),
        "the batch is empty; send at least one event"
    );
    assert_eq!(
        error(batch(&json!([minimal(), minimal(), minimal(), minimal()]))),
        "the batch has 4 events, more than the limit of 3; split it into batches of at most 3"
    );
    assert_eq!(
        error(batch(&minimal())),
        "a batch (application/cloudevents-batch+json) body must be a JSON array of events, got an object"
    );
}

#[test]
fn bodies_that_are_not_json_objects_are_refused() {
    assert_eq!(
        error(structured(&json!([minimal()]))),
        "the event is an array, not a JSON object; a structured CloudEvent is an object with \
         specversion, id, source and type (send several as an array with Content-Type: \
         application/cloudevents-batch+json)"
    );
    assert!(
        error(batch(&json!([minimal(), 5])))
            .starts_with("batch element 1 is a number, not a JSON object;")
    );
    let h = headers(&[("content-type", STRUCTURED)]);
    assert_eq!(
        error(decode(&h, b"{\"id\": ", &topic(), &LIMITS)),
        "the body is not valid JSON (EOF while parsing a value at line 1 column 7); send one \
         event as a JSON object (application/cloudevents+json) or several as a JSON array \
         (application/cloudevents-batch+json)"
    );
}

#[test]
fn the_topic_comes_only_from_the_url_on_ingest() {
    assert_eq!(
        error(structured(&with(minimal(), "topic", json!("other")))),
        "`topic` is not allowed on ingest: the topic comes from the URL \
         (POST /v1/events/{topic}); remove it"
    );
    let h = binary(&[("ce-topic", "other")]);
    assert!(matches!(
        decode(&h, b"", &topic(), &LIMITS),
        Err(DecodeError::TopicInBody { attr: Attr::Header(h) }) if h == "ce-topic"
    ));
}

#[test]
fn content_types_weft_cannot_read_are_refused() {
    let h = headers(&[(
        "content-type",
        "application/cloudevents+json; charset=latin1",
    )]);
    assert_eq!(
        error(decode(&h, b"{}", &topic(), &LIMITS)),
        "Content-Type charset \"latin1\" is not supported; CloudEvents JSON must be UTF-8 \
         (charset=utf-8, or no charset)"
    );
    let h = headers(&[("content-type", "application/cloudevents+avro")]);
    assert!(matches!(
        decode(&h, b"", &topic(), &LIMITS),
        Err(DecodeError::UnsupportedFormat { .. })
    ));
}

#[test]
fn to_json_and_from_json_round_trip() {
    let base = Event {
        id: "42".into(),
        source: "/shop".into(),
        ty: "order.created".into(),
        subject: Some("café".into()),
        time: Some("2024-05-01T12:00:00Z".into()),
        datacontenttype: Some("application/json".into()),
        dataschema: Some("https://example.com/o.json".into()),
        extensions: vec![("traceparent".into(), "00-x".into())],
        topic: "orders/created".into(),
        data: br#"{"qty":2}"#.to_vec(),
    };
    let json_data = to_json(&base);
    assert_eq!(json_data["data"], json!({"qty": 2}));
    assert_eq!(json_data["topic"], "orders/created");
    assert_eq!(json_data["traceparent"], "00-x");
    assert_eq!(json_data["specversion"], "1.0");

    let text = Event {
        datacontenttype: Some("text/plain".into()),
        data: b"hello".to_vec(),
        ..base.clone()
    };
    assert_eq!(to_json(&text)["data"], "hello");
    let bytes = Event {
        datacontenttype: None,
        data: b"\x00\xffnot json".to_vec(),
        ..base.clone()
    };
    assert_eq!(to_json(&bytes)["data_base64"], "AP9ub3QganNvbg==");
    let empty = Event {
        data: Vec::new(),
        subject: None,
        ..base.clone()
    };
    let empty_json = to_json(&empty);
    assert!(empty_json.get("data").is_none() && empty_json.get("subject").is_none());

    for event in [base, text, bytes, empty] {
        assert_eq!(from_json(to_json(&event), None).unwrap(), event);
    }
}

#[test]
fn from_json_takes_the_topic_from_the_event_or_the_default() {
    let default = Topic::parse("fallback").unwrap();
    let own = with(minimal(), "topic", json!("orders/eu"));
    assert_eq!(
        from_json(own.clone(), Some(&default)).unwrap().topic,
        "orders/eu"
    );
    assert_eq!(
        from_json(minimal(), Some(&default)).unwrap().topic,
        "fallback"
    );
    assert_eq!(
        from_json(minimal(), None).unwrap_err().to_string(),
        "the event has no `topic` member and no default topic was given; add \"topic\": \
         \"orders/created\""
    );
    assert_eq!(
        from_json(with(minimal(), "topic", json!("a//b")), None)
            .unwrap_err()
            .to_string(),
        "`topic` is not a valid topic: topic `a//b` has an empty level (leading, trailing or \
         double `/`)"
    );
}

#[test]
fn no_input_makes_decode_panic() {
    let body = json!([with(
        with(minimal(), "data_base64", json!("AP8=")),
        "ext",
        json!("é")
    )])
    .to_string();
    let kinds = [STRUCTURED, BATCH, "text/plain", "application/json"];
    for content_type in kinds {
        let h = binary(&[("content-type", content_type), ("ce-x", "%")]);
        for end in 0..=body.len() {
            let _ = decode(&h, body.as_bytes().get(..end).unwrap(), &topic(), &LIMITS);
        }
    }
    for garbage in [&b"\xff\xfe"[..], b"[[[[[[", b"{\"data\":1e999}", b"null"] {
        let h = headers(&[("content-type", BATCH)]);
        assert!(decode(&h, garbage, &topic(), &LIMITS).is_err());
    }
    assert_eq!(shown(&"é".repeat(100)).chars().count(), SHOWN_CHARS + 1);
}
