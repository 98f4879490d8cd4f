"""passthrough: emits every input event unchanged to the topic in config `output_topic`.

Built from ../../../wit (world `processor`) by ../build.sh.
componentize-py 0.25 maps the exported interface `handler` to the class `Handler`
in this module; the imports are modules under `wit_world.imports`.
"""
import dataclasses
from typing import List

from componentize_py_types import Err, Ok, Result
from wit_world import exports
from wit_world.imports import config, log
from wit_world.imports.types import Event, Failure, Failure_Reject


class Handler(exports.Handler):
    def process(self, batch: List[Event]) -> List[Result[List[Event], Failure]]:
        topic = config.get("output_topic")
        if topic is None:
            log.log(log.Level.ERROR, "config key output_topic is missing")
            return [Err(Failure_Reject("config key output_topic is missing")) for _ in batch]
        log.log(log.Level.INFO, f"passthrough: {len(batch)} event(s) -> {topic}")
        return [Ok([dataclasses.replace(event, topic=topic)]) for event in batch]
