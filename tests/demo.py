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

``python tests/demo.py --serve`` builds the same release and keeps it served
on 127.0.0.1 until Ctrl-C (or SIGTERM), so that you can try qtmcp by hand: it
prints ready-to-paste lines (the variables that point qtmcp at it, commands to
try, an MCP client configuration), then one line on stderr per request the
mirror answers. On stop it removes its temporary folder (the release and the
cache it named) and exits 0.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fixtures import (  # noqa: E402
    HOST_OS,
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


def _remove_tree(path: Path) -> None:
    if sys.version_info >= (3, 12):
        shutil.rmtree(str(path), onexc=_remove_readonly)  # novm
    else:
        shutil.rmtree(str(path), onerror=_remove_readonly)


# -- python tests/demo.py --serve ---------------------------------------------

#: the application the printed client configuration names: the stand-in
#: launcher does not start it, so any path does (put your own there)
SERVE_APP = "C:\\path\\to\\app.exe" if HOST_OS == "windows" else "/path/to/your/app"


def _python_command() -> str:
    """How to type this interpreter: its bare name where PATH finds this very
    interpreter under it (``python`` in an active venv), else its full path."""
    name = Path(sys.executable).name
    if HOST_OS == "windows" and name.lower().endswith(".exe"):
        name = name[:-4]
    found = shutil.which(name)
    try:
        if found and os.path.samefile(found, sys.executable):
            return name
    except OSError:
        pass
    return sys.executable


def _qtmcp_argument() -> str:
    """``qtmcp.py`` when run from the repository root, else its full path."""
    try:
        if Path.cwd().resolve() == QTMCP.parent:
            return QTMCP.name
    except OSError:
        pass
    return str(QTMCP)


def _command_line(words: list) -> str:
    if HOST_OS == "windows":
        return subprocess.list2cmdline(words)
    return " ".join(shlex.quote(w) for w in words)


def client_config(name: str, entry: dict) -> list:
    """``{"mcpServers": {name: entry}}`` as JSON lines, each list on one line."""
    dump = lambda value: json.dumps(value, ensure_ascii=False)  # noqa: E731
    items = [[dump(k), ": ", (dump(v) if not isinstance(v, dict) else None), v]
             for k, v in entry.items()]
    lines = ['{', '  "mcpServers": {', '    %s: {' % dump(name)]
    for i, (key, colon, flat, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if flat is not None:
            lines.append("      %s%s%s%s" % (key, colon, flat, comma))
            continue
        lines.append("      %s: {" % key)
        inner = ["        %s: %s" % (dump(k), dump(v)) for k, v in value.items()]
        lines += [line + ("," if j < len(inner) - 1 else "") for j, line in enumerate(inner)]
        lines.append("      }" + comma)
    lines += ["    }", "  }", "}"]
    return lines


def serve_lines(url: str, tmp: Path) -> list:
    """What ``--serve`` prints on stdout once the mirror is up (``tmp``: the
    demo's temporary folder, removed at the end)."""
    cache, copy = tmp / "cache", tmp / "usb"
    variables = [("QTMCP_MIRROR", url), ("QTMCP_RELEASE", TAG), ("QTMCP_CACHE_DIR", str(cache))]
    python = _command_line([_python_command(), _qtmcp_argument()])
    lines = ["qtmcp demo mirror: release %s served at %s/%s/ (this machine: %s)"
             % (TAG, url, TAG, HOST_PLATFORM), ""]
    lines.append("1. Point qtmcp at it, in another terminal (the cache is a temporary one,"
                 " removed on Ctrl-C):")
    lines.append("")
    if HOST_OS == "windows":
        lines.append("   cmd:")
        lines += ['     set "%s=%s"' % (k, v) for k, v in variables]
        lines.append("   PowerShell:")
        lines.append("     " + "; ".join('$env:%s = "%s"' % (k, v) for k, v in variables))
        lines.append("   Git Bash:")
    lines.append("     export " + " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in variables))
    lines.append("")
    proxies = sorted(k for k in os.environ if k.lower() in ("http_proxy", "https_proxy", "all_proxy"))
    if proxies:
        lines.append("   (%s is set here: add 127.0.0.1 to NO_PROXY too, or qtmcp asks the proxy"
                     " for the demo's files)" % " and ".join(proxies))
        lines.append("")
    lines.append("2. Try the commands%s:" % (" (from the repository root)"
                                              if _qtmcp_argument() == QTMCP.name else ""))
    lines.append("")
    for words, what in ((["list"], "the builds of %s, which one fits this machine" % TAG),
                        (["fetch", "--qt", "6.8"], "download, verify, unpack; prints the launcher's path"),
                        (["cache", "list"], "what the cache holds"),
                        (["doctor"], "check what a start needs"),
                        (["mirror", str(copy)], "copy the release, verified, into a folder:"
                         " a mirror to serve or carry"),
                        (["--mirror", str(copy), "--offline", "fetch", "--qt", "5.15-patched"],
                         "install from that folder, without any connection"),
                        (["--qt", "6.8", "--", SERVE_APP], "start the stand-in launcher; it speaks"
                         " MCP on stdin/stdout (Ctrl-D / Ctrl-Z Enter ends it)")):
        lines.append("     %s %s" % (python, _command_line(words)))
        lines.append("         # " + what)
    lines.append("")
    entry = {"command": sys.executable,
             "args": [str(QTMCP), "--qt", "6.8", "--", SERVE_APP],
             "env": dict(variables)}
    lines.append("3. Or let an MCP client start it, restart the client and ask it to call the"
                 " echo tool.")
    lines.append("   Claude Desktop, Cursor (VS Code's .vscode/mcp.json: \"servers\" instead of"
                 " \"mcpServers\", and \"type\": \"stdio\"):")
    lines.append("")
    lines += ["   " + line for line in client_config("qtmcp-demo", entry)]
    lines.append("")
    claude = ["claude", "mcp", "add", "qtmcp-demo"]
    for k, v in variables:
        claude += ["-e", "%s=%s" % (k, v)]
    claude += ["--", sys.executable] + entry["args"]
    lines.append("   Claude Code:")
    lines.append("     " + _command_line(claude))
    lines.append("")
    lines.append("Serving until Ctrl-C. Each request the mirror gets is shown on stderr.")
    return lines


def serve_forever() -> int:
    """``--serve``: build vDEMO, serve it, print how to use it, wait for a stop."""
    tmp = Path(tempfile.mkdtemp(prefix="qtmcp-demo-"))
    server = None
    stop = threading.Event()

    def on_signal(signum, _frame):  # type: ignore[no-untyped-def]
        stop.set()

    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):  # SIGBREAK: Ctrl-Break on Windows
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), on_signal)
    try:
        mirror_root = tmp / "mirror"
        build_release(mirror_root, TAG)
        server = serve(mirror_root)
        for line in serve_lines(server.url, tmp):
            say(line)
        shown = 0
        while not stop.wait(0.2):
            requests = server.requests
            for r in requests[shown:]:
                print("mirror: %s %s" % (r.method, r.path), file=sys.stderr, flush=True)
            shown = len(requests)
        print("demo mirror stopped; removed %s" % tmp, file=sys.stderr, flush=True)
        return 0
    except Exception as exc:  # report, don't show a traceback to a first-time user
        print("demo failed: %s: %s" % (type(exc).__name__, exc), file=sys.stderr, flush=True)
        return 1
    finally:
        if server is not None:
            server.stop()
        _remove_tree(tmp)


# -- python tests/demo.py -----------------------------------------------------

USAGE = "usage: python tests/demo.py [--serve]"


def main(argv: Optional[list] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    if args in (["-h"], ["--help"]):
        say(USAGE)
        say(__doc__.split("\n", 1)[1].strip())
        return 0
    if args not in ([], ["--serve"]):
        print(USAGE, file=sys.stderr)
        return 2
    if not QTMCP.is_file():
        say("demo failed: %s is missing (run the demo from a checkout of the repository)" % QTMCP)
        return 1
    if args:
        return serve_forever()
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
        _remove_tree(tmp)


if __name__ == "__main__":
    sys.exit(main())
