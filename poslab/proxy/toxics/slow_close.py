"""``slow_close``: data untouched; closing the destination after EOF is
delayed by ``delay`` ms."""

from __future__ import annotations

import dataclasses

from poslab.proxy.toxics.base import Toxic, ToxicStub, go_duration
from poslab.proxy.toxics.registry import register


@register
@dataclasses.dataclass(frozen=True)
class SlowCloseToxic(Toxic):
    type_name = "slow_close"
    go_struct = "SlowCloseToxic"

    delay: int = 0

    async def pipe(self, stub: ToxicStub) -> None:
        while (chunk := await stub.read()) is not None:
            await stub.write(chunk)
        # The EOF stays pending on the stub while we wait: if the toxic is
        # updated or removed meanwhile, the close is handed on, not lost.
        await stub.sleep_until(stub.now() + go_duration(self.delay, 1_000_000))
        stub.close()
