"""A team drill in headless Chromium: two participants and a facilitator, each in
their own browser context, acting at once on one drill room (the real dashboard
server, pages and API over a stand-in drill: no payment stack is needed to test
what the browsers do).

Checked: every page sees the same state within a second of any action; the
timeline says who did what; a link without the right token gets nothing and
changes nothing; an unknown mitigation or parameter, a missing name, an action
while paused or after the end are each told on the page.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poslab.drill.dashboard.server import DashboardServer, tls_context
from poslab.drill.room import DrillRoom
from tests.drill.team_stage import (
    FACILITATOR_TOKEN,
    TOKEN,
    StandInStage,
    room,
    second,
    self_signed,
)
from tests.support.chromium import ARGS, CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (/usr/bin/chromium)"),
]

#: "Within a second": what every page must show after an action, with no reload.
SAME_STATE_MS = 1000
#: Scheduling slack of a loaded 2-core host (browser, server and pytest share it).
TOLERANCE_MS = 1000


class ServedRoom:
    """The room and its server on an event loop of their own (Playwright's sync API
    blocks the test's thread)."""

    def __init__(self, tmp: Path, tls: ssl.SSLContext | None = None) -> None:
        self.stage = StandInStage()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.room: DrillRoom = self.call(self._make(tmp))
        self.server = DashboardServer(self.room, tls=tls)
        self.url: str = self.call(self.server.start())
        self._samples = self.loop.call_soon_threadsafe(self._publish, 0)

    async def _make(self, tmp: Path) -> DrillRoom:
        return room(tmp, self.stage)

    def _publish(self, i: int) -> None:
        # A sample a second, as the drill's sampler publishes them.
        self.room.board.publish(second(i, time.time()))
        self.loop.call_later(1.0, self._publish, i + 1)

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def close(self) -> None:
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    def timeline(self) -> list[dict[str, Any]]:
        return self.room.timeline.read()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedRoom]:
    served = ServedRoom(tmp_path)
    try:
        yield served
    finally:
        served.close()


def events_shown(page: Any) -> int:
    return int(page.locator("#events li[data-event]").count())


def same_state(pages: list[Any], count: int) -> None:
    """Every page lists ``count`` events within a second."""
    for page in pages:
        page.wait_for_function(
            f"document.querySelectorAll('#events li[data-event]').length === {count}",
            timeout=SAME_STATE_MS + TOLERANCE_MS,
        )


def message(page: Any) -> str:
    page.wait_for_function(
        "!['', '…'].includes(document.getElementById('message').textContent)", timeout=5000
    )
    return str(page.locator("#message").inner_text())


