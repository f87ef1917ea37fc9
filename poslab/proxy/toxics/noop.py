"""``noop``: passes data through untouched (Toxiproxy's NoopToxic)."""

from __future__ import annotations

import dataclasses

from poslab.proxy.toxics.base import Toxic
from poslab.proxy.toxics.registry import register


@register
@dataclasses.dataclass(frozen=True)
class NoopToxic(Toxic):
    type_name = "noop"
    go_struct = "NoopToxic"
