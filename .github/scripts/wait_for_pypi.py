#!/usr/bin/env python3
"""Wait until PyPI serves the packages a server.json names, with its marker.

Run by .github/workflows/publish-pypi.yml (job publish-mcp-registry) after
the upload to PyPI and before `mcp-publisher publish`:

    python3 wait_for_pypi.py server.json [--index https://pypi.org] [--timeout 900]

The MCP Registry accepts a PyPI package only when PyPI's JSON API shows
"mcp-name: <server name>" in the package's description (its README). Right
after an upload that API can still answer from a cache, so this polls, for
each "pypi" package of SERVER_JSON, <index>/pypi/<name>/<version>/json and
<index>/pypi/<name>/json until both carry the marker.

Exit status: 0 when they do, 1 when the time ran out (one line on stderr,
in the form GitHub Actions shows as an error), 2 for a usage error.
Standard library only; Python 3.9+.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

PROG = "wait_for_pypi"
POLL_SECONDS = 15.0


def description_of(url: str, timeout: float) -> str:
    request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                   "User-Agent": "qtmcp-release"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        data: Any = json.load(response)
    return str(((data or {}).get("info") or {}).get("description") or "")


def wait(server: dict[str, Any], index: str, timeout: float, poll: float) -> list[str]:
    marker = "mcp-name: " + str(server.get("name") or "")
    urls = []
    for package in server.get("packages") or []:
        if package.get("registryType") == "pypi":
            base = f"{index.rstrip('/')}/pypi/{package['identifier']}"
            urls += [f"{base}/{package['version']}/json", f"{base}/json"]
    if not urls:
        print(f"{PROG}: error: the server.json names no PyPI package", file=sys.stderr)
        raise SystemExit(2)
    deadline = time.monotonic() + timeout
    done = []
    for url in urls:
        while True:
            try:
                if marker in description_of(url, timeout=30):
                    print(f"ok: {url} carries {marker!r}", flush=True)
                    done.append(url)
                    break
                reason = f"no {marker!r} in its description yet"
            except urllib.error.HTTPError as exc:
                reason = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = str(getattr(exc, "reason", exc)) or type(exc).__name__
            if time.monotonic() + poll > deadline:
                print(f"::error::{PROG}: {url}: {reason} after {timeout:.0f} s; the MCP Registry"
                      " checks that marker on PyPI, so the server was not published", file=sys.stderr)
                raise SystemExit(1)
            print(f"{url}: {reason}; asking again in {poll:.0f} s", flush=True)
            time.sleep(poll)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, allow_abbrev=False,
                                     description="Wait until PyPI shows a server.json's packages.")
    parser.add_argument("server_json")
    parser.add_argument("--index", default="https://pypi.org")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds (default 900)")
    parser.add_argument("--poll", type=float, default=POLL_SECONDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        with open(args.server_json, encoding="utf-8") as handle:
            server = json.load(handle)
    except (OSError, ValueError) as exc:
        print(f"{PROG}: error: cannot read {args.server_json}: {exc}", file=sys.stderr)
        return 2
    wait(server, args.index, args.timeout, args.poll)
    return 0


if __name__ == "__main__":
    sys.exit(main())
