"""The compose picture without Compose: the lab's issuer image and the real
Toxiproxy on a network the lab creates, reached by name inside it; from the
host only through ports published on 127.0.0.1. Container, network and
volumes are gone afterwards."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from poslab.proxy import ToxiproxyClient
from tests.containers.support import lab_images_or_skip, publish_on_loopback, toxiproxy_image

pytestmark = [pytest.mark.docker, pytest.mark.anyio, pytest.mark.timeout(180)]


async def _seconds_to_health(url: str) -> float:
    import aiohttp

    began = time.monotonic()
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        assert answer.status == 200, await answer.text()
    return time.monotonic() - began


async def test_toxiproxy_reaches_the_issuer_by_name_on_the_labs_network(
    engine: Any, world_file: Path
) -> None:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    lab_images_or_skip(engine)
    world_file.chmod(0o644)  # the image's user reads it
    with Network() as network:
        issuer = (
            DockerContainer("pos-lab/issuer")
            .with_network(network)
            .with_network_aliases("issuer")
            .with_env("LAB_ADMIN_TOKEN", secrets.token_hex(16))
            .with_volume_mapping(str(world_file), "/world/world.json", "ro")
            .waiting_for(LogMessageWaitStrategy("issuer ready"))
        )
        toxiproxy = publish_on_loopback(
            publish_on_loopback(DockerContainer(toxiproxy_image(engine)), 8474), 20101
        ).with_network(network)
        with issuer, toxiproxy:
            volumes = [m["Name"] for m in issuer.get_wrapped_container().attrs["Mounts"]
                       if m["Type"] == "volume"]  # fmt: skip
            api_url = f"http://127.0.0.1:{toxiproxy.get_exposed_port(8474)}"
            async with ToxiproxyClient(api_url) as api:
                for _ in range(100):
                    try:
                        await api.version()
                        break
                    except Exception:
                        await asyncio.sleep(0.1)
                # The issuer's admin API (HTTP) through Toxiproxy, by its name on the
                # network; the host reaches only the port published on 127.0.0.1.
                await api.create_proxy("issuer-admin", "issuer:9101", "0.0.0.0:20101")
                health = f"http://127.0.0.1:{toxiproxy.get_exposed_port(20101)}/health"
                assert await _seconds_to_health(health) < 0.5
                await api.add_toxic("issuer-admin", "latency", attributes={"latency": 400})
                assert await _seconds_to_health(health) >= 0.4
        network_id = network.id
    assert not [n for n in engine.networks.list() if n.id == network_id], "the network is gone"
    assert not {v.name for v in engine.volumes.list()} & set(volumes), "and the volumes"
