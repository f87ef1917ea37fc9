"""The lab's exception tree. Everything the lab raises on purpose derives from
:class:`LabError`; the CLI turns these into one clear line and exit code 2.

    LabError
    ├── ConfigError          bad option, bad file, bad world
    │   └── ScenarioError    a scenario or suite that fails validation
    ├── StackError           a service would not start or answer
    ├── ProxyError           the fault proxy (embedded or real) refused a request
    └── RunDirError          a run directory that cannot be read or scored
"""

from __future__ import annotations


class LabError(Exception):
    """Base of every error the lab raises on purpose."""

    exit_code = 2


class ConfigError(LabError):
    """A bad option, file or value given by the user."""


class ScenarioError(ConfigError):
    """A scenario or suite that fails validation (names file, line, field)."""


class StackError(LabError):
    """A service that would not start, or stopped answering."""


class ProxyError(LabError):
    """The fault proxy answered an error (carries the HTTP status)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class RunDirError(LabError):
    """A run directory that is missing, incomplete or unreadable."""
