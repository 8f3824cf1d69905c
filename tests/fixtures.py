"""Shared test machinery for qtmcp: plain Python, standard library only.

This module is imported by ``tests/conftest.py`` (which turns parts of it into
pytest fixtures) and by ``tests/demo.py`` (which runs as a plain script, so
nothing here may import pytest). Test files may import from it directly::

    from fixtures import run_qtmcp, build_release, Entry, HOST_PLATFORM

What it provides (see each docstring for details):

* Paths: ``TESTS``, ``REPO``, ``QTMCP`` (the module under test).
* This machine's platform as the contract names it: ``host_platform()``,
  ``HOST_PLATFORM``, ``HOST_OS``, ``HOST_ARCH`` (computed here, never by
  importing qtmcp).
* The stand-in launcher (a tiny MCP stdio server): ``launcher_source()``,
  ``make_launcher_bytes(os_name, arch=None)``, ``write_launcher(path)``.
* Archives: ``Entry`` and ``build_archive(path, members, kind)``, able to write
  hostile archives (climbing names, links, devices, lying sizes).
* Releases: ``asset_name()``, ``BuildSpec``, ``build_release()`` returning a
  ``Release`` (paths, digests, SHA256SUMS bytes and its own digest).
* An HTTP server on 127.0.0.1 that records every request and lets a test
  program per-path behaviours: ``MirrorServer``, ``serve()``, and the ready
  behaviours ``respond_status``, ``respond_redirect``, ``respond_bytes``,
  ``respond_truncated``, ``respond_stall``, ``respond_slow``,
  ``respond_reset``, ``FALLTHROUGH``.
* Running qtmcp: ``clean_env()``, ``run_qtmcp()``, ``start_qtmcp()``,
  ``McpSession`` / ``mcp_session()``, ``pinned_module()``.
* Checking results: ``tree_snapshot()``, ``files_under()``,
  ``cache_leftovers()``, ``text()``, ``stderr_lines()``,
  ``assert_error()``, ``closed_port()``.
"""

from __future__ import annotations

import dataclasses
import email.message
import gzip
import hashlib
import http.server
import importlib.util
import io
import json
import os
import platform
import queue
import re
import socket
import stat
import struct
import subprocess
import sys
import tarfile
import threading
import time
import urllib.parse
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

__all__ = [
    "TESTS", "REPO", "QTMCP", "FIXED_MTIME",
    "host_platform", "HOST_PLATFORM", "HOST_OS", "HOST_ARCH", "split_platform",
    "launcher_source", "make_launcher_bytes", "write_launcher", "launcher_name",
    "windows_stub",
    "Entry", "build_archive",
    "asset_name", "build_key", "native_kind", "probe_name", "BuildSpec",
    "BuiltBuild", "Release", "build_release", "default_build_specs",
    "default_members", "format_sums", "sha256_hex",
    "Request", "MirrorServer", "serve", "FALLTHROUGH",
    "respond_status", "respond_redirect", "respond_bytes", "respond_truncated",
    "respond_stall", "respond_slow", "respond_reset", "send_file_headers",
    "clean_env", "set_default_env", "run_qtmcp", "start_qtmcp", "McpSession",
    "McpError", "mcp_session", "pinned_module",
    "tree_snapshot", "files_under", "cache_leftovers", "text", "stderr_lines", "assert_error",
    "closed_port", "encode_message",
    "respond_raw", "free_port",
]

# --------------------------------------------------------------------------
# Paths

#: the tests folder (this file's folder)
TESTS = Path(__file__).resolve().parent
#: the repository root
REPO = TESTS.parent
#: the module under test, /work/main/qtmcp.py (found relative to the tests folder)
QTMCP = REPO / "qtmcp.py"


