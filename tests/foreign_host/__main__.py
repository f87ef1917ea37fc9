"""``python -m tests.foreign_host``: run the foreign host until SIGTERM/SIGINT.

The ready file gets ``{"port": N, "pid": P}`` (written atomically) once the
socket listens, so a test waits on it instead of sleeping.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from pathlib import Path

from tests.foreign_host.books import Books
from tests.foreign_host.host import DEFECTS, ForeignHost, World, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.foreign_host")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", type=Path)
    parser.add_argument("--db", required=True, help="SQLAlchemy URL of the host's books")
    parser.add_argument("--world", type=Path, required=True, help="world.json (TMKs, cards)")
    parser.add_argument("--defect", action="append", default=[], choices=DEFECTS)
    parser.add_argument("--day-seconds", type=float, default=None)
    parser.add_argument("--mac", choices=("cup-ecb", "x9.19"), default="cup-ecb")
    args = parser.parse_args(argv)

    defects = frozenset(args.defect)
    books = Books(args.db, durable="reply-before-durable" not in defects)
    host = ForeignHost(World.load(args.world), books, defects, args.day_seconds, args.mac)
    server = serve(host, args.port)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=host.run_days, args=(stop,), daemon=True).start()
    if args.ready_file is not None:
        tmp = args.ready_file.with_name(args.ready_file.name + ".tmp")
        port = server.server_address[1]
        tmp.write_text(json.dumps({"port": port, "pid": os.getpid(), "defects": sorted(defects)}))
        os.replace(tmp, args.ready_file)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
        books.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
