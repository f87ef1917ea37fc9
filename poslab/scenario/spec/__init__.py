"""What a scenario *is*: read, validate and resolve, before anything runs.

A scenario or suite file goes YAML with node marks (:mod:`.source`) → the
authored shape (:mod:`.model`, durations in :mod:`.durations`) → resolved
against a topology and the run's options (:mod:`.resolution`, its faults'
part in :mod:`.fault_resolution`, toxics checked by :mod:`.toxic_table`,
overlapping faults by :mod:`.coexistence`) → a
:class:`~.resolved.ResolvedScenario`, whose planned steps are its
:mod:`.timeline` and whose fleet faults hit the terminals :mod:`.fleet_draws`
picks. :mod:`.loader` runs that pipeline for catalogue names and paths.

Nothing here touches a socket, a process or the run directory: the running
side (``poslab.scenario.runner`` and its parts) depends on this package, never
the other way round (an import-linter contract in pyproject.toml). Callers
outside ``poslab.scenario`` take these names from ``poslab.scenario``.

The stack's topology is imported from ``poslab.stack.topology`` itself, not
from ``poslab.stack``: the package's ``__init__`` names the live stack too, and
the contract must see that the specification needs only the topology model.
"""
