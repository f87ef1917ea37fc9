"""Secrets at rest, piece by piece: the kit's sealer, the terminal's flash
(PANs sealed in reversals, SAF advices and the batch log, WAL included), the
merchant's outbox (no TMK kept), the ASGI guard and body cap."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from poslab.mocks.kit.fastapi_admin import install_error_answers, install_guard
from poslab.mocks.kit.sealed import SEALED, Sealer, SealError, world_key
from poslab.mocks.terminal import (
    BatchEntry,
    DurableReversals,
    ReversalRecord,
    SafEntry,
    SafQueue,
    TerminalStore,
)
from poslab.mocks.terminal.agent_outbox import Outbox, without_keys
from poslab.world import generate

PAN = "6212345678901234567"
FIELDS = '[[2,"6212345678901234567"],[4,"000000001234"]]'


def _on_disk(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_the_sealer_round_trips_and_refuses_another_key() -> None:
    world = generate(3, 4)
    key = world_key(world, "terminal flash")
    assert key == world_key(generate(3, 4), "terminal flash")  # a restart derives it again
    assert key != world_key(world, "acquirer registry")
    sealed = Sealer(key).seal(PAN.encode())
    assert sealed.startswith(SEALED) and PAN not in sealed
    assert Sealer(key).unseal(sealed) == PAN.encode()
    assert Sealer(key).unseal("clear") == b"clear"  # written in clear by an older lab
    with pytest.raises(SealError):
        Sealer(bytes(32)).unseal(sealed)


def test_the_flash_keeps_no_pan_in_clear(tmp_path: Path) -> None:
    path = tmp_path / "terminals.sqlite"
    key = bytes(range(32))
    store = TerminalStore(path, data_key=key)
    reversals, saf = DurableReversals(store), SafQueue(store)
    reversals.put(ReversalRecord("10000001", "000001", "000001", "sale", 1234, "621234…4567",
                                 FIELDS, "98"))  # fmt: skip
    saf.put(SafEntry("10000001", "000002", "000001", "refund", 500, "621234…4567", FIELDS))
    store.log_add("10000001", "000001", BatchEntry("000001", "sale", 1234, PAN, "1", "1208"))
    reversals.delete("10000001", "000001", "000001")  # a deleted row leaves its pages behind
    assert PAN.encode() not in _on_disk(path)

    again = TerminalStore(path, data_key=key)  # a restarted process, same world
    assert SafQueue(again).pending("10000001")[0].fields == FIELDS
    assert again.log_entries("10000001", "000001")[0].pan == PAN
    with pytest.raises(SealError):
        TerminalStore(path, data_key=bytes(32)).log_entries("10000001", "000001")


def test_the_outbox_keeps_the_answer_without_its_keys(tmp_path: Path) -> None:
    answer = {"state": "completed", "terminal": {"tid": "20000001", "tmk": "0123456789ABCDEF" * 2}}
    assert without_keys(answer) == {"state": "completed", "terminal": {"tid": "20000001"}}
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.add("k1", "replacement", "POST", "/terminals/10000001/replacement", {"reason": "x"})
    outbox.delivered("k1", 201, answer, "primary")
    stored = outbox.get("k1")
    assert stored is not None and stored.reply == without_keys(answer)
    outbox.close()
    assert b"0123456789ABCDEF" not in _on_disk(tmp_path / "outbox.sqlite")
    sqlite3.connect(tmp_path / "outbox.sqlite").close()


def _app(token: str | None) -> httpx.AsyncClient:
    app = FastAPI()
    install_error_answers(app)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/echo")
    async def echo(body: dict[str, object]) -> dict[str, object]:
        return body

    install_guard(app, token, max_body=1024)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://kit")


@pytest.mark.anyio
async def test_the_asgi_guard_and_body_cap() -> None:
    async with _app("s3cret") as client:
        assert (await client.get("/health")).status_code == 200
        for headers in ({}, {"Authorization": "s3cret"}, {"Authorization": "Bearer nope"}):
            refused = await client.post("/echo", json={}, headers=headers)
            assert refused.status_code == 401 and "Bearer" in refused.json()["error"]
        bearer = {"Authorization": "Bearer s3cret"}
        assert (await client.post("/echo", json={"a": 1}, headers=bearer)).json() == {"a": 1}
        assert (await client.get("/nowhere", headers=bearer)).status_code == 404
        big = {"a": "x" * 2000}
        assert (await client.post("/echo", json=big, headers=bearer)).status_code == 413

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"a": "'
            for _ in range(10):
                yield b"x" * 500
            yield b'"}'

        streamed = await client.post("/echo", content=chunks(), headers=bearer)
        assert streamed.status_code == 413 and "larger than 1024" in streamed.json()["error"]
    async with _app(None) as open_client:  # no token: open
        assert (await open_client.post("/echo", json={"a": 2})).json() == {"a": 2}
