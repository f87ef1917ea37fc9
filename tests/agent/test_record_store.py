"""The record store's merge is a join: replicas that exchange their copies in
any order, any number of times, end up identical (real SQLite files)."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from poslab.mocks.agent.lifecycle import TICKET, new_record, transition
from poslab.mocks.agent.record_store import Record, RecordStore


def _ticket(instance: str, n: int) -> Record:
    return new_record(
        TICKET,
        f"TK-{n:016X}",
        instance=instance,
        fingerprint="f",
        mid="898110054110001",
        data={"category": "other", "summary": f"ticket {n}"},
    )


_steps = st.lists(
    st.tuples(
        st.sampled_from(["primary", "backup"]),
        st.integers(0, 3),
        st.sampled_from(["create", "acknowledge", "resolve"]),
    ),
    max_size=20,
)


@settings(max_examples=40, deadline=None)
@given(steps=_steps, order=st.permutations([0, 1, 2, 3]))
def test_replicas_converge_whatever_the_order(
    tmp_path_factory: object, steps: list[tuple[str, int, str]], order: list[int]
) -> None:
    base = Path(tmp_path_factory.mktemp("stores"))  # type: ignore[attr-defined]
    stores = {name: RecordStore(base / f"{name}.sqlite") for name in ("primary", "backup")}
    for instance, n, action in steps:
        store = stores[instance]
        current = store.get("ticket", f"TK-{n:016X}")
        if action == "create" and current is None:
            store.insert(_ticket(instance, n))
        elif current is not None and action == "acknowledge" and current.state == "open":
            store.replace(transition(TICKET, current, "acknowledged", claimed_by=instance))
        elif current is not None and action == "resolve" and current.state != "resolved":
            store.replace(transition(TICKET, current, "resolved", claimed_by=instance))
    # exchange change logs in a shuffled order, twice over (repeats must be no-ops)
    exchanges = [("primary", "backup"), ("backup", "primary")] * 2
    for i in order:
        source, target = exchanges[i]
        _, records = stores[source].changes_since(0, 10_000)
        for record in records:
            stores[target].merge(record)
    for source, target in itertools.permutations(stores, 2):  # a final round both ways
        for record in stores[source].changes_since(0, 10_000)[1]:
            stores[target].merge(record)
    p = {r.id: r for r in stores["primary"].select("ticket")}
    b = {r.id: r for r in stores["backup"].select("ticket")}
    assert p == b
    for store in stores.values():
        store.close()


def test_a_merge_that_changes_nothing_logs_nothing(tmp_path: Path) -> None:
    store = RecordStore(tmp_path / "a.sqlite")
    record, created = store.insert(_ticket("primary", 1))
    assert created and store.last_seq() == 1
    assert not store.merge(record)
    older = dataclasses.replace(record, updated_at=record.updated_at - 10)
    assert not store.merge(older)
    assert store.last_seq() == 1
    newer = transition(TICKET, record, "acknowledged", claimed_by="backup")
    assert store.merge(newer) and store.last_seq() == 2
    # the primary's claim beats a concurrent one by the backup, whatever the clocks
    rival = dataclasses.replace(newer, claimed_by="primary", updated_at=newer.updated_at - 5)
    assert store.merge(rival)
    assert store.get("ticket", record.id) == rival
    store.close()


def test_records_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    store = RecordStore(path)
    store.insert(_ticket("backup", 7))
    store.set_peer_cursor("primary", 42)
    assert store.next_counter("tid-slot", 5_000_000) == 5_000_000
    store.close()
    again = RecordStore(path)
    assert again.get("ticket", f"TK-{7:016X}") is not None
    assert again.peer_cursor("primary") == 42
    assert again.next_counter("tid-slot", 5_000_000) == 5_000_001
    again.close()