# SHA256SUMS files and what qtmcp reads from them ({name: digest}, or None: refused).
# tests/test_units.py holds qtmcp's parse_sums to this table, and
# tests/test_release_check.py the release check's, so that the two agree.
_A, _B = "a" * 64, "0123456789abcdef" * 4
SUMS_CASES: List[Tuple[str, bytes, Optional[Dict[str, str]]]] = [
    ("two lines", ("%s  a.zip\n%s  b.tar.gz\n" % (_A, _B)).encode(), {"a.zip": _A, "b.tar.gz": _B}),
    ("binary marker, CRLF, blank lines, no final newline",
     ("\r\n%s *a.zip\r\n\r\n   \n%s  b.zip" % (_A, _B)).encode(), {"a.zip": _A, "b.zip": _B}),
    ("capital hex", ("%s  a.zip\n" % _B.upper()).encode(), {"a.zip": _B}),
    ("the same line twice", ("%s  a.zip\n" % _A).encode() * 2, {"a.zip": _A}),
    ("a form feed is part of the name, not a line break", ("%s  a\fb.zip\n" % _A).encode(), {"a\fb.zip": _A}),
    ("a vertical tab, a NEL and a line separator are part of the name",
     ("%s  a\vb\x85c\u2028d.zip\n" % _A).encode(), {"a\vb\x85c\u2028d.zip": _A}),
    ("a lone carriage return inside a line", ("%s  a\rb.zip\n" % _A).encode(), {"a\rb.zip": _A}),
    ("one name, two digests", ("%s  a.zip\n%s  a.zip\n" % (_A, _B)).encode(), None),
    ("one space", ("%s a.zip\n" % _A).encode(), None),
    ("a tab", ("%s\ta.zip\n" % _A).encode(), None),
    ("no name", ("%s  \n" % _A).encode(), None),
    ("a name ending in a space", ("%s  a.zip \n" % _A).encode(), None),
    ("a name starting with a space", ("%s   a.zip\n" % _A).encode(), None),
    ("63 digits", ("%s  a.zip\n" % _A[:63]).encode(), None),
    ("not hex", ("%sg  a.zip\n" % _A[:63]).encode(), None),
    ("a bad line after a good one", ("%s  a.zip\nnot a line\n" % _A).encode(), None),
    ("a web page", b"<html><body>Not Found</body></html>\n", None),
    ("not UTF-8", ("%s  a.zip\n" % _A).encode() + b"\xff\xfe\n", None),
    ("over 1 MiB", ("%s  a.zip\n" % _A).encode() * (1024 * 1024 // 72 + 1), None),
]


def import_qtmcp() -> Any:
    """``import qtmcp`` from the repository root (put first on sys.path): the one way
    the tests load the module in-process."""
    root = str(REPO)
    if sys.path[:1] != [root]:
        sys.path.insert(0, root)
    module = importlib.import_module("qtmcp")
    if Path(module.__file__).resolve() != QTMCP.resolve():
        raise AssertionError("imported %s, not the repository's qtmcp.py" % module.__file__)
    return module

#: the modification time written into every archive member (reproducible archives)
FIXED_MTIME = 1_700_000_000  # 2023-11-14

# --------------------------------------------------------------------------
# This machine's platform, as the contract names it


_ARCH_ALIASES = {
    "x86_64": "x64", "amd64": "x64", "x64": "x64", "em64t": "x64",
    "aarch64": "arm64", "arm64": "arm64", "armv8l": "arm64", "armv8b": "arm64",
    "aarch64_be": "arm64",
    "x86": "x86", "i386": "x86", "i486": "x86", "i586": "x86", "i686": "x86",
}


def _normalise_arch(machine: str) -> str:
    m = machine.strip().lower()
    return _ARCH_ALIASES.get(m, m or "unknown")


def host_platform() -> str:
    """This machine's platform as the contract names it: ``<os>-<arch>``.

    ``os`` is ``linux``, ``windows`` or ``macos``; ``arch`` is ``x64``,
    ``x86`` or ``arm64``. It is the CPU the *OS* reports, not the bitness of
    the Python running the tests:

    * Windows: ``PROCESSOR_ARCHITEW6432`` (set for a 32-bit process on a 64-bit
      Windows) else ``PROCESSOR_ARCHITECTURE``, else ``platform.machine()``.
    * macOS: ``platform.machine()``, except that an x86_64 Python running under
      Rosetta on Apple silicon (``sysctl hw.optional.arm64`` is 1) is arm64.
    * Linux and others: ``platform.machine()`` (the kernel's ``uname -m``).
    """
    if sys.platform.startswith("win"):
        os_name = "windows"
        machine = (os.environ.get("PROCESSOR_ARCHITEW6432")
                   or os.environ.get("PROCESSOR_ARCHITECTURE")
                   or platform.machine())
    elif sys.platform == "darwin":
        os_name = "macos"
        machine = platform.machine()
        if _normalise_arch(machine) == "x64":
            try:
                out = subprocess.run(["sysctl", "-n", "hw.optional.arm64"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     timeout=10).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                out = b""
            if out == b"1":
                machine = "arm64"
    elif sys.platform.startswith("linux"):
        os_name = "linux"
        machine = platform.machine()
    else:
        os_name = sys.platform.rstrip("0123456789")
        machine = platform.machine()
    return "%s-%s" % (os_name, _normalise_arch(machine))


#: this machine's platform, e.g. ``linux-x64``, ``windows-x64``, ``macos-arm64``
HOST_PLATFORM = host_platform()
HOST_OS, HOST_ARCH = HOST_PLATFORM.split("-", 1)


def split_platform(plat: str) -> Tuple[str, str]:
    """``"linux-arm64"`` -> ``("linux", "arm64")``."""
    os_name, _, arch = plat.partition("-")
    return os_name, arch


# --------------------------------------------------------------------------
# The stand-in launcher

_LAUNCHER_SOURCE = r'''# -*- coding: utf-8 -*-
"""qtmcp stand-in launcher: a tiny MCP stdio server used by qtmcp's tests.

Newline-delimited JSON-RPC 2.0 on stdin/stdout (raw UTF-8 bytes), logs on stderr.

    qtmcp-launcher --exit-with N     exit at once with status N
    qtmcp-launcher --print-args ...  print json.dumps(argv[1:]) on stdout, exit 0
    qtmcp-launcher [ARGS...]         serve MCP until stdin ends, then exit 0

Methods: initialize, ping, tools/list, tools/call; notifications are ignored;
any other method is error -32601. Tools:
    echo {"text": str}          -> the text
    env  {"names": [str, ...]}  -> JSON {"argv": argv[1:], "cwd": cwd, "env": {name: value or null}}
    exit {"code": int}          -> answers "bye", then exits with that status
Each answer is json.dumps(message, ensure_ascii=False) + "\n", UTF-8, flushed.
"""
import json
import os
import sys

TOOLS = [
    {"name": "echo", "description": "Return the text it is given.",
     "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}},
                     "required": ["text"]}},
    {"name": "env", "description": "Report argv, cwd and the named environment variables.",
     "inputSchema": {"type": "object",
                     "properties": {"names": {"type": "array", "items": {"type": "string"}}}}},
    {"name": "exit", "description": "Answer, then exit with the given status.",
     "inputSchema": {"type": "object", "properties": {"code": {"type": "integer"}}}},
]


def send(out, message):
    out.write(json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n")
    out.flush()


def answer(mid, result):
    return {"jsonrpc": "2.0", "id": mid, "result": result}


def failure(mid, code, message):
    return {"jsonrpc": "2.0", "id": mid, "error": {"code": code, "message": message}}


def text_result(value):
    return {"content": [{"type": "text", "text": value}]}


def call_tool(mid, params):
    name = params.get("name")
    args = params.get("arguments") or {}
    if name == "echo":
        return answer(mid, text_result(args.get("text", ""))), None
    if name == "env":
        names = args.get("names") or []
        report = {"argv": sys.argv[1:], "cwd": os.getcwd(),
                  "env": {n: os.environ.get(n) for n in names}}
        return answer(mid, text_result(json.dumps(report, ensure_ascii=False))), None
    if name == "exit":
        return answer(mid, text_result("bye")), int(args.get("code", 0))
    return failure(mid, -32602, "unknown tool: %s" % (name,)), None


def serve():
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        line = inp.readline()
        if not line:
            return 0
        if not line.strip():
            continue
        try:
            message = json.loads(line.decode("utf-8"))
        except ValueError:
            send(out, failure(None, -32700, "parse error"))
            continue
        if not isinstance(message, dict):
            send(out, failure(None, -32600, "invalid request"))
            continue
        if "id" not in message:
            continue  # a notification: no answer
        mid = message["id"]
        method = message.get("method")
        params = message.get("params") or {}
        exit_code = None
        if method == "initialize":
            reply = answer(mid, {
                "protocolVersion": params.get("protocolVersion", "2025-06-18"),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "qtmcp-stand-in", "version": "1.0"},
            })
        elif method == "ping":
            reply = answer(mid, {})
        elif method == "tools/list":
            reply = answer(mid, {"tools": TOOLS})
        elif method == "tools/call":
            reply, exit_code = call_tool(mid, params)
        else:
            reply = failure(mid, -32601, "method not found: %s" % (method,))
        send(out, reply)
        if exit_code is not None:
            return exit_code


def main(argv):
    sys.stderr.write("stand-in launcher started\n")
    sys.stderr.flush()
    if argv[:1] == ["--exit-with"]:
        return int(argv[1])
    if argv[:1] == ["--print-args"]:
        sys.stdout.buffer.write(json.dumps(sys.argv[1:]).encode("ascii") + b"\n")
        sys.stdout.buffer.flush()
        return 0
    return serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
'''


def launcher_source() -> str:
    """The Python source of the stand-in launcher (a small MCP stdio server).

    Behaviour (also in its own docstring):

    * logs ``stand-in launcher started`` on stderr at start;
    * ``--exit-with N`` as first argument: exits with status N;
    * ``--print-args ...``: prints ``json.dumps(sys.argv[1:])`` (ASCII) + ``\\n``
      on stdout and exits 0;
    * otherwise serves newline-delimited JSON-RPC from ``stdin.buffer`` until
      EOF (status 0): ``initialize`` (echoes ``protocolVersion``, serverInfo
      name ``qtmcp-stand-in``, capabilities ``{"tools": {}}``), ``ping``,
      ``tools/list`` (tools ``echo``, ``env``, ``exit``), ``tools/call``;
      notifications (no ``id``) get no answer; another method is -32601.
      Tool ``echo {"text"}`` answers ``{"content":[{"type":"text","text":text}]}``;
      ``env {"names":[...]}`` answers a text holding JSON
      ``{"argv": sys.argv[1:], "cwd": os.getcwd(), "env": {name: value|None}}``;
      ``exit {"code"}`` answers then exits with that status.
    * Every answer is ``json.dumps(msg, ensure_ascii=False).encode() + b"\\n"``
      written to ``sys.stdout.buffer`` and flushed (so ``encode_message`` in
      this module predicts its bytes exactly).
    """
    return _LAUNCHER_SOURCE


def launcher_name(os_name: str) -> str:
    """``qtmcp-launcher.exe`` for windows, else ``qtmcp-launcher``."""
    return "qtmcp-launcher.exe" if os_name == "windows" else "qtmcp-launcher"


def _posix_shebang(python: str) -> bytes:
    exe = python.encode("utf-8")
    # Like distlib's ScriptMaker: a plain shebang when it is short and has no
    # space, else a /bin/sh trampoline that re-executes the Python.
    if b" " not in exe and len(exe) + 3 <= 127:
        return b"#!" + exe + b"\n"
    quoted = b'"' + exe.replace(b'"', b'\\"') + b'"'
    return b"#!/bin/sh\n'''exec' " + quoted + b' "$0" "$@"\n' + b"' '''\n"


_STUB_CACHE: Dict[str, Optional[bytes]] = {}


def windows_stub(arch: str = "x64") -> Optional[bytes]:
    """The bytes of distlib's console launcher stub (``t64.exe``,
    ``t64-arm.exe`` for arm64, ``t32.exe`` for x86), as pip uses for console
    scripts; found in ``pip._vendor.distlib`` or a stand-alone ``distlib``.
    None when neither is installed."""
    name = {"arm64": "t64-arm.exe", "x86": "t32.exe"}.get(arch, "t64.exe")
    if name in _STUB_CACHE:
        return _STUB_CACHE[name]
    data = None
    for package in ("pip._vendor.distlib", "distlib"):
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            continue
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / name
            if candidate.is_file():
                data = candidate.read_bytes()
                break
        if data is not None:
            break
    _STUB_CACHE[name] = data
    return data


def make_launcher_bytes(os_name: str, arch: Optional[str] = None,
                        python: Optional[str] = None) -> bytes:
    """The bytes of the stand-in launcher for an OS, runnable on this machine
    when ``os_name`` is this machine's OS.

    * ``linux``/``macos``: a shebang naming ``python`` (default
      ``sys.executable``; a ``/bin/sh`` trampoline when the path has a space
      or is long) followed by ``launcher_source()``. Store it with mode 0o755.
    * ``windows``: a ``qtmcp-launcher.exe`` made the way pip makes
      console-script launchers (distlib's ScriptMaker): the stub ``t64.exe``
      (``t64-arm.exe`` for arm64, ``t32.exe`` for x86; ``arch`` defaults to
      this machine's arch on Windows, else x64), then ``#!"<python>"\\r\\n``,
      then a zip archive holding ``__main__.py`` = the source. When no stub is
      installed and the build is not for this machine, a placeholder ``MZ``
      file (never run) stands in; for this machine it raises RuntimeError.
    """
    python = python or sys.executable
    source = launcher_source().encode("utf-8")
    if os_name != "windows":
        return _posix_shebang(python) + source
    if arch is None:
        arch = HOST_ARCH if HOST_OS == "windows" else "x64"
    stub = windows_stub(arch)
    if stub is None:
        if HOST_OS == "windows":
            raise RuntimeError("cannot build the Windows stand-in launcher: pip's "
                               "distlib launcher stubs (t64.exe) are not installed")
        stub = b"MZ placeholder stub (distlib not installed; never run)\r\n"
    shebang = b'#!"' + python.encode("utf-8") + b'"\r\n'
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w") as zf:
        info = zipfile.ZipInfo("__main__.py", date_time=time.gmtime(FIXED_MTIME)[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, source)
    return stub + shebang + stream.getvalue()


def write_launcher(path: Union[str, Path], os_name: str = HOST_OS) -> Path:
    """Write a runnable stand-in launcher for this machine at ``path``
    (mode 0o755) and return the path. For ``--launcher PATH`` tests."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(make_launcher_bytes(os_name))
    os.chmod(str(path), 0o755)
    return path


# --------------------------------------------------------------------------
# Archives

_ENTRY_TYPES = ("file", "dir", "symlink", "hardlink", "fifo", "chardev", "blockdev")


@dataclasses.dataclass
class Entry:
    """One archive member.

    ``name``: the member name exactly as written into the archive (no
    normalisation at all: ``../x``, ``/abs``, ``a\\\\b``, ``C:x`` stay as given).
    ``data``: file content (for a zip symlink the target is written as data).
    ``mode``: permission bits (default 0o644 for files and others, 0o755 for
    folders, 0o777 for symlinks; use 0o755 for programs).
    ``type``: ``file``, ``dir``, ``symlink``, ``hardlink`` (tar only),
    ``fifo``, ``chardev``, ``blockdev``.
    ``linkname``: target of a symlink or hardlink (hardlink: an earlier
    member's name).
    ``size``: zip only: the uncompressed size *declared* in the local and
    central headers, instead of ``len(data)`` (for "entry longer than its
    declared size" tests); the CRC stays that of the real data.
    ``mtime``: modification time (default ``FIXED_MTIME``).
    """

    name: str
    data: bytes = b""
    mode: Optional[int] = None
    type: str = "file"
    linkname: str = ""
    size: Optional[int] = None
    mtime: Optional[int] = None

    def __post_init__(self) -> None:
        if self.type not in _ENTRY_TYPES:
            raise ValueError("Entry.type must be one of %s, not %r" % (_ENTRY_TYPES, self.type))
        if isinstance(self.data, str):
            self.data = self.data.encode("utf-8")
        if self.mode is None:
            self.mode = {"dir": 0o755, "symlink": 0o777}.get(self.type, 0o644)

    @classmethod
    def coerce(cls, item: Any) -> "Entry":
        """Accept an Entry or a tuple ``(name, data[, mode])``."""
        if isinstance(item, Entry):
            return item
        if isinstance(item, (tuple, list)):
            return cls(*item)
        raise TypeError("an archive member is an Entry or (name, data[, mode]), not %r" % (item,))


def _zip_write(path: Path, entries: List[Entry], compression: int) -> None:
    size_patches: List[Tuple[str, int]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name" is wanted in some tests
        with zipfile.ZipFile(str(path), "w") as zf:
            for e in entries:
                name = e.name
                if e.type == "dir" and not name.endswith("/"):
                    name += "/"
                info = zipfile.ZipInfo("placeholder",
                                       date_time=time.gmtime(e.mtime or FIXED_MTIME)[:6])
                # Set the name after construction: ZipInfo() would turn
                # os.sep into "/" and cut at a NUL; tests want raw names.
                info.filename = name
                info.orig_filename = name
                info.create_system = 3  # Unix, so external_attr holds st_mode
                perm = e.mode & 0o7777
                data = e.data
                if e.type == "file":
                    kind = stat.S_IFREG
                elif e.type == "dir":
                    kind = stat.S_IFDIR
                    data = b""
                elif e.type == "symlink":
                    kind = stat.S_IFLNK
                    data = e.linkname.encode("utf-8")
                elif e.type == "fifo":
                    kind = stat.S_IFIFO
                elif e.type == "chardev":
                    kind = stat.S_IFCHR
                elif e.type == "blockdev":
                    kind = stat.S_IFBLK
                else:
                    raise ValueError("a zip archive has no hard links (%s)" % e.name)
                info.external_attr = ((kind | perm) & 0xFFFF) << 16
                if e.type == "dir":
                    info.external_attr |= 0x10  # MS-DOS directory flag
                    info.compress_type = zipfile.ZIP_STORED
                else:
                    info.compress_type = compression
                zf.writestr(info, data)
                if e.size is not None:
                    size_patches.append((name, e.size))
    if size_patches:
        _zip_patch_sizes(path, size_patches)


def _zip_patch_sizes(path: Path, patches: List[Tuple[str, int]]) -> None:
    """Rewrite the declared uncompressed size of some members (local header
    offset 22, central header offset 24). One patch per name, in order."""
    raw = bytearray(path.read_bytes())
    eocd = raw.rfind(b"PK\x05\x06")
    if eocd < 0:
        raise ValueError("no end of central directory in %s" % path)
    count, cd_size, cd_offset = struct.unpack_from("<HII", raw, eocd + 10)
    pending = list(patches)
    pos = cd_offset
    for _ in range(count):
        if raw[pos:pos + 4] != b"PK\x01\x02":
            raise ValueError("bad central directory in %s" % path)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", raw, pos + 28)
        local_offset = struct.unpack_from("<I", raw, pos + 42)[0]
        name = bytes(raw[pos + 46:pos + 46 + name_len]).decode("utf-8", "replace")
        for i, (pname, psize) in enumerate(pending):
            if pname == name:
                struct.pack_into("<I", raw, pos + 24, psize)
                struct.pack_into("<I", raw, local_offset + 22, psize)
                del pending[i]
                break
        pos += 46 + name_len + extra_len + comment_len
    if pending:
        raise ValueError("size override for unknown members: %r" % pending)
    path.write_bytes(bytes(raw))


def _tar_write(path: Path, entries: List[Entry]) -> None:
    with open(str(path), "wb") as raw:
        # gzip header with mtime 0 and no name: reproducible bytes
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf:
                for e in entries:
                    if e.size is not None:
                        raise ValueError("Entry.size is for zip members only (%s)" % e.name)
                    info = tarfile.TarInfo("placeholder")
                    info.name = e.name  # raw, no normalisation
                    info.mtime = e.mtime or FIXED_MTIME
                    info.mode = e.mode & 0o7777
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    data = None
                    if e.type == "file":
                        info.type = tarfile.REGTYPE
                        info.size = len(e.data)
                        data = io.BytesIO(e.data)
                    elif e.type == "dir":
                        info.type = tarfile.DIRTYPE
                    elif e.type == "symlink":
                        info.type = tarfile.SYMTYPE
                        info.linkname = e.linkname
                    elif e.type == "hardlink":
                        info.type = tarfile.LNKTYPE
                        info.linkname = e.linkname
                    elif e.type == "fifo":
                        info.type = tarfile.FIFOTYPE
                    elif e.type == "chardev":
                        info.type = tarfile.CHRTYPE
                        info.devmajor, info.devminor = 1, 3
                    elif e.type == "blockdev":
                        info.type = tarfile.BLKTYPE
                        info.devmajor, info.devminor = 7, 0
                    tf.addfile(info, data)


def build_archive(path: Union[str, Path], members: Iterable[Any], kind: Optional[str] = None,
                  *, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """Write an archive at ``path`` and return the path.

    ``members``: ``Entry`` objects or tuples ``(name, data[, mode])``, written
    in order, names untouched (so hostile names, duplicates and links are
    possible). ``kind``: ``"zip"`` or ``"tar.gz"`` (default: from the file
    name). Output is reproducible (fixed times, gzip mtime 0).

    zip: each member's Unix mode is stored in ``external_attr`` (``st_mode <<
    16``, create_system Unix); a symlink is ``S_IFLNK`` with the target as its
    data; a folder name gets a trailing ``/``; ``Entry.size`` overrides the
    declared uncompressed size. tar.gz: PAX format; hard links, fifos and
    devices too.
    """
    path = Path(path)
    if kind is None:
        kind = "zip" if path.name.endswith(".zip") else "tar.gz"
    entries = [Entry.coerce(m) for m in members]
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "zip":
        _zip_write(path, entries, compression)
    elif kind in ("tar.gz", "tgz"):
        _tar_write(path, entries)
    else:
        raise ValueError("archive kind must be 'zip' or 'tar.gz', not %r" % kind)
    return path


# --------------------------------------------------------------------------
# Releases

def native_kind(os_name: str) -> str:
    """The contract's archive kind for an OS: tar.gz for linux, zip otherwise."""
    return "tar.gz" if os_name == "linux" else "zip"


def asset_name(qt: str, plat: str = HOST_PLATFORM, kind: Optional[str] = None) -> str:
    """``qtmcp-qt<QT>-<os>[-<arch>].<ext>``; linux x64 has no arch.

    >>> asset_name("6.8", "linux-x64")
    'qtmcp-qt6.8-linux.tar.gz'
    >>> asset_name("5.15-patched", "windows-x86")
    'qtmcp-qt5.15-patched-windows-x86.zip'
    """
    os_name, arch = split_platform(plat)
    kind = kind or native_kind(os_name)
    middle = os_name if (os_name, arch) == ("linux", "x64") else "%s-%s" % (os_name, arch)
    return "qtmcp-qt%s-%s.%s" % (qt, middle, kind)


def build_key(qt: str, plat: str = HOST_PLATFORM) -> str:
    """The build key of design.md (cache folder names): ``qt6.8-linux-x64``."""
    return "qt%s-%s" % (qt, plat)


def probe_name(os_name: str) -> str:
    return {"windows": "qtmcp-probe.dll", "macos": "qtmcp-probe.dylib"}.get(
        os_name, "qtmcp-probe.so")


def default_members(qt: str, plat: str, *, symlinks: Optional[bool] = None) -> List[Entry]:
    """The real-shaped content of one build, at the archive root:

    * ``qtmcp-launcher`` (``.exe`` for windows), mode 0o755, the stand-in;
    * ``qtmcp-probe.so`` / ``.dll`` / ``.dylib``;
    * ``plugins/platforms/libqoffscreen.so`` (``qoffscreen.dll`` on windows,
      ``libqoffscreen.dylib`` on macos), with folder entries;
    * linux: ``lib/libQt6Core.so.6.8.0`` and the relative symlink
      ``lib/libQt6Core.so.6 -> libQt6Core.so.6.8.0``;
      macos: ``lib/QtCore.framework/Versions/A/QtCore`` with the framework
      links ``Versions/Current -> A`` and ``QtCore -> Versions/Current/QtCore``;
      windows: ``lib/Qt6Core.dll`` (no links).

    ``symlinks`` (default: not a windows build and not a Windows host) drops
    the links when false.
    """
    os_name, arch = split_platform(plat)
    if symlinks is None:
        symlinks = os_name != "windows" and HOST_OS != "windows"
    major = qt.split(".", 1)[0]
    minor = qt.split(".", 1)[1].split("-")[0] if "." in qt else "0"

    def tag(what: str) -> str:
        return "%s for qt%s-%s\n" % (what, qt, plat)

    members = [
        Entry(launcher_name(os_name), make_launcher_bytes(os_name, arch), 0o755),
        Entry(probe_name(os_name), tag("qtmcp probe").encode()),
        Entry("plugins/", type="dir", mode=0o755),
        Entry("plugins/platforms/", type="dir", mode=0o755),
    ]
    plugin = {"windows": "qoffscreen.dll", "macos": "libqoffscreen.dylib"}.get(
        os_name, "libqoffscreen.so")
    members.append(Entry("plugins/platforms/" + plugin, tag("offscreen plugin").encode()))
    members.append(Entry("lib/", type="dir", mode=0o755))
    if os_name == "linux":
        real = "libQt%sCore.so.%s.%s.0" % (major, major, minor)
        members.append(Entry("lib/" + real, tag("QtCore").encode(), 0o755))
        if symlinks:
            members.append(Entry("lib/libQt%sCore.so.%s" % (major, major),
                                 type="symlink", linkname=real))
    elif os_name == "macos":
        fw = "lib/QtCore.framework/"
        members += [
            Entry(fw, type="dir", mode=0o755),
            Entry(fw + "Versions/", type="dir", mode=0o755),
            Entry(fw + "Versions/A/", type="dir", mode=0o755),
            Entry(fw + "Versions/A/QtCore", tag("QtCore").encode(), 0o755),
        ]
        if symlinks:
            members += [
                Entry(fw + "Versions/Current", type="symlink", linkname="A"),
                Entry(fw + "QtCore", type="symlink", linkname="Versions/Current/QtCore"),
            ]
    else:
        members.append(Entry("lib/Qt%sCore.dll" % major, tag("QtCore").encode()))
    return members


@dataclasses.dataclass
class BuildSpec:
    """What one archive of a release is.

    ``qt``: ``6.8``, ``5.15-patched``...; ``platform``: ``linux-x64``...
    (default this machine's); ``kind``: ``zip``/``tar.gz`` (default: the OS's
    own). ``members``: the archive's entries (default ``default_members``);
    ``extra_members`` are appended to them (handy for one hostile entry in an
    otherwise real build); ``top_folder``: put everything inside one folder
    (True: the asset's stem). ``asset``: override the file name.
    """

    qt: str
    platform: str = HOST_PLATFORM
    kind: Optional[str] = None
    members: Optional[List[Any]] = None
    extra_members: Optional[List[Any]] = None
    top_folder: Union[None, bool, str] = None
    symlinks: Optional[bool] = None
    asset: Optional[str] = None

    @classmethod
    def coerce(cls, item: Any) -> "BuildSpec":
        """Accept a BuildSpec, ``"6.8"`` (this machine), or a tuple
        ``(qt, platform[, kind])``."""
        if isinstance(item, BuildSpec):
            return item
        if isinstance(item, str):
            return cls(item)
        if isinstance(item, (tuple, list)):
            return cls(*item)
        raise TypeError("a build is a BuildSpec, a Qt version or (qt, platform[, kind])")


def default_build_specs() -> List[BuildSpec]:
    """Qt 6.8, 5.15-patched and 6.5 for this machine, plus Qt 6.8 for
    linux-x64, linux-arm64, windows-x64, windows-x86, macos-arm64, macos-x64
    (each once), in the OS's own archive kind."""
    specs = [BuildSpec("6.8"), BuildSpec("5.15-patched"), BuildSpec("6.5")]
    for plat in ("linux-x64", "linux-arm64", "windows-x64", "windows-x86",
                 "macos-arm64", "macos-x64"):
        if plat != HOST_PLATFORM:
            specs.append(BuildSpec("6.8", plat))
    return specs


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def format_sums(digests: Dict[str, str]) -> bytes:
    """GNU coreutils format, sorted by name: ``<hex>  <name>\\n`` per line."""
    return "".join("%s  %s\n" % (digests[name], name) for name in sorted(digests)).encode("utf-8")


@dataclasses.dataclass
class BuiltBuild:
    """One archive written by ``build_release``."""

    qt: str
    platform: str
    kind: str
    asset: str
    path: Path
    sha256: str
    size: int
    members: List[Entry]
    top_folder: Optional[str] = None

    @property
    def os(self) -> str:
        return split_platform(self.platform)[0]

    @property
    def arch(self) -> str:
        return split_platform(self.platform)[1]

    @property
    def build_key(self) -> str:
        """``qt6.8-linux-x64`` (design.md)."""
        return build_key(self.qt, self.platform)

    @property
    def launcher_name(self) -> str:
        return launcher_name(self.os)

    @property
    def fits(self) -> bool:
        """True when the build is for this machine."""
        return self.platform == HOST_PLATFORM

    def install_dir(self, cache_root: Union[str, Path], tag: str) -> Path:
        """Where design.md puts its install: ``<root>/<tag>/<buildkey>-<sha256[:16]>``."""
        return Path(cache_root) / tag / ("%s-%s" % (self.build_key, self.sha256[:16]))

    def launcher_path(self, cache_root: Union[str, Path], tag: str) -> Path:
        """What ``qtmcp fetch`` prints (design.md)."""
        return self.install_dir(cache_root, tag) / "build" / self.launcher_name


@dataclasses.dataclass
class Release:
    """A release folder written by ``build_release``: ``root/<tag>/``.

    ``root`` is the mirror base (serve it, or pass it as a plain directory
    mirror); ``dir`` is ``root/<tag>``; ``sums`` the bytes of SHA256SUMS and
    ``sha256_of_sums`` their digest (a pin); ``digests`` maps every listed
    asset name to its SHA-256.
    """

    root: Path
    tag: str
    dir: Path
    builds: List[BuiltBuild]
    sums: bytes
    sha256_of_sums: str
    digests: Dict[str, str]

    @property
    def sums_path(self) -> Path:
        return self.dir / "SHA256SUMS"

    @property
    def paths(self) -> Dict[str, Path]:
        return {b.asset: b.path for b in self.builds}

    @property
    def assets(self) -> List[str]:
        return [b.asset for b in self.builds]

    def build(self, qt: str = "6.8", plat: str = HOST_PLATFORM,
              kind: Optional[str] = None) -> BuiltBuild:
        """The build for a Qt version and platform (kind: the OS's own if the
        release has it, else any)."""
        found = [b for b in self.builds if b.qt == qt and b.platform == plat]
        if kind:
            found = [b for b in found if b.kind == kind]
        if not found:
            raise KeyError("release %s has no build qt%s %s %s" % (self.tag, qt, plat, kind or ""))
        found.sort(key=lambda b: b.kind != native_kind(b.os))
        return found[0]

    def host_build(self, qt: str = "6.8") -> BuiltBuild:
        """The build for this machine."""
        return self.build(qt, HOST_PLATFORM)

    def qt_versions(self, plat: Optional[str] = None) -> List[str]:
        return sorted({b.qt for b in self.builds if plat is None or b.platform == plat})

    def write_sums(self, data: Union[bytes, str]) -> None:
        """Replace SHA256SUMS with these bytes (updates ``sums`` and
        ``sha256_of_sums``; ``digests`` keeps the true digests)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sums_path.write_bytes(data)
        self.sums = data
        self.sha256_of_sums = sha256_hex(data)

    def set_digest(self, asset: str, hexdigest: str) -> None:
        """Rewrite SHA256SUMS so that it lists ``asset`` with another digest
        (e.g. to provoke a mismatch)."""
        listed = dict(self.digests)
        listed[asset] = hexdigest
        self.write_sums(format_sums(listed))


def build_release(root: Union[str, Path], tag: str = "vTEST", builds: Optional[Iterable[Any]] = None,
                  *, extra_files: Optional[Dict[str, bytes]] = None,
                  top_folder: Union[None, bool, str] = None) -> Release:
    """Create ``root/<tag>/`` holding one archive per build and SHA256SUMS.

    ``builds``: BuildSpec objects, Qt versions for this machine (``"6.8"``)
    or ``(qt, platform[, kind])`` tuples; default ``default_build_specs()``.
    Two specs may give the same build in both kinds. ``extra_files``:
    ``{name: bytes}`` written beside the archives and listed in SHA256SUMS.
    ``top_folder``: default for the specs (True: each archive's content sits in
    one folder named after the asset). Returns a ``Release``.
    """
    root = Path(root)
    tag_dir = root / tag
    tag_dir.mkdir(parents=True, exist_ok=True)
    specs = [BuildSpec.coerce(b) for b in (default_build_specs() if builds is None else builds)]
    built: List[BuiltBuild] = []
    digests: Dict[str, str] = {}
    for spec in specs:
        os_name, _ = split_platform(spec.platform)
        kind = spec.kind or native_kind(os_name)
        asset = spec.asset or asset_name(spec.qt, spec.platform, kind)
        members = [Entry.coerce(m) for m in (spec.members if spec.members is not None
                                             else default_members(spec.qt, spec.platform,
                                                                  symlinks=spec.symlinks))]
        members += [Entry.coerce(m) for m in (spec.extra_members or [])]
        folder = spec.top_folder if spec.top_folder is not None else top_folder
        if folder is True:
            folder = asset[: -len("." + kind)]
        if folder:
            members = [Entry(folder + "/", type="dir", mode=0o755)] + [
                dataclasses.replace(m, name=folder + "/" + m.name,
                                    linkname=(folder + "/" + m.linkname
                                              if m.type == "hardlink" else m.linkname))
                for m in members]
        path = build_archive(tag_dir / asset, members, kind)
        data = path.read_bytes()
        digest = sha256_hex(data)
        digests[asset] = digest
        built.append(BuiltBuild(spec.qt, spec.platform, kind, asset, path, digest, len(data),
                                members, folder or None))
    for name, data in (extra_files or {}).items():
        (tag_dir / name).write_bytes(data)
        digests[name] = sha256_hex(data)
    sums = format_sums(digests)
    (tag_dir / "SHA256SUMS").write_bytes(sums)
    return Release(root, tag, tag_dir, built, sums, sha256_hex(sums), digests)


# --------------------------------------------------------------------------
# HTTP server


class _Fallthrough:
    def __repr__(self) -> str:
        return "FALLTHROUGH"


#: a route handler returns this to let the directory answer the request
FALLTHROUGH = _Fallthrough()


@dataclasses.dataclass
class Request:
    """One request the server received.

    ``path`` is the raw request target (with any query); ``headers`` maps
    lower-case header names to values (the last one wins); ``raw_headers``
    keeps every (name, value) pair as sent.
    """

    method: str
    path: str
    headers: Dict[str, str]
    raw_headers: List[Tuple[str, str]]
    version: str
    time: float

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        return self.headers.get(name.lower(), default)

    @property
    def url_path(self) -> str:
        """The path without query, percent-decoded."""
        return urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)


Handler = Callable[["MirrorRequestHandler"], Any]


class MirrorRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Serves ``server.directory`` (HTTP/1.1, Content-Length), records each
    request, and lets routes answer first. Route handlers receive this object;
    besides the usual BaseHTTPRequestHandler API (``send_response``,
    ``send_header``, ``end_headers``, ``wfile``, ``close_connection``...) it
    offers ``file_bytes()``, ``send_body()`` and ``server.stopping``."""

    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection ends after this

    def __init__(self, request, client_address, server):  # type: ignore[no-untyped-def]
        super().__init__(request, client_address, server, directory=str(server.directory))

    # -- recording and dispatch
    def parse_request(self) -> bool:
        ok = super().parse_request()
        if ok:
            msg: email.message.Message = self.headers
            raw = [(k, v) for k, v in msg.items()]
            self.server.record(Request(self.command, self.path,
                                       {k.lower(): v for k, v in raw}, raw,
                                       self.request_version, time.time()))
        return ok

    def _dispatch(self, default: Optional[Callable[[], None]]) -> None:
        handler = self.server.match(self.url_path)
        if handler is not None:
            result = handler(self)
            if result is not FALLTHROUGH:
                return
        if default is None:
            self.send_error(405, "method not allowed")
            return
        default()

    def do_GET(self) -> None:
        self._dispatch(super().do_GET)

    def do_HEAD(self) -> None:
        self._dispatch(super().do_HEAD)

    def do_POST(self) -> None:
        self._dispatch(None)

    def do_PUT(self) -> None:
        self._dispatch(None)

    # -- helpers for route handlers
    @property
    def url_path(self) -> str:
        return urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)

    def file_bytes(self) -> Optional[bytes]:
        """The bytes of the served file this request names, or None."""
        local = Path(self.translate_path(self.path))
        try:
            return local.read_bytes() if local.is_file() else None
        except OSError:
            return None

    def send_body(self, data: bytes, status: int = 200,
                  headers: Optional[Dict[str, str]] = None,
                  content_length: Optional[int] = None, close: bool = False) -> None:
        """Send a full answer: status, headers, Content-Length (default
        ``len(data)``), then the body (not for HEAD)."""
        self.send_response(status)
        hdrs = {"Content-Type": "application/octet-stream"}
        hdrs.update(headers or {})
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data) if content_length is None
                                               else content_length))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # quiet: the request list is the log


class MirrorServer(http.server.ThreadingHTTPServer):
    """An HTTP/1.1 server on 127.0.0.1 (port 0: the OS picks) serving a
    directory, recording every request, with per-path behaviours.

    * ``url``: ``http://127.0.0.1:<port>`` (a mirror base when the directory
      holds ``<tag>/...``); ``url_for(path)``.
    * ``directory``: the served folder (may be changed while running).
    * ``requests`` (a copy), ``requests_for(path)``, ``paths()``, ``clear()``.
    * ``route(path, handler, times=None)``: requests whose percent-decoded
      path equals ``path`` (a str), fully matches it (a compiled regex) or
      satisfies it (a callable taking the path) go to ``handler(req)`` first.
      ``req`` is the ``MirrorRequestHandler``; the handler answers through it
      (see the ``respond_*`` factories) or returns ``FALLTHROUGH`` to let the
      directory answer. ``times=N``: the route handles only the next N
      matching requests, then falls away (e.g. "503 twice, then the file").
      Later routes win over earlier ones. ``unroute(path)``, ``clear_routes()``.
    * ``stopping``: a threading.Event set at ``stop()``, so stalls end.
    * ``errors``: exceptions raised in handlers other than a client hanging up.
    * ``start()`` / ``stop()``, or use it as a context manager.
    """

    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, directory: Union[str, Path], host: str = "127.0.0.1", port: int = 0):
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._requests: List[Request] = []
        self._routes: List[List[Any]] = []  # [matcher, handler, remaining or None]
        self.stopping = threading.Event()
        self.errors: List[BaseException] = []
        self._thread: Optional[threading.Thread] = None
        super().__init__((host, port), MirrorRequestHandler)

    # -- addresses
    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def url_for(self, path: str) -> str:
        return self.url + "/" + path.lstrip("/")

    # -- requests
    def record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> List[Request]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> List[Request]:
        """Requests whose decoded path is ``path`` (leading ``/`` optional)."""
        want = "/" + path.lstrip("/")
        return [r for r in self.requests if r.url_path == want]

    def paths(self) -> List[str]:
        return [r.url_path for r in self.requests]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- routes
    def route(self, path: Any, handler: Handler, times: Optional[int] = None) -> None:
        with self._lock:
            self._routes.append([path, handler, times])

    def unroute(self, path: Any) -> None:
        with self._lock:
            self._routes = [r for r in self._routes if r[0] != path]

    def clear_routes(self) -> None:
        with self._lock:
            self._routes.clear()

    def match(self, url_path: str) -> Optional[Handler]:
        with self._lock:
            for entry in reversed(self._routes):
                matcher, handler, remaining = entry
                if isinstance(matcher, str):
                    hit = url_path == "/" + matcher.lstrip("/")
                elif isinstance(matcher, re.Pattern):
                    hit = matcher.fullmatch(url_path) is not None
                else:
                    hit = bool(matcher(url_path))
                if not hit:
                    continue
                if remaining is not None:
                    if remaining <= 0:
                        continue
                    entry[2] = remaining - 1
                return handler
        return None

    # -- life
    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, TimeoutError)):
            return
        if exc is not None:
            with self._lock:
                self.errors.append(exc)

    def start(self) -> "MirrorServer":
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="MirrorServer:%d" % self.port, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self.shutdown()
            self._thread.join(10)
            self._thread = None
        self.server_close()

    def __enter__(self) -> "MirrorServer":
        return self if self._thread else self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve(directory: Union[str, Path]) -> MirrorServer:
    """Start a ``MirrorServer`` for ``directory`` on 127.0.0.1 and return it
    (call ``stop()`` when done, or use ``with serve(d) as server:``)."""
    return MirrorServer(directory).start()


