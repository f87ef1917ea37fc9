"""The command line of every embedded service: the contract each mock implements.

    proxy     python -m poslab.proxy    --host H --port P [--seed N] --ready-file F
    issuer    python -m poslab.mocks.issuer   --world W --host H --port P --admin-port A
                                       --db FILE [--seed N] --ready-file F
    acquirer  python -m poslab.mocks.acquirer --world W --host H --port P --admin-port A
                                       --db FILE --issuer HOST:PORT [--config FILE]
                                       --ready-file F
    agent-*   python -m poslab.mocks.agent    --world W --host H --port P --db FILE
                                       --name primary|backup [--acquirer-admin URL]
                                       [--seed N] --ready-file F

(no ``--acquirer-admin`` when the acquirer is external without an admin API).
``lab up --program SERVICE=COMMAND`` runs COMMAND instead of the default
``python -m …``, with the options above appended: a build of your own that
takes them, listens where ``--host``/``--port`` say (port 0: any free port)
and writes the ready file ``{"pid": …, "ports": {"main": …, "admin": …}}``
once it listens (:mod:`poslab.common.ready_file`) is started, probed, killed
and restarted by the lab like its own mock (docs/external.md).

Files of a service live under ``<run dir>/services/``: ``<name>.log`` (stdout
and stderr), ``<name>.sqlite`` (its database; a restart reuses it),
``<name>.ready.json`` and, when the run gives it settings, ``<name>.config.json``
(the acquirer's ``--config``: a restart reads the same file). Which program
runs a service can be swapped (tests run throwaway services obeying the same
contract; a team can run its own build): see :data:`Programs`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from poslab.errors import ConfigError
from poslab.stack.service import ServiceSpec
from poslab.stack.topology import Endpoint, Service, ServiceName

# service name -> the argv that starts it, before its options
Programs = Mapping[str, Sequence[str]]

DEFAULT_MODULES: dict[ServiceName, str] = {
    ServiceName.PROXY: "poslab.proxy",
    ServiceName.ISSUER: "poslab.mocks.issuer",
    ServiceName.ACQUIRER: "poslab.mocks.acquirer",
    ServiceName.AGENT_PRIMARY: "poslab.mocks.agent",
    ServiceName.AGENT_BACKUP: "poslab.mocks.agent",
}

# The ready file's name for each port, and the option that sets it.
_ISO_HOST_PORTS = {"main": "--port", "admin": "--admin-port"}
_HTTP_PORTS = {"main": "--port"}
_PROXY_PORTS = {"api": "--port"}


@dataclass(frozen=True)
class ServiceFiles:
    """Where one service's files go in the run directory."""

    log: Path
    db: Path
    ready: Path
    config: Path

    @classmethod
    def under(cls, run_dir: Path, name: str) -> ServiceFiles:
        services = run_dir / "services"
        return cls(
            log=services / f"{name}.log",
            db=services / f"{name}.sqlite",
            ready=services / f"{name}.ready.json",
            config=services / f"{name}.config.json",
        )


def default_program(name: ServiceName, python: str = sys.executable) -> list[str]:
    return [python, "-m", DEFAULT_MODULES[name]]


def _program(name: ServiceName, programs: Programs | None) -> list[str]:
    if programs and name.value in programs:
        return list(programs[name.value])
    return default_program(name)


def proxy_spec(
    run_dir: Path,
    host: str,
    *,
    seed: int | None = None,
    programs: Programs | None = None,
    ready_file: bool = True,
) -> ServiceSpec:
    """The embedded fault proxy. Its health check is Toxiproxy's ``GET /version``."""
    files = ServiceFiles.under(run_dir, ServiceName.PROXY.value)
    argv = [*_program(ServiceName.PROXY, programs), "--host", host]
    argv += _seed(seed)
    return ServiceSpec(
        name=ServiceName.PROXY.value,
        argv=tuple(argv),
        port_flags=_PROXY_PORTS,
        log_file=files.log,
        ready_file=files.ready if ready_file else None,
        health_port="api",
        health_path="/version",
        host=host,
    )


def issuer_spec(
    run_dir: Path,
    world: Path,
    host: str,
    *,
    seed: int | None = None,
    programs: Programs | None = None,
) -> ServiceSpec:
    files = ServiceFiles.under(run_dir, ServiceName.ISSUER.value)
    argv = [*_program(ServiceName.ISSUER, programs), "--world", str(world), "--host", host]
    argv += ["--db", str(files.db), *_seed(seed)]
    return _mock_spec(ServiceName.ISSUER, argv, files, host)


