"""Differential fuzzing of the HTTP API: the same random call sequences to the
embedded server and to the real Toxiproxy, every answer compared.

A hypothesis ``RuleBasedStateMachine`` (:class:`ApiMachine`) draws calls —
proxies created, updated, enabled/disabled, deleted; toxics added, updated,
removed; ``/populate``, ``/reset``; malformed JSON, wrong types, unknown and
oddly cased fields, repeated members, odd routes — and sends each one to both
servers. The answers must agree on the status, the headers that matter
(``Content-Type``, ``X-Content-Type-Options``, whether a request id is there)
and the body, once bound listen ports (the kernel's choice, different on
each server) are replaced by ``PORT``. No data is sent through the proxies, so
values that crash the real server on data are safe to send to its API.

The one difference accepted is the listed one (poslab/proxy/README.md): a
toxic the real server accepts but would crash on (:func:`crashes_toxiproxy`,
worked out here independently from Toxiproxy's Go code) is refused by the
embedded server with a 400 that says why; the real server is then brought back
in step (the toxic deleted, or its update undone) and the sequence goes on.

Used by ``test_proxy_differential_api.py`` (500+ sequences) and by
``scripts/verify-proxy-conformance`` (as many as asked).
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

__all__ = ["ApiMachine", "Differences", "Raw", "Wire", "crashes_toxiproxy", "machine_for"]

# --- the wire ------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    raw: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.raw)
        except ValueError:
            return None


class Wire:
    """One keep-alive HTTP/1.1 connection to one server."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 8474
        self._conn = http.client.HTTPConnection(self.host, self.port, timeout=10)

    def call(self, method: str, path: str, body: bytes | None = None) -> Answer:
        for attempt in (1, 2):
            try:
                headers = {"User-Agent": "poslab-conformance"}
                self._conn.request(method, path, body=body, headers=headers)
                response = self._conn.getresponse()
                raw = response.read()
                found = {k.lower(): v for k, v in response.getheaders()}
                return Answer(response.status, found, raw)
            except (http.client.HTTPException, OSError):
                # A server may close an idle keep-alive connection: once more.
                self._conn.close()
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._conn.close()


# --- bodies ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text written as is (``100.0``, ``1e400``, ``-0``)."""

    text: str


@dataclass(frozen=True)
class Obj:
    """A JSON object as a list of members (names may repeat, as Go reads them)."""

    pairs: tuple[tuple[str, Any], ...]

    def get(self, name: str) -> Any:
        found = None
        for key, value in self.pairs:
            if key.lower() == name.lower():
                found = value
        return found


@dataclass(frozen=True)
class ListenOf:
    """The current ``listen`` of a proxy on each server (ports differ)."""

    proxy: str


def encode(value: Any, listen_of: Callable[[str], str]) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, ListenOf):
        return json.dumps(listen_of(value.proxy))
    if isinstance(value, Obj):
        members = (f"{json.dumps(k)}:{encode(v, listen_of)}" for k, v in value.pairs)
        return "{" + ",".join(members) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode(v, listen_of) for v in value) + "]"
    return json.dumps(value)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any = None  # None: no body; bytes: raw; else encoded per server
    #: What the call is, for the toxic refusal rule: ("create"|"update", proxy, toxic).
    toxic_op: tuple[str, str, str] | None = None

    def body_for(self, listen_of: Callable[[str], str]) -> bytes | None:
        if self.body is None or isinstance(self.body, bytes):
            return self.body
        return encode(self.body, listen_of).encode()

    def __repr__(self) -> str:
        body = self.body if isinstance(self.body, bytes) else encode(self.body, lambda p: f"<{p}>")
        return f"{self.method} {self.path} {body!r}"


# --- what crashes Toxiproxy (from its Go code, independently of poslab.proxy) ----------

_GO_READ = 32 * 1024


