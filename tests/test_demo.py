"""The README's demo, served: ``python tests/demo.py --serve`` keeps the demo
release on 127.0.0.1 until Ctrl-C and prints what to paste to try qtmcp by
hand. (The plain demo's test is in test_end_to_end.py.)"""

from __future__ import annotations

import json
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

from fixtures import HOST_OS, REPO, asset_name, default_build_specs, run_qtmcp, text

READY = "Serving until Ctrl-C"


class ServedDemo:
    """``python tests/demo.py --serve`` started from the repository root, its
    stdout read line by line in a thread, its stderr into a file."""

    def __init__(self, env: dict, stderr_path: Path):
        self.stderr_path = stderr_path
        self._stderr = open(str(stderr_path), "wb")
        flags = subprocess.CREATE_NEW_PROCESS_GROUP if HOST_OS == "windows" else 0
        self.proc = subprocess.Popen([sys.executable, "tests/demo.py", "--serve"], cwd=str(REPO),
                                     env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr, creationflags=flags)
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        self.lines.put(None)

    def read_until(self, marker: str, timeout: float = 60) -> list:
        """The stdout lines up to and including the first one holding marker."""
        got, deadline = [], time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "no %r within %ss; stdout so far:\n%s" % (marker, timeout, "\n".join(got))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            assert line is not None, "the demo ended (status %s) before %r:\n%s\n%s" % (
                self.proc.wait(10), marker, "\n".join(got), self.stderr())
            got.append(line)
            if marker in line:
                return got

    def stop(self, timeout: float = 30) -> int:
        """Ctrl-C: SIGINT on POSIX, CTRL_BREAK_EVENT to its process group on
        Windows (where a console's Ctrl-C cannot be sent to one process)."""
        if self.proc.poll() is None:
            if HOST_OS == "windows":
                self.proc.send_signal(signal.CTRL_BREAK_EVENT)
            else:
                self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc.stdout.close()
        self._stderr.close()

    def stderr(self) -> str:
        return text(self.stderr_path.read_bytes())


def printed_config(lines: list) -> dict:
    """The client configuration block the demo printed (JSON lines from one
    starting with ``{`` to the matching ``}`` at the same indent)."""
    start = next(i for i, line in enumerate(lines) if line.strip() == "{")
    indent = lines[start].index("{")
    end = next(i for i in range(start + 1, len(lines)) if lines[i] == " " * indent + "}")
    return json.loads("\n".join(lines[start:end + 1]))


def test_the_served_demo_prints_a_mirror_that_qtmcp_lists_fetches_from_and_stops_cleanly_on_ctrl_c(
        qtmcp_env, tmp_path):
    demo = ServedDemo(qtmcp_env, tmp_path / "demo.stderr")
    try:
        lines = demo.read_until(READY)
        printed = "\n".join(lines)
        export = next(line for line in lines if line.strip().startswith("export QTMCP_MIRROR="))
        found = dict(word.split("=", 1) for word in shlex.split(export)[1:])  # the sh form
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", found["QTMCP_MIRROR"]), export
        assert found["QTMCP_RELEASE"] == "vDEMO"
        cache = Path(found["QTMCP_CACHE_DIR"])
        for command in ("qtmcp.py list", "qtmcp.py fetch --qt 6.8", "qtmcp.py cache list",
                        "qtmcp.py doctor", "qtmcp.py mirror "):
            assert command in printed
        copy = Path(re.search(r"qtmcp\.py mirror (.+)$", printed, re.MULTILINE).group(1).strip('"'))
        if HOST_OS == "windows":
            assert 'set "QTMCP_MIRROR=%s"' % found["QTMCP_MIRROR"] in printed
            assert '$env:QTMCP_MIRROR = "%s"' % found["QTMCP_MIRROR"] in printed

        entry = printed_config(lines)["mcpServers"]["qtmcp-demo"]
        assert entry["command"] == sys.executable
        assert entry["args"][:4] == [str(REPO / "qtmcp.py"), "--qt", "6.8", "--"]
        assert entry["env"] == found

        # what a newcomer pastes: the printed variables, then the printed commands
        env = dict(qtmcp_env, **found)
        listed = run_qtmcp(["list"], env=env, cwd=REPO)
        assert listed.returncode == 0, text(listed.stderr)
        for spec in default_build_specs():
            assert asset_name(spec.qt, spec.platform) in text(listed.stdout)
        fetched = run_qtmcp(["fetch", "--qt", "6.8"], env=env, cwd=REPO)
        assert fetched.returncode == 0, text(fetched.stderr)
        launcher = Path(text(fetched.stdout).strip())
        assert launcher.is_file() and cache in launcher.parents
        mirrored = run_qtmcp(["mirror", copy], env=env, cwd=REPO)
        assert mirrored.returncode == 0, text(mirrored.stderr)
        assert (copy / "vDEMO" / "SHA256SUMS").is_file()

        started = time.monotonic()
        while "mirror: GET /vDEMO/SHA256SUMS" not in demo.stderr():
            assert time.monotonic() - started < 10, demo.stderr()
            time.sleep(0.05)

        status = demo.stop()
        stderr = demo.stderr()
        assert status == 0, stderr
        assert "demo mirror stopped" in stderr.splitlines()[-1]
        assert "Traceback" not in stderr
        assert not cache.exists() and not copy.exists(), "the demo's temporary folder outlived it"
    finally:
        demo.kill()


def test_the_demo_refuses_an_argument_it_does_not_know_with_its_usage(qtmcp_env):
    cp = subprocess.run([sys.executable, "tests/demo.py", "--serv"], cwd=str(REPO), env=qtmcp_env,
                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        timeout=60)
    assert cp.returncode == 2
    assert "usage: python tests/demo.py [--serve]" in text(cp.stderr)
    assert cp.stdout == b""
