"""The POS terminal: a blocking, gevent-friendly CUP ISO 8583 client and the
state machine of a real terminal under failure.

- :class:`Terminal` — sale, void, refund, balance, settlement, TMS update,
  sign-on when asked, durable reversals, failover; :meth:`Terminal.run_next`
  plays the next customer at the till.
- :class:`TerminalConfig` / :class:`Policy` — timeouts, retries, the
  ``resilient`` and ``naive`` policies.
- :class:`TerminalStore` — the per-process SQLite "flash" (reversals,
  counters, batch log) and :class:`SafQueue`, the store-and-forward queue of
  refunds the host has not answered yet (resilient terminals).
- :class:`TxnRecord` — the fleet journal record (docs/run-directory.md).

Plain sockets only: no asyncio, no gevent import (Locust's monkey-patching
makes the sockets cooperative in ``poslab/loadtests/``). The agent client
(``agent_client.py``, ``merchant.py``) belongs to the agent backend.
"""

from __future__ import annotations

from .config import ConnectionMode, Policy, TerminalConfig, TransactionMix
from .errors import (
    BadReply,
    ConnectFailed,
    LinkError,
    LinkReset,
    ReplyTimeout,
    ReversalPending,
    SignOnFailed,
    TerminalCrashed,
    TerminalError,
)
from .host_paths import Address, HostPaths, PathName, parse_address
from .link import Channel, SocketChannel
from .records import Outcome, TxnRecord, TxnType, outcome_for_rc
from .saf_queue import SafEntry, SafQueue
from .shopper import CardPresented, Shopper, TerminalProfile
from .terminal import RecentSale, Terminal
from .terminal_store import (
    BatchEntry,
    DurableReversals,
    MemoryReversals,
    ReversalRecord,
    ReversalStore,
    TerminalStore,
    flash_key,
)
from .tms import NoAgent, TmsClient, target_version

__all__ = [
    "Address",
    "BadReply",
    "BatchEntry",
    "CardPresented",
    "Channel",
    "ConnectFailed",
    "ConnectionMode",
    "DurableReversals",
    "HostPaths",
    "LinkError",
    "LinkReset",
    "MemoryReversals",
    "NoAgent",
    "Outcome",
    "PathName",
    "Policy",
    "RecentSale",
    "ReplyTimeout",
    "ReversalPending",
    "ReversalRecord",
    "ReversalStore",
    "SafEntry",
    "SafQueue",
    "Shopper",
    "SignOnFailed",
    "SocketChannel",
    "Terminal",
    "TerminalConfig",
    "TerminalCrashed",
    "TerminalError",
    "TerminalProfile",
    "TerminalStore",
    "TmsClient",
    "TransactionMix",
    "TxnRecord",
    "TxnType",
    "flash_key",
    "outcome_for_rc",
    "parse_address",
    "target_version",
]
