"""Container healthcheck: ``python -m poslab.stack.healthcheck URL`` exits 0 on HTTP 200.

The lab's images carry no curl; this needs only the standard library and
starts in a few tens of milliseconds. An admin API bound beyond 127.0.0.1
wants a bearer token (docs/faults.md), taken from ``LAB_ADMIN_TOKEN``.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def check(url: str, token: str | None, timeout: float = 2.0) -> tuple[bool, str]:
    request = urllib.request.Request(url, headers={"User-Agent": "lab-healthcheck"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status == 200, f"{url} → {resp.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url} → {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"{url}: {exc}"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m poslab.stack.healthcheck URL", file=sys.stderr)
        return 2
    ok, detail = check(argv[0], os.environ.get("LAB_ADMIN_TOKEN"))
    print(detail, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
