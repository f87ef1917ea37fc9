"""A foreign acquirer host for the tests of issue 13 ("gate a system the lab did
not write"), written from the protocol documents alone: it imports nothing of
``poslab`` — no mocks, no codec — so the lab's terminals, ledger sources and
scoring meet a host that may read the documents differently.

``python -m tests.foreign_host --port 0 --ready-file F --db URL --world W
[--defect NAME ...] [--day-seconds S]``; see :mod:`tests.foreign_host.host`
for what it does and :data:`tests.foreign_host.host.DEFECTS` for the defects a
gate must catch. Its books and the ledger source that maps them:
:mod:`tests.foreign_host.books`.
"""
