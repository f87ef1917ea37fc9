"""Reading a baseline's scores from a result.json written by an earlier run."""

from __future__ import annotations

from pathlib import Path

from poslab.errors import RunDirError
from poslab.scoring.jsonl import read_json_object
from poslab.scoring.result import RESULT_SCHEMA, RESULT_VERSION


def read_result_scores(path: Path) -> tuple[str, dict[str, float], float]:
    """``(label, {scenario: score}, suite score)`` from ``path`` (a result.json, or a
    directory holding one). Raises RunDirError when it is missing or not ours."""
    file = path / "result.json" if path.is_dir() else path
    missing = f"baseline {path}: no run.json or result.json to compare with"
    doc = read_json_object(file, missing, f"baseline {file}")
    if doc.get("schema") != RESULT_SCHEMA:
        raise RunDirError(f"baseline {file}: not a lab result (schema {RESULT_SCHEMA!r})")
    if doc.get("version") != RESULT_VERSION:
        raise RunDirError(
            f"baseline {file}: result version {doc.get('version')!r}, "
            f"this lab reads {RESULT_VERSION}"
        )
    try:
        scores = {str(s["name"]): float(s["score"]) for s in doc["scenarios"]}
        suite = float(doc["gate"]["suite_score"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RunDirError(f"baseline {file}: malformed result: {exc}") from exc
    return str(path), scores, suite
