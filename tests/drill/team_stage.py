"""A stand-in for the drill controller behind the drill room (poslab.drill.room.Stage):
what a dashboard test needs without a payment stack — a drill clock that pauses,
checks with a fixed report, mitigations on a recording stack, a plan to reveal and
faults to inject."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from poslab.drill.errors import DrillError
from poslab.drill.metrics import MetricsBoard
from poslab.drill.room import DrillRoom
from poslab.drill.session import RUNNING, Timeline
from poslab.scenario import Fault
from tests.drill.drill_records import sample

TOKEN = "participants-token"
FACILITATOR_TOKEN = "facilitator-token"


class RecordingStack:
    """A DrillStack whose mitigations succeed and are recorded (``admin_status`` 0:
    the host does not answer, so switch-type mitigations fail)."""

    regions = ("north", "south", "east")
    latest_software = "020100"

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.admin_status = 200
        self.seq = 0

    async def restart_service(self, service: str) -> None:
        self.calls.append(("restart", service))

    def fleet_command(self, action: str, params: Mapping[str, Any]) -> int:
        self.seq += 1
        self.calls.append(("fleet", action, dict(params)))
        return self.seq

    async def admin(
        self, method: str, service: str, path: str, body: Mapping[str, Any] | None = None
    ) -> tuple[int, str]:
        self.calls.append(("admin", method, service, path))
        return self.admin_status, "{}" if self.admin_status else "acquirer not answering"

    async def end_faults(self, match: Callable[[Fault], bool], reason: str) -> list[str]:
        return []


class StandInStage:
    def __init__(self) -> None:
        self.status = RUNNING
        self.t0: float | None = time.time()
        self.max_end_at: float | None = self.t0 + 600
        self.info = {"regions": ["north", "south", "east"], "terminals": 12, "policy": "resilient"}
        self.stack = RecordingStack()
        self.injected: list[str] = []
        self.ended: tuple[str, bool] | None = None
        self._paused_at: float | None = None
        self._paused_s = 0.0

    def clock_s(self) -> float | None:
        assert self.t0 is not None
        now = self._paused_at or time.time()
        return round(now - self.t0 - self._paused_s, 1)

    def mitigation_stack(self) -> RecordingStack:
        return self.stack

    async def run_check(self, area: str) -> dict[str, Any]:
        return {"area": area, "verdict": "bad", "rows": [["region-east p99", "1505 ms", "bad"]]}

    def plan_view(self) -> dict[str, Any]:
        return {
            "seed": 4,
            "scenarios": ["power-outage-region", *self.injected],
            "delay_s": 10.0,
            "faults": [
                {
                    "id": "east-sagging",
                    "scenario": "power-outage-region",
                    "at_s": 10.0,
                    "went_in_s": 10.1,
                    "held": True,
                    "for_s": None,
                    "what": "latency 1500 ms on region-east",
                },
                *(
                    {
                        "id": f"{name}/f",
                        "scenario": name,
                        "at_s": 20.0,
                        "went_in_s": None,
                        "held": True,
                        "for_s": None,
                        "what": "injected",
                    }
                    for name in self.injected
                ),
            ],
            "right_mitigations": ["use_backup_path"],
            "injectable": ["issuer-slow", "settlement-backlog"],
        }

    async def inject(self, scenario: str) -> list[str]:
        if scenario in self.injected:
            raise DrillError(f"scenario {scenario} is in this drill already")
        self.injected.append(scenario)
        return [f"{scenario}/f"]

    def set_paused(self, paused: bool) -> float | None:
        if paused:
            self._paused_at = time.time()
            return None
        assert self._paused_at is not None
        length = time.time() - self._paused_at
        self._paused_s += length
        self._paused_at = None
        return length

    def finish(self, reason: str, keep: bool) -> None:
        self.ended = (reason, keep)
        self.status = "ending"


def second(i: int, t: float) -> dict[str, Any]:
    """The ``i``-th second as the sampler publishes it (the board numbers it)."""
    return {k: v for k, v in sample(i).items() if k != "seq"} | {"t": t}


def room(tmp: Path, stage: StandInStage | None = None) -> DrillRoom:
    board = MetricsBoard(None)
    for i in range(3):  # three seconds as the sampler publishes them
        board.publish(second(i, time.time() - 3 + i))
    timeline = Timeline(tmp / "timeline.jsonl")
    timeline.path.touch()
    return DrillRoom(
        stage or StandInStage(),
        timeline,
        board,
        token=TOKEN,
        facilitator_token=FACILITATOR_TOKEN,
    )


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A self-signed certificate and its key (PEM files in ``tmp``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "drill.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "drill.pem", tmp / "drill.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
