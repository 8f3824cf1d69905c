"""Fault injection for qtmcp's "hostile input and faults" tests.

Plain Python, standard library only (like ``fixtures.py``, which it builds
on). It adds what the shared fixtures do not have:

* HTTP behaviours for ``MirrorServer.route()`` that misbehave in the middle of
  a body: ``respond_reset_mid_body``, ``respond_close_delimited``,
  ``respond_endless``, ``respond_paced`` (a body sent in timed pieces, with a
  ``Progress`` that the test can wait on: "N bytes served"),
  ``respond_held`` (answers nothing until the test lets it go), and
  ``route_sequence`` ("503, then 502, then the file").
* Checks on the cache after a failure or a kill: ``cache_problems`` (an
  install folder without its manifest, a ``.tmp-``/``.trash-`` leftover, a
  ``.current`` naming a missing or incomplete install), ``install_dirs``,
  ``work_leftovers``; and on stderr: ``assert_one_error``.
* ``BigBuild``: a build with incompressible padding (an archive of a chosen
  size, for slow serving) or many small files (an unpack that takes a while).
* ``write_kill_wrapper``: a script that runs qtmcp.py with a hook that kills
  its own process (SIGKILL on POSIX, TerminateProcess on Windows) at an exact
  point of an install, for crash tests.
* ``hold_build_lock``: hold a build's lock file from the test process the way
  qtmcp does (fcntl.flock on POSIX, msvcrt.locking on Windows).
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

from fixtures import (
    FALLTHROUGH,
    HOST_PLATFORM,
    BuildSpec,
    Entry,
    default_members,
    send_file_headers,
    text,
)

# --------------------------------------------------------------------------
# HTTP behaviours


def _file_or_given(req: Any, data: Optional[bytes]) -> Optional[bytes]:
    return data if data is not None else req.file_bytes()


def _hard_close(req: Any) -> None:
    """End the connection with a TCP reset (SO_LINGER 0), not a clean FIN."""
    try:
        req.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    req.close_connection = True
    for closer in (req.rfile.close, req.connection.close):
        try:
            closer()
        except OSError:
            pass


def respond_reset_mid_body(after: Union[int, float] = 0.5, data: Optional[bytes] = None) -> Callable:
    """Announce the whole file, send ``after`` bytes (or that fraction of it),
    then reset the connection (RST) in the middle of the body."""

    def handler(req: Any) -> Any:
        body = _file_or_given(req, data)
        if body is None:
            return FALLTHROUGH
        cut = int(len(body) * after) if isinstance(after, float) else int(after)
        send_file_headers(req, len(body))
        req.wfile.write(body[:cut])
        req.wfile.flush()
        time.sleep(0.05)  # let the bytes leave before the reset
        _hard_close(req)
        return None

    return handler


def respond_close_delimited(data: bytes) -> Callable:
    """Answer 200 with no Content-Length: the body ends when the connection
    closes (as an HTTP/1.0 server does)."""

    def handler(req: Any) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "application/octet-stream")
        req.send_header("Connection", "close")
        req.end_headers()
        req.wfile.write(data)
        req.wfile.flush()
        req.close_connection = True

    return handler


class Counter:
    """A thread-safe count of bytes sent by a behaviour (``.sent``)."""

    def __init__(self) -> None:
        self.sent = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.sent += n


def respond_endless(line: bytes, counter: Optional[Counter] = None, limit: int = 64 * 1024 * 1024) -> Callable:
    """Answer 200 without Content-Length and send ``line`` again and again
    (up to ``limit`` bytes) until the client hangs up: a file that never ends."""

    def handler(req: Any) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "text/plain")
        req.send_header("Connection", "close")
        req.end_headers()
        block = line * max(1, 65536 // max(1, len(line)))
        sent = 0
        try:
            while sent < limit and not req.server.stopping.is_set():
                req.wfile.write(block)
                sent += len(block)
                if counter is not None:
                    counter.add(len(block))
        except OSError:
            pass
        req.close_connection = True

    return handler


class Progress:
    """What a ``respond_paced`` behaviour has done, for tests to wait on.

    ``started`` is set when a request arrives; ``reached(n)`` returns an Event
    set once n bytes of the body were sent; ``finished`` when the whole body
    was sent; ``sent`` counts bytes; ``requests`` counts requests.
    """

    def __init__(self) -> None:
        self.started = threading.Event()
        self.finished = threading.Event()
        self.sent = 0
        self.requests = 0
        self._marks: List[tuple] = []
        self._lock = threading.Lock()

    def reached(self, n: int) -> threading.Event:
        event = threading.Event()
        with self._lock:
            self._marks.append((n, event))
            if self.sent >= n:
                event.set()
        return event

    def _add(self, n: int) -> None:
        with self._lock:
            self.sent += n
            for mark, event in self._marks:
                if self.sent >= mark:
                    event.set()


def respond_paced(chunk: int, delay: float, progress: Optional[Progress] = None,
                  data: Optional[bytes] = None, first_delay: float = 0.0) -> Callable:
    """Send the file (or ``data``) with its Content-Length, ``chunk`` bytes at
    a time with ``delay`` seconds between pieces: a download that keeps
    moving, slowly. Stops early when the client goes away or the server stops."""

    def handler(req: Any) -> Any:
        body = _file_or_given(req, data)
        if body is None:
            return FALLTHROUGH
        if progress is not None:
            progress.requests += 1
            progress.started.set()
        send_file_headers(req, len(body))
        req.wfile.flush()
        if first_delay:
            req.server.stopping.wait(first_delay)
        try:
            for i in range(0, len(body), chunk):
                if req.server.stopping.is_set():
                    break
                piece = body[i:i + chunk]
                req.wfile.write(piece)
                req.wfile.flush()
                if progress is not None:
                    progress._add(len(piece))
                if i + chunk < len(body):
                    time.sleep(delay)
            else:
                if progress is not None:
                    progress.finished.set()
        except OSError:
            pass
        req.close_connection = True
        return None

    return handler


def respond_held(release: threading.Event, arrived: Optional[threading.Event] = None,
                 limit: float = 60.0) -> Callable:
    """Accept the request and answer nothing (no status line) until ``release``
    is set (or ``limit`` seconds pass, or the server stops); then fall through
    to the file. ``arrived`` is set when the request comes in."""

    def handler(req: Any) -> Any:
        if arrived is not None:
            arrived.set()
        deadline = time.monotonic() + limit
        while not release.is_set() and not req.server.stopping.is_set():
            if time.monotonic() > deadline:
                break
            release.wait(0.05)
        if req.server.stopping.is_set():
            req.close_connection = True
            return None
        return FALLTHROUGH

    return handler


def respond_then(handler: Callable, after: Callable[[], None]) -> Callable:
    """Run ``handler``, then ``after()`` (e.g. set an Event: "this was served")."""

    def wrapped(req: Any) -> Any:
        result = handler(req)
        after()
        return result

    return wrapped


def route_sequence(server: Any, path: str, handlers: Sequence[Callable]) -> None:
    """Answer the next requests for ``path`` with ``handlers`` in order (one
    request each), then let the later requests reach the file. (The server
    tries later routes first and skips used-up ones, so they are added in
    reverse.)"""
    for handler in reversed(list(handlers)):
        server.route(path, handler, times=1)


# --------------------------------------------------------------------------
# Builds of a chosen size


def incompressible(size: int, seed: int = 1) -> bytes:
    """``size`` pseudo-random bytes (no compressor shrinks them), reproducible."""
    rng = random.Random(seed)
    if hasattr(rng, "randbytes"):
        return rng.randbytes(size)
    return bytes(rng.getrandbits(8) for _ in range(size))  # Python 3.8 and older


def BigBuild(qt: str = "6.8", plat: str = HOST_PLATFORM, *, padding: int = 0, files: int = 0,
             kind: Optional[str] = None, seed: int = 1) -> BuildSpec:
    """A real-shaped build plus ``padding`` bytes of incompressible data in
    ``share/padding.bin`` (so its archive is about that big) and ``files``
    small files under ``share/many/NN/`` (so unpacking takes a moment)."""
    extra: List[Entry] = [Entry("share/", type="dir", mode=0o755)]
    if padding:
        extra.append(Entry("share/padding.bin", incompressible(padding, seed)))
    if files:
        extra.append(Entry("share/many/", type="dir", mode=0o755))
        per_folder = 100
        for folder in range((files + per_folder - 1) // per_folder):
            extra.append(Entry("share/many/%02d/" % folder, type="dir", mode=0o755))
        for n in range(files):
            extra.append(Entry("share/many/%02d/file-%05d.txt" % (n // per_folder, n),
                               ("file %d of a big build\n" % n).encode()))
    return BuildSpec(qt, plat, kind=kind, members=default_members(qt, plat), extra_members=extra)


# --------------------------------------------------------------------------
# The cache after a failure


def install_dirs(root: Union[str, Path]) -> List[Path]:
    """Every install folder under the cache root: ``<root>/<tag>/<name>`` that is
    a folder whose name does not start with '.' (complete or not)."""
    root = Path(root)
    found = []
    if not root.is_dir():
        return found
    for tag in sorted(root.iterdir()):
        if not tag.is_dir() or tag.name.startswith("."):
            continue
        for entry in sorted(tag.iterdir()):
            if entry.is_dir() and not entry.is_symlink() and not entry.name.startswith("."):
                found.append(entry)
    return found


def work_leftovers(root: Union[str, Path]) -> List[str]:
    """Temporary things in the cache: ``.tmp-*`` and ``.trash-*`` entries of
    every release folder (and of the root), as paths relative to the root."""
    root = Path(root)
    out = []
    if not root.is_dir():
        return out
    places = [root] + [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    for place in places:
        for entry in place.iterdir():
            if entry.name.startswith((".tmp-", ".trash-")):
                out.append(entry.relative_to(root).as_posix())
    return sorted(out)


def pointers(root: Union[str, Path]) -> Dict[str, str]:
    """``{"<tag>/<key>.current": install folder name it holds}``."""
    root = Path(root)
    out = {}
    if not root.is_dir():
        return out
    for tag in root.iterdir():
        if tag.is_dir():
            for entry in tag.glob("*.current"):
                out[entry.relative_to(root).as_posix()] = entry.read_text(encoding="utf-8").strip()
    return out


def cache_problems(root: Union[str, Path], *, leftovers_allowed: bool = False,
                   dangling_pointer_allowed: bool = False) -> List[str]:
    """What is unsafe in a cache: an install folder without its manifest; a
    ``.current`` naming a missing install or one without manifest; unless
    ``leftovers_allowed``, any ``.tmp-``/``.trash-`` leftover. [] when safe."""
    root = Path(root)
    problems = []
    for install in install_dirs(root):
        if not (install / "manifest.json").is_file():
            problems.append("install folder without manifest.json: %s" % install)
    for pointer, name in pointers(root).items():
        target = root / pointer.split("/")[0] / name
        if not target.exists():
            if not dangling_pointer_allowed:
                problems.append("%s names %s, which does not exist" % (pointer, name))
        elif not (target / "manifest.json").is_file():
            problems.append("%s names %s, which has no manifest.json" % (pointer, name))
    if not leftovers_allowed:
        problems += ["leftover: %s" % p for p in work_leftovers(root)]
    return problems


# --------------------------------------------------------------------------
# stderr


def assert_success(cp: Any) -> str:
    """Status 0, no error line, no traceback; returns stdout's one line."""
    err = text(cp.stderr)
    detail = "status %r\n--- stdout\n%s\n--- stderr\n%s" % (cp.returncode, text(cp.stdout), err)
    assert cp.returncode == 0, "expected success, got " + detail
    assert "Traceback" not in err and "qtmcp: error:" not in err, detail
    lines = text(cp.stdout).splitlines()
    assert len(lines) == 1, "expected one line on stdout: " + detail
    return lines[0]


