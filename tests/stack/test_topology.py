"""The topology model: defaults from the world's regions, override files, validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poslab.errors import ConfigError
from poslab.stack import (
    DEFAULT_REGIONS,
    Endpoint,
    Mode,
    PathRole,
    ServiceName,
    default_topology,
    load_topology,
    topology_from_mapping,
)


def test_defaults_follow_the_design_picture() -> None:
    t = default_topology()
    assert t.regions == DEFAULT_REGIONS == ("north", "south", "east")
    assert t.proxy_names == (
        "region-north",
        "region-south",
        "region-east",
        "acquirer-backup",
        "issuer",
        "agent",
        "agent-backup",
    )
    assert {p.name: p.upstream for p in t.proxies} == {
        "region-north": ServiceName.ACQUIRER,
        "region-south": ServiceName.ACQUIRER,
        "region-east": ServiceName.ACQUIRER,
        "acquirer-backup": ServiceName.ACQUIRER,
        "issuer": ServiceName.ISSUER,
        "agent": ServiceName.AGENT_PRIMARY,
        "agent-backup": ServiceName.AGENT_BACKUP,
    }
    assert t.region_proxy("east").region == "east"
    assert [p.name for p in t.proxies_with(PathRole.BACKUP_HOST)] == ["acquirer-backup"]
    assert len(t.proxies_to("acquirer")) == 4
    for service in t.services:
        assert service.mode is Mode.EMBEDDED
        assert str(service.address) == "127.0.0.1:0" and service.address.is_loopback
        assert service.can_be_killed and service.has_admin_api
    assert t.service("proxy").admin is None and t.external() == ()
    assert all(str(p.listen) == "127.0.0.1:0" for p in t.proxies)


def test_regions_come_from_the_world() -> None:
    t = default_topology(["hubei", "hunan"])
    assert t.regions == ("hubei", "hunan")
    assert t.proxy_names[:2] == ("region-hubei", "region-hunan")


def test_populate_body_once_addresses_are_known() -> None:
    t = default_topology(["north"])
    ports = {name: Endpoint(host="127.0.0.1", port=9000 + i) for i, name in enumerate(ServiceName)}
    body = t.populate_body(ports)
    assert body[0] == {
        "name": "region-north",
        "listen": "127.0.0.1:0",
        "upstream": "127.0.0.1:9001",
        "enabled": True,
    }
    del ports[ServiceName.ISSUER]
    with pytest.raises(ConfigError, match="no address known for issuer"):
        t.populate_body(ports)


def test_override_file_yaml(tmp_path: Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(
        "services:\n"
        "  acquirer: {mode: external, address: 'acq.example.cn:5000', admin: '10.0.0.5:8080'}\n"
        "  agent-primary: {mode: external, address: '[::1]:7000'}\n"
        "proxies:\n"
        "  - {name: region-north, listen: '127.0.0.1:26001'}\n"
        "  - {name: acquirer-dr, upstream: acquirer, role: backup-host}\n",
        encoding="utf-8",
    )
    t = load_topology(path)
    acquirer = t.service("acquirer")
    assert acquirer.mode is Mode.EXTERNAL and str(acquirer.address) == "acq.example.cn:5000"
    assert acquirer.has_admin_api and not acquirer.can_be_killed
    agent = t.service("agent-primary")
    assert str(agent.address) == "[::1]:7000" and agent.address.is_loopback
    assert not agent.has_admin_api  # external without an admin address
    assert str(t.proxy("region-north").listen) == "127.0.0.1:26001"
    assert t.proxy("acquirer-dr").role is PathRole.BACKUP_HOST
    assert [s.name for s in t.external()] == [ServiceName.ACQUIRER, ServiceName.AGENT_PRIMARY]


def test_override_file_json_with_regions(tmp_path: Path) -> None:
    path = tmp_path / "topology.json"
    path.write_text(json.dumps({"regions": ["west"], "proxies": [{"name": "region-west"}]}))
    t = load_topology(path, regions=("ignored",))
    assert t.regions == ("west",) and t.proxy_names[0] == "region-west"


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"services": {"acquirerx": {}}}, "services.acquirerx: unknown name"),
        (
            {"services": {"acquirer": {"mode": "external"}}},
            "services.acquirer.address: an external",
        ),
        (
            {"services": {"acquirer": {"mode": "external", "address": "10.0.0.5"}}},
            "services.acquirer.address: bad address '10.0.0.5': expected host:port",
        ),
        (
            {"services": {"acquirer": {"address": "10.0.0.5:70000"}}},
            "services.acquirer.address.port: must be less than or equal to 65535",
        ),
        (
            {"services": {"issuer": {"mode": "external", "address": "bad host!:5000"}}},
            "services.issuer.address: bad host 'bad host!'",
        ),
        (
            {"services": {"issuer": {"mode": "external", "address": "10.0.0.1:0"}}},
            "services.issuer: an external service needs a real port in address",
        ),
        (
            {"proxies": [{"name": "agent"}, {"name": "agent", "listen": "127.0.0.1:1"}]},
            "proxies[1].name: duplicate proxy 'agent'",
        ),
        (
            {"proxies": [{"name": "region-west", "upstream": "acquirer"}]},
            "proxies[0].name: 'region-west' is for unknown region 'west'",
        ),
        ({"proxies": [{"name": "extra"}]}, "proxies[0].upstream: a new proxy needs an upstream"),
        (
            {"proxies": [{"name": "loop", "upstream": "proxy"}]},
            "proxies.loop: a proxy cannot forward to the proxy service itself",
        ),
        ({"proxies": [{"name": "x", "upstream": "mainframe"}]}, "proxies[0].upstream:"),
        ({"regions": ["north", "north"]}, "regions: duplicate 'north'"),
        ({"colour": "red"}, "colour: unknown field"),
    ],
)
def test_bad_override_names_the_field(doc: object, words: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        topology_from_mapping(doc, source="topo.yaml")
    assert f"topo.yaml: {words}" in str(info.value)


def test_bad_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read topology file"):
        load_topology(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.json: not valid JSON"):
        load_topology(broken)


def test_topology_is_immutable() -> None:
    t = default_topology()
    with pytest.raises(Exception, match="frozen"):
        t.regions = ("x",)  # type: ignore[misc]
