"""A proxy's toxics: two ordered chains, their JSON, and live application.

Toxiproxy's ``toxic_collection.go``. Names are unique across both streams;
creation order is processing order; every change is applied at once to every
live connection of the proxy (synchronously, so when the API answers, every
connection already has it — see ``link.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from poslab.common import paused_gc
from poslab.proxy import api_error
from poslab.proxy.api_error import ApiError
from poslab.proxy.api_json import Float32, GoStruct, JsonObject, go_decode
from poslab.proxy.link import DIRECTIONS, Direction, Link
from poslab.proxy.toxics import Toxic, toxic_type

__all__ = ["ToxicCollection", "ToxicWrapper"]


@dataclasses.dataclass
class ToxicWrapper:
    """A toxic as the API knows it: name, type, stream, toxicity, attributes."""

    name: str
    type: str
    stream: str
    direction: Direction
    toxicity: float
    toxic: Toxic

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": self.toxic.attributes(),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": Float32(self.toxicity),
        }


#: What a create decodes first (Toxiproxy's ToxicWrapper), before it knows the
#: type: the attributes go into a NoopToxic, which takes any object.
_WRAPPER = GoStruct(
    "ToxicWrapper",
    "toxics.ToxicWrapper",
    (
        ("attributes", GoStruct("NoopToxic", "toxics.NoopToxic")),
        ("name", "string"),
        ("type", "string"),
        ("stream", "string"),
        ("toxicity", "float32"),
    ),
)
#: The anonymous struct an update decodes into (its name appears in errors).
_UPDATE_TYPE = (
    'struct { Attributes interface {} "json:\\"attributes\\""; '
    'Toxicity float32 "json:\\"toxicity\\"" }'
)


def _parse_direction(stream: str) -> Direction:
    lowered = stream.lower()
    for direction in DIRECTIONS:
        if lowered == direction:
            return direction
    raise api_error.INVALID_STREAM


def _attributes_of(body: object) -> object:
    """The ``attributes`` member as Go matches it (the last one present)."""
    if not isinstance(body, dict):
        return None
    found: object = None
    for key, value in body.pairs if isinstance(body, JsonObject) else body.items():
        if _WRAPPER.field(key) == ("attributes", _WRAPPER.fields[0][1]) and value is not None:
            found = value
    return found


class ToxicCollection:
    """The upstream and downstream chains of one proxy."""

    def __init__(self, live_links: Callable[[Direction], Iterable[Link]]) -> None:
        self._chains: dict[Direction, list[ToxicWrapper]] = {d: [] for d in DIRECTIONS}
        self._live_links = live_links

    def chain(self, direction: Direction) -> list[ToxicWrapper]:
        return list(self._chains[direction])

    def find(self, name: str) -> ToxicWrapper | None:
        for direction in DIRECTIONS:
            for wrapper in self._chains[direction]:
                if wrapper.name == name:
                    return wrapper
        return None

    def get(self, name: str) -> ToxicWrapper:
        wrapper = self.find(name)
        if wrapper is None:
            raise api_error.TOXIC_NOT_FOUND
        return wrapper

    def to_json(self) -> list[dict[str, Any]]:
        return [w.to_json() for d in DIRECTIONS for w in self._chains[d]]

    # --- API operations -------------------------------------------------------------

    def add_json(self, body: object) -> ToxicWrapper:
        """Create a toxic from a request body, checked in Toxiproxy's order:
        body, stream, type, duplicate name, then attributes."""
        decoded, error = go_decode(body, _WRAPPER)
        if error is not None:
            raise error
        fields = decoded if isinstance(decoded, dict) else {}
        raw_attributes = _attributes_of(body)
        stream = str(fields.get("stream", "downstream"))
        direction = _parse_direction(stream)
        type_name = str(fields.get("type", ""))
        name = str(fields.get("name", "")) or f"{type_name}_{stream}"
        toxic_class = toxic_type(type_name)
        if toxic_class is None:
            raise api_error.INVALID_TOXIC_TYPE
        if self.find(name) is not None:
            raise api_error.TOXIC_ALREADY_EXISTS
        toxicity = fields.get("toxicity", 1.0)
        assert isinstance(toxicity, float)
        wrapper = ToxicWrapper(
            name=name,
            type=type_name,
            stream=stream,
            direction=direction,
            toxicity=toxicity,
            toxic=toxic_class.from_attributes(raw_attributes, strict=False),
        )
        self._chains[direction].append(wrapper)
        # With 1,000 connections the heap is large: a full collection half-way
        # would stretch the time between the first connection getting the
        # change and the last one, so the collector waits until all have it.
        with paused_gc():
            for link in self._live_links(direction):
                link.add_stage(wrapper.name, wrapper.toxic, wrapper.toxicity)
        return wrapper

    def update_json(self, name: str, body: object) -> ToxicWrapper:
        """Merge new attributes and/or toxicity into a toxic and restart it on
        every live connection (toxicity drawn again)."""
        wrapper = self.get(name)
        toxic_class = type(wrapper.toxic)
        shape = GoStruct(
            "", _UPDATE_TYPE, (("attributes", toxic_class.go_type()), ("toxicity", "float32"))
        )
        decoded, error = go_decode(body, shape)
        fields = decoded if isinstance(decoded, dict) else {}
        if error is not None:
            # Toxiproxy decodes straight into the live toxic: the well-typed
            # attributes are applied even though it answers 400 (its toxicity
            # is not). Running stages pick them up at their next restart.
            with contextlib.suppress(ApiError):  # a refused merge changes nothing
                wrapper.toxic = toxic_class.from_attributes(
                    fields.get("attributes"), base=wrapper.toxic, strict=False
                )
                for link in self._live_links(wrapper.direction):
                    link.retoxic_stage(wrapper.name, wrapper.toxic)
            raise error
        toxic = toxic_class.from_attributes(
            fields.get("attributes"), base=wrapper.toxic, strict=False
        )
        toxicity = fields.get("toxicity", wrapper.toxicity)
        assert isinstance(toxicity, float)
        wrapper.toxic = toxic
        wrapper.toxicity = toxicity
        with paused_gc():
            for link in self._live_links(wrapper.direction):
                link.update_stage(wrapper.name, wrapper.toxic, wrapper.toxicity)
        return wrapper

    def remove(self, name: str) -> None:
        wrapper = self.get(name)
        self._chains[wrapper.direction].remove(wrapper)
        closes = wrapper.toxic.closes_on_removal
        with paused_gc():
            for link in self._live_links(wrapper.direction):
                link.remove_stage(wrapper.name, closes=closes)

    def reset(self) -> None:
        """Remove every toxic, in chain order (as ``/reset`` does)."""
        for direction in DIRECTIONS:
            while self._chains[direction]:
                self.remove(self._chains[direction][0].name)
