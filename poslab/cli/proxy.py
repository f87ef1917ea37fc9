"""``lab proxy``: the embedded Toxiproxy-compatible fault proxy.

``lab proxy serve`` runs the server in the foreground (the same as
``python -m poslab.proxy``) until Ctrl-C or SIGTERM. ``lab proxy list`` and
``lab proxy reset`` talk to whichever Toxiproxy ``TOXIPROXY_URL`` (or
``--url``) points at — the embedded one or a real one.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from poslab.proxy.client import ToxiproxyClient
from poslab.proxy.server import DEFAULT_HOST, DEFAULT_PORT, serve
from poslab.server_runtime import LOOP_ENV, LoopChoice

DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"

_url_option = click.option(
    "--url",
    envvar="TOXIPROXY_URL",
    default=DEFAULT_URL,
    show_default=True,
    help="Toxiproxy API to talk to (env TOXIPROXY_URL).",
)


@click.group()
def proxy() -> None:
    """The fault proxy: run the embedded server, or inspect one."""


@proxy.command("serve")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="API listen host.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True)
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON array of proxies to create at start (the /populate shape).",
)
@click.option("--seed", type=int, help="Make jitter, slicing and toxicity draws repeatable.")
@click.option("--proxy-metrics", is_flag=True, help="Per-proxy byte counters on /metrics.")
@click.option("--runtime-metrics", is_flag=True, help="Process metrics on /metrics.")
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help='Write {"pid", "ports": {"api"}} here once listening.',
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
)
@click.option(
    "--loop",
    type=click.Choice([choice.value for choice in LoopChoice]),
    envvar=LOOP_ENV,
    default=LoopChoice.AUTO.value,
    show_default=True,
    help=f"Event loop (env {LOOP_ENV}); auto = uvloop when installed.",
)
def serve_command(
    host: str,
    port: int,
    config: Path | None,
    seed: int | None,
    proxy_metrics: bool,
    runtime_metrics: bool,
    ready_file: Path | None,
    log_level: str,
    loop: str,
) -> None:
    """Run the embedded Toxiproxy-compatible server until interrupted."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    serve(
        host,
        port,
        config=config,
        seed=seed,
        proxy_metrics=proxy_metrics,
        runtime_metrics=runtime_metrics,
        ready_file=ready_file,
        loop=loop,
    )


@proxy.command("list")
@_url_option
def list_command(url: str) -> None:
    """Every proxy and its toxics."""

    async def run() -> None:
        async with ToxiproxyClient(url) as client:
            proxies = await client.proxies()
        if not proxies:
            click.echo("no proxies")
        for name, info in proxies.items():
            state = "enabled" if info.enabled else "DISABLED"
            click.echo(f"{name}  {info.listen} -> {info.upstream}  {state}")
            for toxic in info.toxics:
                attrs = ", ".join(f"{k}={v}" for k, v in toxic.attributes.items())
                click.echo(
                    f"    {toxic.name}: {toxic.type} {toxic.stream} "
                    f"toxicity={toxic.toxicity:g} {attrs}"
                )

    asyncio.run(run())


@proxy.command("reset")
@_url_option
def reset_command(url: str) -> None:
    """Enable every proxy and remove every toxic."""

    async def run() -> None:
        async with ToxiproxyClient(url) as client:
            await client.reset()

    asyncio.run(run())
    click.echo("proxies reset")