# Ready-made route behaviours. Each returns a handler for MirrorServer.route().

def respond_status(code: int, body: bytes = b"", headers: Optional[Dict[str, str]] = None) -> Handler:
    """Answer with this status (e.g. 404, 403, 500, 503, 429 with
    ``{"Retry-After": "1"}``) and an optional body."""
    def handler(req: MirrorRequestHandler) -> None:
        req.send_body(body, status=code, headers=headers)
    return handler


def respond_redirect(location: str, code: int = 302) -> Handler:
    """Redirect to ``location`` (absolute URL or path)."""
    def handler(req: MirrorRequestHandler) -> None:
        req.send_body(b"", status=code, headers={"Location": location})
    return handler


def respond_bytes(data: bytes, status: int = 200, headers: Optional[Dict[str, str]] = None) -> Handler:
    """Answer with these bytes instead of the file."""
    def handler(req: MirrorRequestHandler) -> None:
        req.send_body(data, status=status, headers=headers)
    return handler


def send_file_headers(req: MirrorRequestHandler, length: int) -> None:
    """Start a 200 answer that announces a file of ``length`` bytes."""
    req.send_response(200)
    req.send_header("Content-Type", "application/octet-stream")
    req.send_header("Content-Length", str(length))
    req.end_headers()


def respond_truncated(keep: Union[int, float] = 0.5) -> Handler:
    """Announce the file's full Content-Length but send only part of it
    (``keep`` bytes, or a fraction of the file when a float), then close."""
    def handler(req: MirrorRequestHandler) -> Any:
        data = req.file_bytes()
        if data is None:
            return FALLTHROUGH
        n = int(len(data) * keep) if isinstance(keep, float) else int(keep)
        send_file_headers(req, len(data))
        req.wfile.write(data[:n])
        req.wfile.flush()
        req.close_connection = True
        return None
    return handler


