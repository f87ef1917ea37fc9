"""Container mode: deploy/compose.yaml, its Toxiproxy config and Dockerfile agree
with poslab/stack/compose.py; the stack runs in containers where Docker answers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from poslab.stack import Mode, ServiceName, default_topology
from poslab.stack.compose import (
    PATH_PORTS,
    SERVICE_PORTS,
    TOXIPROXY_API_PORT,
    TOXIPROXY_IMAGE,
    ComposeProject,
    container_topology,
    proxy_port,
    proxy_upstreams,
    toxiproxy_config,
)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
LAB_SERVICES = ("issuer", "acquirer", "agent-primary", "agent-backup")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def _flag(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def _published(service: dict[str, Any]) -> set[int]:
    """Host ports a service publishes (ranges expanded); each must bind 127.0.0.1."""
    ports: set[int] = set()
    for entry in service.get("ports", []):
        host_ip, host_ports, container_ports = str(entry).split(":")
        assert host_ip == "127.0.0.1", f"{entry} is reachable from other hosts"
        assert host_ports == container_ports, f"{entry}: published under another number"
        low, _, high = host_ports.partition("-")
        ports.update(range(int(low), int(high or low) + 1))
    return ports


def test_every_service_is_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"toxiproxy", *LAB_SERVICES}
    assert set(compose["volumes"]) == {f"{s}-data" for s in LAB_SERVICES}


def test_official_toxiproxy_populated_from_config(compose: dict[str, Any]) -> None:
    toxiproxy = compose["services"]["toxiproxy"]
    assert toxiproxy["image"] == TOXIPROXY_IMAGE == "ghcr.io/shopify/toxiproxy:2.12.0"
    assert "-config=/config/toxiproxy.json" in toxiproxy["command"]
    assert "-host=0.0.0.0" in toxiproxy["command"]
    # deploy/toxiproxy.json by default, any world's generated config when set.
    assert toxiproxy["volumes"] == [
        "${LAB_TOXIPROXY_CONFIG:-./toxiproxy.json}:/config/toxiproxy.json:ro"
    ]
    assert toxiproxy["healthcheck"]["test"] == ["CMD", "/toxiproxy-cli", "list"]
    published = _published(toxiproxy)
    assert TOXIPROXY_API_PORT in published
    topology = default_topology()
    for proxy in topology.proxies:
        assert proxy_port(topology, proxy) in published, proxy.name
    # Room for worlds with more regions than the default three.
    many = container_topology([f"r{i}" for i in range(16)])
    assert all(proxy_port(many, p) in published for p in many.proxies)


def test_toxiproxy_json_is_the_default_topology(compose: dict[str, Any]) -> None:
    """deploy/toxiproxy.json is what compose.py generates (the /populate shape)."""
    on_disk = json.loads((DEPLOY / "toxiproxy.json").read_text())
    assert on_disk == toxiproxy_config(default_topology())
    for entry in on_disk:
        assert list(entry) == ["name", "listen", "upstream", "enabled"]
        service, _, port = entry["upstream"].partition(":")
        assert service in compose["services"], f"{entry['name']} → unknown {service}"
        assert int(port) == SERVICE_PORTS[ServiceName(service)].main
        assert entry["listen"].startswith("0.0.0.0:")


def test_lab_services_build_run_and_publish_their_ports(compose: dict[str, Any]) -> None:
    targets = set(re.findall(r"^FROM python AS (\S+)", (DEPLOY / "Dockerfile").read_text(), re.M))
    for name in LAB_SERVICES:
        service = compose["services"][name]
        ports = SERVICE_PORTS[ServiceName(name)]
        assert service["build"]["context"] == ".."
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["build"]["target"] in targets
        assert service["init"] is True, "signals reach python, zombies are reaped"
        command = service["command"]
        assert _flag(command, "--host") == "0.0.0.0"
        assert int(_flag(command, "--port")) == ports.main
        if ports.admin is not None:
            assert int(_flag(command, "--admin-port")) == ports.admin
        assert _flag(command, "--world") == "/world/world.json"
        assert _flag(command, "--db").startswith("/data/")
        assert "--ready-file" in command
        assert _published(service) == {ports.main} | ({ports.admin} if ports.admin else set())
        assert "LAB_ADMIN_TOKEN" in service["environment"], "admin APIs beyond 127.0.0.1"
        health = service["healthcheck"]["test"]
        assert health[:4] == ["CMD", "python", "-m", "poslab.stack.healthcheck"]
        assert health[4] == f"http://127.0.0.1:{ports.admin or ports.main}/health"


def test_wiring_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    acquirer = services["acquirer"]
    assert _flag(acquirer["command"], "--issuer") == f"toxiproxy:{PATH_PORTS['issuer']}"
    assert acquirer["depends_on"] == {
        "toxiproxy": {"condition": "service_healthy"},
        "issuer": {"condition": "service_healthy"},
    }
    acquirer_admin = f"http://acquirer:{SERVICE_PORTS[ServiceName.ACQUIRER].admin}"
    agents = {"agent-primary": "agent-backup", "agent-backup": "agent-primary"}
    for agent, peer in agents.items():
        command = services[agent]["command"]
        assert _flag(command, "--name") == agent.removeprefix("agent-")
        assert _flag(command, "--acquirer-admin") == acquirer_admin
        # In separate containers the agents cannot see each other's ready files.
        assert _flag(command, "--peer") == f"http://{peer}:{SERVICE_PORTS[ServiceName(peer)].main}"
        assert services[agent]["depends_on"] == {"acquirer": {"condition": "service_healthy"}}
    assert "depends_on" not in services["toxiproxy"], "Toxiproxy dials upstreams lazily"


def test_dockerfile_targets_match_the_compose_ports() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    # BuildKit's frontend image cannot be pulled offline: the classic builder builds it.
    assert "# syntax=" not in text and "--mount" not in text
    assert "ARG BASE_IMAGE=python:3.11-slim\n" in text
    for target, port in (("issuer", 9101), ("acquirer", 9001), ("agent", 9200)):
        section = text.split(f"FROM python AS {target}\n")[1].split("\nFROM ")[0]
        assert f"http://127.0.0.1:{port}/health" in section
        assert f'"poslab.mocks.{target}"' in section
        assert f"COPY --from=deps /venvs/{target} /opt/venv" in section, "its own venv only"
        assert "USER lab" in section, "services do not run as root"
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[1:2] == ["**"], "the context is an allow-list"


def _pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        requirement = line.split("#")[0].strip()
        if requirement and not requirement.startswith("-"):
            name, _, version = requirement.partition("==")
            assert version, f"{path.name}: {line!r} is not pinned"
            pins[name.lower()] = version
    return pins


def test_images_install_pinned_wheels_and_only_what_they_need() -> None:
    """deploy/requirements: lock.txt pins pyproject's dependencies (the runner
    image); each service image's subset agrees with it and leaves Locust,
    gevent and plotly out."""
    import tomllib

    requirements = DEPLOY / "requirements"
    lock = _pins(requirements / "lock.txt")
    pyproject = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
    for dependency in pyproject["project"]["dependencies"]:
        name = re.split(r"[<>=!~\[; ]", dependency, maxsplit=1)[0].lower()
        assert name in lock, f"{name} is not in lock.txt: scripts/lock-requirements"
    for image in ("acquirer", "issuer", "agent", "lab-proxy"):
        pins = _pins(requirements / f"{image}.txt")
        assert {k: lock.get(k) for k in pins} == pins, f"{image}.txt drifted from lock.txt"
        assert not {"locust", "gevent", "plotly", "pytest"} & set(pins), image
    assert "aiohttp" in _pins(requirements / "acquirer.txt")
    assert "fastapi" in _pins(requirements / "agent.txt")
    assert "fastapi" not in _pins(requirements / "acquirer.txt")


def test_container_topology_sees_published_ports() -> None:
    topology = container_topology()
    assert all(s.mode is Mode.EXTERNAL for s in topology.services)
    assert str(topology.service(ServiceName.PROXY).address) == f"127.0.0.1:{TOXIPROXY_API_PORT}"
    acquirer = topology.service(ServiceName.ACQUIRER)
    assert str(acquirer.address) == "127.0.0.1:9000" and str(acquirer.admin) == "127.0.0.1:9001"
    assert str(topology.proxy("region-north").listen) == "0.0.0.0:20001"
    assert proxy_upstreams()["acquirer"] == "acquirer:9000"


def test_compose_command_line() -> None:
    project = ComposeProject(file=DEPLOY / "compose.yaml", project="lab-x")
    assert project.command("kill", "--signal", "SIGKILL", "acquirer") == [
        "docker", "compose", "--file", str(DEPLOY / "compose.yaml"), "--project-name", "lab-x",
        "kill", "--signal", "SIGKILL", "acquirer",
    ]  # fmt: skip
