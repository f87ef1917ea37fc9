"""The terminal's own exception tree.

A terminal never lets these escape a transaction: :class:`LinkError` and
:class:`BadReply` end in a journal record (``failed``, with the ``reason``
named below) and, for a reversible request, a pending reversal. Only
:class:`TerminalCrashed` travels up to the caller (the Locust user), which
then waits for the reboot.

    TerminalError
    ├── LinkError              no usable answer from the host path
    │   ├── ConnectFailed      could not open a connection     reason "connect" (never sent)
    │   ├── ReplyTimeout       no reply within the timeout      reason "timeout"
    │   └── LinkReset          the connection broke             reason "reset"
    ├── BadReply               a reply that cannot be trusted   reason "bad_reply" / "bad_mac"
    ├── SignOnFailed           the host refused or garbled the keys
    ├── ReversalPending        a reversal is still undelivered: no new transaction
    └── TerminalCrashed        the device died mid-operation (fleet fault)
"""

from __future__ import annotations

__all__ = [
    "BadReply",
    "ConnectFailed",
    "LinkError",
    "LinkReset",
    "ReplyTimeout",
    "ReversalPending",
    "SignOnFailed",
    "TerminalCrashed",
    "TerminalError",
]


class TerminalError(Exception):
    """Base of every error the terminal raises on purpose."""

    reason = "error"


class LinkError(TerminalError):
    """No usable answer from the host. ``sent`` tells whether the request may
    have reached the host: only then does a reversible request need reversing."""

    reason = "link"

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class ConnectFailed(LinkError):
    reason = "connect"

    def __init__(self, message: str) -> None:
        super().__init__(message, sent=False)


class ReplyTimeout(LinkError):
    reason = "timeout"

    def __init__(self, message: str) -> None:
        super().__init__(message, sent=True)


class LinkReset(LinkError):
    reason = "reset"


class BadReply(TerminalError):
    """A reply that arrived but cannot be trusted: undecodable (reversal
    reason 06) or with a MAC that fails (reversal reason A0)."""

    reason = "bad_reply"

    def __init__(self, message: str, *, bad_mac: bool = False) -> None:
        super().__init__(message)
        self.bad_mac = bad_mac
        if bad_mac:
            self.reason = "bad_mac"


class SignOnFailed(TerminalError):
    reason = "sign_on"

    def __init__(self, message: str, *, cause: str = "sign_on") -> None:
        super().__init__(message)
        self.reason = cause


class ReversalPending(TerminalError):
    """The terminal must deliver its pending reversal before anything else,
    and could not (the reversal keeps its remaining tries)."""

    reason = "reversal_pending"


class TerminalCrashed(TerminalError):
    reason = "crash"
