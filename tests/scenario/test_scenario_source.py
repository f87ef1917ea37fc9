"""YAML sources keep line numbers; paths map back to the line and field they name."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from poslab.scenario.spec.source import ScenarioInvalid, SourceDocument, format_loc
from tests.scenario.scenario_helpers import WriteScenario, problems_of

DOC = """\
name: x
faults:
  - kind: network
    toxic:
      type: latency
      attributes: {latency: 10}
  - kind: fleet
"""


def test_line_and_field_of_paths() -> None:
    doc = SourceDocument.parse(DOC, "x.yaml")
    assert doc.line_of(("faults", 0, "toxic", "type")) == 5
    assert doc.line_of(("faults", 0, "toxic", "attributes", "latency")) == 6
    assert doc.line_of(("faults", 1)) == 7
    # a union tag pydantic inserts is skipped, a missing last field still named
    assert doc.field_of(("faults", 0, "network", "toxic", "type")) == "faults[0].toxic.type"
    assert doc.field_of(("faults", 1, "for")) == "faults[1].for"
    assert doc.line_of(("faults", 1, "for")) == 7  # the fault that lacks it
    assert doc.field_of(("faults", 1, "fleet"), missing_last=False) == "faults[1]"
    assert format_loc(("a", 0, "b", 12)) == "a[0].b[12]"


def test_pydantic_errors_are_placed() -> None:
    class Inner(BaseModel):
        latency: int

    doc = SourceDocument.parse("toxic:\n  latency: soon\n", "t.yaml")
    with pytest.raises(ValidationError) as info:
        Inner.model_validate({"latency": "soon"})
    [problem] = doc.problems_from(info.value, prefix=("toxic",))
    assert (problem.line, problem.field) == (2, "toxic.latency")
    assert problem.message.startswith("must be a valid integer")


def test_nested_duplicate_keys() -> None:
    text = "a:\n  b: 1\n  c: 2\n  b: 3\nd: [ {e: 1, e: 2} ]\n"
    with pytest.raises(ScenarioInvalid) as info:
        SourceDocument.parse(text, "d.yaml")
    assert [str(p) for p in info.value.problems] == [
        "d.yaml:4: a.b: duplicate key (first on line 2)",
        "d.yaml:5: d[0].e: duplicate key (first on line 5)",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "a scenario file is a YAML mapping"),
        ("- just\n- a list\n", "a scenario file is a YAML mapping"),
        ("name: [unclosed\n", "not valid YAML"),
        ("\tname: tab\n", "not valid YAML"),
    ],
)
def test_documents_that_are_not_scenarios(
    write_scenario: WriteScenario, text: str, message: str
) -> None:
    problems = problems_of(write_scenario(text))
    assert message in problems[0].message


def test_unreadable_file(write_scenario: WriteScenario) -> None:
    path = write_scenario("")
    path.write_bytes(b"\xff\xfe\x00bad")
    assert "cannot read" in problems_of(path)[0].message
