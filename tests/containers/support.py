"""What the container tests share: the engine (asked once, skipped with a reason
when none answers), testcontainers' settings for this kind of machine, and the
real Toxiproxy image, built FROM scratch from Shopify's 2.12.0 binary at test
time when no such image is there.

testcontainers on a machine without a registry: its reaper (Ryuk) is an image
to pull, so ``TESTCONTAINERS_RYUK_DISABLED=true`` (every container here is
removed by its context manager); and in a container with ``/.dockerenv`` it
would look for the engine's gateway address, so
``TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1`` (every port is published there).
"""

from __future__ import annotations

import functools
import io
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
OFFICIAL_TOXIPROXY = "ghcr.io/shopify/toxiproxy:2.12.0"
LOCAL_TOXIPROXY = "pos-lab/toxiproxy:2.12.0"  # the same binary, built here; never the lab's proxy
TOXIPROXY_DIR = Path(os.environ.get("LAB_TOXIPROXY_DIR", REPO.parent / "shared/tools/toxiproxy"))
LAB_IMAGES = ("pos-lab/issuer", "pos-lab/acquirer", "pos-lab/agent")


def testcontainers_settings() -> None:
    """Set before testcontainers first reads them (it caches what it read)."""
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    os.environ.setdefault("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
    try:
        from testcontainers.core.config import testcontainers_config
    except ImportError:
        return
    if os.environ["TESTCONTAINERS_RYUK_DISABLED"].lower() == "true":
        testcontainers_config.ryuk_disabled = True  # even if read (as False) already


testcontainers_settings()


def publish_on_loopback(container: Any, port: int) -> Any:
    """Publish ``port`` on 127.0.0.1 only (an ephemeral host port).

    testcontainers' ``with_bind_ports`` takes a host port but no host address
    and would publish on every interface; the engine takes (address,) tuples.
    """
    container.ports[f"{port}/tcp"] = ("127.0.0.1",)
    return container


@functools.cache
def _engine() -> tuple[Any, str | None]:
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
    except Exception:  # any failure to reach it means the same thing here
        return None, "no reachable Docker daemon (scripts/ensure-docker provisions one)"
    return client, None


def engine_or_skip() -> Any:
    client, reason = _engine()
    if reason:
        pytest.skip(reason)
    testcontainers_settings()
    return client


def toxiproxy_image(client: Any) -> str:
    """The official image when the engine has it, else the real binary's local image
    (built now from ``TOXIPROXY_DIR`` when missing; skip when the binary is not there)."""
    import docker.errors

    for image in (OFFICIAL_TOXIPROXY, LOCAL_TOXIPROXY):
        try:
            client.images.get(image)
            return image
        except docker.errors.ImageNotFound:
            pass
    server, cli = TOXIPROXY_DIR / "toxiproxy-server", TOXIPROXY_DIR / "toxiproxy-cli"
    if not (server.is_file() and cli.is_file()):
        pytest.skip(f"no Toxiproxy image and no Toxiproxy binaries in {TOXIPROXY_DIR}")
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        tar.add(REPO / "deploy" / "toxiproxy.Dockerfile", "Dockerfile")
        tar.add(server, "toxiproxy-server")
        tar.add(cli, "toxiproxy-cli")
    context.seek(0)
    client.images.build(fileobj=context, custom_context=True, tag=LOCAL_TOXIPROXY, rm=True)
    return LOCAL_TOXIPROXY


def lab_images_or_skip(client: Any) -> None:
    import docker.errors

    missing = []
    for image in LAB_IMAGES:
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            missing.append(image)
    if missing:
        pytest.skip(f"images not built: {', '.join(missing)} (scripts/build-images)")