def respond_stall(seconds: float, after_bytes: int = 0, send_headers: bool = True) -> Handler:
    """Send the headers (unless ``send_headers`` is false) and the first
    ``after_bytes`` bytes of the file, then send nothing for ``seconds`` (or
    until the server stops), then close the connection."""
    def handler(req: MirrorRequestHandler) -> Any:
        data = req.file_bytes() or b""
        if send_headers:
            send_file_headers(req, len(data))
            req.wfile.write(data[:after_bytes])
            req.wfile.flush()
        req.server.stopping.wait(seconds)
        req.close_connection = True
        return None
    return handler


def respond_slow(chunk: int = 1024, delay: float = 0.05) -> Handler:
    """Send the file in ``chunk``-byte pieces with ``delay`` seconds between
    them (a download that keeps moving, slowly)."""
    def handler(req: MirrorRequestHandler) -> Any:
        data = req.file_bytes()
        if data is None:
            return FALLTHROUGH
        send_file_headers(req, len(data))
        for i in range(0, len(data), chunk):
            if req.server.stopping.is_set():
                break
            req.wfile.write(data[i:i + chunk])
            req.wfile.flush()
            time.sleep(delay)
        return None
    return handler


def respond_reset() -> Handler:
    """Close the connection at once with a TCP reset, answering nothing."""
    def handler(req: MirrorRequestHandler) -> None:
        try:
            req.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        req.close_connection = True
        try:
            req.connection.close()
        except OSError:
            pass
    return handler


