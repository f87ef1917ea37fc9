"""How a terminal behaves: timeouts, retries, settlement, and its policy.

Everything an acquirer or a lab run may want to vary is here, with field-typical
defaults compressed to lab time (a real terminal waits 60-70 s for a reply; the
lab waits seconds). The two policies differ only in what they name:

- ``resilient`` (default): jittered exponential backoff, failover to the backup
  host path, reversals in the durable store with their tries spaced out (only
  tries that left the terminal count), refunds without an answer kept in a
  durable store-and-forward queue, retries of 90/91/96 and of sign-on;
- ``naive``: no jitter, no failover, reversals kept only in memory and every
  attempt counted at once, no store-and-forward, no retry.
  Everything else (it still signs on when asked, still reverses what it
  remembers) is the same, so a score difference is the policy's doing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from poslab.defects import UnknownDefect, check_names
from poslab.errors import ConfigError
from poslab.iso8583 import KeyLayout, KeyMode, KeySlot, MacAlgorithm

__all__ = ["ConnectionMode", "Policy", "TerminalConfig", "TransactionMix"]


class Policy(StrEnum):
    RESILIENT = "resilient"
    NAIVE = "naive"


class ConnectionMode(StrEnum):
    SHORT = "short"  # a new TCP connection per transaction, as 4G terminals do
    KEPT = "kept"  # one connection kept open and reused


@dataclasses.dataclass(frozen=True, slots=True)
class TransactionMix:
    """Relative weights of what a merchant does at the till. Voids and refunds
    fall back to a sale when there is nothing to void or refund."""

    sale: float = 0.86
    balance: float = 0.05
    void: float = 0.05
    refund: float = 0.04

    def __post_init__(self) -> None:
        weights = dataclasses.astuple(self)
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ConfigError(f"transaction mix weights must be ≥ 0 with a positive sum: {self}")


_MAC_ALGORITHMS = {a.value: a for a in MacAlgorithm}
_KEY_MODES = ("001", "003", "004")


@dataclasses.dataclass(frozen=True, slots=True)
class TerminalConfig:
    policy: Policy = Policy.RESILIENT
    connection: ConnectionMode = ConnectionMode.SHORT
    response_timeout_s: float = 5.0
    connect_timeout_s: float = 2.0
    # failover after this many consecutive link failures; try the primary
    # again (fail back) after this long on the backup path
    failover_after: int = 2
    fail_back_after_s: float = 10.0
    # connection attempts per request before giving up (nothing was sent yet)
    connect_tries: int = 3
    # reversal tries before "冲正不成功" (acquirers push this down via TMS)
    reversal_tries: int = 3
    # resilient: the tries of one reversal are spaced by exponential backoff,
    # half of each step fixed and half jittered, so the three tries span at
    # least 1.5 × base — longer than a host restart — while the fleet's
    # retries stay spread (the pending reversal blocks the till meanwhile)
    reversal_backoff_base_s: float = 2.5
    reversal_backoff_cap_s: float = 10.0
    # sign-on attempts each time one is needed (pos-domain: default 3 retries)
    sign_on_tries: int = 4
    # exponential backoff: base * 2**n, capped, with full jitter when resilient
    backoff_base_s: float = 0.2
    backoff_cap_s: float = 5.0
    # re-sends of a request answered 90/91/96 (retry later) or 98
    rc_retries: int = 2
    # settle after this many financial transactions or this many seconds of
    # lab time with an open batch, whichever comes first (None: never by time)
    settle_every: int = 200
    settle_interval_s: float | None = None
    # sign on again after this long even when nothing asked (terminals sign
    # on at least daily; None: only at boot and when the host asks)
    sign_on_every_s: float | None = None
    # how long a terminal with an outdated version waits between TMS attempts
    tms_retry_s: float = 30.0
    key_mode: KeyMode = "003"
    mac_algorithm: MacAlgorithm = MacAlgorithm.CUP_ECB
    # the dialect of a host the lab did not write (a topology's ``terminal:``):
    # TPDU NIIs (4 hex digits), the header's spec version, and field 62's
    # slots {pik|mak|tdk: (key offset, key length, check value offset)}
    # instead of the key mode's common CUP layout
    tpdu_destination: str = "0003"
    tpdu_source: str = "0000"
    header_spec_version: str = "31"
    field62_layout: Mapping[str, tuple[int, int, int]] | None = None
    # request MTIs that carry a MAC (sign-on cannot: it fetches the MAC key)
    mac_mtis: frozenset[str] = frozenset({"0200", "0220", "0400", "0500", "0320"})
    mix: TransactionMix = TransactionMix()
    # share of debit/credit transactions where the customer enters a PIN
    pin_share: float = 0.9
    # when the drawn type is not allowed on this terminal, the operator tries
    # it anyway this often (the host answers 58) instead of ringing up a sale
    operator_error_share: float = 0.2
    # Known defects planted for lab verify-catalogue (poslab.defects, docs/defects.md):
    # off unless a run asks (lab run --defect terminal:NAME rides in ``terminal``).
    defects: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # Accept the plain strings of JSON and keyword arguments as well.
        try:
            object.__setattr__(self, "policy", Policy(self.policy))
            object.__setattr__(self, "connection", ConnectionMode(self.connection))
        except ValueError as exc:
            raise ConfigError(f"terminal config: {exc}") from None
        for name in (
            "response_timeout_s",
            "connect_timeout_s",
            "backoff_base_s",
            "reversal_backoff_base_s",
        ):
            if not getattr(self, name) > 0:
                raise ConfigError(f"terminal config: {name} must be > 0")
        for name in ("failover_after", "connect_tries", "reversal_tries", "sign_on_tries"):
            if getattr(self, name) < 1:
                raise ConfigError(f"terminal config: {name} must be ≥ 1")
        object.__setattr__(self, "defects", frozenset(self.defects))
        try:
            check_names("terminal", sorted(self.defects))
        except UnknownDefect as exc:
            raise ConfigError(f"terminal config: {exc}") from None
        if self.rc_retries < 0 or self.settle_every < 1:
            raise ConfigError("terminal config: rc_retries ≥ 0 and settle_every ≥ 1 required")
        if self.backoff_cap_s < self.backoff_base_s:
            raise ConfigError("terminal config: backoff_cap_s is below backoff_base_s")
        if self.reversal_backoff_cap_s < self.reversal_backoff_base_s:
            raise ConfigError(
                "terminal config: reversal_backoff_cap_s is below reversal_backoff_base_s"
            )
        for name in ("pin_share", "operator_error_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"terminal config: {name} must be a share between 0 and 1")
        if self.key_mode not in _KEY_MODES:
            raise ConfigError(f"terminal config: key_mode must be one of {_KEY_MODES}")
        for name in ("tpdu_destination", "tpdu_source"):
            value = getattr(self, name)
            if not (len(value) == 4 and all(c in "0123456789ABCDEF" for c in value)):
                raise ConfigError(f"terminal config: {name} must be 4 uppercase hex digits")
        if not (len(self.header_spec_version) == 2 and self.header_spec_version.isdigit()):
            raise ConfigError("terminal config: header_spec_version must be 2 digits")
        if self.field62_layout is not None:
            self.key_layout()  # refuses a layout without pik and mak now, not at sign-on

    def key_layout(self) -> KeyLayout:
        """Field 62's layout: the configured slots, else the key mode's CUP default."""
        if self.field62_layout is None:
            return KeyLayout.for_mode(self.key_mode)
        slots = dict(self.field62_layout)
        try:
            pik, mak = KeySlot(*slots.pop("pik")), KeySlot(*slots.pop("mak"))
            tdk = KeySlot(*slots.pop("tdk")) if "tdk" in slots else None
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"terminal config: field62_layout needs pik and mak: {exc}") from None
        if slots:
            raise ConfigError(f"terminal config: field62_layout: unknown slot(s) {sorted(slots)}")
        return KeyLayout(pik=pik, mak=mak, tdk=tdk)

    def defective(self, name: str) -> bool:
        """Whether the known defect ``name`` is planted (docs/defects.md)."""
        return name in self.defects

    # -- what the policy switches ---------------------------------------

    @property
    def jitter(self) -> bool:
        return self.policy is Policy.RESILIENT

    @property
    def failover(self) -> bool:
        return self.policy is Policy.RESILIENT

    @property
    def durable_reversals(self) -> bool:
        return self.policy is Policy.RESILIENT

    @property
    def retries(self) -> bool:
        return self.policy is Policy.RESILIENT

    @property
    def spaced_reversals(self) -> bool:
        """Count only reversal tries that left the terminal, and space them."""
        return self.policy is Policy.RESILIENT

    @property
    def store_and_forward(self) -> bool:
        """Keep unanswered refunds (0220) in a durable queue and retransmit them."""
        return self.policy is Policy.RESILIENT

    # -- from the fleet config ------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TerminalConfig:
        """Build from JSON-shaped settings (the fleet config's ``terminal``
        object); unknown names and bad values raise :class:`ConfigError`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"terminal config: unknown setting(s) {', '.join(unknown)}")
        values: dict[str, Any] = dict(data)
        try:
            if "mac_algorithm" in values:
                values["mac_algorithm"] = _MAC_ALGORITHMS[values["mac_algorithm"]]
            if "mac_mtis" in values:
                values["mac_mtis"] = frozenset(str(m) for m in values["mac_mtis"])
            if "mix" in values:
                values["mix"] = TransactionMix(**values["mix"])
            if values.get("field62_layout") is not None:
                values["field62_layout"] = {
                    str(k): tuple(int(n) for n in v) for k, v in values["field62_layout"].items()
                }
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"terminal config: {exc}") from None
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"terminal config: {exc}") from None

    def with_policy(self, policy: Policy | str) -> TerminalConfig:
        return dataclasses.replace(self, policy=Policy(policy))
