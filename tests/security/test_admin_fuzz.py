"""No input a client can send reaches a 500, on every admin API, with the token.

- hypothesis on the aiohttp admin APIs (acquirer, issuer) and the proxy's
  Toxiproxy API: random JSON (huge integers, deep nesting, odd text) and
  random bytes to every route, random path segments;
- schemathesis on the agent's OpenAPI document, the admin routes included
  (a fault that a case happens to set is cleared after it);
- the reported case by hand: a 5,001-digit integer (beyond Python's int-from-text
  limit) in an admin body, on every service.

Bounded: a fixed number of examples per service, no shrinking database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.e2e_helpers import OwnedProxy
from tests.security.conftest import BEARER, GuardedStack

pytestmark = pytest.mark.timeout(300)

HUGE_TEXT = "9" * 5001

EXAMPLES = 100
AGENT_EXAMPLES_PER_OPERATION = 8

ACQUIRER_ROUTES = [
    ("POST", "/admin/faults/{name}"),
    ("DELETE", "/admin/faults/{name}"),
    ("POST", "/admin/terminals"),
    ("GET", "/admin/terminals/{tid}"),
    ("POST", "/admin/terminals/{tid}/retire"),
    ("GET", "/admin/batches"),
    ("GET", "/admin/export/{name}"),
    ("GET", "/admin/settlement"),
    ("POST", "/admin/settlement/run"),
    ("GET", "/admin/state"),
]
ISSUER_ROUTES = [
    ("POST", "/admin/faults/{name}"),
    ("DELETE", "/admin/faults/{name}"),
    ("GET", "/admin/export/{name}"),
    ("GET", "/admin/state"),
]
# Not the routes that create or move a listener (POST /proxies, /populate,
# POST|PATCH /proxies/{proxy}): a fuzzed listen address could bind beyond
# 127.0.0.1. The proxy's own conformance fuzzing covers those.
PROXY_ROUTES = [
    ("GET", "/proxies/{proxy}"),
    ("DELETE", "/proxies/{proxy}"),
    ("GET", "/proxies/{proxy}/toxics"),
    ("POST", "/proxies/{proxy}/toxics"),
    ("GET", "/proxies/{proxy}/toxics/{toxic}"),
    ("POST", "/proxies/{proxy}/toxics/{toxic}"),
    ("PATCH", "/proxies/{proxy}/toxics/{toxic}"),
    ("DELETE", "/proxies/{proxy}/toxics/{toxic}"),
]

_segment = st.one_of(
    st.sampled_from(
        ["issuer_timeout", "slow", "decline", "expire_keys", "10000001", "transactions",
         "issuer", "fuzzed", "latency", "latency_downstream", "%00", "..", "%2e%2e"]
    ),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.%", min_size=1, max_size=40),
)  # fmt: skip
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.text(max_size=50),
    st.sampled_from(["Infinity", "-0", "1e400", "\u0000", "🙂" * 20]),
)
_json = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=20), inner, max_size=5)
    ),
    max_leaves=20,
)
_known_fields = st.fixed_dictionaries(
    {},
    optional={
        name: _scalar
        for name in ("ms", "share", "rc", "tid", "tids", "mid", "tmk", "region", "name",
                     "type", "stream", "toxicity", "attributes", "latency", "enabled")
    },
)  # fmt: skip


def _raw_body() -> st.SearchStrategy[bytes]:
    as_json = st.one_of(_json, _known_fields).map(lambda v: json.dumps(v).encode())
    huge = st.sampled_from(
        [
            b'{"ms": ' + HUGE_TEXT.encode() + b"}",
            b'{"toxicity": 1e' + HUGE_TEXT.encode() + b"}",
            b"[" * 5000 + b"]" * 5000,
            b'{"a": "\\ud800"}',
        ]
    )
    return st.one_of(as_json, huge, st.binary(max_size=200))


def _fuzz(base: str, routes: list[tuple[str, str]], headers: dict[str, str]) -> list[str]:
    errors: list[str] = []
    statuses: list[int] = []

    @given(route=st.sampled_from(routes), segments=st.lists(_segment, min_size=3, max_size=3),
           body=_raw_body(), query=st.dictionaries(_segment, _segment, max_size=2))  # fmt: skip
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def exercise(
        route: tuple[str, str], segments: list[str], body: bytes, query: dict[str, str]
    ) -> None:
        method, template = route
        path = template
        for name, value in zip(("{name}", "{tid}", "{proxy}"), segments, strict=True):
            path = path.replace(name, value)
        path = path.replace("{toxic}", segments[0])
        with httpx.Client(base_url=base, timeout=10) as client:
            reply = client.request(
                method, path, params=query, content=body,
                headers={**headers, "Content-Type": "application/json"},
            )  # fmt: skip
            statuses.append(reply.status_code)
            if reply.status_code >= 500:
                shown = f"{method} {path} {body[:80]!r}"
                errors.append(f"{shown} → {reply.status_code} {reply.text[:200]}")
            # a fault set by chance stays set no longer than its example
            if "/admin/" in base + path:
                client.post("/admin/reset", headers=headers)

    exercise()
    assert len(statuses) >= EXAMPLES // 2
    return errors


def test_the_acquirer_and_issuer_admin_apis_answer_no_500(guarded: GuardedStack) -> None:
    errors = _fuzz(guarded.acquirer_admin, ACQUIRER_ROUTES, BEARER)
    errors += _fuzz(guarded.issuer_admin, ISSUER_ROUTES, BEARER)
    assert errors == [], "\n".join(errors[:20])


@pytest.fixture(scope="module")
def owned_proxy() -> Iterator[OwnedProxy]:
    with OwnedProxy() as proxy:
        created = httpx.post(
            f"{proxy.url}/proxies",
            json={"name": "fuzzed", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"},
        )
        assert created.status_code == 201, created.text
        yield proxy


def test_the_proxy_api_answers_no_500(owned_proxy: OwnedProxy) -> None:
    errors = _fuzz(owned_proxy.url, PROXY_ROUTES, {})
    assert errors == [], "\n".join(errors[:20])


def test_the_agent_api_answers_no_500_with_the_token(guarded: GuardedStack) -> None:
    schema = schemathesis.openapi.from_url(f"{guarded.agent.url}/openapi.json", headers=BEARER)
    errors: list[str] = []
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        tested += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=AGENT_EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def exercise(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            response = case.call(headers=BEARER, timeout=10)
            # 503 is what the agent's own faults answer on purpose: a 5xx is a
            # bug only when no fault is active; a fault a case set is cleared
            faults = f"{guarded.agent.url}/admin/faults"
            if response.status_code >= 500:
                active = httpx.get(faults, headers=BEARER).json()["active"]
                if not active:
                    errors.append(
                        f"{case.method} {case.formatted_path} → {response.status_code}: "
                        f"{response.text[:300]}"
                    )
            if case.method == "POST" and case.formatted_path.startswith("/admin/faults"):
                httpx.post(f"{guarded.agent.url}/admin/reset", headers=BEARER)

        exercise()
    assert tested >= 20
    assert errors == [], "\n".join(errors[:20])


def _huge(field: str) -> bytes:
    return ('{"' + field + '": ' + HUGE_TEXT + "}").encode()


def test_a_5001_digit_integer_is_refused_not_a_500(
    guarded: GuardedStack, owned_proxy: OwnedProxy
) -> None:
    cases: list[tuple[str, str, str, bytes, dict[str, str]]] = [
        ("POST", guarded.acquirer_admin, "/admin/faults/issuer_timeout", _huge("ms"), BEARER),
        ("POST", guarded.acquirer_admin, "/admin/terminals", _huge("tid"), BEARER),
        ("POST", guarded.issuer_admin, "/admin/faults/slow", _huge("ms"), BEARER),
        ("POST", guarded.agent.url, "/admin/faults/slow", _huge("ms"), BEARER),
        ("PUT", guarded.agent.url, "/admin/peer", _huge("url"), BEARER),
        ("POST", guarded.agent.url, "/tickets", _huge("mid"),
         {**BEARER, "Idempotency-Key": "huge-integer-1"}),
        ("POST", owned_proxy.url, "/proxies/fuzzed/toxics", _huge("toxicity"), {}),
    ]  # fmt: skip
    answers: list[Any] = []
    for method, base, path, body, headers in cases:
        reply = httpx.request(
            method, base + path, content=body, timeout=10,
            headers={**headers, "Content-Type": "application/json"},
        )  # fmt: skip
        answers.append((path, reply.status_code))
        assert 400 <= reply.status_code < 500, (path, reply.status_code, reply.text[:300])
    print(answers)
