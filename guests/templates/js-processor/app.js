// {{name}}: a weft processor. It passes every event on to the topic in config
// `output_topic`, adding the extension attribute `processedby: {{name}}`.
//
// The contract is wit/weft.wit (world `processor`): the host calls `handler.process`
// with a batch of events and expects exactly one outcome per event, in order:
// `{ tag: "ok", val: [events] }` to emit (an empty list filters the event out),
// `{ tag: "err", val: { tag: "retry", val: reason } }` to have it delivered again
// later, `{ tag: "err", val: { tag: "reject", val: reason } }` to send it to the
// module's error queue. Imports are ES modules named by the interface's full id with
// its version; the exported interface `handler` is the exported object `handler`.
import { get } from "weft:integration/config@0.1.0";
import { log } from "weft:integration/log@0.1.0";

/** One event in, the outcome out. */
function process(event) {
  // Read config in calls, never at the top level: that runs at build time.
  const topic = get("output_topic");
  if (topic === undefined) {
    return { tag: "err", val: { tag: "reject", val: "config `output_topic` is not set" } };
  }
  log("debug", `passing ${event.id} on to ${topic}`);
  // Extension names are lower-case letters and digits; set, never duplicate.
  const extensions = event.extensions.filter(([name]) => name !== "processedby");
  extensions.push(["processedby", "{{name}}"]);
  // The host gives each output an id derived from the input's.
  return { tag: "ok", val: [{ ...event, topic, extensions }] };
}

export const handler = {
  process(batch) {
    const outcomes = [];
    let retrying = false;
    for (const event of batch) {
      // After a retry the host delivers that event and all after it again,
      // so running the rest now would only repeat their effects.
      const outcome = retrying
        ? { tag: "err", val: { tag: "retry", val: "an earlier event in the batch asked for retry" } }
        : process(event);
      retrying = outcome.tag === "err" && outcome.val.tag === "retry";
      outcomes.push(outcome);
    }
    return outcomes;
  },
};
