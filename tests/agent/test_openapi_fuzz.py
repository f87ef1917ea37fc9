"""Schemathesis against the served OpenAPI document: whatever it sends, the
agent answers 2xx/4xx, never 5xx. Bounded: a few examples per operation
(~25 operations). The admin API is left out (its faults answer 503 on
purpose). Driven through schemathesis' Python API with Hypothesis directly:
its pytest plugin does not load under this pytest."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.agent.conftest import AgentProcess

EXAMPLES_PER_OPERATION = 15


@pytest.fixture(scope="module")
def agent_schema(shared_agent: AgentProcess) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{shared_agent.url}/openapi.json")


def test_no_server_errors(agent_schema: schemathesis.BaseSchema) -> None:
    server_errors: list[str] = []
    statuses: list[int] = []
    tested = 0
    for result in agent_schema.exclude(path_regex="^/admin").get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err raises: the document is invalid
        tested += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def exercise(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            response = case.call(timeout=10)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {case.formatted_path} → {response.status_code}: "
                    f"{response.text[:300]}"
                )

        exercise()
    assert tested >= 15
    assert server_errors == []
    # it did reach the handlers, not only the validators
    assert len(statuses) >= 10 * tested
    assert any(200 <= s < 300 for s in statuses) and 422 in statuses


def test_the_document_describes_every_subsystem(shared_agent: AgentProcess) -> None:
    paths = httpx.get(f"{shared_agent.url}/openapi.json").json()["paths"]
    for path in (
        "/onboarding/applications",
        "/terminals/{tid}/replacement",
        "/tms/terminals/{tid}",
        "/tms/terminals/{tid}/software/{version}",
        "/tickets",
        "/notifications",
        "/admin/faults/{name}",
        "/health",
    ):
        assert path in paths
    assert not any(p.startswith("/sync") for p in paths)  # the peer protocol is internal
