// http-post: POSTs each event to an HTTP endpoint as a structured CloudEvent (egress).
//
// The JavaScript twin of guests/connectors/http-post (same settings, same results).
// One request per event, in order: the body is the event in the CloudEvents JSON format
// (`content-type: application/cloudevents+json`, weft's topic as the member `topic`),
// with `Idempotency-Key: <event id>`. A retried event keeps its id, so the key is the
// same on every try and the endpoint can drop a repeat.
//
// Settings (the manifest's `[config]`):
// - `url` (required): where to POST.
// - `token` (optional, best given as `{ secret = "NAME" }`): sent as
//   `Authorization: Bearer <token>`.
//
// Results: 2xx is delivered. 408, 429, 5xx and requests that got no response
// (connection refused or reset, timeouts) are `retry`: the host backs off and tries
// again, in order. Any other status is `reject`, with the status and the first 200
// bytes of the response body; redirects are not followed (a 3xx is a reject).
//
// `fetch` is componentize-js's, over wasi:http/outgoing-handler: build with its `http`
// feature (../build.sh does for the egress and ingress worlds). The export is an
// `async` function: componentize-js runs the event loop until the promise settles and
// hands the host a plain synchronous result.
//
// Where it differs from the Rust connector (componentize-js 0.23, StarlingMonkey):
// - A failed fetch is an opaque `TypeError: NetworkError ...`, so a refusal by the
//   host's sandbox (origin not in `[http] allow`) cannot be told from a connection
//   error: both are `retry` (the Rust one rejects a refusal at once), and the event
//   reaches the error queue when `[delivery.retry] attempts` run out.
// - When a request fails before its body is sent (the sandbox refuses it, the
//   connection is refused), the engine aborts while closing the body: the call traps.
//   The host then reruns the batch one event at a time and retries only that event,
//   so the events before it in the batch are POSTed again, with the same
//   Idempotency-Key.
import { get } from "weft:integration/config@0.1.0";

const STRUCTURED = "application/cloudevents+json";
/** How much of a refusing response's body a reason quotes. */
const QUOTED_BYTES = 200;
/** Names no extension may take: the attributes, the data members and `topic`. */
const RESERVED = new Set([
  "specversion", "id", "source", "type", "subject", "time", "datacontenttype",
  "dataschema", "data", "data_base64", "topic",
]);

const utf8 = new TextDecoder("utf-8", { fatal: true });
const lossy = new TextDecoder("utf-8");

class Retry extends Error {}
class Reject extends Error {}

/** The parsed `[config]`, read once, on the first call (never at the top level, which
 *  runs at build time). */
