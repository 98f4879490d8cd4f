"""router: sends each event, unchanged, to a topic chosen by a field of its data.

The Python twin of guests/processors/router (same settings, same results).

Settings (the manifest's `[config]`; values arrive as strings, tables as JSON text):
- `field` (required): the JSON field to route on, top-level (`country`) or a dotted
  path into nested objects (`address.country`).
- `routes` (table, required): field value -> topic.
- `default` (optional): the topic for values with no route.

String values are matched as they are; numbers and booleans by their JSON text (`42`,
`true`). A missing field, `null`, an array or an object has no route. With no route and
no `default`, the event is rejected with "no route for FIELD=VALUE", so it lands in the
error queue instead of vanishing.

Built from ../../../wit (world `processor`) by ../build.sh with componentize-py 0.25.1.
"""
import dataclasses
import json
from typing import Any, Dict, List, Optional

from componentize_py_types import Err, Ok, Result
from wit_world import exports
from wit_world.imports import config
from wit_world.imports.types import Event, Failure, Failure_Reject


class Reject(Exception):
    """A permanent failure of one event: it goes to the module's error queue."""


class Settings:
    """The parsed `[config]`, read once, on the first call (never at import: the import
    runs at build time, where there is no configuration)."""

    def __init__(self) -> None:
        routes_text = config.get("routes")
        if routes_text is None:
            raise Reject("config `routes` is not set")
        try:
            routes = json.loads(routes_text)
        except ValueError as err:
            raise Reject(f"config `routes` is not valid: {err}") from None
        if not isinstance(routes, dict) or not all(isinstance(t, str) for t in routes.values()):
            raise Reject("config `routes` is not valid: expected a table of value = \"topic\"")
        field = config.get("field")
        if field is None:
            raise Reject("config `field` is not set")
        self.field: str = field
        self.path: List[str] = field.split(".")
        self.routes: Dict[str, str] = routes
        self.default: Optional[str] = config.get("default")

    def route(self, data: Any) -> str:
        """The topic for `data`, or a reject saying why there is none."""
        value = data
        for name in self.path:
            if not isinstance(value, dict) or name not in value:
                value = None
                break
            value = value[name]
        key = route_key(value)
        topic = self.routes.get(key) if key is not None else None
        if topic is None:
            topic = self.default
        if topic is None:
            shown = key if key is not None else "<none>"
            raise Reject(f"no route for {self.field}={shown}")
        return topic


def route_key(value: Any) -> Optional[str]:
    """The text a value is routed by; None for values that cannot name a route."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # before int: a bool is an int in Python
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return None


_settings: Optional[Settings] = None
_settings_error: Optional[str] = None


def settings() -> Settings:
    """The settings, parsed on first use; a bad configuration rejects every event with
    the same reason, which names the key to fix."""
    global _settings, _settings_error
    if _settings is None and _settings_error is None:
        try:
            _settings = Settings()
        except Reject as err:
            _settings_error = str(err)
    if _settings_error is not None:
        raise Reject(_settings_error)
    assert _settings is not None
    return _settings


def route(event: Event) -> List[Event]:
    s = settings()
    try:
        data = json.loads(event.data)
    except ValueError as err:
        raise Reject(f"data is not the expected JSON: {err}") from None
    return [dataclasses.replace(event, topic=s.route(data))]


class Handler(exports.Handler):
    def process(self, batch: List[Event]) -> List[Result[List[Event], Failure]]:
        """One outcome per input, in order: the event on its new topic, or a reject."""
        outcomes: List[Result[List[Event], Failure]] = []
        for event in batch:
            try:
                outcomes.append(Ok(route(event)))
            except Reject as err:
                outcomes.append(Err(Failure_Reject(str(err))))
        return outcomes
