//! The event catalog: an AsyncAPI 3.0 document of what the host's modules and
//! its mesh link receive and send, generated from what runs now (not written by
//! hand, so it cannot drift from the manifests).
//!
//! Every topic pattern a module subscribes or publishes to, and every pattern
//! the mesh exports or imports, is one channel whose `address` is the pattern.
//! Each module has one operation per pattern: `receive` for `subscribe`, `send`
//! for `publish`; the mesh's exports send and its imports receive. A published
//! pattern with a JSON Schema (the manifest's `[schemas]`) gets a message whose
//! payload is that schema, referenced by the module's `send` operation.
//!
//! Channel and operation ids are made of the pattern's characters (`/` becomes
//! `.`, `*` `star`, `>` `rest`) so that references need no escaping; two
//! patterns that map to the same id get a numbered suffix.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// How the catalog reads the host: the server implements it over its modules'
/// board and its mesh link.
pub trait Inventory {
    /// The running modules, in a stable order.
    fn modules(&self) -> Vec<ModuleEntry>;
    /// The mesh link's exports and imports, when the host has `[mesh]`.
    fn mesh(&self) -> Option<MeshEntry>;
}

/// One running module, as the catalog shows it.
#[derive(Debug, Clone, Default)]
pub struct ModuleEntry {
    pub name: String,
    /// `processor`, `ingress` or `egress`.
    pub kind: String,
    pub version: String,
    pub subscribe: Vec<String>,
    pub publish: Vec<String>,
    /// Published pattern → (schema file, JSON Schema), from `[schemas]`.
    pub schemas: BTreeMap<String, (String, Value)>,
    /// Whether outputs that do not conform are refused (`[schemas] enforce`).
    pub enforce: bool,
}

/// The mesh link: this host's mesh name, its exports and imports.
#[derive(Debug, Clone, Default)]
pub struct MeshEntry {
    pub name: String,
    pub exports: Vec<LinkEntry>,
    pub imports: Vec<LinkEntry>,
}

/// One export or import: its name and topic patterns.
#[derive(Debug, Clone, Default)]
pub struct LinkEntry {
    pub name: String,
    pub topics: Vec<String>,
}

/// The AsyncAPI 3.0.0 document of what `host` runs now. `title` names the host
/// (its mesh name, or `weft`), `version` the weft release.
pub fn asyncapi(host: &dyn Inventory, version: &str) -> Value {
    let mut doc = Doc::default();
    let modules = host.modules();
    for m in &modules {
        for pattern in &m.subscribe {
            let channel = doc.channel(pattern);
            doc.operation(
                &m.name,
                "receive",
                &channel,
                format!("module `{}` ({}) receives `{pattern}`", m.name, m.kind),
                None,
            );
        }
        for pattern in &m.publish {
            let channel = doc.channel(pattern);
            let message = m.schemas.get(pattern).map(|(file, schema)| {
                doc.message(&channel, &m.name, pattern, file, schema, m.enforce)
            });
            doc.operation(
                &m.name,
                "send",
                &channel,
                format!("module `{}` ({}) publishes to `{pattern}`", m.name, m.kind),
                message,
            );
        }
    }
    let mesh = host.mesh();
    if let Some(mesh) = &mesh {
        for (links, action, what) in [
            (&mesh.exports, "send", "exports to the mesh"),
            (&mesh.imports, "receive", "imports from the mesh"),
        ] {
            for link in links {
                for pattern in &link.topics {
                    let channel = doc.channel(pattern);
                    let owner = format!("mesh-{}-{}", action_word(action), link.name);
                    doc.operation(
                        &owner,
                        action,
                        &channel,
                        format!("host `{}` {what} `{pattern}` ({})", mesh.name, link.name),
                        None,
                    );
                }
            }
        }
    }
    let title = mesh
        .as_ref()
        .map(|m| format!("weft host {}", m.name))
        .unwrap_or_else(|| "weft host".to_owned());
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": version,
            "description": "The events this weft host's modules and mesh link receive and send, \
                generated from the running manifests. A channel's address is a topic pattern: \
                `*` matches one segment, `>` one or more at the end. Events are CloudEvents; \
                a message's payload is the event's `data`.",
        },
        "defaultContentType": "application/json",
        "channels": doc.channels.into_values().map(|c| (c.id.clone(), c.value)).collect::<Map<_, _>>(),
        "operations": doc.operations,
    })
}

fn action_word(action: &str) -> &'static str {
    if action == "send" { "export" } else { "import" }
}

#[derive(Default)]
struct Doc {
    /// By pattern.
    channels: BTreeMap<String, Channel>,
    operations: Map<String, Value>,
}

struct Channel {
    id: String,
    value: Value,
}

impl Doc {
    /// The id of `pattern`'s channel, added if new.
    fn channel(&mut self, pattern: &str) -> String {
        if let Some(c) = self.channels.get(pattern) {
            return c.id.clone();
        }
        let id = unique(id_of(pattern), |id| {
            self.channels.values().any(|c| c.id == id)
        });
        self.channels.insert(
            pattern.to_owned(),
            Channel {
                id: id.clone(),
                value: json!({ "address": pattern, "title": pattern }),
            },
        );
        id
    }

    /// Adds `module`'s message (its schema for `pattern`) to `channel`; returns
    /// the reference to it.
    fn message(
        &mut self,
        channel: &str,
        module: &str,
        pattern: &str,
        file: &str,
        schema: &Value,
        enforce: bool,
    ) -> String {
        let Some(c) = self.channels.values_mut().find(|c| c.id == channel) else {
            return String::new();
        };
        let enforced = if enforce {
            "enforced: outputs that do not conform are rejected"
        } else {
            "not enforced"
        };
        let message = json!({
            "name": format!("{module}:{pattern}"),
            "title": format!("what module `{module}` publishes to `{pattern}`"),
            "description": format!("the event's `data`, per `{file}` ({enforced})"),
            "contentType": "application/json",
            "payload": {
                "schemaFormat": "application/schema+json;version=draft-07",
                "schema": schema,
            },
        });
        if let Some(obj) = c.value.as_object_mut() {
            let messages = obj
                .entry("messages")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(m) = messages.as_object_mut() {
                m.insert(id_of(module), message);
            }
        }
        format!("#/channels/{channel}/messages/{}", id_of(module))
    }

    fn operation(
        &mut self,
        owner: &str,
        action: &str,
        channel: &str,
        summary: String,
        message: Option<String>,
    ) {
        let base = format!("{}.{action}.{channel}", id_of(owner));
        let id = unique(base, |id| self.operations.contains_key(id));
        let mut op = json!({
            "action": action,
            "channel": { "$ref": format!("#/channels/{channel}") },
            "summary": summary,
            "tags": [{ "name": owner }],
        });
        if let (Some(m), Some(obj)) = (message.filter(|m| !m.is_empty()), op.as_object_mut()) {
            obj.insert("messages".into(), json!([{ "$ref": m }]));
        }
        self.operations.insert(id, op);
    }
}

/// An id for a pattern or name that a `$ref` can carry unescaped.
fn id_of(text: &str) -> String {
    let mut id = String::new();
    for ch in text.chars() {
        match ch {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => id.push(ch),
            '/' => id.push('.'),
            '*' => id.push_str("star"),
            '>' => id.push_str("rest"),
            _ => id.push('_'),
        }
    }
    if id.is_empty() { "_".to_owned() } else { id }
}

fn unique(base: String, taken: impl Fn(&str) -> bool) -> String {
    if !taken(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|id| !taken(id))
        .unwrap_or(base)
}

#[cfg(test)]
mod tests;
