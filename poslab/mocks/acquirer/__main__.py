"""Command line of the acquirer (the contract poslab/stack launches):

    python -m poslab.mocks.acquirer --world W --host 127.0.0.1 --port 0 --admin-port 0 \\
        --db FILE --issuer HOST:PORT --ready-file F [--config FILE] [--admin-token T] \\
        [--loop asyncio|uvloop|auto] [--codec compiled|pyiso8583] [--defect NAME ...]
    python -m poslab.mocks.acquirer export --db FILE --out DIR

Logs go to stderr (PANs masked, keys never logged). Exit codes: 0 after a
clean stop, 2 for a configuration error (one line on stderr).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path

from poslab import server_runtime
from poslab.errors import ConfigError, LabError
from poslab.iso8583 import use_codec

from .config import AcquirerConfig, load_config
from .export import export_all
from .server import Options, run


def _endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _with_defects(config: AcquirerConfig, defects: list[str]) -> AcquirerConfig:
    # replace() validates again: an unknown name is a ConfigError listing the known ones
    return dataclasses.replace(config, defects=config.defects | frozenset(defects))


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m poslab.mocks.acquirer", description="Mock CUP acquirer host"
    )
    parser.add_argument("--world", type=Path, required=True, help="world file (lab world generate)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (ISO and admin)")
    parser.add_argument("--port", type=int, default=0, help="ISO 8583 port (0: any)")
    parser.add_argument("--admin-port", type=int, default=0, help="admin HTTP port (0: any)")
    parser.add_argument("--db", type=Path, required=True, help="ledger SQLite file")
    parser.add_argument("--issuer", type=_endpoint, required=True, help="issuer HOST:PORT")
    parser.add_argument("--ready-file", type=Path, help="written once listening")
    parser.add_argument("--config", type=Path, help="JSON/YAML overrides of AcquirerConfig")
    parser.add_argument(
        "--admin-token",
        default=os.environ.get("LAB_ADMIN_TOKEN"),
        help="bearer token for the admin API (required off loopback)",
    )
    parser.add_argument(
        "--defect",
        action="append",
        default=[],
        metavar="NAME",
        help="plant a known defect (repeatable; docs/defects.md); an unknown name is exit 2",
    )
    parser.add_argument("--log-level", default=os.environ.get("LAB_LOG_LEVEL", "INFO"))
    server_runtime.add_loop_option(parser)
    server_runtime.add_codec_option(parser)
    return parser


def _export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m poslab.mocks.acquirer export",
        description="Write the ledger's JSONL exports",
    )
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    return parser


def main(argv: list[str]) -> int:
    if argv[:1] == ["export"]:
        args = _export_parser().parse_args(argv[1:])
        try:
            counts = export_all(args.db, args.out)
        except LabError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
        print(" ".join(f"{name}={n}" for name, n in counts.items()))
        return 0
    args = _serve_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        options = Options(
            world=args.world,
            host=args.host,
            port=args.port,
            admin_port=args.admin_port,
            db=args.db,
            issuer=args.issuer,
            ready_file=args.ready_file,
            config=_with_defects(load_config(args.config), args.defect),
            admin_token=args.admin_token or None,
        )
        use_codec(args.codec)
        return server_runtime.run(run(options), args.loop)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a port in use, an unwritable ready file
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
