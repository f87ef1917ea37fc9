"""The acquirer's admin API, as the agent uses it to register and retire
terminals.

    POST /admin/terminals                {tid, mid, tmk, region, software_version, allowed} → 201
    POST /admin/terminals/{tid}/retire   → the open batch closed host-side, TID refused after

Both calls are idempotent at the acquirer (a registration repeated with the
same details is answered 200, a repeated retirement 200), and the agent's TIDs
and keys are deterministic (see :mod:`poslab.mocks.agent.terminal_directory`), so an
attempt repeated after a lost answer — by either instance — is harmless. Any
other answer (409: the TID is in use with other details or retired; 422: the
acquirer does not know the merchant) is an error the desk keeps retrying with
backoff and shows as the replacement's ``last_error``.
"""

from __future__ import annotations

import logging

import httpx

from poslab.mocks.agent.errors import UpstreamUnavailable
from poslab.world import Terminal

__all__ = ["AcquirerAdmin"]

log = logging.getLogger("poslab.mocks.agent.acquirer")


class AcquirerAdmin:
    def __init__(self, base_url: str | None, timeout_s: float, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        # the acquirer enforces the stack's admin token whenever it was given one
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self._client = httpx.AsyncClient(timeout=timeout_s, headers=headers)

    async def close(self) -> None:
        await self._client.aclose()

    async def register(self, terminal: Terminal) -> None:
        body: dict[str, object] = {
            "tid": terminal.tid,
            "mid": terminal.mid,
            "tmk": terminal.tmk,
            "region": terminal.region,
            "software_version": terminal.software_version,
            "allowed": list(terminal.allowed),
        }
        await self._post("/admin/terminals", body, f"register terminal {terminal.tid}")
        log.info(
            "registered terminal %s for merchant %s at the acquirer", terminal.tid, terminal.mid
        )

    async def retire(self, tid: str) -> None:
        await self._post(f"/admin/terminals/{tid}/retire", {}, f"retire terminal {tid}")
        log.info("retired terminal %s at the acquirer (open batch closed host-side)", tid)

    async def _post(self, path: str, body: dict[str, object], what: str) -> None:
        if self.base_url is None:
            raise UpstreamUnavailable(f"cannot {what}: no acquirer admin URL configured")
        try:
            reply = await self._client.post(self.base_url + path, json=body)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"cannot {what}: acquirer admin API: {exc!r}") from exc
        if reply.status_code in (200, 201, 204):
            return
        raise UpstreamUnavailable(
            f"cannot {what}: acquirer admin API answered {reply.status_code} {reply.text[:200]}"
        )