def test_two_participants_and_a_facilitator_at_once(served: ServedRoom) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            pages = {}
            for who, path, token in (
                ("lin", "/", TOKEN),
                ("wang", "/", TOKEN),
                ("zhao", "/facilitator", FACILITATOR_TOKEN),
                ("stranger", "/", "not-the-token"),
                ("nobody", "/", ""),
            ):
                context = browser.new_context(viewport={"width": 1300, "height": 1000})
                page = context.new_page()
                page.on("pageerror", lambda e, who=who: problems.append(f"{who}: {e} {e.stack}"))
                page.goto(f"{served.url}{path}#token={token}" if token else served.url + path)
                pages[who] = page
            lin, wang, zhao = pages["lin"], pages["wang"], pages["zhao"]
            team = [lin, wang, zhao]

            # A link without the right token gets nothing, and says so.
            for who in ("stranger", "nobody"):
                assert "no valid drill token" in message(pages[who])
                assert pages[who].locator("#status").inner_text() == "no access"
            # The token left the address bar (it stays in the tab's session).
            assert "token" not in lin.url
            lin.wait_for_function("document.getElementById('status').textContent === 'running'")
            # The same catalogue as the CLI, from the drill itself.
            options = lin.locator("#mitigation-list option")
            assert options.count() == 10
            assert lin.locator("#check-area option").count() == 6

            # Acting without a name is refused on the page.
            lin.fill("#note-text", "who am I")
            lin.click("#note")
            assert "Give your name first" in message(lin)
            lin.fill("#name", "Lin")
            wang.fill("#name", "Wang")

            # A note: every page shows it, with its author, within a second.
            lin.fill("#note-text", "east slow since 10:02")
            lin.click("#note")
            same_state(team, 1)
            assert (
                wang.locator("#events li")
                .first.inner_text()
                .endswith("Lin: note: east slow since 10:02")
            )

            # Three people at once: a check, a mitigation, an injected fault.
            wang.select_option("#check-area", "network")
            lin.fill("#mitigation", "use_backup_path")
            lin.fill("#mitigation-params", "regions=east")
            zhao.select_option("#inject-scenario", "issuer-slow")
            wang.click("#check")
            lin.click("#mitigate")
            zhao.click("#inject")
            assert message(wang) == "check network: bad"
            assert wang.locator("#check-result tbody tr").count() == 1
            assert message(lin).startswith("use_backup_path: terminals of east pinned")
            assert message(zhao) == "injected issuer-slow: issuer-slow/f"
            same_state(team[:2], 3)  # the injection stays the facilitator's
            shown = lin.locator("#events").inner_text()
            assert "Wang: check network → bad" in shown
            assert "Lin: use_backup_path (regions=east) → terminals of east pinned" in shown
            assert "issuer-slow" not in shown

            # Bad input from the browser: told clearly, nothing runs.
            wang.fill("#mitigation", "reboot_everything")
            wang.fill("#mitigation-params", "")
            wang.click("#mitigate")
            assert "unknown mitigation 'reboot_everything'" in message(wang)
            lin.fill("#mitigation", "use_backup_path")
            lin.fill("#mitigation-params", "zone=east")
            lin.click("#mitigate")
            assert "unknown param(s) zone (takes: regions)" in message(lin)
            lin.fill("#mitigation-params", "regions=mars")
            lin.click("#mitigate")
            assert "regions: unknown mars" in message(lin)
            lin.fill("#mitigation-params", "regions")
            lin.click("#mitigate")
            assert 'params: "regions" is not key=value' in message(lin)

            # The facilitator pauses: every page says so; actions wait.
            zhao.click("#pause")
            same_state(team[:2], 4)
            for page in (lin, wang):
                assert page.locator("#status").inner_text() == "paused"
                assert "paused the drill clock" in page.locator("#banner").inner_text()
            clock = lin.locator("#clock").inner_text()
            assert clock.endswith("(paused)")
            wang.fill("#note-text", "still slow?")
            wang.click("#detect")
            assert "the facilitator paused the drill" in message(wang)
            zhao.click("#resume")
            same_state(team[:2], 5)
            assert lin.locator("#status").inner_text() == "running"

            # Revealed to everyone: the plan appears on the participants' pages.
            zhao.click("#reveal")
            for page in (lin, wang):
                page.wait_for_selector("#plan-faults li", timeout=SAME_STATE_MS)
                assert "east-sagging" in page.locator("#plan-faults").inner_text()

            # The facilitator ends it; a participant acting afterwards is told so.
            zhao.click("#end")
            assert "the drill is ending" in message(zhao)
            for page in (lin, wang):
                page.wait_for_selector("#banner:not([hidden])", timeout=SAME_STATE_MS)
                assert "The drill has ended" in page.locator("#banner").inner_text()
            wang.fill("#note-text", "too late")
            wang.click("#note")
            assert "the drill has ended" in message(wang)
        finally:
            browser.close()
    assert problems == []
    timeline = served.timeline()
    who_did = [(e["event"], e.get("by")) for e in timeline]
    assert who_did[0] == ("note", "Lin")
    # the three acted at once: in whichever order the drill took them
    assert set(who_did[1:4]) == {
        ("check", "Wang"),
        ("mitigation", "Lin"),
        ("inject", "facilitator"),
    }
    assert who_did[4:] == [
        ("pause", "facilitator"),
        ("resume", "facilitator"),
        ("reveal", "facilitator"),
    ]
    assert served.stage.ended == ("ended by the facilitator (facilitator)", False)
    assert served.stage.stack.calls == [("fleet", "use_backup_path", {"regions": ["east"]})]
    assert served.stage.injected == ["issuer-slow"]


def test_a_participant_over_tls(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    cert, key = self_signed(tmp_path)
    served = ServedRoom(tmp_path, tls=tls_context(cert, key))
    try:
        assert served.url.startswith("https://")
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                # The team's browsers are told to trust the drill's certificate (here:
                # a self-signed one, so the context accepts it).
                page = browser.new_context(ignore_https_errors=True).new_page()
                page.goto(f"{served.url}/#token={TOKEN}")
                page.wait_for_function(
                    "document.getElementById('status').textContent === 'running'"
                )
                page.fill("#name", "Lin")
                page.fill("#note-text", "over TLS")
                page.click("#note")
                assert message(page) == "noted"
                same_state([page], 1)
            finally:
                browser.close()
        assert [(e["event"], e["by"]) for e in served.timeline()] == [("note", "Lin")]
    finally:
        served.close()
