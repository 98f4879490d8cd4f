#![allow(clippy::unwrap_used, reason = "tests")]
use std::path::Path;

use super::*;
use crate::manifest::{Defaults, Manifest};

const ORDER: &str = r#"{
  "type": "object",
  "required": ["id", "total"],
  "properties": { "id": { "type": "string" }, "total": { "type": "number", "minimum": 0 } }
}"#;

fn manifest(text: &str) -> Result<Manifest, String> {
    Manifest::parse(text, &Defaults::default()).map_err(|e| e.to_string())
}

/// A manifest loaded from `dir` as module `enrich`, with these files beside it.
fn loaded(dir: &Path, text: &str, files: &[(&str, &str)]) -> Result<Manifest, String> {
    for (name, body) in files {
        std::fs::write(dir.join(name), body).unwrap();
    }
    let mut m = manifest(text)?;
    m.load_schemas(dir, "enrich").map_err(|e| e.to_string())?;
    Ok(m)
}

fn event(topic: &str, data: &str) -> Event {
    Event {
        id: "1".into(),
        source: "/t".into(),
        ty: "t".into(),
        subject: None,
        time: None,
        datacontenttype: None,
        dataschema: None,
        extensions: Vec::new(),
        topic: topic.into(),
        data: Some(data.as_bytes().to_vec()),
        hops: 0,
        origin: None,
    }
}

const TWO: &str = r#"
publish = ["orders/>", "audit/>"]
[schemas]
enforce = true
"orders/eu/*" = "enrich.eu.schema.json"
"orders/>" = "enrich.order.schema.json"
"#;

