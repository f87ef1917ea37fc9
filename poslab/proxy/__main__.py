"""``python -m poslab.proxy``: the embedded Toxiproxy-compatible server.

Flags follow ``toxiproxy-server``'s (``-host``, ``-port``, ``-config``,
``-seed``, ``-proxy-metrics``, ``-runtime-metrics``, ``-version``), also
accepted with two dashes; ``-loop asyncio|uvloop|auto`` (default
``$LAB_EVENT_LOOP``, else auto: uvloop when installed) is the lab's own.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from poslab import server_runtime
from poslab.errors import LabError
from poslab.proxy.api import TOXIPROXY_VERSION
from poslab.proxy.server import DEFAULT_HOST, DEFAULT_PORT, serve


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m poslab.proxy",
        description=f"Toxiproxy-compatible fault proxy (API of Toxiproxy {TOXIPROXY_VERSION}).",
        prefix_chars="-",
    )
    for flag, kwargs in (
        ("host", {"default": DEFAULT_HOST, "help": "host for the API to listen on"}),
        ("port", {"type": int, "default": DEFAULT_PORT, "help": "port for the API"}),
        ("config", {"type": Path, "help": "JSON file of proxies to create on startup"}),
        ("seed", {"type": int, "help": "seed that makes jitter, slicing, toxicity repeatable"}),
        ("ready-file", {"type": Path, "help": "write {pid, ports: {api}} here once listening"}),
        ("log-level", {"default": "INFO", "help": "DEBUG, INFO, WARNING or ERROR"}),
    ):
        parser.add_argument(f"-{flag}", f"--{flag}", **kwargs)  # type: ignore[arg-type]
    for flag, text in (
        ("proxy-metrics", "serve per-proxy byte counters on /metrics"),
        ("runtime-metrics", "serve process metrics on /metrics"),
        ("version", "print the version and exit"),
    ):
        parser.add_argument(f"-{flag}", f"--{flag}", action="store_true", help=text)
    server_runtime.add_loop_option(parser, "-loop", "--loop")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.version:
        print(f"toxiproxy-server version {TOXIPROXY_VERSION} (lab embedded)")
        return 0
    logging.basicConfig(
        level=str(args.log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        serve(
            args.host,
            args.port,
            config=args.config,
            seed=args.seed,
            proxy_metrics=args.proxy_metrics,
            runtime_metrics=args.runtime_metrics,
            ready_file=args.ready_file,
            loop=args.loop,
        )
    except LabError as exc:
        print(f"poslab.proxy: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
