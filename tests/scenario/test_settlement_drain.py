"""The drain's settlement wait against an acquirer admin API stand-in (real HTTP, port 0)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from poslab.scenario.settlement_drain import NotReported, SettlementDrain, SettlementState

pytestmark = pytest.mark.anyio

Answer = Callable[[float], tuple[int, Any]]


class SettlementStub:
    """``GET /admin/settlement?by=``: answers from a script; records every ``by``."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.asked: list[float] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _settlement(self, request: web.Request) -> web.Response:
        by = float(request.query["by"])
        self.asked.append(by)
        status, body = self.answer(by)
        if isinstance(body, str):
            return web.Response(status=status, text=body)
        return web.json_response(body, status=status)

    async def __aenter__(self) -> SettlementStub:
        app = web.Application()
        app.add_routes([web.get("/admin/settlement", self._settlement)])
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def _state(backlog: int = 0, cut_closes: int = 0, payouts_due: int = 0) -> dict[str, Any]:
    return {"backlog": backlog, "cut_closes": cut_closes, "payouts_due": payouts_due}


async def _wait(
    answer: Answer, by: float, budget_s: float
) -> tuple[tuple[bool, str], list[float], float]:
    async with SettlementStub(answer) as stub:
        began = time.monotonic()
        result = await SettlementDrain(stub.url, poll_s=0.05).wait(by, began + budget_s)
        return result, stub.asked, time.monotonic() - began


async def test_waits_until_the_work_due_is_done() -> None:
    replies = iter([_state(backlog=3, payouts_due=40), _state(cut_closes=2, payouts_due=7)])

    def answer(by: float) -> tuple[int, Any]:
        return 200, next(replies, _state())

    (done, detail), asked, took = await _wait(answer, by=1_790_000_000.5, budget_s=5.0)
    assert done and "every payout due made" in detail
    assert len(asked) == 3 and set(asked) == {1_790_000_000.5}  # the drain's end, every time
    assert took < 2.0


async def test_reports_what_is_left_when_the_drain_ends() -> None:
    (done, detail), asked, took = await _wait(
        lambda by: (200, _state(cut_closes=2, payouts_due=5)), by=1.0, budget_s=0.4
    )
    assert not done
    assert "2 to close at a day cut" in detail and "5 row(s)" in detail
    assert "end of the drain" in detail
    assert len(asked) >= 2 and 0.3 <= took <= 1.5


async def test_an_answer_it_cannot_read_is_retried_not_trusted() -> None:
    replies = iter([(500, "boom"), (200, {"backlog": "many"}), (200, _state())])
    (done, _), asked, _ = await _wait(lambda by: next(replies), by=1.0, budget_s=5.0)
    assert done and len(asked) == 3
    (done, detail), _, _ = await _wait(lambda by: (200, "not json"), by=1.0, budget_s=0.2)
    assert not done and "did not say" in detail


async def test_an_acquirer_without_the_endpoint_is_not_waited_for() -> None:
    with pytest.raises(NotReported, match="does not report its settlement"):
        await _wait(lambda by: (404, {"error": "no"}), by=1.0, budget_s=5.0)


def test_state_from_json() -> None:
    state = SettlementState.from_json(_state(backlog=1))
    assert not state.done and "1 settled batch(es)" in state.describe()
    assert SettlementState.from_json(_state()).done
    bad_answers: list[object] = [[], {**_state(), "backlog": -1}, {"backlog": 1}]
    for bad in bad_answers:
        with pytest.raises(ValueError):
            SettlementState.from_json(bad)
