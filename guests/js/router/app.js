// router: sends each event, unchanged, to a topic chosen by a field of its data.
//
// The JavaScript twin of guests/processors/router (same settings, same results).
//
// Settings (the manifest's `[config]`; values arrive as strings, tables as JSON text):
// - `field` (required): the JSON field to route on, top-level (`country`) or a dotted
//   path into nested objects (`address.country`).
// - `routes` (table, required): field value -> topic.
// - `default` (optional): the topic for values with no route.
//
// String values are matched as they are; numbers and booleans by their JSON text (`42`,
// `true`). A missing field, `null`, an array or an object has no route. With no route
// and no `default`, the event is rejected with "no route for FIELD=VALUE", so it lands
// in the error queue instead of vanishing.
//
// Built from ../../../wit (world `processor`) by ../build.sh with componentize-js 0.23.0.
import { get } from "weft:integration/config@0.1.0";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A permanent failure of one event: it goes to the module's error queue. */
class Reject extends Error {}

/** The parsed `[config]`, read once, on the first call (never at the top level, which
 *  runs at build time). A bad configuration rejects every event with the same reason. */
let settings;
function loadSettings() {
  if (settings === undefined) {
    try {
      settings = parseSettings();
    } catch (err) {
      if (!(err instanceof Reject)) throw err;
      settings = { error: err.message };
    }
  }
  if (settings.error !== undefined) throw new Reject(settings.error);
  return settings;
}

function parseSettings() {
  const text = get("routes");
  if (text === undefined) throw new Reject("config `routes` is not set");
  let routes;
  try {
    routes = JSON.parse(text);
  } catch (err) {
    throw new Reject(`config \`routes\` is not valid: ${err.message}`);
  }
  if (routes === null || typeof routes !== "object" || Array.isArray(routes)
      || !Object.values(routes).every((topic) => typeof topic === "string")) {
    throw new Reject('config `routes` is not valid: expected a table of value = "topic"');
  }
  const field = get("field");
  if (field === undefined) throw new Reject("config `field` is not set");
  return { field, path: field.split("."), routes: new Map(Object.entries(routes)), default: get("default") };
}

/** The text a value is routed by; undefined for values that cannot name a route. */
function routeKey(value) {
  switch (typeof value) {
    case "string": return value;
    case "number": return JSON.stringify(value);
    case "boolean": return String(value);
    default: return undefined;
  }
}

/** The topic for `data`, or a reject saying why there is none. */
function topicFor(s, data) {
  let value = data;
  for (const name of s.path) {
    const isObject = value !== null && typeof value === "object" && !Array.isArray(value);
    value = isObject && Object.hasOwn(value, name) ? value[name] : undefined;
  }
  const key = routeKey(value);
  const topic = (key !== undefined ? s.routes.get(key) : undefined) ?? s.default;
  if (topic === undefined) throw new Reject(`no route for ${s.field}=${key ?? "<none>"}`);
  return topic;
}

function route(event) {
  const s = loadSettings();
  let data;
  try {
    data = JSON.parse(utf8.decode(event.data));
  } catch (err) {
    throw new Reject(`data is not the expected JSON: ${err.message}`);
  }
  return [{ ...event, topic: topicFor(s, data) }];
}

export const handler = {
  /** One outcome per input, in order: the event on its new topic, or a reject. */
  process(batch) {
    return batch.map((event) => {
      try {
        return { tag: "ok", val: route(event) };
      } catch (err) {
        if (!(err instanceof Reject)) throw err; // a bug: trap, the host retries on a fresh instance
        return { tag: "err", val: { tag: "reject", val: err.message } };
      }
    });
  },
};