def respond_raw(data: bytes, repeat: bytes = b"", every: float = 0.0, limit: float = 120.0) -> Handler:
    """Write ``data`` as the whole answer, byte for byte (status line, headers
    and body: malformed HTTP on purpose), then, if ``repeat`` is given, write
    it again every ``every`` seconds until the client hangs up, the server
    stops or ``limit`` seconds pass (endless ``100 Continue`` answers, headers
    that trickle in); then close the connection."""
    def handler(req: MirrorRequestHandler) -> None:
        req.close_connection = True
        deadline = time.monotonic() + limit
        try:
            req.wfile.write(data)
            req.wfile.flush()
            while repeat and time.monotonic() < deadline and not req.server.stopping.is_set():
                req.wfile.write(repeat)
                req.wfile.flush()
                if every:
                    req.server.stopping.wait(every)
        except OSError:
            pass
    return handler


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (for servers the tests
    start as other processes: nginx, squid)."""
    return closed_port()


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# Running qtmcp

_PROXY_LIKE = re.compile(r"(?i)^(.*_proxy|no_proxy)$")
_DROPPED = {"NETRC", "SSL_CERT_FILE", "SSL_CERT_DIR", "XDG_CACHE_HOME", "NO_COLOR",
            "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}


def clean_env(base: Optional[Dict[str, str]] = None, *, cache_dir: Union[None, str, Path] = None,
              home: Union[None, str, Path] = None, release: Optional[str] = "vTEST") -> Dict[str, str]:
    """An environment for a qtmcp child, from ``base`` (default os.environ):

    * removed: every ``QTMCP_*`` variable; every ``*_proxy`` / ``NO_PROXY``
      (any case); ``NETRC``, ``SSL_CERT_FILE``, ``SSL_CERT_DIR``,
      ``XDG_CACHE_HOME``, ``NO_COLOR``, ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``;
    * set: ``QTMCP_CACHE_DIR`` = ``cache_dir`` and ``HOME`` (plus
      ``USERPROFILE`` and ``LOCALAPPDATA`` on Windows) = ``home`` when given,
      ``QTMCP_RELEASE`` = ``release`` unless None.
    """
    env = {}
    for key, value in (os.environ if base is None else base).items():
        if key.upper().startswith("QTMCP_") or _PROXY_LIKE.match(key) or key.upper() in _DROPPED:
            continue
        env[key] = value
    if cache_dir is not None:
        env["QTMCP_CACHE_DIR"] = str(cache_dir)
    if home is not None:
        env["HOME"] = str(home)
        if HOST_OS == "windows":
            env["USERPROFILE"] = str(home)
            local = Path(home) / "AppData" / "Local"
            local.mkdir(parents=True, exist_ok=True)
            env["LOCALAPPDATA"] = str(local)
    if release is not None:
        env["QTMCP_RELEASE"] = release
    return env


_DEFAULT_ENV: Optional[Dict[str, str]] = None


def set_default_env(env: Optional[Dict[str, str]]) -> None:
    """Make ``env`` the environment ``run_qtmcp``/``start_qtmcp`` use when
    given none (conftest sets it to each test's ``qtmcp_env``)."""
    global _DEFAULT_ENV
    _DEFAULT_ENV = env


def _child_env(env: Optional[Dict[str, str]]) -> Dict[str, str]:
    if env is not None:
        return dict(env)
    if _DEFAULT_ENV is None:
        raise RuntimeError("run_qtmcp outside a pytest test needs env= (see clean_env())")
    return dict(_DEFAULT_ENV)


def run_qtmcp(args: Sequence[Union[str, Path]], *, env: Optional[Dict[str, str]] = None,
              input: Optional[bytes] = None, timeout: float = 60,  # noqa: A002
              cwd: Union[None, str, Path] = None,
              module: Union[None, str, Path] = None) -> "subprocess.CompletedProcess[bytes]":
    """Run ``[sys.executable, module or QTMCP, *args]`` and wait.

    ``env``: the child's whole environment (default: the running test's
    ``qtmcp_env`` fixture, as it is at call time); build variants with
    ``dict(qtmcp_env, QTMCP_QT="6.8")``. ``input``: bytes for stdin (None:
    stdin is the null device). Returns a CompletedProcess with bytes
    ``stdout``/``stderr``; on timeout the child is killed and
    ``subprocess.TimeoutExpired`` propagates.
    """
    cmd = [sys.executable, str(module or QTMCP)] + [str(a) for a in args]
    return subprocess.run(cmd, input=input,
                          stdin=subprocess.DEVNULL if input is None else None,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=_child_env(env), cwd=None if cwd is None else str(cwd),
                          timeout=timeout)


def start_qtmcp(args: Sequence[Union[str, Path]], *, env: Optional[Dict[str, str]] = None,
                cwd: Union[None, str, Path] = None, module: Union[None, str, Path] = None,
                timeout: float = 30) -> "McpSession":
    """Start qtmcp with pipes on stdin/stdout/stderr, as an MCP client does,
    and return an ``McpSession`` on it (``env`` as for ``run_qtmcp``)."""
    cmd = [sys.executable, str(module or QTMCP)] + [str(a) for a in args]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_child_env(env),
                            cwd=None if cwd is None else str(cwd))
    return McpSession(proc, timeout=timeout)


