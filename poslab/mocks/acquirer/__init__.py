"""The mock acquirer host: a CUP-style ISO 8583 front end with a durable ledger.

Run it the way poslab/stack does::

    python -m poslab.mocks.acquirer --world W --host 127.0.0.1 --port 0 --admin-port 0 \\
        --db FILE --issuer HOST:PORT --ready-file F [--config FILE] [--admin-token T]
    python -m poslab.mocks.acquirer export --db FILE --out DIR   # ledger/*.jsonl of a stopped host

What terminals can rely on (the details are in each module's docstring):

- **Sign-on** 0800 with 60.3 = 001/003/004: fresh PIN/MAC(/track) keys under
  the TMK with check values in 62 (layouts: ``AcquirerConfig.key_layouts``),
  host time in 12/13, the batch to use in 60.2. Sign-off and echo are 0820.
- **MAC**: requests with MTI 0200, 0220, 0400, 0500, 0320 must carry F64
  (``AcquirerConfig.mac_mtis``; CUP ECB by default, X9.19 configurable);
  others are checked when F64 is there. No session, an expired or rotated
  one, or a wrong MAC → A0 with header nibble 3 (sign on again). Replies to a
  MAC'd request are MAC'd with the same key.
- **Duplicates**: a request repeated under the same F41 + F42 + batch + F11
  gets the *original answer replayed* (same RRN, auth code, code); the same
  key with other content → 94. Nothing is booked twice.
- **Batches**: a financial request in a batch the host has closed (settled,
  cut host-side) or moved past → 77; sign on again to learn the batch. After
  an 0500 the next batch number is accepted without a sign-on.
- **Reversals** (0400) are accepted in any batch state and during the day-end
  cut; repeats get the same answer; an unknown original → 25.
- **Codes**: 97 unknown or retired terminal, 03 merchant mismatch, 58 type not
  allowed, 30 malformed, 99 bad PIN block, 90 day-end cut fault, 91 issuer
  unreachable, 98 issuer too slow (the authorisation is reversed upstream),
  issuer declines passed through (51, 55, 54, 14, 41, 05), C9/CA/12/13/25
  for voids and refunds; header nibble 6 below the minimum software version.

The issuer link is specified in docs/issuer-protocol.md, the admin API in
:mod:`poslab.mocks.acquirer.admin` (shape: docs/faults.md), the exports in
docs/run-directory.md.
"""

from __future__ import annotations

from .config import AcquirerConfig, load_config
from .export import export_all

__all__ = ["AcquirerConfig", "export_all", "load_config"]