let settings;
function loadSettings() {
  if (settings === undefined) {
    const url = get("url");
    const token = get("token");
    settings = url === undefined
      ? { error: "config `url` is not set" }
      : { url, shown: url.split(/[?#]/)[0], token: token || undefined };
  }
  if (settings.error !== undefined) throw new Reject(settings.error);
  return settings;
}

/** A media type's lower-case `type/subtype`, without parameters. */
function essence(contentType) {
  return contentType.split(";")[0].trim().toLowerCase();
}

function isJson(contentType) {
  const e = essence(contentType);
  return e === "application/json" || e === "text/json" || e.endsWith("+json");
}

function base64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** The data as a CloudEvents JSON member, as [name, JSON text]: the data's own bytes
 *  when the content type is JSON (or absent) and they are JSON (so whitespace, key
 *  order, duplicate keys and long numbers reach the endpoint as the producer sent
 *  them, and `null` is `"data": null`), text for `text/*` in UTF-8, else `data_base64`. */
function dataMember(data, contentType) {
  if (data.length === 0) return undefined;
  let text;
  try {
    text = utf8.decode(data);
  } catch {
    text = undefined;
  }
  if (text !== undefined && (contentType === undefined || isJson(contentType))) {
    try {
      JSON.parse(text);
      return ["data", text];
    } catch {
      // not JSON after all: text or bytes below
    }
  }
  if (text !== undefined && contentType !== undefined && !isJson(contentType)
      && essence(contentType).startsWith("text/")) {
    return ["data", JSON.stringify(text)];
  }
  return ["data_base64", JSON.stringify(base64(data))];
}

/** The event in the CloudEvents JSON format, as the host writes it (`weft tap`).
 *  Extensions go out as the strings the host hands a guest (their canonical form).
 *  Written as text, not through `JSON.stringify` of a parsed value, so the data is
 *  not re-encoded. */
function toCloudEvent(event) {
  const out = {};
  const attributes = {
    specversion: "1.0", id: event.id, source: event.source, type: event.type,
    subject: event.subject, time: event.time, datacontenttype: event.datacontenttype,
    dataschema: event.dataschema, topic: event.topic,
  };
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined) out[name] = value;
  }
  for (const [name, value] of event.extensions) {
    if (/^[a-z0-9]+$/.test(name) && !RESERVED.has(name)) out[name] = value;
  }
  const head = JSON.stringify(out);
  const data = dataMember(event.data, event.datacontenttype);
  if (data === undefined) return head;
  return `${head.slice(0, -1)},${JSON.stringify(data[0])}:${data[1]}}`;
}

/** What a response's status means for the event. */
function outcome(status, body, shown) {
  const reason = `POST ${shown}: HTTP ${status}`;
  if (status >= 200 && status <= 299) return;
  if (status === 408 || status === 429 || (status >= 500 && status <= 599)) throw new Retry(reason);
  throw new Reject(`${reason}: ${lossy.decode(body.subarray(0, QUOTED_BYTES))}`);
}

/** Whether a failed `fetch` got no response for a reason that may pass (the only
 *  kind of failure componentize-js 0.23 reports, as an opaque "NetworkError": refused,
 *  reset, timed out, and also refused by the host's sandbox, which it cannot tell apart)
 *  rather than a request that can never work (a bad URL or header: any other error). */
function transient(err) {
  return /NetworkError/.test(String(err?.message ?? err));
}

async function deliver(event) {
  const s = loadSettings();
  const headers = { "content-type": STRUCTURED, "idempotency-key": event.id };
  if (s.token !== undefined) headers.authorization = `Bearer ${s.token}`;
  let response;
  try {
    // `redirect: "manual"`: a 3xx is an answer (a reject), as in the Rust connector.
    response = await fetch(s.url, { method: "POST", headers, body: toCloudEvent(event), redirect: "manual" });
  } catch (err) {
    const why = `POST ${s.shown}: ${err?.message ?? err}`;
    throw transient(err) ? new Retry(why) : new Reject(why);
  }
  const ok = response.status >= 200 && response.status <= 299;
  // A refusal's body is read to quote it (the host stops it at `[http] max_response`);
  // a success's is left unread.
  const body = ok ? new Uint8Array() : new Uint8Array(await response.arrayBuffer().catch(() => new ArrayBuffer(0)));
  outcome(response.status, body, s.shown);
}

export const sink = {
  /** One result per event, in order. After a `retry` the host delivers that event and
   *  all after it again, so the rest get a `retry` without a request. */
  async deliver(batch) {
    const results = [];
    let retrying = false;
    for (const event of batch) {
      if (retrying) {
        results.push({ tag: "err", val: { tag: "retry", val: "not delivered: an earlier event in the batch asked for retry" } });
        continue;
      }
      try {
        await deliver(event);
        results.push({ tag: "ok" });
      } catch (err) {
        if (err instanceof Retry) {
          retrying = true;
          results.push({ tag: "err", val: { tag: "retry", val: err.message } });
        } else if (err instanceof Reject) {
          results.push({ tag: "err", val: { tag: "reject", val: err.message } });
        } else {
          throw err; // a bug: trap, the host retries on a fresh instance
        }
      }
    }
    return results;
  },
};
