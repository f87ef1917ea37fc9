"""The runbooks (the ``*.md`` files of this package) read as data, and matched
against what a team did.

They ship as package data beside this reader (found with
:mod:`importlib.resources`), so an installed lab runs drills without a checkout.

A runbook is Markdown for people; a few conventions make it data too:

- ``Detection keywords: a, b, 网络`` — words that, in a ``lab drill detect``
  text, show the team named this failure;
- the numbered items under ``## Diagnosis`` and ``## Mitigation`` are its
  steps (``D1``, ``D2`` …, ``M1`` …), each titled by its first ``**bold**``
  text;
- a step is *taken* when the team ran the lab command it names
  (```lab drill check network```, ```lab drill mitigate use_backup_path```);
  a diagnosis step also when a note or detection contains one of its
  ``Notes that count: …`` words (the team may have looked at the dashboard
  instead) — a mitigation only counts when it was run.

The post-incident report lists each step of the injected failure's runbook
as taken (how, when) or skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poslab.errors import ConfigError
from poslab.package_data import package_dir

RUNBOOK_DIR = package_dir(__name__)
_SECTIONS = {"diagnosis": "D", "mitigation": "M"}
_ITEM = re.compile(r"^(\d+)\.\s+(.*)$")
_TITLE = re.compile(r"\*\*(.+?)\*\*")
_COMMAND = re.compile(r"`lab drill (check|mitigate) ([a-z_]+)[^`]*`")
# The last sentence of a step: "Notes that count: a, b, 网络."
_NOTES = re.compile(r"Notes that count:\s*(.+?)\.?\s*$")
_DETECTION = re.compile(r"^Detection keywords:\s*(.+)$", re.M)


@dataclass(frozen=True, slots=True)
class RunbookStep:
    id: str  # D1, M2 …
    section: str  # diagnosis | mitigation
    title: str
    text: str
    checks: tuple[str, ...] = ()
    mitigations: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Runbook:
    path: Path
    title: str
    detection_keywords: tuple[str, ...]
    steps: tuple[RunbookStep, ...]

    def mentions(self, text: str) -> list[str]:
        """Detection keywords found in ``text`` (case-insensitive)."""
        folded = text.casefold()
        return [k for k in self.detection_keywords if k.casefold() in folded]


@dataclass(slots=True)
class StepOutcome:
    step: RunbookStep
    runbook: str
    taken: bool = False
    how: list[str] = field(default_factory=list)
    t: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.step.id,
            "runbook": self.runbook,
            "section": self.step.section,
            "title": self.step.title,
            "taken": self.taken,
            "how": self.how,
            "t": self.t,
        }


def _words(text: str) -> tuple[str, ...]:
    return tuple(w.strip().strip("*_`") for w in text.split(",") if w.strip().strip("*_`"))


def parse_runbook(path: Path) -> Runbook:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"runbook {path}: {exc}") from exc
    title = next((ln[2:].strip() for ln in text.splitlines() if ln.startswith("# ")), path.stem)
    detection = _DETECTION.search(text)
    steps: list[RunbookStep] = []
    section: str | None = None
    items: list[list[str]] = []

    def flush() -> None:
        prefix = _SECTIONS[section] if section else ""
        for n, lines in enumerate(items, start=1):
            steps.append(_step(f"{prefix}{n}", section or "", " ".join(lines), path))
        items.clear()

    for line in text.splitlines():
        if line.startswith("## "):
            flush()
            name = line[3:].strip().casefold()
            section = name if name in _SECTIONS else None
            continue
        if section is None:
            continue
        item = _ITEM.match(line)
        if item:
            items.append([item.group(2).strip()])
        elif items and line.strip():
            items[-1].append(line.strip())
    flush()
    if not any(s.section == "diagnosis" for s in steps) or not any(
        s.section == "mitigation" for s in steps
    ):
        raise ConfigError(
            f"runbook {path}: needs numbered steps under ## Diagnosis and ## Mitigation"
        )
    return Runbook(
        path=path,
        title=title,
        detection_keywords=_words(detection.group(1)) if detection else (),
        steps=tuple(steps),
    )


def _step(step_id: str, section: str, text: str, path: Path) -> RunbookStep:
    title = _TITLE.search(text)
    if title is None:
        raise ConfigError(f"runbook {path}: step {step_id} has no **title**")
    commands = _COMMAND.findall(text)
    notes = _NOTES.search(text)
    return RunbookStep(
        id=step_id,
        section=section,
        title=title.group(1).rstrip(".").strip(),
        text=text,
        checks=tuple(arg for kind, arg in commands if kind == "check"),
        mitigations=tuple(arg for kind, arg in commands if kind == "mitigate"),
        keywords=_words(notes.group(1)) if notes else (),
    )


def load_runbook(name: str, directory: Path = RUNBOOK_DIR) -> Runbook:
    return parse_runbook(directory / name)


def all_runbooks(directory: Path = RUNBOOK_DIR) -> list[Runbook]:
    return [parse_runbook(p) for p in sorted(directory.glob("[0-9][0-9]-*.md"))]


def match_steps(
    runbooks: Sequence[Runbook], events: Iterable[Mapping[str, Any]], since: float | None = None
) -> list[StepOutcome]:
    """Each step of ``runbooks`` as taken or skipped by the participants' ``events``.

    ``since``: only what was done from then on counts (the drill's start).
    """
    acts = [e for e in events if since is None or float(e.get("t", 0)) >= since]
    acts.sort(key=lambda e: float(e.get("t", 0)))
    outcomes: list[StepOutcome] = []
    for book in runbooks:
        for step in book.steps:
            outcome = StepOutcome(step, book.path.name)
            for event in acts:
                how = _how(step, event)
                if how is None:
                    continue
                outcome.how.append(how)
                if not outcome.taken:
                    outcome.taken, outcome.t = True, float(event["t"])
            outcomes.append(outcome)
    return outcomes


def _how(step: RunbookStep, event: Mapping[str, Any]) -> str | None:
    kind = event.get("event")
    if kind == "check" and event.get("area") in step.checks:
        return f"lab drill check {event['area']}"
    if kind == "mitigation" and event.get("action") in step.mitigations:
        return f"lab drill mitigate {event['action']}"
    # Talking about a mitigation is not running it: only diagnosis steps count notes.
    if kind in ("note", "detect") and step.section == "diagnosis":
        folded = str(event.get("text", "")).casefold()
        hits = [k for k in step.keywords if k.casefold() in folded]
        if hits:
            return f"{kind}: mentions {', '.join(hits)}"
    return None
