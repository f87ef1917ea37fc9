"""Known defects the lab can plant in its own services (issue 19, docs/defects.md).

A scenario that no stack can fail proves nothing. Each service the lab owns
can be started with named, realistic defects — the bugs its failure mode is
about — and ``lab verify-catalogue`` checks that some scenario fails each one
*for the defect's reason*: the integrity check that must catch it
(:attr:`Defect.caught_by`, the names of :data:`poslab.scoring.result.CHECKS`).

This module is pure data with no imports of the lab: the mocks read it to
validate their ``--defect`` options, the CLI to validate ``lab run --defect
SERVICE:NAME``. Every defect is off unless asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFECTS",
    "MONEY",
    "Defect",
    "UnknownDefect",
    "check_names",
    "known",
    "parse_ref",
]


@dataclass(frozen=True)
class Defect:
    service: str
    name: str
    #: the real failure it stands for (docs/defects.md says more)
    stands_for: str
    #: integrity checks (or "expectation NAME") whose failure is this defect's reason
    caught_by: tuple[str, ...]
    #: a money defect: the gate suite must fail it
    money: bool = True

    @property
    def ref(self) -> str:
        return f"{self.service}:{self.name}"


_ACQUIRER = (
    Defect(
        "acquirer",
        "reply-before-durable",
        "a host that answers 00 before the ledger row is on disk (a write-behind cache "
        "flushed every half second): a crash loses approvals the terminal already printed",
        ("lost_approvals",),
    ),
    Defect(
        "acquirer",
        "ack-reversal-without-applying",
        "a host that answers a reversal 00 from a fast path and never applies it: the "
        "terminal believes the money went back, the ledger still has the sale approved",
        ("reversals_not_landed", "unreversed_failures"),
    ),
    Defect(
        "acquirer",
        "no-late-reversal",
        "a host that answers 98 on an issuer timeout but never queues the reversal for it: "
        "an issuer that approved late keeps the cardholder's funds held with no sale",
        ("issuer_holds_without_sale",),
    ),
    Defect(
        "acquirer",
        "double-pay-batch",
        "a settlement run that resends a merchant's payout file with no idempotency key: "
        "the first payout of each merchant and settlement date is paid twice",
        ("wrong_payouts",),
    ),
)

# The terminals' defects: beyond the naive policy, one bug each in a resilient terminal.
# What catches them is an expectation of the scenario ("expectation NAME").
_TERMINAL = (
    Defect(
        "terminal",
        "never-apply-update",
        "a terminal that downloads the TMS update and keeps booting the old image (a "
        "failed install it does not notice): the host keeps refusing its version",
        ("expectation updated-terminals-sell",),
        money=False,
    ),
)

DEFECTS: dict[str, dict[str, Defect]] = {
    "acquirer": {d.name: d for d in _ACQUIRER},
    "terminal": {d.name: d for d in _TERMINAL},
}

#: the defects the gate suite must fail
MONEY: tuple[Defect, ...] = tuple(d for ds in DEFECTS.values() for d in ds.values() if d.money)


class UnknownDefect(ValueError):
    """A defect name a service does not know (the message lists those it does)."""


def known(service: str) -> tuple[str, ...]:
    return tuple(sorted(DEFECTS.get(service, {})))


def check_names(service: str, names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``names`` validated for ``service``, sorted and without repeats."""
    table = DEFECTS.get(service, {})
    unknown = sorted(set(names) - set(table))
    if unknown:
        listed = ", ".join(known(service)) or "none"
        raise UnknownDefect(f"{service} knows no defect {', '.join(unknown)} (it knows: {listed})")
    return tuple(sorted(set(names)))


def parse_ref(ref: str) -> Defect:
    """``SERVICE:NAME`` → its :class:`Defect`."""
    service, sep, name = ref.partition(":")
    if not sep or service not in DEFECTS:
        services = ", ".join(sorted(DEFECTS))
        raise UnknownDefect(f"defect {ref!r}: expected SERVICE:NAME with SERVICE one of {services}")
    check_names(service, [name])
    return DEFECTS[service][name]