def encode_message(message: Dict[str, Any]) -> bytes:
    """A JSON-RPC message as one line, exactly as the stand-in launcher and
    ``McpSession`` write it: ``json.dumps(m, ensure_ascii=False)`` UTF-8 + ``\\n``."""
    return json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n"


class McpError(AssertionError):
    """The MCP peer did not answer as expected (timeout, end of stream)."""


class McpSession:
    """A tiny MCP client on a running process's pipes (binary, one JSON
    message per line). Reader threads collect stdout lines and all of stderr,
    so big messages never deadlock.

    * ``request(method, params=None, timeout=None) -> dict``: send a request
      with the next id and return the answer with that id (messages with
      other ids or without one are kept in ``others``).
    * ``notify(method, params=None)``; ``send(message)``; ``send_raw(bytes)``.
    * ``read_message(timeout=None) -> dict | None`` (None at end of stream),
      ``read_line(timeout=None) -> bytes | None``.
    * ``sent`` / ``stdout``: every byte written to / read from the process;
      ``stderr``: bytes read so far from its stderr; ``exchange``: a list of
      ``("->" | "<-", message)`` in order.
    * ``close(timeout=None) -> int``: close stdin, wait, join readers, return
      the status. Also a context manager (kills the process if still running).
    """

    def __init__(self, proc: "subprocess.Popen[bytes]", timeout: float = 30):
        self.proc = proc
        self.timeout = timeout
        self.sent = bytearray()
        self._stdout = bytearray()
        self._stderr = bytearray()
        self._lines: "queue.Queue[Optional[bytes]]" = queue.Queue()
        self._next_id = 0
        self.others: List[Dict[str, Any]] = []
        self.exchange: List[Tuple[str, Any]] = []
        self._out_thread = threading.Thread(target=self._read_stdout, daemon=True)
        self._err_thread = threading.Thread(target=self._read_stderr, daemon=True)
        self._out_thread.start()
        self._err_thread.start()

    def _read_stdout(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        try:
            while True:
                line = stream.readline()
                if not line:
                    break
                self._stdout += line
                self._lines.put(line)
        except (OSError, ValueError):
            pass
        finally:
            self._lines.put(None)

    def _read_stderr(self) -> None:
        stream = self.proc.stderr
        assert stream is not None
        try:
            while True:
                chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
                if not chunk:
                    break
                self._stderr += chunk
        except (OSError, ValueError):
            pass

    @property
    def stdout(self) -> bytes:
        return bytes(self._stdout)

    @property
    def stderr(self) -> bytes:
        return bytes(self._stderr)

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.sent += data
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: Dict[str, Any]) -> bytes:
        data = encode_message(message)
        self.exchange.append(("->", message))
        self.send_raw(data)
        return data

    def notify(self, method: str, params: Optional[Dict[str, Any]] = None) -> None:
        msg: Dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def read_line(self, timeout: Optional[float] = None) -> Optional[bytes]:
        try:
            line = self._lines.get(timeout=self.timeout if timeout is None else timeout)
        except queue.Empty:
            raise McpError("no answer within %ss; stderr so far:\n%s"
                           % (self.timeout if timeout is None else timeout,
                              self.stderr.decode("utf-8", "replace"))) from None
        if line is None:
            self._lines.put(None)  # stay at end of stream
        return line

    def read_message(self, timeout: Optional[float] = None) -> Optional[Dict[str, Any]]:
        line = self.read_line(timeout)
        if line is None:
            return None
        message = json.loads(line.decode("utf-8"))
        self.exchange.append(("<-", message))
        return message

    def request(self, method: str, params: Optional[Dict[str, Any]] = None,
                timeout: Optional[float] = None) -> Dict[str, Any]:
        self._next_id += 1
        mid = self._next_id
        msg: Dict[str, Any] = {"jsonrpc": "2.0", "id": mid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            left = max(0.0, deadline - time.monotonic())
            answer = self.read_message(timeout=left)
            if answer is None:
                raise McpError("the stream ended before the answer to %s (id %d); status %r; "
                               "stderr:\n%s" % (method, mid, self.proc.poll(),
                                               self.stderr.decode("utf-8", "replace")))
            if answer.get("id") == mid:
                return answer
            self.others.append(answer)

    def initialize(self, protocol_version: str = "2025-06-18") -> Dict[str, Any]:
        """``initialize`` then ``notifications/initialized``; returns the answer."""
        answer = self.request("initialize", {
            "protocolVersion": protocol_version, "capabilities": {},
            "clientInfo": {"name": "qtmcp-tests", "version": "1"}})
        self.notify("notifications/initialized")
        return answer

    def call_tool(self, name: str, arguments: Dict[str, Any],
                  timeout: Optional[float] = None) -> Dict[str, Any]:
        return self.request("tools/call", {"name": name, "arguments": arguments}, timeout=timeout)

    def close(self, timeout: Optional[float] = None) -> int:
        wait = self.timeout if timeout is None else timeout
        try:
            if self.proc.stdin is not None and not self.proc.stdin.closed:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            status = self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise McpError("the process did not end within %ss after its stdin closed" % wait)
        self._out_thread.join(wait)
        self._err_thread.join(wait)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return status

    def __enter__(self) -> "McpSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass


def mcp_session(proc: "subprocess.Popen[bytes]", timeout: float = 30) -> McpSession:
    """Wrap a Popen started with stdin/stdout/stderr pipes in an McpSession."""
    return McpSession(proc, timeout=timeout)


_PINS_LINE = re.compile(r"^RELEASE_PINS\b[^\n=]*=\s*\{", re.MULTILINE)


def pinned_module(tmp_path: Union[str, Path], pins: Dict[str, str],
                  source: Union[str, Path] = QTMCP) -> Path:
    """Copy qtmcp.py into ``tmp_path`` (as ``tmp_path/qtmcp.py``) with its
    ``RELEASE_PINS: dict[str, str] = {`` ... ``}`` block (closing brace alone
    on its line, or ``{}`` on the one line) rewritten to hold ``pins``
    (tag -> SHA-256 of SHA256SUMS). Returns the new path, for
    ``run_qtmcp(..., module=path)``."""
    text_in = Path(source).read_text(encoding="utf-8")
    m = _PINS_LINE.search(text_in)
    if m is None:
        raise AssertionError("no RELEASE_PINS = { ... } block in %s" % source)
    line_end = text_in.find("\n", m.start())
    line_end = len(text_in) if line_end < 0 else line_end
    first_line = text_in[m.start():line_end]
    if first_line.rstrip().endswith("}"):
        end = line_end
    else:
        close = re.compile(r"^\}[ \t]*$", re.MULTILINE).search(text_in, line_end)
        if close is None:
            raise AssertionError("RELEASE_PINS block in %s has no closing '}' line" % source)
        end = close.end()
    body = "".join("    %s: %s,\n" % (json.dumps(k), json.dumps(v)) for k, v in pins.items())
    block = "RELEASE_PINS: dict[str, str] = {\n%s}" % body
    out = Path(tmp_path) / "qtmcp.py"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text_in[:m.start()] + block + text_in[end:], encoding="utf-8")
    return out


