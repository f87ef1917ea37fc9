"""Hooks: how the lab breaks a service it does not own (the topology's ``hooks:``).

Chaos Toolkit's process and http providers are the model. A hook is either a
command (an argv, no shell) or an HTTP call; it succeeds when the command
exits 0 within ``timeout_s`` / the call answers one of ``expect`` in time::

    services:
      acquirer:
        mode: external
        address: "10.0.0.5:5000"
        hooks:
          kill:    {command: [./hostctl, kill], timeout_s: 10}
          start:   {command: [./hostctl, start], timeout_s: 60}
          restart: {command: [./hostctl, restart], timeout_s: 60}
          reset:   {command: [./hostctl, reset], timeout_s: 60}   # before each scenario
          faults:
            expire_keys:
              do:   {http: {url: "http://10.0.0.5:9000/ops/keys/expire"}}
            stall_settlement:
              do:   {http: {url: "http://10.0.0.5:9000/ops/settlement", body: {on: false}}}
              undo: {http: {url: "http://10.0.0.5:9000/ops/settlement", body: {on: true}}}

Application faults are named as the lab names them (:mod:`poslab.app_faults`,
docs/faults.md); a fault without ``undo`` ends by itself. This module is the
pure model (the scenario engine validates against it); :mod:`poslab.stack.hooks`
runs them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
#: The application faults' names and params are poslab.app_faults'; a hook maps a name.
FaultName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HttpCall(_Model):
    """One HTTP request. Without a ``body`` the fault's params are sent as JSON (as the
    lab's own admin APIs take them); a command gets them in ``LAB_FAULT_PARAMS``."""

    url: str = Field(pattern=r"^https?://[^\s]+$")
    method: HttpMethod = "POST"
    body: JsonValue = None
    headers: dict[str, str] = Field(default_factory=dict)
    #: statuses that mean "done" (any 2xx when not given)
    expect: tuple[int, ...] = ()


class Hook(_Model):
    """A command or an HTTP call, with its time limit."""

    command: tuple[str, ...] | None = None
    http: HttpCall | None = None
    timeout_s: float = Field(30.0, gt=0, le=3600)
    #: the command's working directory (default: the lab's) and extra environment
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("command")
    @classmethod
    def _argv(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and (not value or not value[0]):
            raise ValueError("command must be a non-empty argv list (no shell)")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Hook:
        if (self.command is None) == (self.http is None):
            raise ValueError("give exactly one of command or http")
        if self.http is not None and (self.cwd is not None or self.env):
            raise ValueError("cwd and env are for a command, not an http call")
        return self

    def describe(self) -> str:
        """One line for logs and reports (an HTTP hook's headers may hold a token: not shown)."""
        if self.command is not None:
            return " ".join(self.command)
        assert self.http is not None
        return f"{self.http.method} {self.http.url}"


class FaultHook(_Model):
    """A named application fault: what switches it on and, when it has one, its undo."""

    do: Hook
    undo: Hook | None = None


class ServiceHooks(_Model):
    """What the lab may do to one service it does not own."""

    kill: Hook | None = None
    start: Hook | None = None
    restart: Hook | None = None
    # Run when a stack starts, so before every scenario: the service back to a
    # clean state (a fresh test database), as the lab's own services start
    # fresh for each scenario. Without it the service keeps its books across
    # the run's scenarios (poslab.scenario.runner says what follows).
    reset: Hook | None = None
    faults: dict[FaultName, FaultHook] = Field(default_factory=dict)

    @property
    def can_kill(self) -> bool:
        """A kill fault needs the kill and a way back at its window's end."""
        return self.kill is not None and (self.start is not None or self.restart is not None)

    @property
    def can_restart(self) -> bool:
        return self.restart is not None or (self.kill is not None and self.start is not None)
