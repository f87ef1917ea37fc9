"""A drill's files: its state, the facilitator's secret, and the timeline.

Everything lives in the drill's run directory (``runs/<UTC>-drill/``), which
is also a run directory in the sense of docs/run-directory.md (``run.json``,
``journal.jsonl``, ``scenarios/drill/…``) so scoring reconciles it like any run:

=====================  ==========================================================
``drill.json``         what participants may see: status, the controller, the
                       dashboard URL, the API token, the drill clock's zero
``facilitator.json``   0600: the plan request (scenario or random draw, seed,
                       delay window) — ``lab drill reveal`` prints it
``journal.jsonl``      0600: the lab's own events (fault injected/cleared …)
``timeline.jsonl``     what participants did and saw: notes, detections, checks,
                       mitigations with their results, start and end
``metrics.jsonl``      one dashboard sample per second
``postmortem.md``,     the post-incident report (and ``postmortem.json``, its
``postmortem.html``    figures)
=====================  ==========================================================

Hiding the plan in a 0600 file is a **rehearsal aid, not a security
boundary** for participants at this machine: they work as the same Unix user
and could read it. The participants' commands simply never show it. Participants
who join from their own machines (``lab drill start --host``) hold only the
participants' token; the facilitator's token (in ``facilitator.json``) is what
opens the facilitator's view, and the dashboard checks it on every call.

``runs/.drill`` points at the current drill, so ``lab drill note`` needs no
arguments; ``--drill DIR`` (or ``LAB_DRILL``) names another.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from poslab.common import PRIVATE, atomic_write
from poslab.errors import ConfigError, RunDirError
from poslab.scenario import read_journal as read_jsonl

DRILL_FORMAT = 1
POINTER = ".drill"
SECRET_MODE = 0o600

#: Lifecycle of a drill, as ``drill.json`` says it.
STARTING, RUNNING, ENDING, ENDED, FAILED = "starting", "running", "ending", "ended", "failed"


class ProcessInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pid: int
    create_time: float


class DrillState(BaseModel):
    """``drill.json``: everything a participant's command needs, nothing hidden."""

    model_config = ConfigDict(extra="forbid")

    format: int = DRILL_FORMAT
    run_dir: str
    created_at: float
    status: str = STARTING
    controller: ProcessInfo | None = None
    load: ProcessInfo | None = None  # Locust's process group, for a cleanup without the controller
    api_url: str | None = None  # where this machine's CLI reaches the controller
    public_url: str | None = None  # where other machines do (``--host``); None: loopback only
    tls_cert: str | None = None  # the dashboard's certificate (the CLI trusts only it)
    token: str | None = None  # the participants' token: in their link, on every API call
    stack_state: str
    keep_stack: bool = False
    t0: float | None = None  # the drill clock's zero: the load's first transaction
    max_end_at: float | None = None
    regions: list[str] = Field(default_factory=list)
    terminals: int = 0
    policy: str = "resilient"
    ended_at: float | None = None
    end_reason: str | None = None
    error: str | None = None
    reports: dict[str, str] = Field(default_factory=dict)

    @property
    def dashboard_url(self) -> str | None:
        """The participants' link: the dashboard with their token in its fragment."""
        base = self.public_url or self.api_url
        if base is None:
            return None
        return f"{base}/#token={self.token}" if self.token else base + "/"


class FacilitatorFile(BaseModel):
    """``facilitator.json``: the plan request and the drill's settings."""

    model_config = ConfigDict(extra="forbid")

    format: int = DRILL_FORMAT
    seed: int
    scenario: str | None
    delay_window_s: tuple[float, float]
    max_s: float
    drain_s: float
    terminals: int
    think_time_s: float
    policy: str
    regions: list[str]
    port: int = 0
    host: str = "127.0.0.1"  # the dashboard's bind address (``--host``)
    tls_cert: str | None = None
    tls_key: str | None = None
    facilitator_token: str = (
        ""  # the facilitator's view and API (``lab drill dashboard --facilitator``)
    )
    #: Further faults the facilitator injected: (catalogue scenario, drill-clock offset).
    injected: list[tuple[str, float]] = Field(default_factory=list)
    note: str = "a rehearsal aid, not a security boundary: participants can read this file"

    def facilitator_url(self, state: DrillState) -> str | None:
        base = state.public_url or state.api_url
        if base is None or not self.facilitator_token:
            return None
        return f"{base}/facilitator#token={self.facilitator_token}"


