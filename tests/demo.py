"""See qtmcp work, with nothing installed but Python:  python tests/demo.py

Run from the repository root. The demo:

1. builds a real-shaped QtMcp release ``vDEMO`` in a temporary folder: one
   archive per build (``qtmcp-qt6.8-linux.tar.gz``, ``...-windows-x64.zip``,
   ...) and a ``SHA256SUMS``, each archive holding a stand-in launcher (a tiny
   MCP server written in Python) where the native launcher would be;
2. serves it on 127.0.0.1 with ``http.server`` in a thread (no other network);
3. starts ``python qtmcp.py --mirror http://127.0.0.1:PORT --release vDEMO
   --cache-dir TMP --qt 6.8 -- /opt/app/bin/editor --demo`` with pipes, exactly
   as an MCP client (Claude Desktop, VS Code, ...) would, and talks MCP to it:
   initialize, notifications/initialized, tools/list, tools/call;
4. prints the exchange (-> sent, <- received) and what qtmcp said on stderr;
5. does it again: this time the launcher comes from the cache and the mirror
   sees no request;
6. removes its temporary folder. Exit status 0 when all went as expected.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fixtures import (  # noqa: E402
    HOST_PLATFORM,
    QTMCP,
    build_release,
    clean_env,
    serve,
    start_qtmcp,
)

TAG = "vDEMO"
ECHO_TEXT = "Hello from the QtMcp demo: Grüße, こんにちは ✓"
LAUNCHER_ARGS = ["/opt/app/bin/editor", "--demo"]


def _can_print(s: str) -> bool:
    try:
        s.encode(sys.stdout.encoding or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


SENT, RECEIVED = ("→", "←") if _can_print("→←") else ("->", "<-")


def say(line: str = "") -> None:
    print(line, flush=True)


def shorten(message: object, width: int = 150) -> str:
    s = json.dumps(message, ensure_ascii=False)
    return s if len(s) <= width else s[: width - 5] + " ...}"


class DemoFailure(Exception):
    pass


def session_run(number: int, cmd_args: list, env: dict, server) -> dict:
    """One MCP client session through qtmcp; returns what it saw."""
    say("=== Run %d: %s" % (number, "first start: qtmcp downloads, verifies, unpacks"
                           if number == 1 else "second start: from the cache"))
    say("$ python qtmcp.py " + " ".join(cmd_args))
    before = len(server.requests)
    started = time.monotonic()
    with start_qtmcp(cmd_args, env=env, timeout=60) as session:
        init = session.initialize()
        tools = session.request("tools/list")
        echo = session.call_tool("echo", {"text": ECHO_TEXT})
        report = session.call_tool("env", {"names": []})
        status = session.close()
    elapsed = time.monotonic() - started
    say()
    say("MCP exchange (%s sent to qtmcp's stdin, %s read from its stdout):" % (SENT, RECEIVED))
    for direction, message in session.exchange:
        say("  %s %s" % (SENT if direction == "->" else RECEIVED, shorten(message)))
    say()
    say("stderr (qtmcp's messages, then the launcher's log):")
    for line in session.stderr.decode("utf-8", "replace").splitlines():
        say("  | " + line)
    requests = server.requests[before:]
    say()
    say("requests the mirror saw: %d%s" % (
        len(requests), "".join("\n  %s %s" % (r.method, r.path) for r in requests)))
    say("launcher exit status: %d, %.2f s" % (status, elapsed))
    say()

    if status != 0:
        raise DemoFailure("run %d: the launcher ended with status %d" % (number, status))
    if "result" not in init or init["result"].get("serverInfo", {}).get("name") != "qtmcp-stand-in":
        raise DemoFailure("run %d: unexpected initialize answer: %r" % (number, init))
    if "echo" not in [t.get("name") for t in tools.get("result", {}).get("tools", [])]:
        raise DemoFailure("run %d: tools/list has no echo tool: %r" % (number, tools))
    got = echo.get("result", {}).get("content", [{}])[0].get("text")
    if got != ECHO_TEXT:
        raise DemoFailure("run %d: echo answered %r, expected %r" % (number, got, ECHO_TEXT))
    argv = json.loads(report["result"]["content"][0]["text"])["argv"]
    if argv != LAUNCHER_ARGS:
        raise DemoFailure("run %d: the launcher got %r, expected %r" % (number, argv, LAUNCHER_ARGS))
    return {"requests": requests, "elapsed": elapsed, "argv": argv}


def _remove_readonly(func, path, _exc):  # type: ignore[no-untyped-def]
    os.chmod(path, stat.S_IWRITE)
    func(path)


def main() -> int:
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    if not QTMCP.is_file():
        say("demo failed: %s is missing (run the demo from a checkout of the repository)" % QTMCP)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="qtmcp-demo-"))
    server = None
    try:
        mirror_root = tmp / "mirror"
        cache = tmp / "cache"
        release = build_release(mirror_root, TAG)
        server = serve(mirror_root)
        say("qtmcp demo on %s (Python %s)" % (HOST_PLATFORM, sys.version.split()[0]))
        say()
        say("Built release %s in %s, served at %s/%s/:" % (TAG, mirror_root, server.url, TAG))
        for line in release.sums.decode().splitlines():
            say("  " + line)
        say()

        cmd_args = ["--mirror", server.url, "--release", TAG, "--cache-dir", str(cache),
                    "--qt", "6.8", "--"] + LAUNCHER_ARGS
        # The client's environment, less variables that would change what
        # qtmcp does here (QTMCP_*, proxies, which 127.0.0.1 must not go through).
        env = clean_env(release=None)
        first = session_run(1, cmd_args, env, server)
        second = session_run(2, cmd_args, env, server)

        if not first["requests"]:
            raise DemoFailure("the first run made no request to the mirror")
        if second["requests"]:
            raise DemoFailure("the second run made %d request(s) to the mirror, expected none"
                              % len(second["requests"]))
        say("=== Summary")
        say("- qtmcp fetched %s, checked it against SHA256SUMS, unpacked it into the cache"
            % release.host_build("6.8").asset)
        say("  and started its launcher with %s" % json.dumps(first["argv"]))
        say("- the MCP stream went through unchanged (the echo came back: %r)" % ECHO_TEXT)
        say("- the second start came from the cache: no request to the mirror (%.2f s vs %.2f s)"
            % (second["elapsed"], first["elapsed"]))
        say("demo OK")
        return 0
    except DemoFailure as exc:
        say("demo failed: %s" % exc)
        return 1
    except Exception as exc:  # report, don't show a traceback to a first-time user
        say("demo failed: %s: %s" % (type(exc).__name__, exc))
        return 1
    finally:
        if server is not None:
            server.stop()
        if sys.version_info >= (3, 12):
            shutil.rmtree(str(tmp), onexc=_remove_readonly)  # novm
        else:
            shutil.rmtree(str(tmp), onerror=_remove_readonly)


if __name__ == "__main__":
    sys.exit(main())
