#![allow(clippy::unwrap_used, reason = "tests")]

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::*;
use crate::value::ExtValue;

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

/// One structured event from its exact body text.
fn structured_text(body: &str) -> Result<Vec<Event>, DecodeError> {
    let h = headers(&[("content-type", STRUCTURED)]);
    decode(&h, body.as_bytes(), &topic(), &LIMITS)
}

/// What `to_json` wrote, parsed, to look into.
fn json_of(event: &Event) -> Value {
    serde_json::from_str(to_json(event).get()).unwrap()
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
            data: Some(b"hello".to_vec()),
            hops: 0,
            origin: None,
        }]
    );
}

#[test]
fn binary_mode_without_content_type_keeps_the_body_as_bytes() {
    let events = decode(&binary(&[]), b"\x00\xff", &topic(), &LIMITS).unwrap();
    assert_eq!(events[0].datacontenttype, None);
    assert_eq!(events[0].data, Some(b"\x00\xff".to_vec()));
    assert!(events[0].extensions.is_empty());
    let empty = decode(&binary(&[]), b"", &topic(), &LIMITS).unwrap();
    assert_eq!(empty[0].data, None, "an empty body is no data");
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
    assert_eq!(event.data_bytes(), br#"{"qty":2,"sku":"A1"}"#);
    assert_eq!(event.extension("priority"), Some(&ExtValue::Integer(5)));
    assert_eq!(event.extension("urgent"), Some(&ExtValue::Boolean(true)));
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
    assert_eq!(structured(&body).unwrap()[0].data_bytes(), b"\x00\xff");

    let text = with(
        with(minimal(), "datacontenttype", json!("text/plain")),
        "data",
        json!("hi"),
    );
    assert_eq!(structured(&text).unwrap()[0].data_bytes(), b"hi");

    // A JSON string under a JSON content type is JSON: the quotes are part of the data.
    let json_string = with(minimal(), "data", json!("hi"));
    assert_eq!(
        structured(&json_string).unwrap()[0].data_bytes(),
        br#""hi""#
    );

    // Null optional attributes are absent; null data is data.
    let nulls = with(with(minimal(), "subject", Value::Null), "data", Value::Null);
    let event = &structured(&nulls).unwrap()[0];
    assert_eq!(event.subject, None);
    assert_eq!(event.data.as_deref(), Some(&b"null"[..]));
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
        "`tags` is an array, which is no CloudEvents type; an extension value is a string, \
         true or false, or a whole number from -2147483648 to 2147483647 (send others as strings)"
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
        Some(&ExtValue::String("accepted".into()))
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
fn batches_hold_at_most_the_limit_and_may_be_empty() {
    assert!(batch(&json!([])).unwrap().is_empty(), "[] is a valid batch");
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
        data: Some(br#"{"qty":2}"#.to_vec()),
        hops: 0,
        origin: None,
    };
    let json_data = json_of(&base);
    assert_eq!(json_data["data"], json!({"qty": 2}));
    assert_eq!(json_data["topic"], "orders/created");
    assert_eq!(json_data["traceparent"], "00-x");
    assert_eq!(json_data["specversion"], "1.0");

    let text = Event {
        datacontenttype: Some("text/plain".into()),
        data: Some(b"hello".to_vec()),
        ..base.clone()
    };
    assert_eq!(json_of(&text)["data"], "hello");
    let bytes = Event {
        datacontenttype: None,
        data: Some(b"\x00\xffnot json".to_vec()),
        ..base.clone()
    };
    assert_eq!(json_of(&bytes)["data_base64"], "AP9ub3QganNvbg==");
    let empty = Event {
        data: None,
        subject: None,
        ..base.clone()
    };
    let empty_json = json_of(&empty);
    assert!(empty_json.get("data").is_none() && empty_json.get("subject").is_none());

    for event in [base, text, bytes, empty] {
        assert_eq!(from_json(to_json(&event).get(), None).unwrap(), event);
    }
}

#[test]
fn from_json_takes_the_topic_from_the_event_or_the_default() {
    let default = Topic::parse("fallback").unwrap();
    let own = with(minimal(), "topic", json!("orders/eu"));
    assert_eq!(
        from_json(&own.to_string(), Some(&default)).unwrap().topic,
        "orders/eu"
    );
    assert_eq!(
        from_json(&minimal().to_string(), Some(&default))
            .unwrap()
            .topic,
        "fallback"
    );
    assert_eq!(
        from_json(&minimal().to_string(), None)
            .unwrap_err()
            .to_string(),
        "the event has no `topic` member and no default topic was given; add \"topic\": \
         \"orders/created\""
    );
    assert_eq!(
        from_json(&with(minimal(), "topic", json!("a//b")).to_string(), None)
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
    assert_eq!(error::shown(&"é".repeat(100)).chars().count(), 65);
}

/// A producer's JSON data with odd whitespace, duplicate keys, key order and an
/// integer beyond 64 bits.
const ODD_DATA: &str =
    "{ \"b\" : 1,\n\t\"a\":[1 , 2],  \"b\": 2, \"big\": 123456789012345678901234567890 }";

#[test]
fn structured_json_data_is_kept_as_its_exact_text_and_written_back_as_it() {
    let body =
        format!(r#"{{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{ODD_DATA}}}"#);
    let event = structured_text(&body).unwrap().remove(0);
    assert_eq!(event.data_bytes(), ODD_DATA.as_bytes());
    let out = to_json_text(&event, Form::Json);
    assert!(out.ends_with(&format!(r#""data":{ODD_DATA}}}"#)), "{out}");
    assert_eq!(from_json(&out, None).unwrap(), event);

    // A batch element's data too.
    let h = headers(&[("content-type", BATCH)]);
    let events = decode(
        &h,
        format!("[{body} ,{body}]").as_bytes(),
        &topic(),
        &LIMITS,
    )
    .unwrap();
    assert!(events.iter().all(|e| e.data_bytes() == ODD_DATA.as_bytes()));
}

#[test]
fn binary_json_bodies_leave_as_the_bytes_that_arrived() {
    let h = binary(&[("content-type", "application/json")]);
    let body = format!("  {ODD_DATA}\n");
    let event = decode(&h, body.as_bytes(), &topic(), &LIMITS)
        .unwrap()
        .remove(0);
    assert_eq!(event.data_bytes(), body.as_bytes());
    let out = to_json_text(&event, Form::Json);
    assert!(out.contains(&format!(r#""data":{body}"#)), "{out}");
    // Read back as JSON, the data member is the value without the space around it.
    assert_eq!(
        from_json(&out, None).unwrap().data_bytes(),
        ODD_DATA.as_bytes()
    );
}

#[test]
fn a_carriage_return_in_json_data_goes_to_a_stream_as_base64_of_the_same_bytes() {
    let event = Event {
        data: Some(b"{\r\n\"a\":1}".to_vec()),
        ..from_json(&minimal().to_string(), Some(&topic())).unwrap()
    };
    assert!(to_json_text(&event, Form::Json).contains("\"data\":{\r\n"));
    let line_safe = to_json_text(&event, Form::LineSafe);
    assert!(!line_safe.contains('\r'), "{line_safe}");
    assert_eq!(from_json(&line_safe, None).unwrap(), event);
}

#[test]
fn data_null_is_kept_apart_from_no_data_and_both_round_trip() {
    let null =
        structured_text(r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data":null}"#)
            .unwrap()
            .remove(0);
    let absent = structured_text(r#"{"specversion":"1.0","id":"1","source":"/s","type":"t"}"#)
        .unwrap()
        .remove(0);
    assert_eq!(null.data.as_deref(), Some(&b"null"[..]));
    assert_eq!(absent.data, None);
    assert!(to_json_text(&null, Form::Json).ends_with(r#""data":null}"#));
    assert!(!to_json_text(&absent, Form::Json).contains("data"));
    for event in [null, absent] {
        assert_eq!(from_json(to_json(&event).get(), None).unwrap(), event);
    }
    // A text content type needs a string: null is no text.
    let text_null = with(
        with(minimal(), "datacontenttype", json!("text/plain")),
        "data",
        Value::Null,
    );
    assert!(matches!(
        structured(&text_null),
        Err(DecodeError::DataNotString { .. })
    ));
}

#[test]
fn extension_types_survive_and_go_out_as_they_came() {
    let body = with(
        with(with(minimal(), "count", json!(42)), "flag", json!(true)),
        "note",
        json!("42"),
    );
    let event = structured(&body).unwrap().remove(0);
    assert_eq!(event.extension("count"), Some(&ExtValue::Integer(42)));
    assert_eq!(event.extension("flag"), Some(&ExtValue::Boolean(true)));
    assert_eq!(
        event.extension("note"),
        Some(&ExtValue::String("42".into()))
    );
    let out = json_of(&event);
    assert_eq!(
        (&out["count"], &out["flag"], &out["note"]),
        (&json!(42), &json!(true), &json!("42"))
    );
    assert_eq!(from_json(to_json(&event).get(), None).unwrap(), event);
    let typed = Event {
        extensions: vec![
            ("bin".into(), ExtValue::Binary(vec![0, 255])),
            (
                "at".into(),
                ExtValue::Timestamp("2024-05-01T12:00:00+02:00".into()),
            ),
            ("min".into(), ExtValue::Integer(i32::MIN)),
        ],
        ..event
    };
    let out = json_of(&typed);
    assert_eq!(
        (&out["bin"], &out["at"], &out["min"]),
        (
            &json!("AP8="),
            &json!("2024-05-01T12:00:00+02:00"),
            &json!(i32::MIN)
        )
    );
}

#[test]
fn extension_values_of_no_cloudevents_type_are_refused() {
    for (value, found) in [
        (json!(1.5), "the number 1.5"),
        (json!(2147483648u64), "the number 2147483648"),
        (json!(-2147483649i64), "the number -2147483649"),
        (json!({"a": 1}), "an object"),
        (json!([1]), "an array"),
        (Value::Null, "null"),
    ] {
        let message = error(structured(&with(minimal(), "ext", value)));
        assert!(
            message.starts_with(&format!("`ext` is {found}, which is no CloudEvents type")),
            "{message}"
        );
    }
    let at_limit = with(minimal(), "ext", json!(2147483647));
    assert_eq!(
        structured(&at_limit).unwrap()[0].extension("ext"),
        Some(&ExtValue::Integer(i32::MAX))
    );
}

#[test]
fn control_characters_and_noncharacters_are_refused_in_every_string_attribute() {
    for name in ["id", "source", "type", "subject", "ext"] {
        let message = error(structured(&with(minimal(), name, json!("a\nb"))));
        assert!(
            message.starts_with(&format!("`{name}` holds a control character (U+000A)")),
            "{message}"
        );
    }
    let message = error(structured(&with(minimal(), "subject", json!("x\u{fffe}"))));
    assert!(
        message.contains("a Unicode noncharacter (U+FFFE)"),
        "{message}"
    );
    let message = error(batch(&json!([
        minimal(),
        with(minimal(), "id", json!("\u{85}"))
    ])));
    assert!(
        message.starts_with("`id` of batch element 1 holds a control character (U+0085)"),
        "{message}"
    );
    // Binary mode, after percent-decoding.
    for (header, value) in [
        ("ce-source", "a%0Ab"),
        ("ce-subject", "%C2%9F"),
        ("ce-note", "%00"),
    ] {
        let mut h = binary(&[]);
        h.insert(
            HeaderName::from_bytes(header.as_bytes()).unwrap(),
            HeaderValue::from_static(value),
        );
        let message = error(decode(&h, b"", &topic(), &LIMITS));
        assert!(
            message.starts_with(&format!("header `{header}` holds a control character")),
            "{message}"
        );
    }
    // A lone surrogate is not even JSON.
    assert!(matches!(
        structured_text(r#"{"specversion":"1.0","id":"\ud800","source":"/s","type":"t"}"#),
        Err(DecodeError::Json(_))
    ));
}

#[test]
fn a_quoted_header_value_is_read_without_its_quotes() {
    let h = binary(&[
        ("ce-subject", "\"caf%C3%A9 \\\"x\\\"\""),
        ("ce-note", "\"\""),
        ("ce-half", "\"open"),
    ]);
    let event = decode(&h, b"", &topic(), &LIMITS).unwrap().remove(0);
    assert_eq!(event.subject.as_deref(), Some("café \"x\""));
    assert_eq!(
        event.extension("half"),
        Some(&ExtValue::String("\"open".into()))
    );
    assert_eq!(
        event.extension("note"),
        Some(&ExtValue::String(String::new()))
    );
}

#[test]
fn a_member_sent_twice_is_refused() {
    let message = error(structured_text(
        r#"{"specversion":"1.0","id":"1","id":"2","source":"/s","type":"t"}"#,
    ));
    assert_eq!(
        message,
        "the event has the member `id` more than once; send each member once"
    );
    let h = headers(&[("content-type", BATCH)]);
    let body = r#"[{"specversion":"1.0","id":"1","source":"/s","type":"t","x":1,"x":1}]"#;
    assert!(
        error(decode(&h, body.as_bytes(), &topic(), &LIMITS))
            .starts_with("batch element 0 has the member `x`")
    );
    // Inside the data, duplicates are the producer's business and are kept.
    let kept = structured_text(
        r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"k":1,"k":2}}"#,
    );
    assert_eq!(kept.unwrap()[0].data_bytes(), br#"{"k":1,"k":2}"#);
}

#[test]
fn json_data_deeper_than_parsers_go_leaves_as_base64_of_the_same_bytes() {
    let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
    let event = Event {
        data: Some(deep.clone().into_bytes()),
        ..from_json(&minimal().to_string(), Some(&topic())).unwrap()
    };
    let out = json_of(&event);
    assert_eq!(
        from_json(&out.to_string(), None).unwrap().data_bytes(),
        deep.as_bytes()
    );
    assert!(out.get("data_base64").is_some());
    let shallow = format!("{}\"[[[\"{}", "[".repeat(127), "]".repeat(127));
    let event = Event {
        data: Some(shallow.clone().into_bytes()),
        ..event
    };
    assert!(to_json_text(&event, Form::Json).contains(&format!("\"data\":{shallow}")));
}

/// Found by the fuzz target: a mangled member name of thousands of characters was quoted
/// whole, making a refusal line of 4,785 characters.
#[test]
fn a_huge_member_or_header_name_is_quoted_cut_short() {
    let name = "X".repeat(5_000);
    let message = error(structured(&with(minimal(), &name, json!("v"))));
    assert!(message.len() < 300, "{message}");
    assert!(
        message.starts_with(&format!(
            "`{}…` is not a valid extension name",
            "X".repeat(64)
        )),
        "{message}"
    );
    let header = format!("ce-{}", "_".repeat(5_000));
    let h = binary(&[(header.as_str(), "v")]);
    let message = error(decode(&h, b"", &topic(), &LIMITS));
    assert!(message.len() < 300, "{message}");
}
