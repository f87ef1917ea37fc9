"""The acquirer's configuration: one frozen dataclass with lab defaults.

Everything pos-domain.md says differs between acquirers is a field here
(key layouts, MAC algorithm, which MTIs carry a MAC, the day cut); everything
the lab compresses is in lab time (a "business day" of ``day_seconds``).
``load_config`` reads a JSON or YAML file of overrides (``--config FILE``);
unknown names and bad values are a :class:`ConfigError` that names them.

Defaults and why:

- ``issuer_timeout_ms`` 2500: shorter than the lab terminals' 5 s reply
  timeout, so a slow issuer is answered 98 before the terminal gives up;
- ``day_seconds`` 30 and T+1: a scenario of a few minutes sees several day
  cuts and its sales paid out (so the lab's payout checks have something to
  check); ``batch_max_days`` 4 closes host-side only the batches of terminals
  that skipped settlement for three whole business days (two minutes), so
  the 77 → sign-on that follows hits idle or never-settling terminals, not
  every terminal at every cut;
- ``key_lifetime_s`` 86400 of real time: a lab day is short, and re-keying
  every terminal each lab day would be a sign-on storm nobody asked for
  (storms are injected with the ``expire_keys``/``rotate_keys`` faults);
- ``ledger_synchronous`` FULL: every group commit is fsynced before its
  replies leave (off the event loop, see group_commit), so the ledger survives
  a power cut too, not only the process kills the lab injects; NORMAL skips it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from poslab.defects import UnknownDefect, check_names
from poslab.errors import ConfigError
from poslab.iso8583 import KeyLayout, KeyMode, KeySlot, MacAlgorithm

__all__ = ["DEFAULT_ZPK_HEX", "AcquirerConfig", "load_config"]

# The zone PIN key shared with the issuer (see docs/issuer-protocol.md): a lab
# test key in the spirit of the published test keys of payment specifications.
# Both sides accept an override; the lab never needs one.
DEFAULT_ZPK_HEX = "3B6E4F2A1C0D9E87A5F1B3C2D4E6F809"

_MAC_ALGORITHMS = {a.value: a for a in MacAlgorithm}
_CUT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DEFAULT_LAYOUTS: dict[str, KeyLayout] = {
    mode: KeyLayout.for_mode(mode) for mode in ("001", "003", "004")
}  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True, slots=True)
class AcquirerConfig:
    # -- upstream (issuer) ------------------------------------------------
    issuer_timeout_ms: int = 2500
    issuer_connect_timeout_ms: int = 500
    issuer_pool_size: int = 4
    issuer_reconnect_max_ms: int = 1000
    institution_id: str = "48020000"  # F32 towards the issuer
    zpk_hex: str = DEFAULT_ZPK_HEX
    advice_retry_s: float = 0.5  # upstream reversal / void advice retry pause
    # -- security -----------------------------------------------------------
    mac_algorithm: MacAlgorithm = MacAlgorithm.CUP_ECB
    # request MTIs that must carry a valid MAC (others are checked when F64 is there)
    mac_mtis: frozenset[str] = frozenset({"0200", "0220", "0400", "0500", "0320"})
    key_layouts: Mapping[str, KeyLayout] = dataclasses.field(
        default_factory=lambda: dict(_DEFAULT_LAYOUTS)
    )
    key_lifetime_s: float = 86400.0
    persist_sessions: bool = True
    min_software: str | None = None  # None: the world's params.min_software
    # -- business calendar (lab time) ---------------------------------------
    day_seconds: float = 30.0
    day_cut: str = "23:00"
    payout_lag_days: int = 1  # T+1 for standard merchants
    d0_lag_days: int = 0  # D0 merchants are paid at the cut of the same day
    batch_max_days: int = 4
    settlement_tick_s: float = 0.2
    # -- connections --------------------------------------------------------
    idle_timeout_s: float = 120.0  # since the last complete message or reply
    # a frame must complete within this of its first byte (slowloris)
    frame_timeout_s: float = 10.0
    max_connections: int = 4096
    # one peer's share; in the lab every terminal comes through the proxy
    # (one address), so by default a peer may hold them all
    max_connections_per_peer: int = 4096
    max_frame: int = 2048
    max_inflight_per_connection: int = 8
    # -- ledger -------------------------------------------------------------
    ledger_synchronous: str = "FULL"
    drain_timeout_s: float = 10.0
    seed: int = 0  # force_mismatch draws
    # Known defects planted for lab verify-catalogue (poslab.defects, docs/defects.md):
    # off unless asked for, by --defect or a run's settings (a restart keeps them).
    defects: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        positive = (
            "issuer_timeout_ms",
            "issuer_connect_timeout_ms",
            "issuer_pool_size",
            "issuer_reconnect_max_ms",
            "key_lifetime_s",
            "day_seconds",
            "settlement_tick_s",
            "idle_timeout_s",
            "frame_timeout_s",
            "max_connections",
            "max_connections_per_peer",
            "max_inflight_per_connection",
            "advice_retry_s",
            "drain_timeout_s",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(
                    f"acquirer config: {name} must be > 0, got {getattr(self, name)!r}"
                )
        if not 64 <= self.max_frame <= 0xFFFF:
            raise ConfigError(f"acquirer config: max_frame must be 64..65535, got {self.max_frame}")
        if not _CUT.match(self.day_cut):
            raise ConfigError(f"acquirer config: day_cut must be HH:MM, got {self.day_cut!r}")
        for name in ("payout_lag_days", "d0_lag_days"):
            if getattr(self, name) < 0:
                raise ConfigError(f"acquirer config: {name} must be ≥ 0")
        if self.batch_max_days < 1:
            raise ConfigError("acquirer config: batch_max_days must be ≥ 1")
        if self.min_software is not None and not (
            len(self.min_software) == 6 and self.min_software.isdigit()
        ):
            raise ConfigError(
                f"acquirer config: min_software must be 6 digits, got {self.min_software!r}"
            )
        if not (len(self.institution_id) <= 11 and self.institution_id.isdigit()):
            raise ConfigError("acquirer config: institution_id must be up to 11 digits")
        if self.ledger_synchronous not in ("NORMAL", "FULL"):
            raise ConfigError("acquirer config: ledger_synchronous must be NORMAL or FULL")
        try:
            zpk = bytes.fromhex(self.zpk_hex)
        except ValueError:
            raise ConfigError("acquirer config: zpk_hex must be hex") from None
        if len(zpk) not in (8, 16, 24):
            raise ConfigError("acquirer config: zpk_hex must be an 8, 16 or 24-byte key")
        for mode in ("001", "003", "004"):
            if mode not in self.key_layouts:
                raise ConfigError(f"acquirer config: key_layouts lacks mode {mode}")
        if not all(len(m) == 4 and m.isdigit() for m in self.mac_mtis):
            raise ConfigError("acquirer config: mac_mtis must be 4-digit MTIs")
        try:
            check_names("acquirer", sorted(self.defects))
        except UnknownDefect as exc:
            raise ConfigError(f"acquirer config: {exc}") from None

    def defective(self, name: str) -> bool:
        """Whether the known defect ``name`` is planted (docs/defects.md)."""
        return name in self.defects

    @property
    def cut_fraction(self) -> float:
        """The day cut as a fraction of a business day (23:00 → 0.958…)."""
        hours, minutes = self.day_cut.split(":")
        return (int(hours) * 60 + int(minutes)) / 1440

    def layout(self, mode: KeyMode) -> KeyLayout:
        return self.key_layouts[mode]


def _layout(data: Any, mode: str) -> KeyLayout:
    """A field 62 layout from ``{"pik": [key_off, key_len, cv_off, cv_len], ...}``."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"acquirer config: key_layouts.{mode} must be an object")
    slots: dict[str, KeySlot | None] = {"tdk": None}
    for name in ("pik", "mak", "tdk"):
        raw = data.get(name)
        if raw is None:
            if name != "tdk":
                raise ConfigError(f"acquirer config: key_layouts.{mode} lacks {name}")
            continue
        if not (isinstance(raw, list) and len(raw) in (3, 4) and all(type(v) is int for v in raw)):
            raise ConfigError(
                f"acquirer config: key_layouts.{mode}.{name} must be [key_offset, key_len, "
                "cv_offset(, cv_len)]"
            )
        slots[name] = KeySlot(*raw)
    pik, mak = slots["pik"], slots["mak"]
    assert pik is not None and mak is not None
    return KeyLayout(pik=pik, mak=mak, tdk=slots["tdk"])


