"""The terminal fleet under Locust: one Locust user is one POS terminal.

- ``locustfile.py`` — :class:`TerminalUser` and the run's one load shape;
  the only module that imports ``locust``/``gevent`` (Locust monkey-patches
  the process it is imported in).
- ``fleet_runtime.py`` — one Locust process's share of the fleet: the config
  (``LAB_FLEET_CONFIG``), the world, which terminals it runs, their SQLite
  flash, the journal and the fault board.
- ``shapes.py`` — ``steady``, ``ramp``, ``lunch-peak``, ``dinner-peak`` and
  their parameters (a business day's traffic compressed into minutes).
- ``journal.py`` — the buffered per-process fleet journal writer.
- ``control.py`` / ``fleet_faults.py`` — the control channel reader and what
  fleet faults do to this process's terminals.
- ``merchant_desk.py`` — the merchant and agent clients behind a till.

Started by :mod:`poslab.fleet` (``lab load``, the scenario runner); every
module but the locustfile is plain Python and tested without Locust.
"""