def crashes_toxiproxy(toxic_type: str, attributes: dict[str, int]) -> bool:
    """Whether Toxiproxy 2.12 would crash on data through this toxic."""
    if toxic_type == "bandwidth":
        rate = attributes.get("rate", 0)
        return rate < 0 or rate * 100 > 2**63 - 1  # Data[:rate*100] out of range
    if toxic_type == "latency":
        return attributes.get("jitter", 0) * 2 > 2**63 - 1  # Int63n(negative)
    if toxic_type == "slicer":
        average = attributes.get("average_size", 0)
        variation = attributes.get("size_variation", 0)
        # Try every piece size Toxiproxy can read: a split that cannot make
        # progress (no variation) or a cut that can leave the piece (variation).
        for size in range(0, _GO_READ + 1):
            if size - average <= variation:
                continue  # not split
            half = size // 2
            if variation <= 0:
                if half in (0, size):
                    return True
            elif half - variation < 0 or half + variation - 1 > size:
                return True
            return False  # larger pieces are safer still
        return False
    return False


# --- comparing --------------------------------------------------------------------------

_ADDRESS = re.compile(r"(127\.0\.0\.1|localhost|\[::\]|0\.0\.0\.0):(\d+)")
_RELEVANT_HEADERS = ("content-type", "x-content-type-options")


class PortNames:
    """Bound listen ports replaced by ``PORT`` (the kernel picks them, and may
    or may not hand a freed one out again); a port 0 as given stays."""

    def __call__(self, text: str) -> str:
        def name(match: re.Match[str]) -> str:
            if match.group(2) == "0":
                return match.group(0)
            return f"{match.group(1)}:PORT"

        return _ADDRESS.sub(name, text)


def _shape(answer: Answer, ports: PortNames) -> dict[str, Any]:
    headers = {h: answer.headers.get(h) for h in _RELEVANT_HEADERS}
    request_id = answer.headers.get("x-toxiproxy-request-id")
    text = ports(answer.raw.decode("utf-8", errors="replace"))
    return {
        "status": answer.status,
        "headers": headers,
        "request_id": None if request_id is None else len(request_id),
        "body": text,
    }


@dataclass
class Differences:
    """What a run saw: sequences, calls, and the listed differences met."""

    sequences: int = 0
    calls: int = 0
    listed: dict[str, int] = field(default_factory=dict)

    def note(self, kind: str) -> None:
        self.listed[kind] = self.listed.get(kind, 0) + 1


class Mismatch(AssertionError):
    pass


# --- the state machine -------------------------------------------------------------------

NAMES = ("a", "b", "c")
TOXIC_TYPES = {
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
    "noop": (),
}
_TOXIC_NAMES = (
    "t1",
    *(
        f"{t}_{s}"
        for t in ("latency", "slicer", "bandwidth", "timeout")
        for s in ("upstream", "downstream")
    ),
)


def _cases(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name, name, name.upper(), name.capitalize()])


_WRONG = st.sampled_from(
    ["x", "100", True, False, [1], Obj((("a", 1),)), Raw("1.5"), Raw("100.0"), Raw("1e2"),
     Raw("1e400"), Raw("-0"), Raw(str(2**63)), Raw(str(-(2**63) - 1))]
)  # fmt: skip
_INTS = st.one_of(
    st.integers(-3, 2100),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, 1000, 2**62, 2**61, 2**63 - 1, -(2**63), 92233720368547758]),
)
_FLOATS = st.one_of(
    st.sampled_from([0.0, 0.5, 1.0, 0.2, 0.25, 1.5, -1.0, 0.1234567891]),
    st.floats(0, 1, allow_nan=False),
)


def _member(name: str, value: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[str, Any]]:
    return st.tuples(_cases(name), value)


def _obj(
    members: list[st.SearchStrategy[tuple[str, Any]]], extra: int = 2
) -> st.SearchStrategy[Obj]:
    unknown = st.tuples(
        st.sampled_from(["colour", "toxics", "Mutex", "index", "direction"]), st.integers(0, 3)
    )
    return st.lists(st.one_of(*members, unknown), max_size=len(members) + extra).map(
        lambda pairs: Obj(tuple(pairs))
    )


_LISTEN = st.one_of(
    st.sampled_from(
        ["127.0.0.1:0", "127.0.0.1:0", "localhost:0", "local373", "127.0.0.1:99999", "127.0.0.1:x"]
    ),
    st.sampled_from(NAMES).map(ListenOf),
)  # fmt: skip