class DrillFiles:
    """The paths of one drill's run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir).resolve()

    @property
    def state(self) -> Path:
        return self.run_dir / "drill.json"

    @property
    def facilitator(self) -> Path:
        return self.run_dir / "facilitator.json"

    @property
    def journal(self) -> Path:
        return self.run_dir / "journal.jsonl"

    @property
    def timeline(self) -> Path:
        return self.run_dir / "timeline.jsonl"

    @property
    def metrics(self) -> Path:
        return self.run_dir / "metrics.jsonl"

    @property
    def world(self) -> Path:
        return self.run_dir / "world.json"

    @property
    def controller_log(self) -> Path:
        return self.run_dir / "controller.log"

    @property
    def scenario_dir(self) -> Path:
        return self.run_dir / "scenarios" / "drill"

    @property
    def fleet_dir(self) -> Path:
        return self.scenario_dir / "fleet"

    @property
    def ledger_dir(self) -> Path:
        return self.scenario_dir / "ledger"

    @property
    def postmortem_md(self) -> Path:
        return self.run_dir / "postmortem.md"

    @property
    def postmortem_html(self) -> Path:
        return self.run_dir / "postmortem.html"

    @property
    def postmortem_json(self) -> Path:
        return self.run_dir / "postmortem.json"

    # -- drill.json ----------------------------------------------------------------

    def read_state(self) -> DrillState:
        try:
            data = json.loads(self.state.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunDirError(f"{self.run_dir} is not a drill (no drill.json)") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise RunDirError(f"{self.state}: {exc}") from exc
        try:
            return DrillState.model_validate(data)
        except ValidationError as exc:
            raise RunDirError(f"{self.state}: not a drill state file: {exc}") from exc

    def write_state(self, state: DrillState) -> None:
        write_atomic(self.state, state.model_dump_json(indent=2) + "\n")

    def update_state(self, **changes: Any) -> DrillState:
        state = self.read_state().model_copy(update=changes)
        self.write_state(state)
        return state

    # -- facilitator.json ------------------------------------------------------------

    def write_facilitator(self, secret: FacilitatorFile) -> None:
        write_atomic(self.facilitator, secret.model_dump_json(indent=2) + "\n", SECRET_MODE)

    def read_facilitator(self) -> FacilitatorFile:
        try:
            return FacilitatorFile.model_validate_json(self.facilitator.read_bytes())
        except FileNotFoundError:
            raise RunDirError(f"{self.run_dir}: no facilitator.json") from None
        except (OSError, ValidationError) as exc:
            raise RunDirError(f"{self.facilitator}: {exc}") from exc

    def create_secret_journal(self) -> None:
        """``journal.jsonl`` made 0600 before anything is written into it."""
        fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, SECRET_MODE)
        os.close(fd)
        os.chmod(self.journal, SECRET_MODE)


def write_atomic(path: Path, text: str, mode: int | None = None) -> None:
    """Replace ``path`` atomically (readers never see half a file); ``mode`` if given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text, mode=PRIVATE if mode is None else mode)


class Timeline:
    """``timeline.jsonl``: one line per event, appended with a single write.

    The controller is its one writer while the drill runs; a line is written
    with one ``write`` on an ``O_APPEND`` descriptor, so a reader never sees
    half of one (and a CLI fallback after a controller crash cannot tear it).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, event: str, *, t: float | None = None, **fields: Any) -> dict[str, Any]:
        record: dict[str, Any] = {"t": time.time() if t is None else t, "event": event}
        record.update(fields)
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
        return record

    def read(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path)


__all__ = ["DrillFiles", "DrillState", "FacilitatorFile", "ProcessInfo", "Timeline", "read_jsonl"]


# -- the current drill -----------------------------------------------------------


def set_current(runs_dir: Path, run_dir: Path) -> None:
    write_atomic(runs_dir / POINTER, str(Path(run_dir).resolve()) + "\n")


def clear_current(runs_dir: Path, run_dir: Path) -> None:
    """Forget the pointer, but only if it still points at ``run_dir``."""
    pointer = runs_dir / POINTER
    try:
        if Path(pointer.read_text(encoding="utf-8").strip()) == Path(run_dir).resolve():
            pointer.unlink()
    except FileNotFoundError:
        pass


def current_drill(runs_dir: Path, given: Path | None = None) -> DrillFiles:
    """The drill named by ``given``, else the one ``runs/.drill`` points at."""
    if given is not None:
        files = DrillFiles(given)
        if not files.state.is_file():
            raise ConfigError(f"{given} is not a drill run directory (no drill.json)")
        return files
    pointer = runs_dir / POINTER
    try:
        target = Path(pointer.read_text(encoding="utf-8").strip())
    except FileNotFoundError:
        raise ConfigError(
            f"no drill is running (no {pointer}); start one with: lab drill start"
        ) from None
    files = DrillFiles(target)
    if not files.state.is_file():
        raise ConfigError(f"{pointer} points at {target}, which is not a drill any more")
    return files