# --------------------------------------------------------------------------
# Checking results

def tree_snapshot(root: Union[str, Path]) -> Dict[str, Tuple[str, int, int]]:
    """Every path under ``root`` (root itself as ``.``) -> (kind, size,
    mtime_ns) from ``os.lstat``; kind is ``dir``, ``file``, ``link`` or
    ``other``. Empty when root does not exist. Compare two snapshots to prove
    nothing changed."""
    root = Path(root)
    snap: Dict[str, Tuple[str, int, int]] = {}
    if not os.path.lexists(str(root)):
        return snap
    snap["."] = ("dir", 0, os.lstat(str(root)).st_mtime_ns)
    for dirpath, dirnames, filenames in os.walk(str(root)):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                kind = "link"
            elif stat.S_ISDIR(st.st_mode):
                kind = "dir"
            elif stat.S_ISREG(st.st_mode):
                kind = "file"
            else:
                kind = "other"
            rel = os.path.relpath(full, str(root)).replace(os.sep, "/")
            snap[rel] = (kind, st.st_size if kind == "file" else 0, st.st_mtime_ns)
    return snap


def cache_leftovers(cache_root: Union[str, Path]) -> List[str]:
    """What a cache holds beyond an empty skeleton: every path under
    ``cache_root`` except the root, the ``<tag>`` folders, ``<tag>/SHA256SUMS``
    (the last verified index, design.md) and lock files (``*.lock``). After a
    refused install this must be empty: no install, archive, temporary folder
    or unpacked file left."""
    out = []
    for rel, (kind, _size, _mtime) in tree_snapshot(cache_root).items():
        parts = rel.split("/")
        if rel == "." or (len(parts) == 1 and kind == "dir"):
            continue
        if len(parts) == 2 and parts[1] == "SHA256SUMS" and kind == "file":
            continue
        if kind == "file" and parts[-1].endswith(".lock"):
            continue
        out.append(rel)
    return sorted(out)