def _proxy_body(required: bool) -> st.SearchStrategy[Obj]:
    name = st.one_of(st.sampled_from(NAMES), st.sampled_from(["", "a"]), _WRONG)
    upstream = st.one_of(st.sampled_from(["127.0.0.1:9", "x:1", ""]), _WRONG)
    enabled = st.one_of(st.booleans(), st.none(), _WRONG)
    logger = st.sampled_from([Obj(()), Obj((("level", 1),)), None, 5, "x", [1]])
    listen = st.one_of(_LISTEN, _WRONG) if not required else _LISTEN
    members = [
        _member("name", name),
        _member("upstream", upstream),
        _member("enabled", enabled),
        st.tuples(st.sampled_from(["Logger", "logger"]), logger),
    ]
    if required:
        # Always a listen host: an empty one is a listed difference (loopback here).
        core = st.tuples(
            st.sampled_from(NAMES), st.sampled_from(["127.0.0.1:9", "x:1"]), _LISTEN
        ).map(lambda t: (("name", t[0]), ("upstream", t[1]), ("listen", t[2])))
        return st.tuples(core, _obj(members, extra=1)).map(
            lambda t: (
                Obj(tuple(p for p in t[0]) + t[1].pairs)
                if all(k.lower() != "listen" for k, _ in t[1].pairs)
                else Obj(t[0])
            )
        )
    members.append(_member("listen", listen))
    return _obj(members)


def _attributes(toxic_type: str) -> st.SearchStrategy[Any]:
    names = TOXIC_TYPES.get(toxic_type, ("latency",))
    value = st.one_of(*([_INTS] * 12), _WRONG, st.none())
    members = [_member(n, value) for n in names] or [_member("latency", value)]
    return st.one_of(*([_obj(members, extra=1)] * 8), st.sampled_from([None, 5, "x", [1]]))


@st.composite
def _toxic_body(draw: st.DrawFn) -> tuple[Obj, str, str]:
    toxic_type = draw(
        st.sampled_from([*TOXIC_TYPES, *TOXIC_TYPES, "latency", "slicer", "teleport", ""])
    )
    stream = draw(
        st.sampled_from(["upstream", "downstream"] * 4 + ["UpStream", "", "sideways", None])
    )
    pairs: list[tuple[str, Any]] = [("type", toxic_type)]
    if draw(st.booleans()):
        pairs.append((draw(_cases("stream")), stream))
    name = draw(st.sampled_from([None, None, None, None, "t1", "t2", "", 5]))
    if name is not None:
        pairs.append(("name", name))
    if draw(st.booleans()):
        pairs.append((draw(_cases("toxicity")), draw(st.one_of(_FLOATS, _WRONG))))
    if draw(st.integers(0, 6)):
        pairs.append((draw(_cases("attributes")), draw(_attributes(toxic_type))))
    if draw(st.integers(0, 6)) == 0:
        pairs.append(("colour", "red"))
    draw(st.randoms()).shuffle(pairs)
    effective_stream = stream if isinstance(stream, str) and stream else "downstream"
    return Obj(tuple(pairs)), toxic_type, effective_stream


_MALFORMED = [
    b"", b"{", b"{name: 1}", b"NaN", b"[1,]", b'{"a":}', b"[", b"  ", b"}",
    b'{"name":"a" "x":1}', b'{"name":"a",}', b"-", b"01", b"1.", b"{}}", b"nul", b"tru",
    b'"unterminated', b"\xff", b'{"name":"\xff"}', b"1x", b"[1, 2]", b"{}",
]  # fmt: skip