# --------------------------------------------------------------------------
# Killing qtmcp at an exact point of an install

KILL_WRAPPER = r'''
"""Run qtmcp.py (argv[1]) with argv[3:], killing this process at point argv[2]."""
import importlib.util
import os
import signal
import sys

module_path, point, args = sys.argv[1], sys.argv[2], sys.argv[3:]
spec = importlib.util.spec_from_file_location("qtmcp", module_path)
qtmcp = importlib.util.module_from_spec(spec)
sys.modules["qtmcp"] = qtmcp
spec.loader.exec_module(qtmcp)


def die():
    sys.stderr.write("kill-wrapper: killing myself at %s\n" % point)
    sys.stderr.flush()
    # SIGKILL on POSIX; on Windows os.kill calls TerminateProcess: no cleanup
    # runs either way, as when a user or the OS kills the process.
    os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
    os._exit(137)  # not reached


real_rename = os.rename


def is_final_install(dst):
    name = os.path.basename(os.fspath(dst))
    parent = os.path.dirname(os.fspath(dst))
    return (name.startswith("qt") and not name.startswith(".")
            and os.path.basename(os.path.dirname(parent)) != ""
            and not os.path.basename(parent).startswith(".")
            and len(name) > 17 and name[-17] == "-")


if point.startswith("after-files-"):
    limit = int(point[len("after-files-"):])
    real_add_file = qtmcp.TreeWriter.add_file

    def add_file(self, *a, **k):
        if self.files >= limit:
            die()
        return real_add_file(self, *a, **k)

    qtmcp.TreeWriter.add_file = add_file
elif point == "before-manifest":
    def write_manifest(*a, **k):
        die()

    qtmcp.write_manifest = write_manifest
elif point in ("before-final-rename", "after-final-rename"):
    def rename(src, dst, *a, **k):
        if is_final_install(dst) and os.path.basename(os.fspath(src)) == "install":
            if point == "before-final-rename":
                die()
            real_rename(src, dst, *a, **k)
            die()
        return real_rename(src, dst, *a, **k)

    os.rename = rename
elif point == "old-install-moved-aside":
    def rename(src, dst, *a, **k):
        real_rename(src, dst, *a, **k)
        # discard_tree(): <tag>/<install> -> <tag>/<some trash folder>/old
        trash = os.path.basename(os.path.dirname(os.fspath(dst)))
        if os.path.basename(os.fspath(dst)) == "old" and "trash" in trash and trash.startswith("."):
            die()

    os.rename = rename
elif point in ("pointer-write", "index-write"):
    suffix = ".current" if point == "pointer-write" else "SHA256SUMS"
    real_replace_file = qtmcp.replace_file

    def replace_file(source, target):
        if os.fspath(target).endswith(suffix):
            die()
        return real_replace_file(source, target)

    qtmcp.replace_file = replace_file
else:
    sys.exit("kill-wrapper: unknown point %r" % point)

sys.exit(qtmcp.main(args))
'''

