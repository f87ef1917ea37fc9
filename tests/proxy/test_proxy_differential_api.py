"""Differential fuzzing of the API (``conformance.py``): 500+ random call
sequences, each sent to the embedded server and to the real Toxiproxy, every
answer compared. ``scripts/verify-proxy-conformance`` runs many more."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.proxy.conformance import Differences, machine_for
from tests.proxy.servers import (
    ServerUnderTest,
)

#: Sequences per test run, and calls per sequence (the wall time stays well
#: under a minute: each call is two local HTTP round trips).
SEQUENCES = 520
STEPS = 12

pytestmark = pytest.mark.timeout(240)


def test_random_api_sequences_get_the_same_answers_from_both_servers(
    both_servers: tuple[ServerUnderTest, ServerUnderTest],
) -> None:
    embedded, real = both_servers
    seen = Differences()
    machine = machine_for(embedded.url, real.url, seen)
    started = time.monotonic()
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=SEQUENCES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
            print_blob=True,
        ),
    )
    elapsed = time.monotonic() - started
    print(
        f"{seen.sequences} sequences, {seen.calls} calls in {elapsed:.1f} s; listed: {seen.listed}"
    )
    assert seen.sequences >= 500
