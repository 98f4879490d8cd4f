"""{{name}}: a weft processor. It passes every event on to the topic in config
`output_topic`, adding the extension attribute `processedby: {{name}}`.

The contract is wit/weft.wit (world `processor`): the host calls `process` with a batch
of events and expects exactly one outcome per event, in order: `Ok([events])` to emit
(an empty list filters the event out), `Err(Failure_Retry(reason))` to have it
delivered again later, `Err(Failure_Reject(reason))` to send it to the module's error
queue. componentize-py maps the exported interface `handler` to the class `Handler`
below; the imports are modules under `wit_world.imports`.
"""
import dataclasses
from typing import List

from componentize_py_types import Err, Ok, Result
from wit_world import exports
from wit_world.imports import config, log
from wit_world.imports.types import Event, Failure, Failure_Reject, Failure_Retry


class Handler(exports.Handler):
    def process(self, batch: List[Event]) -> List[Result[List[Event], Failure]]:
        outcomes: List[Result[List[Event], Failure]] = []
        retrying = False
        for event in batch:
            # After a retry the host delivers that event and all after it again,
            # so running the rest now would only repeat their effects.
            if retrying:
                outcomes.append(Err(Failure_Retry("an earlier event in the batch asked for retry")))
                continue
            outcome = process(event)
            retrying = isinstance(outcome, Err) and isinstance(outcome.value, Failure_Retry)
            outcomes.append(outcome)
        return outcomes


def process(event: Event) -> Result[List[Event], Failure]:
    """One event in, the events to emit out."""
    # Read config in calls, never at import: the import runs at build time.
    topic = config.get("output_topic")
    if topic is None:
        return Err(Failure_Reject("config `output_topic` is not set"))
    log.log(log.Level.DEBUG, f"passing {event.id} on to {topic}")
    # Extension names are lower-case letters and digits; set, never duplicate.
    extensions = [(k, v) for (k, v) in event.extensions if k != "processedby"]
    extensions.append(("processedby", "{{name}}"))
    # The host gives each output an id derived from the input's.
    return Ok([dataclasses.replace(event, topic=topic, extensions=extensions)])
