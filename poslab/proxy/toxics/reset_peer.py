"""``reset_peer``: on the first chunk, wait ``timeout`` ms, then close the
connection with a TCP RST (SO_LINGER 0), so the peer gets ECONNRESET.

The first chunk is dropped, and nothing more is read meanwhile. Toxiproxy
sets SO_LINGER only on connections that existed with the toxic in place; here
the reset is a real RST on both sockets whenever the toxic fires, including
on connections that were live when it was added.
"""

from __future__ import annotations

import dataclasses

from poslab.proxy.toxics.base import Toxic, ToxicStub, go_duration
from poslab.proxy.toxics.registry import register


@register
@dataclasses.dataclass(frozen=True)
class ResetPeerToxic(Toxic):
    type_name = "reset_peer"
    go_struct = "ResetToxic"

    timeout: int = 0

    async def pipe(self, stub: ToxicStub) -> None:
        await stub.read()  # the first chunk, or EOF: either starts the clock
        stub.discard()
        await stub.sleep_until(stub.now() + go_duration(self.timeout, 1_000_000))
        stub.reset_connection()
