"""The participants' side of the drill API: what ``lab drill note|detect|mitigate|…`` call.

Reads the controller's address and token from ``drill.json``; turns the API's
errors back into the lab's (400 → :class:`~poslab.errors.ConfigError`, 502 →
:class:`~poslab.drill.errors.MitigationFailed`, anything else →
:class:`~poslab.drill.errors.DrillError`) and a controller that does not answer
into :class:`~poslab.drill.errors.ControllerUnreachable`.
"""

from __future__ import annotations

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


class DrillClient:
    def __init__(self, files: DrillFiles, state: DrillState | None = None) -> None:
        self.files = files
        self.state = state or files.read_state()
        if self.state.api_url is None or self.state.token is None:
            raise ControllerUnreachable(
                f"the drill in {files.run_dir} is {self.state.status}: no controller to talk to"
            )
        self.base = self.state.api_url
        self.token = self.state.token

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None, timeout: float) -> Any:
        try:
            response = httpx.request(
                method,
                self.base + path,
                json=dict(body) if body is not None else None,
                headers={TOKEN_HEADER: self.token},
                timeout=timeout,
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
