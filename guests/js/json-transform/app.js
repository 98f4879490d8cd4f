// json-transform: renames fields and adds defaults to JSON events.
//
// The JavaScript twin of guests/processors/json-transform (same settings, same results).
//
// Settings (the manifest's `[config]`; values arrive as strings, tables as JSON text):
// - `output_topic` (required): where the transformed events go.
// - `reply_type` (optional): when set, a request (an event carrying the extension
//   `replyto`, set by `POST /v1/requests/{topic}`) is also answered with the
//   transformed data as a reply of this type (see `reply`).
// - `rename` (table, optional): old field name -> new field name. A renamed field keeps
//   its place and overwrites a field already called by the new name.
// - `add` (table, optional): field name -> JSON value, set only where the field is
//   absent, so data that carries its own value keeps it.
//
// Renames run before additions, so `add` can fill in a renamed field that was missing;
// added fields go last. Only top-level fields are touched and the others keep their
// order (except that JavaScript puts integer-like names such as "7" first). Data that
// is not a JSON object is rejected: transforming it would have to guess.
//
// Built from ../../../wit (world `processor`) by ../build.sh with componentize-js 0.23.0.
// Imports are ES modules named by the interface's full id with its version; the
// exported interface `handler` is the exported object `handler`.
import { get } from "weft:integration/config@0.1.0";

const APPLICATION_JSON = "application/json";
const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** A permanent failure of one event: it goes to the module's error queue. */
class Reject extends Error {}

/** The JSON type of `value`, as a reason names it. */
function kind(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "boolean": return "a boolean";
    case "number": return "a number";
    case "string": return "a string";
    default: return "an object";
  }
}

/** The JSON object in config `key` (empty when unset) as a Map; a reject naming the key
 *  if it is not an object (of strings, when `strings`). */
function table(key, strings) {
  const text = get(key);
  if (text === undefined) return new Map();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Reject(`config \`${key}\` is not valid: ${err.message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new Reject(`config \`${key}\` is not valid: expected a table, not ${kind(parsed)}`);
  }
  const entries = Object.entries(parsed);
  for (const [name, value] of entries) {
    if (strings && typeof value !== "string") {
      throw new Reject(`config \`${key}\` is not valid: \`${name}\` must be a string`);
    }
  }
  return new Map(entries);
}

/** The parsed `[config]`. It cannot change under a running instance, so it is read once,
 *  on the first call (never at the top level: componentize-js runs that at build time,
 *  where there is no configuration). A bad configuration rejects every event with the
 *  same reason, which names the key to fix. */
let settings;
function loadSettings() {
  if (settings === undefined) {
    try {
      const outputTopic = get("output_topic");
      if (outputTopic === undefined) throw new Reject("config `output_topic` is not set");
      settings = {
        outputTopic,
        rename: table("rename", true),
        add: table("add", false),
        replyType: get("reply_type"),
      };
    } catch (err) {
      if (!(err instanceof Reject)) throw err;
      settings = { error: err.message };
    }
  }
  if (settings.error !== undefined) throw new Reject(settings.error);
  return settings;
}

/** The transformed fields. Renames apply to the original names all at once (so `a -> b`
 *  and `b -> c` move both), keep each field where it was, and win over a field already
 *  called by the new name. A Map, so that a field called `__proto__` stays a field. */
function apply({ rename, add }, fields) {
  const names = Object.keys(fields);
  const overwritten = new Set(names.filter((n) => rename.has(n)).map((n) => rename.get(n)));
  const out = new Map();
  for (const name of names) {
    if (rename.has(name)) out.set(rename.get(name), fields[name]);
    else if (!overwritten.has(name)) out.set(name, fields[name]);
  }
  for (const [name, value] of add) {
    if (!out.has(name)) out.set(name, value);
  }
  return Object.fromEntries(out);
}

/** A reply to `request`: an event of `type` addressed to its `replyto`, carrying its id
 *  as `correlationid`; undefined when `request` is no request. The host hands it to the
 *  waiting caller; a module may emit to the `replyto` of the event it handles without a
 *  `publish` grant, and to no other reply address. */
export function reply(request, type, data, contentType = APPLICATION_JSON) {
  const found = request.extensions.find(([name]) => name === "replyto");
  if (found === undefined || !found[1].startsWith("_reply/")) return undefined;
  return {
    id: "",
    source: "",
    type,
    subject: undefined,
    time: undefined,
    datacontenttype: contentType,
    dataschema: undefined,
    extensions: [["correlationid", request.id]],
    topic: found[1],
    data,
  };
}

function transform(event) {
  const s = loadSettings();
  let fields;
  try {
    fields = JSON.parse(utf8.decode(event.data));
  } catch (err) {
    throw new Reject(`data is not the expected JSON: ${err.message}`);
  }
  if (fields === null || typeof fields !== "object" || Array.isArray(fields)) {
    throw new Reject(`data must be a JSON object, not ${kind(fields)}`);
  }
  const data = encoder.encode(JSON.stringify(apply(s, fields)));
  const out = [{ ...event, topic: s.outputTopic, data, datacontenttype: APPLICATION_JSON }];
  const answer = s.replyType === undefined ? undefined : reply(event, s.replyType, data);
  if (answer !== undefined) out.push(answer);
  return out;
}

export const handler = {
  /** One outcome per input, in order: the events to emit, or a reject with the reason. */
  process(batch) {
    return batch.map((event) => {
      try {
        return { tag: "ok", val: transform(event) };
      } catch (err) {
        if (!(err instanceof Reject)) throw err; // a bug: trap, the host retries on a fresh instance
        return { tag: "err", val: { tag: "reject", val: err.message } };
      }
    });
  },
};
