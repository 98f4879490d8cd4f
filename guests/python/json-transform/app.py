"""json-transform: renames fields and adds defaults to JSON events.

The Python twin of guests/processors/json-transform (same settings, same results).

Settings (the manifest's `[config]`; values arrive as strings, tables as JSON text):
- `output_topic` (required): where the transformed events go.
- `rename` (table, optional): old field name -> new field name. A renamed field keeps
  its place and overwrites a field already called by the new name.
- `add` (table, optional): field name -> JSON value, set only where the field is
  absent, so data that carries its own value keeps it.
- `reply_type` (optional): when set, an event that is a request (it carries the
  extension `replyto`, set by `POST /v1/requests/{topic}`) is also answered with the
  transformed data as a reply of this type (see `reply`).

Renames run before additions, so `add` can fill in a renamed field that was missing;
added fields go last. Only top-level fields are touched and the others keep their
order. Data that is not a JSON object is rejected: transforming it would have to guess.

Built from ../../../wit (world `processor`) by ../build.sh with componentize-py 0.25.1,
which maps the exported interface `handler` to the class `Handler` in this module.
"""
import dataclasses
import json
from typing import Any, Dict, List, Optional

from componentize_py_types import Err, Ok, Result
from wit_world import exports
from wit_world.imports import config
from wit_world.imports.types import Event, Failure, Failure_Reject

APPLICATION_JSON = "application/json"


class Reject(Exception):
    """A permanent failure of one event: it goes to the module's error queue."""


class Settings:
    """The parsed `[config]`. It cannot change under a running instance, so it is read
    once, on the first call (never at import: componentize-py runs the import at build
    time, where there is no configuration)."""

    def __init__(self) -> None:
        topic = config.get("output_topic")
        if topic is None:
            raise Reject("config `output_topic` is not set")
        self.output_topic: str = topic
        self.rename: Dict[str, str] = table("rename", str)
        self.add: Dict[str, Any] = table("add", None)
        self.reply_type: Optional[str] = config.get("reply_type")

    def apply(self, fields: Dict[str, Any]) -> Dict[str, Any]:
        """The transformed fields. Renames apply to the original names all at once (so
        `a -> b` and `b -> c` move both), keep each field where it was, and win over a
        field already called by the new name."""
        overwritten = {new for old, new in self.rename.items() if old in fields}
        out: Dict[str, Any] = {}
        for name, value in fields.items():
            new = self.rename.get(name)
            if new is not None:
                out[new] = value
            elif name not in overwritten:
                out[name] = value
        for name, value in self.add.items():
            if name not in out:
                out[name] = value
        return out


def table(key: str, values: Optional[type]) -> Dict[str, Any]:
    """The JSON object in config `key` ({} when unset); a reject naming the key if it is
    not an object (of `values`, when given)."""
    text = config.get(key)
    if text is None:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError as err:
        raise Reject(f"config `{key}` is not valid: {err}") from None
    if not isinstance(parsed, dict):
        raise Reject(f"config `{key}` is not valid: expected a table, not {kind(parsed)}")
    if values is not None:
        for name, value in parsed.items():
            if not isinstance(value, values):
                raise Reject(f"config `{key}` is not valid: `{name}` must be a string")
    return parsed


_settings: Optional[Settings] = None
_settings_error: Optional[str] = None


def settings() -> Settings:
    """The settings, parsed on first use. A bad configuration rejects every event with
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


def reply(request: Event, type_: str, data: bytes, content_type: str = APPLICATION_JSON) -> Optional[Event]:
    """A reply to `request`: an event of `type_` addressed to its `replyto`, carrying
    its id as `correlationid`; None when `request` is no request. The host hands it to
    the waiting caller; a module may emit to the `replyto` of the event it handles
    without a `publish` grant, and to no other reply address."""
    address = dict(request.extensions).get("replyto")
    if address is None or not address.startswith("_reply/"):
        return None
    return Event(
        id="",
        source="",
        type=type_,
        subject=None,
        time=None,
        datacontenttype=content_type,
        dataschema=None,
        extensions=[("correlationid", request.id)],
        topic=address,
        data=data,
    )


def kind(value: Any) -> str:
    """The JSON type of `value`, as a reason names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def transform(event: Event) -> List[Event]:
    s = settings()
    try:
        fields = json.loads(event.data)
    except ValueError as err:
        raise Reject(f"data is not the expected JSON: {err}") from None
    if not isinstance(fields, dict):
        raise Reject(f"data must be a JSON object, not {kind(fields)}")
    data = json.dumps(s.apply(fields), separators=(",", ":"), ensure_ascii=False)
    out = [
        dataclasses.replace(
            event,
            topic=s.output_topic,
            data=data.encode(),
            datacontenttype=APPLICATION_JSON,
        )
    ]
    answer = reply(event, s.reply_type, data.encode()) if s.reply_type else None
    if answer is not None:
        out.append(answer)
    return out


class Handler(exports.Handler):
    def process(self, batch: List[Event]) -> List[Result[List[Event], Failure]]:
        """One outcome per input, in order: the events to emit, or a reject with the reason."""
        outcomes: List[Result[List[Event], Failure]] = []
        for event in batch:
            try:
                outcomes.append(Ok(transform(event)))
            except Reject as err:
                outcomes.append(Err(Failure_Reject(str(err))))
        return outcomes