def files_under(root: Union[str, Path]) -> List[str]:
    """Relative ``/`` paths of every non-directory under ``root``, sorted."""
    return sorted(k for k, v in tree_snapshot(root).items() if v[0] != "dir")


def text(data: bytes) -> str:
    """Bytes from a child as text (UTF-8, undecodable bytes replaced)."""
    return data.decode("utf-8", "replace")


def stderr_lines(cp: Any) -> List[str]:
    """The non-empty lines of a CompletedProcess's stderr."""
    return [ln for ln in text(cp.stderr).splitlines() if ln.strip()]


def assert_error(cp: Any, status: int, *needles: str) -> str:
    """Check the contract's error shape: exit ``status``; no traceback anywhere;
    exactly one ``qtmcp: error: `` line, and it is the last stderr line; each
    needle (case-insensitive) in it. Returns the line."""
    err = text(cp.stderr)
    detail = "status %r\n--- stdout\n%s\n--- stderr\n%s" % (cp.returncode, text(cp.stdout), err)
    assert cp.returncode == status, "expected status %d, got %s" % (status, detail)
    assert "Traceback" not in err and "Traceback" not in text(cp.stdout), "traceback: " + detail
    lines = stderr_lines(cp)
    assert lines, "no error message: " + detail
    last = lines[-1]
    assert last.startswith("qtmcp: error: "), "last stderr line is not the error: " + detail
    assert [ln for ln in lines if ln.startswith("qtmcp: error: ")] == [last], "more than one error line: " + detail
    for needle in needles:
        assert needle.lower() in last.lower(), "%r not in the error line %r" % (needle, last)
    return last