#[test]
fn the_table_keeps_its_order_and_the_first_matching_pattern_decides() {
    let dir = tempfile::tempdir().unwrap();
    let eu = r#"{"type": "object", "required": ["vat"]}"#;
    let m = loaded(
        dir.path(),
        TWO,
        &[
            ("enrich.eu.schema.json", eu),
            ("enrich.order.schema.json", ORDER),
        ],
    )
    .unwrap();
    assert!(m.schemas.enforce);
    let files: Vec<_> = m
        .schemas
        .entries()
        .iter()
        .map(|e| e.file.as_str())
        .collect();
    assert_eq!(files, ["enrich.eu.schema.json", "enrich.order.schema.json"]);
    assert_eq!(
        m.schemas.entries()[1].document().unwrap()["required"][1],
        "total"
    );
    let s = &m.schemas;
    assert!(
        s.check(&event("orders/us", r#"{"id": "a", "total": 3}"#))
            .is_ok()
    );
    assert!(
        s.check(&event("audit/x", "not even JSON")).is_ok(),
        "no schema for audit/>"
    );
    // orders/eu/x matches both; the first (eu) wants `vat` and not `id`.
    assert!(s.check(&event("orders/eu/x", r#"{"vat": 1}"#)).is_ok());
    let e = s
        .check(&event("orders/eu/x", r#"{"id": "a", "total": 3}"#))
        .unwrap_err();
    assert_eq!(
        e,
        "does not conform to enrich.eu.schema.json (schema for `orders/eu/*`): at the top level: \"vat\" is a required property"
    );
}

#[test]
fn a_refusal_says_where_in_the_data_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let m = loaded(
        dir.path(),
        TWO,
        &[
            ("enrich.eu.schema.json", "{}"),
            ("enrich.order.schema.json", ORDER),
        ],
    )
    .unwrap();
    let e = m
        .schemas
        .check(&event("orders/us", r#"{"id": 7, "total": -1}"#))
        .unwrap_err();
    assert!(
        e.starts_with("does not conform to enrich.order.schema.json (schema for `orders/>`): "),
        "{e}"
    );
    assert!(e.contains("at /id: 7 is not of type \"string\""), "{e}");
    assert!(
        e.contains("at /total: -1 is less than the minimum of 0"),
        "{e}"
    );
    let e = m
        .schemas
        .check(&event("orders/us", "{not json"))
        .unwrap_err();
    assert!(
        e.contains("its data is not JSON: key must be a string at line 1 column 2"),
        "{e}"
    );
    let mut none = event("orders/us", "");
    none.data = None;
    assert!(
        m.schemas
            .check(&none)
            .unwrap_err()
            .contains("at the top level: null is not of type \"object\"")
    );
}

#[test]
fn without_enforce_the_schemas_only_describe() {
    let dir = tempfile::tempdir().unwrap();
    let text = TWO.replace("enforce = true", "enforce = false");
    let m = loaded(
        dir.path(),
        &text,
        &[
            ("enrich.eu.schema.json", "{}"),
            ("enrich.order.schema.json", ORDER),
        ],
    )
    .unwrap();
    assert!(!m.schemas.enforce);
    assert!(m.schemas.check(&event("orders/us", r#"{"id": 7}"#)).is_ok());
    let plain = loaded(
        dir.path(),
        "publish = [\"orders/>\"]\n[schemas]\n\"orders/>\" = \"enrich.order.schema.json\"\n",
        &[],
    )
    .unwrap();
    assert!(!plain.schemas.enforce, "off unless asked for");
}

#[test]
fn bad_tables_are_refused_with_every_problem_at_once() {
    let e = manifest(
        r#"
publish = ["orders/>"]
[schemas]
enforce = "yes"
"orders x" = "enrich.a.schema.json"
"billing/>" = "enrich.b.schema.json"
"orders/eu" = 3
"#,
    )
    .unwrap_err();
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 4, "{e}");
    assert_eq!(
        lines[0],
        "schemas.enforce must be true or false, not string"
    );
    assert!(lines[1].starts_with("schemas: key \"orders x\" is neither `enforce` nor a topic pattern: topic `orders x` has ` `"), "{e}");
    assert_eq!(
        lines[2],
        "schemas.\"billing/>\": the module may not publish to all of `billing/>` (publish = [\"orders/>\"]): a schema describes what the module publishes, so its pattern must be covered by `publish`"
    );
    assert!(
        lines[3].starts_with("schemas.\"orders/eu\" must name a schema file beside the manifest"),
        "{e}"
    );
    // A wider pattern than the grant is not covered either.
    let e =
        manifest("publish = [\"orders/eu\"]\n[schemas]\n\"orders/*\" = \"enrich.a.schema.json\"\n")
            .unwrap_err();
    assert!(e.contains("may not publish to all of `orders/*`"), "{e}");
    // `[schemas]` as something else than a table is a syntax error with the line.
    let e = manifest("publish = [\"orders/>\"]\nschemas = 3\n").unwrap_err();
    assert!(e.contains("line 2"), "{e}");
}

#[test]
fn bad_files_are_refused_naming_the_file_and_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let one =
        |file: &str| format!("publish = [\"orders/>\"]\n[schemas]\n\"orders/>\" = \"{file}\"\n");
    let shown = dir.path().display().to_string();
    let e = loaded(dir.path(), &one("enrich.order.schema.json"), &[]).unwrap_err();
    assert_eq!(
        e,
        format!(
            "schemas.\"orders/>\": {shown}/enrich.order.schema.json is missing: write the JSON Schema there or remove the key"
        )
    );
    let e = loaded(
        dir.path(),
        &one("enrich.order.schema.json"),
        &[("enrich.order.schema.json", "{\"type\": ")],
    )
    .unwrap_err();
    assert_eq!(
        e,
        format!(
            "schemas.\"orders/>\": {shown}/enrich.order.schema.json is not JSON: EOF while parsing a value at line 1 column 9"
        )
    );
    let e = loaded(
        dir.path(),
        &one("enrich.order.schema.json"),
        &[(
            "enrich.order.schema.json",
            r#"{"properties": {"id": {"type": "strin"}}}"#,
        )],
    )
    .unwrap_err();
    assert!(
        e.starts_with(&format!("schemas.\"orders/>\": {shown}/enrich.order.schema.json is not a valid JSON Schema: at /properties/id/type: ")),
        "{e}"
    );
    for bad in [
        "order.schema.json",
        "other.order.schema.json",
        "enrich.order.json",
        "../enrich.x.schema.json",
    ] {
        let e = loaded(dir.path(), &one(bad), &[]).unwrap_err();
        assert_eq!(
            e,
            format!(
                "schemas.\"orders/>\": \"{bad}\" is not a schema file name of module `enrich`: name it `enrich.SOMETHING.schema.json`, beside the manifest"
            )
        );
    }
}

#[test]
fn schema_file_names_belong_to_their_module() {
    assert!(is_schema_file("enrich.order.schema.json", "enrich"));
    assert!(is_schema_file("enrich.order.v2.schema.json", "enrich"));
    assert!(!is_schema_file("enrich.schema.json", "enrich"));
    assert!(!is_schema_file("other.order.schema.json", "enrich"));
    assert!(!is_schema_file("enrichment.order.schema.json", "enrich"));
    assert!(!is_schema_file("enrich.order.json", "enrich"));
    assert!(!is_schema_file("enrich.../x.schema.json", "enrich"));
    assert!(!is_schema_file("enrich./x.schema.json", "enrich"));
}
