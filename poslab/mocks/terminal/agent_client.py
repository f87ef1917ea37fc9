"""The terminal's and the merchant's client for the agent backend: TMS polls,
software downloads, tickets and replacement requests, with primary → backup
failover and a durable outbox.

Blocking stdlib sockets (``http.client``), so it is cooperative under gevent
without importing it; no asyncio. One client per greenlet or thread (it keeps
one connection per instance); many clients may share one outbox file.

    client = AgentClient("http://127.0.0.1:8001", "http://127.0.0.1:8002",
                         timeout_s=2.0, outbox_path="merchant-outbox.sqlite",
                         rng=random.Random(7))
    record = client.poll_tms("10000001")           # TmsRecord (.latest, .parameters)
    package = client.download_software("10000001", record.latest)   # sha256 verified
    receipt = client.file_ticket("898…", "transactions_failing", "3 sales failed")
    client.flush_outbox()                          # deliver what was queued

Failover: an instance that fails (no connection, timeout, 5xx) is skipped for
a backoff that doubles with each failure (full jitter from ``rng``, capped),
then tried again — which is how the client fails back to the primary. When
nothing answers, reads raise :class:`AgentUnavailable`; writes stay in the
outbox (``TicketReceipt.delivered`` is False) and go out on a later
``flush_outbox()``.

Errors::

    AgentClientError
    ├── AgentUnavailable     no instance answered (connect, timeout, 5xx on every one)
    ├── AgentRejected        an instance answered 4xx (.status, .detail): not retried
    └── ChecksumMismatch     every package received failed its SHA-256
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import http.client
import json
import os
import random
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from poslab.mocks.terminal.agent_outbox import Outbox, OutboxEntry, open_outbox

__all__ = [
    "AgentClient",
    "AgentClientError",
    "AgentRejected",
    "AgentUnavailable",
    "ChecksumMismatch",
    "Replacement",
    "SoftwarePackage",
    "TicketReceipt",
    "TmsRecord",
]


class AgentClientError(Exception):
    """Base of what the agent client raises."""


class AgentUnavailable(AgentClientError):
    """No agent instance answered (each one's failure is in the message)."""


class AgentRejected(AgentClientError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"agent answered {status}: {detail}")
        self.status = status
        self.detail = detail


class ChecksumMismatch(AgentClientError):
    """A downloaded package did not match its SHA-256 on any instance."""


@dataclasses.dataclass(frozen=True, slots=True)
class TmsRecord:
    tid: str
    mid: str
    status: str  # "active" or "retired"
    replaced_by: str | None
    param_version: int
    parameters: dict[str, Any]
    latest: str  # the software version to run
    minimum: str  # below it the host asks for a download
    update_required: bool | None
    path: str  # which instance answered: "primary" / "backup"


@dataclasses.dataclass(frozen=True, slots=True)
class SoftwarePackage:
    version: str
    body: bytes = dataclasses.field(repr=False)
    sha256: str
    path: str


@dataclasses.dataclass(frozen=True, slots=True)
class TicketReceipt:
    key: str  # idempotency key (also the outbox row)
    delivered: bool
    ticket_id: str | None
    state: str | None  # the ticket's state when delivered
    path: str | None  # instance that accepted it
    attempts: int


@dataclasses.dataclass(frozen=True, slots=True)
class Replacement:
    old_tid: str
    new_tid: str
    mid: str
    region: str
    tmk: str = dataclasses.field(repr=False)
    software_version: str
    allowed: tuple[str, ...]
    state: str  # "completed", or "pending_acquirer" (the agent keeps retrying)
    ticket_id: str
    path: str


class _Instance:
    """One agent instance: a kept connection and its failure backoff."""

    # slots: a fleet holds two clients of two instances per terminal
    __slots__ = (
        "_conn",
        "_host",
        "_https",
        "_port",
        "_prefix",
        "_timeout",
        "failures",
        "name",
        "skip_until",
        "url",
    )

    def __init__(self, name: str, url: str, timeout_s: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"agent URL must be http(s)://host:port, got {url!r}")
        self.name = name
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout_s
        self._conn: http.client.HTTPConnection | None = None
        self.failures = 0
        self.skip_until = 0.0

    def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        try:
            self._conn.request(method, self._prefix + path, body=body, headers=headers)
            reply = self._conn.getresponse()
            data = reply.read()
        except BaseException:
            self.close()  # never reuse a connection in an unknown state
            raise
        if reply.will_close:
            self.close()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, data

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _Failed(Exception):
    """One instance did not give a usable answer (internal)."""


class AgentClient:
    # slots: a fleet holds two of these per terminal (issue 16 item 6)
    __slots__ = (
        "_auth",
        "_base",
        "_cap",
        "_clock",
        "_instances",
        "_outbox",
        "_rng",
        "_timeout",
        "last_path",
    )

    def __init__(
        self,
        primary_url: str,
        backup_url: str | None = None,
        *,
        timeout_s: float = 2.0,
        failover: bool = True,
        outbox_path: str | None = None,
        rng: random.Random | None = None,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        labels: tuple[str, str] = ("primary", "backup"),
        token: str | None = None,
    ) -> None:
        # The stack's bearer token: off loopback the agent guards every path
        # but /health (replacements answer terminal master keys). The lab's
        # processes (the fleet's Locust among them) inherit LAB_ADMIN_TOKEN.
        token = token if token is not None else os.environ.get("LAB_ADMIN_TOKEN")
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        # ``labels`` name the two URLs in ``last_path`` and receipts: a client
        # built backup-first (the "use the backup agent" mitigation) passes
        # ("backup", "primary") so journals still say which instance answered.
        self._instances = [_Instance(labels[0], primary_url, timeout_s)]
        if backup_url and failover:
            self._instances.append(_Instance(labels[1], backup_url, timeout_s))
        self._timeout = timeout_s
        self._rng = rng or random.Random()
        self._base = backoff_base_s
        self._cap = backoff_cap_s
        self._clock = clock
        self._outbox: Outbox | None = open_outbox(outbox_path) if outbox_path else None
        self.last_path = labels[0]

    def close(self) -> None:
        for instance in self._instances:
            instance.close()

    # -- transport with failover --------------------------------------------

    def _order(self) -> list[_Instance]:
        """Instances not in backoff first (primary before backup), then the
        rest: when every one is backing off, try them all anyway."""
        now = self._clock()
        ready = [i for i in self._instances if i.skip_until <= now]
        return ready + [i for i in self._instances if i.skip_until > now]

    def _failed(self, instance: _Instance) -> None:
        instance.failures += 1
        ceiling = min(self._cap, self._base * 2 ** (instance.failures - 1))
        instance.skip_until = self._clock() + self._rng.uniform(ceiling / 2, ceiling)

    def _call(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        check: Callable[[int, dict[str, str], bytes], None] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        body = None if payload is None else json.dumps(payload).encode()
        sent = {"Accept": "application/json", **self._auth, **(headers or {})}
        if body is not None:
            sent["Content-Type"] = "application/json"
        problems = []
        for instance in self._order():
            try:
                status, got, data = instance.request(method, path, body, sent)
                if status >= 500:
                    raise _Failed(f"{status} {data[:120]!r}")
                if check is not None:
                    check(status, got, data)
            except (OSError, http.client.HTTPException, _Failed) as exc:
                self._failed(instance)
                problems.append(f"{instance.name} ({instance.url}): {exc!r}")
                continue
            instance.failures = 0
            instance.skip_until = 0.0
            self.last_path = instance.name
            if status >= 400:
                raise AgentRejected(status, _detail(data))
            return status, got, data
        raise AgentUnavailable("no agent instance answered: " + "; ".join(problems))

    # -- TMS ------------------------------------------------------------------

    def poll_tms(self, tid: str, version: str | None = None) -> TmsRecord:
        query = f"?version={quote(version)}" if version else ""
        _, _, data = self._call("GET", f"/tms/terminals/{quote(tid)}{query}")
        d = json.loads(data)
        return TmsRecord(
            tid=d["tid"],
            mid=d["mid"],
            status=d["status"],
            replaced_by=d["replaced_by"],
            param_version=d["param_version"],
            parameters=d["parameters"],
            latest=d["software"]["latest"],
            minimum=d["software"]["minimum"],
            update_required=d["software"]["update_required"],
            path=self.last_path,
        )

    def download_software(self, tid: str, version: str) -> SoftwarePackage:
        """The package, its SHA-256 verified; a corrupt download is a failure
        of that instance (the other one is tried)."""
        bad: list[str] = []

        def verify(status: int, headers: dict[str, str], data: bytes) -> None:
            expected = headers.get("x-checksum-sha256", "")
            if status == 200 and hashlib.sha256(data).hexdigest() != expected:
                bad.append(expected)
                raise _Failed(f"package {version} failed its SHA-256 check")

        try:
            _, headers, data = self._call(
                "GET", f"/tms/terminals/{quote(tid)}/software/{quote(version)}", check=verify
            )
        except AgentUnavailable as exc:
            if bad:
                raise ChecksumMismatch(str(exc)) from exc
            raise
        return SoftwarePackage(version, data, headers["x-checksum-sha256"], self.last_path)

    # -- writes through the outbox -------------------------------------------

    def _new_key(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _require_outbox(self) -> Outbox:
        if self._outbox is None:
            raise AgentClientError("this client has no outbox_path: it cannot queue requests")
        return self._outbox

    def _deliver(self, key: str) -> OutboxEntry | None:
        """Send one outbox row; the row as it stands afterwards (None: someone
        else is sending it right now)."""
        outbox = self._require_outbox()
        entry = outbox.lease(key, lease_s=self._timeout * 2 * len(self._instances) + 1)
        if entry is None:
            return outbox.get(key)
        try:
            status, _, data = self._call(
                entry.method, entry.path, entry.body, headers={"Idempotency-Key": key}
            )
        except AgentRejected as exc:
            outbox.rejected(key, exc.status, exc.detail)
        except AgentUnavailable as exc:
            delay = min(self._cap, self._base * 2 ** min(entry.attempts, 16))
            outbox.retry_later(key, self._rng.uniform(delay / 2, delay), str(exc))
        else:
            reply = json.loads(data)
            outbox.delivered(key, status, reply, self.last_path)
            stored = outbox.get(key)
            # the outbox keeps the answer without its keys; the caller gets it whole
            return None if stored is None else dataclasses.replace(stored, reply=reply)
        return outbox.get(key)

    def file_ticket(
        self, mid: str, category: str, summary: str, *, tid: str | None = None, detail: str = ""
    ) -> TicketReceipt:
        """Queue a ticket and try to deliver it now. Never loses it: when no
        agent answers, ``delivered`` is False and the outbox keeps it.
        Raises :class:`AgentRejected` if the agent refuses it as invalid."""
        body = {"mid": mid, "tid": tid, "category": category, "summary": summary}
        if detail:
            body["detail"] = detail
        key = self._new_key()
        self._require_outbox().add(key, "ticket", "POST", "/tickets", body)
        entry = self._deliver(key)
        assert entry is not None
        if entry.state == "rejected":
            raise AgentRejected(entry.status or 422, entry.error or "rejected")
        return _receipt(entry)

    def request_replacement(self, tid: str, reason: str) -> Replacement:
        """Ask for a replacement of a broken terminal. When no agent answers
        the request stays queued (delivered by ``flush_outbox``) and
        :class:`AgentUnavailable` is raised; ask again, or call
        :meth:`get_replacement`, later."""
        key = f"replacement:{tid}"  # one replacement per terminal, ever
        outbox = self._require_outbox()
        outbox.add(
            key, "replacement", "POST", f"/terminals/{quote(tid)}/replacement", {"reason": reason}
        )
        entry = self._deliver(key)
        if entry is not None and entry.state == "delivered" and entry.reply is not None:
            if "tmk" not in entry.reply.get("terminal", {}):
                # delivered before (by a flush): the outbox kept no key, the agent has it
                again = self.get_replacement(tid)
                if again is not None:
                    return again
                raise AgentUnavailable(f"replacement of {tid}: delivered, but not found again")
            found = _replacement(entry.reply, entry.delivered_via or self.last_path)
            if found.state != "completed":  # asked before: the agent may have finished since
                with contextlib.suppress(AgentUnavailable):
                    found = self.get_replacement(tid) or found
            return found
        if entry is not None and entry.state == "rejected":
            raise AgentRejected(entry.status or 422, entry.error or "rejected")
        raise AgentUnavailable(
            f"replacement of {tid} queued: {entry.error if entry else 'in flight'}"
        )

    def get_replacement(self, tid: str) -> Replacement | None:
        """The replacement of ``tid`` as the agent knows it now (None: none)."""
        try:
            _, _, data = self._call("GET", f"/terminals/{quote(tid)}/replacement")
        except AgentRejected as exc:
            if exc.status == 404:
                return None
            raise
        return _replacement(json.loads(data), self.last_path)

    def notifications(self, mid: str, since: float = 0.0) -> list[dict[str, Any]]:
        _, _, data = self._call("GET", f"/merchants/{quote(mid)}/notifications?since={since}")
        found: list[dict[str, Any]] = json.loads(data)
        return found

    def flush_outbox(self, max_items: int = 100) -> list[TicketReceipt]:
        """Deliver queued requests whose retry time has come; the ones that
        were delivered now. Stops at the first one no agent answers."""
        done = []
        for key in self._require_outbox().due(max_items):
            entry = self._deliver(key)
            if entry is None or entry.state == "pending":
                break
            if entry.state == "delivered":
                done.append(_receipt(entry))
        return done

    def pending(self) -> int:
        return self._require_outbox().count("pending")


def _receipt(entry: OutboxEntry) -> TicketReceipt:
    reply = entry.reply or {}
    return TicketReceipt(
        key=entry.key,
        delivered=entry.state == "delivered",
        ticket_id=reply.get("id") or reply.get("ticket_id"),
        state=reply.get("state"),
        path=entry.delivered_via,
        attempts=entry.attempts,
    )


def _replacement(d: dict[str, Any], path: str) -> Replacement:
    t = d["terminal"]
    return Replacement(
        old_tid=d["old_tid"],
        new_tid=d["new_tid"],
        mid=t["mid"],
        region=t["region"],
        tmk=t["tmk"],
        software_version=t["software_version"],
        allowed=tuple(t["allowed"]),
        state=d["state"],
        ticket_id=d["ticket_id"],
        path=path,
    )


def _detail(data: bytes) -> str:
    """The agent's explanation: ``{"error": ...}``, as every mock answers errors."""
    try:
        detail = json.loads(data).get("error", "")
    except (ValueError, AttributeError):
        return data[:300].decode(errors="replace")
    return detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)[:1000]
