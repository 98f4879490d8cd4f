// passthrough: emits every input event unchanged to the topic in config `output_topic`.
//
// Built from ../../../wit (world `processor`) by ../build.sh with componentize-js 0.23.0.
// Interface imports are ES modules named by their full id with version;
// the exported interface `handler` is an exported object named `handler`.
import { log } from "weft:integration/log@0.1.0";
import { get } from "weft:integration/config@0.1.0";

export const handler = {
  process(batch) {
    const topic = get("output_topic");
    if (topic === undefined) {
      log("error", "config key output_topic is missing");
      return batch.map(() => ({
        tag: "err",
        val: { tag: "reject", val: "config key output_topic is missing" },
      }));
    }
    log("info", `passthrough: ${batch.length} event(s) -> ${topic}`);
    return batch.map((event) => ({ tag: "ok", val: [{ ...event, topic }] }));
  },
};
