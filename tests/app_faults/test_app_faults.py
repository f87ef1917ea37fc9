"""The application faults, declared once: the registry, docs/faults.md and the
scenario engine agree, and bad params are refused the same way everywhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from poslab.app_faults import APP_FAULTS, FaultError, ServiceFamily, parse_fault
from poslab.scenario.fault_actions import APPLICATION_FAULTS

DOC = Path(__file__).resolve().parents[2] / "docs" / "faults.md"


def _documented() -> dict[ServiceFamily, set[str]]:
    rows: dict[ServiceFamily, set[str]] = {family: set() for family in ServiceFamily}
    section = DOC.read_text(encoding="utf-8").split("## Application faults")[1].split("\n## ")[0]
    for service, fault in re.findall(
        r"^\| (acquirer|issuer|agent-\*) \| `(\w+)` \|", section, re.M
    ):
        rows[ServiceFamily(service.removesuffix("-*"))].add(fault)
    return rows


def test_the_registry_is_what_docs_faults_md_lists() -> None:
    assert {family: set(faults) for family, faults in APP_FAULTS.items()} == _documented()


def test_scenario_validation_uses_the_mocks_classes() -> None:
    for family, faults in APP_FAULTS.items():
        specs = APPLICATION_FAULTS[family]
        assert {name: spec.params for name, spec in specs.items()} == faults


@pytest.mark.parametrize(
    ("family", "name", "params", "status", "words"),
    [
        (ServiceFamily.ACQUIRER, "meteor", {}, 404, "unknown acquirer fault 'meteor'"),
        (ServiceFamily.ACQUIRER, "day_end_cut", [1], 400, "must be a JSON object"),
        (ServiceFamily.ACQUIRER, "force_mismatch", {"share": 1.5}, 422, "share: must be less"),
        (ServiceFamily.ACQUIRER, "issuer_timeout", {}, 422, "ms: required param missing"),
        (ServiceFamily.ACQUIRER, "issuer_timeout", {"ms": "800"}, 422, "valid integer"),
        (ServiceFamily.ACQUIRER, "min_software", {"version": "2.1"}, 422, "6 digits"),
        (ServiceFamily.ACQUIRER, "expire_keys", {"tids": ["1"]}, 422, "8 digits"),
        (ServiceFamily.ISSUER, "decline", {"rc": "00"}, 422, "rc 00 is an approval"),
        (ServiceFamily.ISSUER, "slow", {"delay_ms": 300, "spin": 1}, 422, "spin: unknown param"),
        (ServiceFamily.AGENT, "errors", {"share": True}, 422, "share: must be a valid number"),
        (ServiceFamily.AGENT, "subsystem_down", {"subsystem": "coffee"}, 422, "'tms'"),
    ],
)
def test_refusals_carry_a_status_and_say_why(
    family: ServiceFamily, name: str, params: object, status: int, words: str
) -> None:
    with pytest.raises(FaultError) as refused:
        parse_fault(family, name, params)
    assert refused.value.status == status and words in str(refused.value)


def test_defaults_and_normal_forms() -> None:
    assert parse_fault(ServiceFamily.ACQUIRER, "force_mismatch", None).to_json() == {"share": 1.0}
    assert parse_fault(ServiceFamily.ACQUIRER, "expire_keys", {}).to_json() == {}
    decline = parse_fault(ServiceFamily.ISSUER, "decline", {"rc": "n1", "share": 0})
    assert decline.to_json() == {"share": 0.0, "rc": "N1"}  # 0: set but idle
    slow = parse_fault(ServiceFamily.ISSUER, "slow", {"delay_ms": 300})
    assert slow.to_json() == {"delay_ms": 300, "jitter_ms": 0}


def test_regions_are_the_worlds_when_the_caller_knows_them() -> None:
    world = {"regions": ("north", "south")}
    with pytest.raises(FaultError, match="unknown region"):
        parse_fault(ServiceFamily.ACQUIRER, "rotate_keys", {"regions": ["mars"]}, context=world)
    with pytest.raises(FaultError, match="listed twice"):
        parse_fault(ServiceFamily.ACQUIRER, "rotate_keys", {"regions": ["north", "north"]})
    fault = parse_fault(
        ServiceFamily.ACQUIRER, "rotate_keys", {"regions": ["south"]}, context=world
    )
    assert fault.to_json() == {"regions": ["south"]}
