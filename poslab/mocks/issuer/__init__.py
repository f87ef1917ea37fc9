"""The mock card issuer the acquirer authorises against.

    python -m poslab.mocks.issuer --world W --host 127.0.0.1 --port 0 --admin-port 0 \\
        --db FILE --ready-file F [--zpk HEX] [--seed N] [--admin-token T]
    python -m poslab.mocks.issuer export --db FILE --out DIR       # ledger/issuer.jsonl

It authorises against the world's cards — balance (51), PIN under the zone
PIN key (55, 99), expiry (54), lost (41), unknown card (14) — holds the
approved amounts, releases them on void advices, cancels them on reversals
(idempotently, with tombstones for reversals that overtake their
authorisation) and keeps it all in its own SQLite file. The protocol is in
docs/issuer-protocol.md; faults (``slow``, ``unavailable``, ``decline``) in
:mod:`poslab.mocks.issuer.faults`.
"""
