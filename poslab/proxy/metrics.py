"""``GET /metrics``: Prometheus text, served when switched on.

``--proxy-metrics`` gives Toxiproxy's two counters,
``toxiproxy_proxy_received_bytes_total`` and ``toxiproxy_proxy_sent_bytes_total``
with its labels (direction, listener, proxy, upstream). Toxiproxy adds a
connection's bytes only when the connection ends; here they are live, which
is what a dashboard watching a slow link wants. A lab extension,
``lab_proxy_open_connections``, counts open connections per proxy.

``--runtime-metrics`` gives the process's own figures (Toxiproxy exports Go's
runtime; the Python equivalents are the conventional ``process_*`` ones).
"""

from __future__ import annotations

import gc
import os
import resource
import sys
import time
from collections.abc import Iterable

from poslab.proxy.link import DIRECTIONS
from poslab.proxy.proxy import Proxy

__all__ = ["CONTENT_TYPE", "render_metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_STARTED = time.time()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: dict[str, str]) -> str:
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in sorted(pairs.items()))
    return "{" + inner + "}"


def _proxy_lines(proxies: Iterable[Proxy]) -> list[str]:
    lines: list[str] = []
    listed = sorted(proxies, key=lambda p: p.name)
    for kind in ("received", "sent"):
        metric = f"toxiproxy_proxy_{kind}_bytes_total"
        lines.append(f"# HELP {metric} Bytes {kind} by the proxy, per direction.")
        lines.append(f"# TYPE {metric} counter")
        for proxy in listed:
            for direction in DIRECTIONS:
                labels = _labels(
                    {
                        "direction": direction,
                        "proxy": proxy.name,
                        "listener": proxy.listen,
                        "upstream": proxy.upstream,
                    }
                )
                lines.append(f"{metric}{labels} {proxy.bytes_total(direction, kind)}")
    lines.append("# HELP lab_proxy_open_connections Open client connections per proxy.")
    lines.append("# TYPE lab_proxy_open_connections gauge")
    for proxy in listed:
        lines.append(
            f"lab_proxy_open_connections{_labels({'proxy': proxy.name})} {len(proxy.connections)}"
        )
    return lines


def _runtime_lines() -> list[str]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    lines = [
        "# HELP process_cpu_seconds_total Total user and system CPU time in seconds.",
        "# TYPE process_cpu_seconds_total counter",
        f"process_cpu_seconds_total {usage.ru_utime + usage.ru_stime:.6f}",
        "# HELP process_max_resident_memory_bytes Peak resident memory in bytes.",
        "# TYPE process_max_resident_memory_bytes gauge",
        f"process_max_resident_memory_bytes {usage.ru_maxrss * 1024}",
        "# HELP process_start_time_seconds Start time of the process since the epoch.",
        "# TYPE process_start_time_seconds gauge",
        f"process_start_time_seconds {_STARTED:.3f}",
    ]
    try:
        open_fds = len(os.listdir("/proc/self/fd"))
    except OSError:
        open_fds = -1
    if open_fds >= 0:
        lines += [
            "# HELP process_open_fds Number of open file descriptors.",
            "# TYPE process_open_fds gauge",
            f"process_open_fds {open_fds}",
        ]
    lines += [
        "# HELP python_gc_collections_total Garbage collections per generation.",
        "# TYPE python_gc_collections_total counter",
    ]
    for generation, stats in enumerate(gc.get_stats()):
        lines.append(
            f'python_gc_collections_total{{generation="{generation}"}} {stats["collections"]}'
        )
    version = ".".join(str(part) for part in sys.version_info[:3])
    lines += [
        "# HELP python_info Python platform information.",
        "# TYPE python_info gauge",
        f'python_info{{implementation="{sys.implementation.name}",version="{version}"}} 1',
    ]
    return lines


def render_metrics(proxies: Iterable[Proxy], *, proxy: bool, runtime: bool) -> str:
    lines: list[str] = []
    if runtime:
        lines += _runtime_lines()
    if proxy:
        lines += _proxy_lines(proxies)
    return "\n".join(lines) + "\n"