def _convert(values: dict[str, Any]) -> dict[str, Any]:
    if "mac_algorithm" in values:
        name = values["mac_algorithm"]
        if name not in _MAC_ALGORITHMS:
            raise ConfigError(
                f"acquirer config: mac_algorithm {name!r} is not one of {sorted(_MAC_ALGORITHMS)}"
            )
        values["mac_algorithm"] = _MAC_ALGORITHMS[name]
    if "defects" in values:
        raw = values["defects"]
        if not isinstance(raw, (list, tuple)) or not all(isinstance(d, str) for d in raw):
            raise ConfigError("acquirer config: defects must be a list of names")
        values["defects"] = frozenset(raw)
    if "mac_mtis" in values:
        values["mac_mtis"] = frozenset(str(m) for m in values["mac_mtis"])
    if "key_layouts" in values:
        raw = values["key_layouts"]
        if not isinstance(raw, Mapping):
            raise ConfigError("acquirer config: key_layouts must be an object by mode")
        layouts = dict(_DEFAULT_LAYOUTS)
        layouts.update({str(mode): _layout(spec, str(mode)) for mode, spec in raw.items()})
        values["key_layouts"] = layouts
    return values


def config_from_dict(data: Mapping[str, Any]) -> AcquirerConfig:
    known = {f.name for f in dataclasses.fields(AcquirerConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"acquirer config: unknown setting(s) {', '.join(unknown)}")
    try:
        return AcquirerConfig(**_convert(dict(data)))
    except TypeError as exc:
        raise ConfigError(f"acquirer config: {exc}") from None


def load_config(path: Path | None) -> AcquirerConfig:
    """The defaults, overridden by ``path`` (JSON or YAML object) when given."""
    if path is None:
        return AcquirerConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read acquirer config {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"acquirer config {path} is not valid JSON/YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"acquirer config {path}: top level must be an object")
    return config_from_dict(data)