#: the kill points ``write_kill_wrapper`` knows, in the order an install meets them
KILL_POINTS = (
    "index-write",            # the release's SHA256SUMS is being copied into the cache
    "after-files-3",          # unpacking: three files written
    "before-manifest",        # everything unpacked and linked, no manifest yet
    "before-final-rename",    # manifest written in .tmp-*/install, not yet renamed
    "after-final-rename",     # install in place, .current not yet written
    "pointer-write",          # .current's temporary file written, not yet renamed
)


def write_kill_wrapper(folder: Union[str, Path]) -> Path:
    """Write the kill wrapper into ``folder`` and return its path. Run it as
    ``[sys.executable, wrapper, QTMCP, point, *qtmcp_args]``."""
    path = Path(folder) / "kill_wrapper.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(KILL_WRAPPER, encoding="utf-8")
    return path


# --------------------------------------------------------------------------
# Locks


@contextlib.contextmanager
def hold_build_lock(path: Union[str, Path]) -> Iterator[int]:
    """Hold ``<root>/<tag>/.<key>.lock`` as a live qtmcp does while installing
    (fcntl.flock on POSIX, msvcrt.locking of byte 0 on Windows)."""
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield fd
    finally:
        if os.name == "nt":
            try:
                import msvcrt

                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
            except OSError:
                pass
        os.close(fd)


def lock_is_free(path: Union[str, Path]) -> bool:
    """True if nobody holds the lock file (taken and given back at once)."""
    try:
        with hold_build_lock(path):
            return True
    except OSError:
        return False


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.01) -> Any:
    """Poll ``predicate`` until it returns something true (returned) or
    ``timeout`` seconds pass (returns the last falsy value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


__all__ = [name for name in dir() if not name.startswith("_") and name not in (
    "annotations", "contextlib", "os", "random", "socket", "struct", "threading", "time",
    "Path", "Any", "Callable", "Dict", "Iterator", "List", "Optional", "Sequence", "Union")]
