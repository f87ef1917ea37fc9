"""The CLI's side of the drill API: what ``lab drill note|detect|mitigate|…`` call.

Reads the controller's address and the participants' token from ``drill.json``
(the facilitator's commands — ``inject``, ``pause``, ``resume``, ``reveal
--everyone`` — the facilitator's token from ``facilitator.json``); every action
carries the participant's name (``--as``, ``$LAB_DRILL_NAME``, else the login
name) so the timeline says who did it. Over TLS the drill's own certificate is
the only one trusted (its name is not checked: the CLI may reach the dashboard
by 127.0.0.1 while the certificate names the machine). Turns the API's
errors back into the lab's (400 → :class:`~poslab.errors.ConfigError`, 502 →
:class:`~poslab.drill.errors.MitigationFailed`, anything else →
:class:`~poslab.drill.errors.DrillError`) and a controller that does not answer
into :class:`~poslab.drill.errors.ControllerUnreachable`.
"""

from __future__ import annotations

import getpass
import os
import ssl
from collections.abc import Mapping
from typing import Any

import httpx

from poslab.drill.dashboard.server import TOKEN_HEADER
from poslab.drill.errors import ControllerUnreachable, DrillError, MitigationFailed
from poslab.drill.session import RUNNING, DrillFiles, DrillState
from poslab.errors import ConfigError

#: A mitigation may restart a service: give it time.
ACTION_TIMEOUT_S = 90.0
READ_TIMEOUT_S = 5.0


def default_name() -> str:
    """Who is acting at this terminal: ``$LAB_DRILL_NAME``, else the login name."""
    name = os.environ.get("LAB_DRILL_NAME", "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's uid)
        return ""


class DrillClient:
    def __init__(
        self,
        files: DrillFiles,
        state: DrillState | None = None,
        *,
        name: str | None = None,
        facilitator: bool = False,
    ) -> None:
        self.files = files
        self.state = state or files.read_state()
        if self.state.api_url is None or self.state.token is None:
            raise ControllerUnreachable(
                f"the drill in {files.run_dir} is {self.state.status}: no controller to talk to"
            )
        self.base = self.state.api_url
        self.token = self.state.token
        if facilitator:
            self.token = files.read_facilitator().facilitator_token
        self.name = default_name() if name is None else name
        self.verify: ssl.SSLContext | bool = True
        if self.state.tls_cert:
            context = ssl.create_default_context(cafile=self.state.tls_cert)
            context.check_hostname = False
            self.verify = context

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None, timeout: float) -> Any:
        if body is not None and self.name and "by" not in body:
            body = {**body, "by": self.name}
        try:
            response = httpx.request(
                method,
                self.base + path,
                json=dict(body) if body is not None else None,
                headers={TOKEN_HEADER: self.token},
                timeout=timeout,
                verify=self.verify,
            )
        except httpx.HTTPError as exc:
            raise ControllerUnreachable(
                f"the drill controller at {self.base} does not answer ({type(exc).__name__}); "
                f"if it crashed, `lab drill end` still cleans up (see {self.files.controller_log})"
            ) from exc
        try:
            data = response.json()
        except ValueError:
            data = {"error": response.text[:200]}
        if response.status_code == 200:
            return data
        message = data.get("error", response.text[:200]) if isinstance(data, dict) else str(data)
        if response.status_code == 400:
            raise ConfigError(message)
        if response.status_code == 502:
            raise MitigationFailed(message)
        raise DrillError(f"{message} (HTTP {response.status_code})")

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._call("POST", path, body, ACTION_TIMEOUT_S)

    def get(self, path: str) -> Any:
        return self._call("GET", path, None, READ_TIMEOUT_S)

    def metrics(self, after: int = 0) -> dict[str, Any]:
        data = self.get(f"/api/metrics?after={after}")
        assert isinstance(data, dict)
        return data

    def status(self) -> dict[str, Any]:
        data = self.get("/api/drill")
        assert isinstance(data, dict)
        return data

    @property
    def running(self) -> bool:
        return self.state.status == RUNNING