def acquirer_spec(
    run_dir: Path,
    world: Path,
    host: str,
    issuer: Endpoint,
    *,
    programs: Programs | None = None,
    config: Path | None = None,
) -> ServiceSpec:
    """The acquirer host; ``issuer`` is where it reaches the issuer (the proxy),
    ``config`` a file of ``AcquirerConfig`` overrides (see :func:`write_config`)."""
    files = ServiceFiles.under(run_dir, ServiceName.ACQUIRER.value)
    argv = [*_program(ServiceName.ACQUIRER, programs), "--world", str(world), "--host", host]
    argv += ["--db", str(files.db), "--issuer", str(issuer)]
    if config is not None:
        argv += ["--config", str(config)]
    return _mock_spec(ServiceName.ACQUIRER, argv, files, host)


def write_config(run_dir: Path, name: str, settings: Mapping[str, object]) -> Path:
    """Write a service's settings where it reads them (``services/<name>.config.json``)."""
    path = ServiceFiles.under(run_dir, name).config
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        text = json.dumps(dict(settings), indent=2, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} settings are not JSON: {exc}") from None
    path.write_text(text + "\n", encoding="utf-8")
    return path


def agent_spec(
    name: ServiceName,
    run_dir: Path,
    world: Path,
    host: str,
    acquirer_admin: str | None,
    *,
    seed: int | None = None,
    programs: Programs | None = None,
) -> ServiceSpec:
    """An agent backend: one HTTP port serving its API, admin API and health.

    The two agents find each other through their ready files, which sit side
    by side under ``services/`` by the names the agent expects. Without
    ``acquirer_admin`` (an external acquirer that offers no admin API) the
    agents serve the world's terminals as they are: onboarding, TMS and
    tickets work, and what must register a new terminal on the host
    (replacement, provisioning) answers 502 naming the missing admin API.
    """
    if name not in (ServiceName.AGENT_PRIMARY, ServiceName.AGENT_BACKUP):
        raise ValueError(f"{name} is not an agent")
    files = ServiceFiles.under(run_dir, name.value)
    argv = [*_program(name, programs), "--world", str(world), "--host", host]
    argv += ["--db", str(files.db), "--name", name.value.removeprefix("agent-")]
    if acquirer_admin is not None:
        argv += ["--acquirer-admin", acquirer_admin]
    argv += _seed(seed)
    return _mock_spec(name, argv, files, host, _HTTP_PORTS, health_port="main")


def _seed(seed: int | None) -> list[str]:
    """The run's seed: it makes the proxy's and the mocks' fault draws repeatable."""
    return [] if seed is None else ["--seed", str(seed)]


def _mock_spec(
    name: ServiceName,
    argv: list[str],
    files: ServiceFiles,
    host: str,
    port_flags: Mapping[str, str] = _ISO_HOST_PORTS,
    health_port: str = "admin",
) -> ServiceSpec:
    return ServiceSpec(
        name=name.value,
        argv=tuple(argv),
        port_flags=port_flags,
        log_file=files.log,
        ready_file=files.ready,
        health_port=health_port,
        host=host,
    )


def fixed_ports(address: Endpoint, admin: Endpoint | None, spec: ServiceSpec) -> dict[str, int]:
    """The ports a topology asks for (0 = any), by the spec's port names."""
    wanted: dict[str, int] = {}
    first = next(iter(spec.port_flags))
    wanted[first] = address.port
    if admin is not None and "admin" in spec.port_flags:
        wanted["admin"] = admin.port
    return wanted


def spec_for(
    service: Service,
    run_dir: Path,
    world: Path,
    *,
    seed: int | None = None,
    programs: Programs | None = None,
    issuer: Endpoint | None = None,
    acquirer_admin: str | None = None,
    acquirer_config: Path | None = None,
) -> ServiceSpec:
    """The spec of one embedded service of the topology.

    ``issuer`` (for the acquirer) and ``acquirer_admin`` (for the agents) are
    the addresses they depend on, known once those are up; ``acquirer_config``
    the acquirer's settings file, if the run gives it any.
    """
    host = service.address.host
    name = service.name
    if name is ServiceName.PROXY:
        return proxy_spec(run_dir, host, seed=seed, programs=programs)
    if name is ServiceName.ISSUER:
        return issuer_spec(run_dir, world, host, seed=seed, programs=programs)
    if name is ServiceName.ACQUIRER:
        if issuer is None:
            raise ValueError("the acquirer needs the issuer's address")
        return acquirer_spec(
            run_dir, world, host, issuer, programs=programs, config=acquirer_config
        )
    return agent_spec(name, run_dir, world, host, acquirer_admin, seed=seed, programs=programs)