class ApiMachine(RuleBasedStateMachine):
    """Random API call sequences against both servers (see the module doc)."""

    embedded: Wire
    real: Wire
    seen: Differences

    def __init__(self) -> None:
        super().__init__()
        self.ports = {"embedded": PortNames(), "real": PortNames()}
        self.log: list[str] = []
        #: (proxy, toxic) the servers made (so updates and removals find some).
        self.toxics: list[tuple[str, str]] = []

    # --- plumbing ----------------------------------------------------------------------

    def _listen_of(self, wire: Wire, proxy: str) -> str:
        answer = wire.call("GET", f"/proxies/{proxy}")
        if answer.status != 200:
            return "127.0.0.1:0"
        return str(json.loads(answer.raw)["listen"])

    def send(self, call: Call) -> tuple[Answer, Answer]:
        self.log.append(repr(call))
        answers = []
        for wire in (self.embedded, self.real):
            body = call.body_for(lambda proxy, wire=wire: self._listen_of(wire, proxy))  # type: ignore[misc]
            answers.append(wire.call(call.method, call.path, body))
        embedded, real = answers
        self.seen.calls += 1
        if call.toxic_op is not None and real.status == 200:
            created = real.json()
            made = (
                (call.toxic_op[1], str(created.get("name"))) if isinstance(created, dict) else None
            )
            if made is not None and made not in self.toxics:
                self.toxics.append(made)
        if self._listed_refusal(call, embedded, real):
            return embedded, real
        if call.toxic_op is not None and call.toxic_op[0] == "update" and real.status == 400:
            self._partial_update(call.toxic_op)
        mine = _shape(embedded, self.ports["embedded"])
        theirs = _shape(real, self.ports["real"])
        if mine != theirs:
            steps = "\n  ".join(self.log)
            raise Mismatch(f"after\n  {steps}\nembedded: {mine}\nreal:     {theirs}")
        return embedded, real

    def _listed_refusal(self, call: Call, embedded: Answer, real: Answer) -> bool:
        """The one listed difference: a toxic the real server accepts and would
        crash on, refused here. Checks it is exactly that, then re-syncs."""
        if call.toxic_op is None or embedded.status != 400 or real.status != 200:
            return False
        message = (embedded.json() or {}).get("error", "")
        toxic = real.json()
        assert isinstance(toxic, dict), real.raw
        if not crashes_toxiproxy(toxic["type"], toxic["attributes"]):
            return False  # not the listed case: a real mismatch
        assert message.startswith("bad request body: ") and "Toxiproxy" in message, message
        op, proxy, name = call.toxic_op
        name = toxic["name"]
        if op == "create":
            self.real.call("DELETE", f"/proxies/{quote(proxy)}/toxics/{quote(name)}")
            self.seen.note("crash values refused on create")
        else:
            before = json.loads(self.embedded.call("GET", f"/proxies/{proxy}/toxics/{name}").raw)
            undo = {"attributes": before["attributes"], "toxicity": before["toxicity"]}
            self.real.call("PATCH", f"/proxies/{proxy}/toxics/{name}", json.dumps(undo).encode())
            self.seen.note("crash values refused on update")
        return True

    def _partial_update(self, toxic_op: tuple[str, str, str]) -> None:
        """A 400 update keeps its well-typed attributes on both servers, unless
        the result would crash Toxiproxy: then the real server has it and the
        embedded one kept the toxic as it was (the listed refusal again)."""
        _op, proxy, name = toxic_op
        path = f"/proxies/{proxy}/toxics/{name}"
        mine, theirs = self.embedded.call("GET", path), self.real.call("GET", path)
        if mine.status != 200 or mine.raw == theirs.raw:
            return
        toxic = theirs.json()
        assert crashes_toxiproxy(toxic["type"], toxic["attributes"]), (mine.raw, theirs.raw)
        before = mine.json()
        undo = {"attributes": before["attributes"], "toxicity": before["toxicity"]}
        self.real.call("PATCH", path, json.dumps(undo).encode())
        self.seen.note("crash values refused in a 400 update")

    # --- rules -------------------------------------------------------------------------

    @initialize(
        b_enabled=st.booleans(),
        first=st.sampled_from(list(TOXIC_TYPES)),
        second=st.sampled_from(list(TOXIC_TYPES)),
    )
    def start(self, b_enabled: bool, first: str, second: str) -> None:
        """Two proxies to work on (``c`` is left to the rules), with a toxic
        on each direction of ``a`` for updates and removals to find."""
        self.seen.sequences += 1
        for wire in (self.embedded, self.real):
            for name in json.loads(wire.call("GET", "/proxies").raw):
                wire.call("DELETE", f"/proxies/{quote(name, safe='')}")
        for name, enabled in (("a", True), ("b", b_enabled)):
            body = Obj(
                (("name", name), ("upstream", "127.0.0.1:9"), ("listen", "127.0.0.1:0"),
                 ("enabled", enabled))
            )  # fmt: skip
            self.send(Call("POST", "/proxies", body))
        for toxic_type, stream in ((first, "downstream"), (second, "upstream")):
            values = {"rate": 100, "average_size": 10, "size_variation": 2}
            attributes = Obj(tuple((n, values.get(n, 5)) for n in TOXIC_TYPES[toxic_type]))
            body = Obj((("type", toxic_type), ("stream", stream), ("attributes", attributes)))
            self.send(Call("POST", "/proxies/a/toxics", body, ("create", "a", "")))

    @rule(body=_proxy_body(required=True))
    def create_proxy(self, body: Obj) -> None:
        self.send(Call("POST", "/proxies", body))

    @rule(body=_proxy_body(required=False))
    def create_anything(self, body: Obj) -> None:
        if body.get("listen") is None:
            body = Obj((*body.pairs, ("listen", "127.0.0.1:0")))
        self.send(Call("POST", "/proxies", body))

    @rule(name=st.sampled_from(NAMES), body=_proxy_body(required=False), post=st.booleans())
    def update_proxy(self, name: str, body: Obj, post: bool) -> None:
        listen = body.get("listen")
        if isinstance(listen, str) and not listen.rsplit(":", 1)[0]:
            return  # an empty host: listed difference
        self.send(Call("POST" if post else "PATCH", f"/proxies/{name}", body))

    @rule(name=st.sampled_from(NAMES), enabled=st.booleans())
    def toggle(self, name: str, enabled: bool) -> None:
        self.send(Call("PATCH", f"/proxies/{name}", Obj((("enabled", enabled),))))

    @rule(name=st.sampled_from(NAMES))
    def delete_proxy(self, name: str) -> None:
        self.send(Call("DELETE", f"/proxies/{name}"))

    @rule(name=st.sampled_from([*NAMES, ""]))
    def show(self, name: str) -> None:
        self.send(Call("GET", f"/proxies/{name}" if name else "/proxies"))

    @rule(name=st.sampled_from(["a", "a", "b", "c"]), toxic=_toxic_body())
    def add_toxic(self, name: str, toxic: tuple[Obj, str, str]) -> None:
        body, _type, _stream = toxic
        self.send(Call("POST", f"/proxies/{name}/toxics", body, ("create", name, "")))

    @rule(
        name=st.sampled_from(["a", "a", "b"]),
        toxic_type=st.sampled_from(list(TOXIC_TYPES)),
        stream=st.sampled_from(["upstream", "downstream"]),
        values=st.lists(st.integers(-2, 3000), min_size=3, max_size=3),
        toxicity=st.sampled_from([None, 0.0, 0.5, 1.0]),
        named=st.booleans(),
    )
    def add_plain_toxic(
        self,
        name: str,
        toxic_type: str,
        stream: str,
        values: list[int],
        toxicity: float | None,
        named: bool,
    ) -> None:
        """A well-formed toxic, as clients mostly send them."""
        attributes = Obj(tuple(zip(TOXIC_TYPES[toxic_type], values, strict=False)))
        pairs: list[tuple[str, Any]] = [("type", toxic_type), ("stream", stream)]
        pairs.append(("attributes", attributes))
        if named:
            pairs.append(("name", f"t{values[0] % 3}"))
        if toxicity is not None:
            pairs.append(("toxicity", toxicity))
        self.send(Call("POST", f"/proxies/{name}/toxics", Obj(tuple(pairs)), ("create", name, "")))

    def _some_toxic(self, data: st.DataObject, name: str) -> tuple[str, str]:
        """Mostly a toxic that exists (on its proxy), else any name on ``name``."""
        # The same draws whatever the servers answered (hypothesis replays a
        # sequence and must draw the same way): an index taken modulo.
        existing = data.draw(st.integers(0, 4)) > 0
        index = data.draw(st.integers(0, 15))
        fallback = str(data.draw(st.sampled_from(_TOXIC_NAMES[:3])))
        if self.toxics and existing:
            return self.toxics[-1 - index % len(self.toxics)]
        return name, fallback

    @rule(
        name=st.sampled_from(["a", "a", "b", "c"]),
        toxic_type=st.sampled_from(list(TOXIC_TYPES)),
        data=st.data(),
        post=st.booleans(),
    )
    def update_toxic(self, name: str, toxic_type: str, data: st.DataObject, post: bool) -> None:
        name, toxic = self._some_toxic(data, name)
        if toxic.split("_")[0] in TOXIC_TYPES:
            toxic_type = toxic.rsplit("_", 1)[0]
        pairs: list[tuple[str, Any]] = []
        if data.draw(st.integers(0, 3)):
            pairs.append((data.draw(_cases("attributes")), data.draw(_attributes(toxic_type))))
        if data.draw(st.booleans()):
            pairs.append((data.draw(_cases("toxicity")), data.draw(st.one_of(_FLOATS, _WRONG))))
        if data.draw(st.integers(0, 5)) == 0:
            pairs.append(("stream", "upstream"))
        body: Any = Obj(tuple(pairs)) if data.draw(st.integers(0, 8)) else data.draw(_WRONG)
        path = f"/proxies/{name}/toxics/{toxic}"
        self.send(Call("POST" if post else "PATCH", path, body, ("update", name, toxic)))

    @rule(name=st.sampled_from(["a", "a", "b", "c"]), data=st.data())
    def remove_toxic(self, name: str, data: st.DataObject) -> None:
        name, toxic = self._some_toxic(data, name)
        self.send(Call("DELETE", f"/proxies/{name}/toxics/{toxic}"))

    @rule(name=st.sampled_from(NAMES), toxic=st.sampled_from(["", *_TOXIC_NAMES[:3]]))
    def show_toxics(self, name: str, toxic: str) -> None:
        path = f"/proxies/{name}/toxics" + (f"/{toxic}" if toxic else "")
        self.send(Call("GET", path))

    @rule(
        entries=st.one_of(
            st.lists(
                st.one_of(_proxy_body(required=True), _proxy_body(required=False)), max_size=3
            ),
            _WRONG,
            st.none(),
        )
    )
    def populate(self, entries: Any) -> None:
        if isinstance(entries, list):
            entries = [
                Obj((*e.pairs, ("listen", "127.0.0.1:0")))
                if isinstance(e, Obj) and e.get("listen") is None
                else e
                for e in entries
            ]
        self.send(Call("POST", "/populate", entries if entries is not None else Raw("null")))

    @rule(
        where=st.sampled_from(
            [("POST", "/proxies"), ("POST", "/populate"), ("PATCH", "/proxies/a"),
             ("POST", "/proxies/a/toxics"), ("PATCH", "/proxies/a/toxics/t1"),
             ("PATCH", "/proxies/nope")]
        ),
        raw=st.sampled_from(_MALFORMED),
    )  # fmt: skip
    def malformed(self, where: tuple[str, str], raw: bytes) -> None:
        method, path = where
        self.send(Call(method, path, raw))

    @rule(
        route=st.sampled_from(
            [("POST", "/reset"), ("POST", "/reset"), ("GET", "/nowhere"), ("PUT", "/proxies"),
             ("GET", "/reset"), ("DELETE", "/populate"),
             ("GET", "/populate"), ("PUT", "/proxies/a"), ("GET", "/version"), ("GET", "/metrics"),
             ("POST", "/version"), ("GET", "/proxies/a/toxics/t1/x"), ("GET", "/proxies/")]
        )
    )  # fmt: skip
    def reset_or_odd_route(self, route: tuple[str, str]) -> None:
        self.send(Call(*route))

    def teardown(self) -> None:
        for wire in (self.embedded, self.real):
            for name in json.loads(wire.call("GET", "/proxies").raw):
                wire.call("DELETE", f"/proxies/{quote(name, safe='')}")


def machine_for(embedded_url: str, real_url: str, seen: Differences) -> type[ApiMachine]:
    """An :class:`ApiMachine` class bound to two running servers."""

    class Bound(ApiMachine):
        pass

    Bound.embedded = Wire(embedded_url)
    Bound.real = Wire(real_url)
    Bound.seen = seen
    return Bound
