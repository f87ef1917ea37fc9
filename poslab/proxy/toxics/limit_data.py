"""``limit_data``: forwards up to ``bytes`` per connection and direction, then
closes. The count survives updates of the toxic (Toxiproxy's stateful toxic),
so raising the limit on a live connection lets it carry on from where it was."""

from __future__ import annotations

import dataclasses
from typing import Any

from poslab.proxy.channel import Chunk
from poslab.proxy.toxics.base import Toxic, ToxicStub
from poslab.proxy.toxics.registry import register


class _Transmitted:
    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


@register
@dataclasses.dataclass(frozen=True)
class LimitDataToxic(Toxic):
    type_name = "limit_data"
    go_struct = "LimitDataToxic"

    bytes: int = 0

    def new_state(self) -> Any:
        return _Transmitted()

    async def pipe(self, stub: ToxicStub) -> None:
        sent: _Transmitted = stub.state
        limit = self.bytes
        while (chunk := await stub.read()) is not None:
            remaining = max(0, limit - sent.count)
            data = chunk.data if len(chunk.data) <= remaining else chunk.data[:remaining]
            if data:
                await stub.write(Chunk(data, chunk.stamp))
                sent.count += len(data)
            else:
                stub.discard()
            if limit - sent.count <= 0:
                stub.close()
                return
        stub.close()
