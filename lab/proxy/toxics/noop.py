"""``noop``: passes data through untouched (Toxiproxy's NoopToxic)."""

from __future__ import annotations

import dataclasses

from lab.proxy.toxics.base import Toxic
from lab.proxy.toxics.registry import register


@register
@dataclasses.dataclass(frozen=True)
class NoopToxic(Toxic):
    type_name = "noop"
    go_struct = "NoopToxic"
