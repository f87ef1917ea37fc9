"""The drill's errors, under the lab's tree (poslab/errors.py)::

    LabError
    ├── ConfigError               a bad option, scenario, mitigation name or param
    └── DrillError                a drill that cannot do what was asked
        ├── ControllerUnreachable the drill controller does not answer (crashed,
        │                         or the drill already ended)
        └── MitigationFailed      a mitigation's action failed on the stack

The CLI prints any of them as one line and exits 2.
"""

from __future__ import annotations

from poslab.errors import LabError


class DrillError(LabError):
    """A drill that cannot do what was asked."""


class ControllerUnreachable(DrillError):
    """The drill controller does not answer."""


class MitigationFailed(DrillError):
    """A mitigation's action failed on the stack (the error says where)."""
