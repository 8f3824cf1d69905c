"""Hostile archives: every entry the contract refuses, in zip and in tar.gz.

Contract, "Archives qtmcp refuses (status 6)": an archive that cannot be read,
or holds a name that is absolute, climbs out, is empty, is a file or link
named '.', has a part over 255 bytes or is over 1,024 bytes, or (in a build
for Windows) is one Windows cannot hold; a link that is absolute or leads out;
a hard link to anything but an earlier file; an entry written through a link;
a device, a fifo; two entries with the same name, or names differing only in
case or Unicode normalization, or a file where a folder is needed and the
reverse; a bomb; an entry longer than its declared size. "Nothing of it is
left anywhere." An archive without the launcher is status 7.

Each hostile archive is a real build (launcher, probe, plugins) plus the
hostile entries, so the hostile entry is the only reason to refuse it. It is
written in both formats where the format can express it, and reaches
unpacking two ways: ``qtmcp install ARCHIVE --sha256 <its digest> --release
vTEST --qt 6.8`` (no connection), and ``qtmcp fetch`` from a release served on
127.0.0.1 whose SHA256SUMS lists its true digest. After each run: the status,
one error line, no traceback; no install, no ``.tmp-`` folder, no unpacked
file left in the cache; nothing created or changed outside the cache (a
sentinel folder beside the cache is the target of the climbing names and
links, and absolute targets are checked not to exist).

The legitimate shapes the contract allows (``./`` entries as ``tar -C dir .``
writes them, one top-level folder, relative links that stay inside, hard
links to earlier files) must install, and ``qtmcp verify`` must pass on them.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import shutil
import stat
import struct
import subprocess
import tarfile
import time
import unicodedata
import uuid
import zipfile
import zlib
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import pytest
from faultserver import (
    assert_success,
    cache_problems,
    install_dirs,
    work_leftovers,
)
from fixtures import (
    FIXED_MTIME,
    HOST_OS,
    HOST_PLATFORM,
    Entry,
    assert_error,
    asset_name,
    build_archive,
    cache_leftovers,
    default_members,
    format_sums,
    launcher_name,
    probe_name,
    run_qtmcp,
    sha256_hex,
    text,
    tree_snapshot,
)

MIB = 1024 * 1024
FORMATS = ("zip", "tar.gz")
MODES = ("install", "fetch")


# --------------------------------------------------------------------------
# The cases


@dataclasses.dataclass
class Context:
    """Where a case may aim: ``sentinel`` is a folder beside the cache,
    ``abs_root`` a unique absolute path that must never come to exist."""

    tmp: Path
    sentinel: Path
    abs_root: str
    plat: str

    @property
    def os(self) -> str:
        return self.plat.split("-")[0]

    @property
    def climb(self) -> str:
        """From the unpack folder (<cache>/<tag>/.tmp-*/unpack) up to tmp."""
        return "../../../../"

    def base(self) -> List[Entry]:
        return default_members("6.8", self.plat)

    def targets(self) -> List[str]:
        """Absolute paths no run may create."""
        return [self.abs_root, "C:/" + self.abs_root.lstrip("/"), str(self.sentinel / "abs-pwned")]


def _abs(ctx: Context, *parts: str) -> str:
    return "/".join([ctx.abs_root] + list(parts))


def _sentinel_abs(ctx: Context) -> str:
    return (ctx.sentinel / "abs-pwned").as_posix()


@dataclasses.dataclass
class Case:
    id: str
    members: Callable[[Context], List[Entry]]
    formats: Sequence[str] = FORMATS
    windows_build: bool = False
    status: int = 6
    builder: Optional[Callable[[Path, str, Context], Path]] = None  # custom archive writer


def _plus(*extra: Entry) -> Callable[[Context], List[Entry]]:
    return lambda ctx: ctx.base() + [dataclasses.replace(e) for e in extra]


def _first(*extra: Entry) -> Callable[[Context], List[Entry]]:
    return lambda ctx: [dataclasses.replace(e) for e in extra] + ctx.base()


def F(name: str, data: bytes = b"hostile\n", **kw) -> Entry:  # noqa: N802
    return Entry(name, data, **kw)


def D(name: str) -> Entry:  # noqa: N802
    return Entry(name, type="dir", mode=0o755)


def L(name: str, target: str) -> Entry:  # noqa: N802
    return Entry(name, type="symlink", linkname=target)


def H(name: str, target: str) -> Entry:  # noqa: N802
    return Entry(name, type="hardlink", linkname=target)


NFC = unicodedata.normalize("NFC", "caf\u00e9")
NFD = unicodedata.normalize("NFD", "caf\u00e9")
assert NFC != NFD


def _launcher(ctx: Context) -> str:
    return launcher_name(ctx.os)


HOSTILE: List[Case] = [
    # names that climb out or are absolute
    Case("dotdot ../x", _plus(F("../x"))),
    Case("dotdot deep to the sentinel", lambda c: c.base() + [F(c.climb + "sentinel/pwned")]),
    Case("inner dotdot a/../../x", _plus(F("a/../../x"))),
    Case("inner dotdot after a folder entry", _plus(D("a/"), F("a/b/../../../x"))),
    Case("absolute /path", lambda c: c.base() + [F(_abs(c, "pwned"))]),
    Case("absolute path into the sentinel", lambda c: c.base() + [F(_sentinel_abs(c))]),
    Case("absolute folder entry", lambda c: c.base() + [D(_abs(c, "dir") + "/")]),
    Case("drive C:/x", lambda c: c.base() + [F("C:/" + c.abs_root.lstrip("/") + "/pwned")]),
    Case("drive-relative C:x", _plus(F("C:x"))),
    Case("backslash ..\\x", _plus(F("..\\x"))),
    Case("backslash deep to the sentinel",
         lambda c: c.base() + [F(c.climb.replace("/", "\\") + "sentinel\\pwned")]),
    Case("backslash absolute \\x", lambda c: c.base() + [F(c.abs_root.replace("/", "\\") + "\\pwned")]),
    Case("empty name", _plus(F(""))),
    Case("a file named .", _plus(F("."))),
    Case("a file named ./.", _plus(F("./."))),
    Case("a link named .", _plus(L(".", "lib"))),
    # links
    Case("symlink absolute /etc/passwd", _plus(L("lib/evil", "/etc/passwd"))),
    Case("symlink absolute into the sentinel", lambda c: c.base() + [L("lib/evil", c.sentinel.as_posix())]),
    Case("symlink ../../outside", _plus(L("evil", "../../outside"))),
    Case("symlink deep to the sentinel", lambda c: c.base() + [L("lib/evil", "../" + c.climb + "sentinel")]),
    Case("symlink with a drive C:/x", _plus(L("lib/evil", "C:/Windows"))),
    Case("symlink with a backslash ..\\..\\x", _plus(L("lib/evil", "..\\..\\outside"))),
    Case("symlink out of the one top-level folder",
         lambda c: [D("top/")] + _prefixed("top/", c.base()) + [L("top/lib/evil", "../../outside.txt")]),
    Case("file written through a link to a folder", _plus(D("sub/"), L("link", "sub"), F("link/x"))),
    Case("file written through a link leading out",
         lambda c: c.base() + [L("link", c.climb + "sentinel"), F("link/pwned")]),
    Case("folder written through a link", _plus(D("sub/"), L("link", "sub"), D("link/d/"))),
    # hard links (tar only)
    Case("hard link to /etc/passwd", _plus(H("lib/passwd", "/etc/passwd")), formats=("tar.gz",)),
    Case("hard link to ../outside", _plus(H("lib/out", "../outside")), formats=("tar.gz",)),
    Case("hard link to a later entry", _plus(H("lib/early", "lib/later"), F("lib/later")),
         formats=("tar.gz",)),
    Case("hard link to a missing entry", _plus(H("lib/ghost", "lib/nothing-here")), formats=("tar.gz",)),
    Case("hard link to an earlier symlink", _plus(F("lib/real"), L("lib/soft", "real"),
                                                  H("lib/hard", "lib/soft")), formats=("tar.gz",)),
    Case("hard link to an earlier folder", _plus(D("sub/"), H("lib/hard", "sub")), formats=("tar.gz",)),
    Case("hard link over an earlier file", _plus(F("lib/a"), H("lib/a", "lib/a")), formats=("tar.gz",)),
    # what is not a file, folder or link
    Case("character device", _plus(Entry("lib/null", type="chardev"))),
    Case("block device", _plus(Entry("lib/disk", type="blockdev"))),
    Case("fifo", _plus(Entry("lib/pipe", type="fifo"))),
    # collisions
    Case("duplicate file", _plus(F("lib/dup"), F("lib/dup", b"second\n"))),
    Case("the launcher twice", lambda c: c.base() + [F(_launcher(c), b"#!/bin/sh\necho replaced\n", mode=0o755)]),
    Case("duplicate folder", _plus(D("extra/"), D("extra/"))),
    Case("names differing only in case Lib/a lib/b", _plus(F("Lib/a"), F("lib/b"))),
    Case("names differing only in case A a", _plus(F("A"), F("a"))),
    Case("names differing only in Unicode normalization", _plus(F(NFC), F(NFD))),
    Case("folders differing only in Unicode normalization", _plus(F(NFC + "/x"), F(NFD + "/y"))),
    Case("a file then a folder of the same name", _plus(F("x"), D("x/"))),
    Case("a file then a file inside it", _plus(F("x"), F("x/y"))),
    Case("a folder then a file of the same name", _plus(D("x/"), F("x"))),
    Case("a file inside then a file of the folder's name", _plus(F("x/y"), F("x"))),
    Case("a link then a file of the same name", _plus(F("lib/t"), L("lib/l", "t"), F("lib/l"))),
    # lengths
    Case("a part over 255 bytes", _plus(F("p" * 256))),
    Case("a folder part over 255 bytes", _plus(F("d" * 256 + "/f"))),
    Case("a part of 128 characters but 256 bytes", _plus(F("\u00e9" * 128))),
    Case("a name over 1024 bytes", _plus(F("/".join(["n" * 200] * 5) + "/" + "m" * 30))),
    Case("a link target over 1024 bytes", _plus(L("lib/long", "/".join(["t" * 200] * 6)))),
    # names Windows cannot hold, in a build for Windows
    *[Case("windows build: %s" % name, _plus(F(name)), windows_build=True)
      for name in ("CON", "aux.txt", "a:b", "ab:c", "name.", "lib/COM1.dll", "nul", "lpt9.log", "CONIN$",
                   "trailing space ", "a<b", "a|b", "a?b", "a*b", 'a"b', "tab\tname")],
    Case("windows build: a folder named CON", _plus(F("CON/x")), windows_build=True),
    Case("windows build: a link named AUX", _plus(F("lib/t"), L("lib/AUX", "t")), windows_build=True),
    # the launcher is not there (status 7)
    Case("launcher missing", lambda c: [e for e in c.base() if e.name != _launcher(c)], status=7),
    Case("launcher two folders deep",
         lambda c: [dataclasses.replace(e, name="a/b/" + e.name) for e in c.base()], status=7),
    Case("launcher in one of two top-level folders",
         lambda c: [dataclasses.replace(e, name="one/" + e.name) for e in c.base()] + [F("two/readme")],
         status=7),
    Case("launcher is a folder",
         lambda c: [e for e in c.base() if e.name != _launcher(c)] + [D(_launcher(c) + "/")], status=7),
]


# -- archives the Entry writer cannot express -----------------------------------


class Zeros:
    """A reader of ``size`` zero bytes (never holds them all)."""

    def __init__(self, size: int):
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


def _tar_add(tf: tarfile.TarFile, e: Entry) -> None:
    info = tarfile.TarInfo(e.name)
    info.mtime, info.mode, info.uid, info.gid = FIXED_MTIME, e.mode & 0o7777, 0, 0
    data = None
    if e.type == "file":
        info.size, data = len(e.data), io.BytesIO(e.data)
    elif e.type == "dir":
        info.type = tarfile.DIRTYPE
    elif e.type == "symlink":
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, e.linkname, 0o777
    else:
        raise ValueError(e.type)
    tf.addfile(info, data)


def write_bomb(path: Path, kind: str, ctx: Context, size: int = 200 * MIB) -> Path:
    """A real build plus ``share/zeros.bin``: ``size`` zero bytes, streamed
    into the archive (deflate or gzip; over 1000:1)."""
    if kind == "zip":
        build_archive(path, ctx.base(), "zip")
        with zipfile.ZipFile(str(path), "a") as zf:
            info = zipfile.ZipInfo("share/zeros.bin", date_time=time.gmtime(FIXED_MTIME)[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            with zf.open(info, "w") as out:
                chunk = bytes(MIB)
                for _ in range(size // MIB):
                    out.write(chunk)
    else:
        with open(str(path), "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf:
                    for e in ctx.base():
                        _tar_add(tf, e)
                    info = tarfile.TarInfo("share/zeros.bin")
                    info.mtime, info.mode, info.size = FIXED_MTIME, 0o644, size
                    tf.addfile(info, Zeros(size))
    return path


def write_zip_sizes(declared: int, data: bytes, compression: int) -> Callable[[Path, str, Context], Path]:
    """A zip whose ``share/liar.bin`` holds ``data`` but declares ``declared`` bytes."""

    def builder(path: Path, kind: str, ctx: Context) -> Path:
        members = ctx.base() + [Entry("share/liar.bin", data, size=declared)]
        return build_archive(path, members, "zip", compression=compression)

    return builder


def write_zip_liar(declared: int, data: bytes, compression: int) -> Callable[[Path, str, Context], Path]:
    """A zip whose ``share/liar.bin`` holds ``data`` (all of it compressed in
    the archive) but declares only ``declared`` bytes, with the CRC-32 of
    those first ``declared`` bytes: a reader that stops at the declared size
    sees a sound entry; only counting what the entry really holds shows the lie."""

    def builder(path: Path, kind: str, ctx: Context) -> Path:
        build_archive(path, ctx.base() + [Entry("share/liar.bin", data)], "zip", compression=compression)
        crc = zlib.crc32(data[:declared]) & 0xFFFFFFFF
        raw = bytearray(path.read_bytes())
        eocd = raw.rfind(b"PK\x05\x06")
        count, _, pos = struct.unpack_from("<HII", raw, eocd + 10)
        for _ in range(count):
            name_len, extra_len, comment_len = struct.unpack_from("<HHH", raw, pos + 28)
            local = struct.unpack_from("<I", raw, pos + 42)[0]
            if bytes(raw[pos + 46:pos + 46 + name_len]) == b"share/liar.bin":
                struct.pack_into("<I", raw, pos + 16, crc)      # central: CRC-32
                struct.pack_into("<I", raw, pos + 24, declared)  # central: uncompressed size
                struct.pack_into("<I", raw, local + 14, crc)     # local: CRC-32
                struct.pack_into("<I", raw, local + 22, declared)  # local: uncompressed size
            pos += 46 + name_len + extra_len + comment_len
        path.write_bytes(bytes(raw))
        return path

    return builder


def write_encrypted_zip(path: Path, kind: str, ctx: Context) -> Path:
    """A zip whose probe entry says it is encrypted (flag bit 0 set)."""
    build_archive(path, ctx.base(), "zip")
    raw = bytearray(path.read_bytes())
    eocd = raw.rfind(b"PK\x05\x06")
    count, _, cd_offset = struct.unpack_from("<HII", raw, eocd + 10)
    pos = cd_offset
    for _ in range(count):
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", raw, pos + 28)
        local = struct.unpack_from("<I", raw, pos + 42)[0]
        name = bytes(raw[pos + 46:pos + 46 + name_len]).decode()
        if name == probe_name(ctx.os):
            struct.pack_into("<H", raw, pos + 8, struct.unpack_from("<H", raw, pos + 8)[0] | 1)
            struct.pack_into("<H", raw, local + 6, struct.unpack_from("<H", raw, local + 6)[0] | 1)
        pos += 46 + name_len + extra_len + comment_len
    path.write_bytes(bytes(raw))
    return path


def write_garbage(path: Path, kind: str, ctx: Context) -> Path:
    path.write_bytes(b"this is not an archive at all\n" * 100)
    return path


def write_truncated(path: Path, kind: str, ctx: Context) -> Path:
    build_archive(path, ctx.base(), kind)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _tar_bytes(entries: List[Entry], end: bool = True) -> bytes:
    """An uncompressed PAX tar of ``entries``; without its end-of-archive
    blocks when ``end`` is false (so more can follow)."""
    out = io.BytesIO()
    tf = tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT)
    for e in entries:
        _tar_add(tf, e)
    if not end:
        data = out.getvalue()[: tf.offset]
        tf.fileobj = io.BytesIO()  # let close() write its end blocks elsewhere
        tf.close()
        return data
    tf.close()
    return out.getvalue()


def write_tar_with_junk_block(path: Path, kind: str, ctx: Context) -> Path:
    """A tar.gz (sound gzip stream) whose tar has a 512-byte block of junk (no
    valid header) between members: a reader that takes junk for the end of the
    archive silently drops ``share/after-the-junk.txt`` and the gzip trailer."""
    data = (_tar_bytes(ctx.base(), end=False) + b"\xa5" * 512
            + _tar_bytes([F("share/after-the-junk.txt", b"dropped?\n")]))
    with open(str(path), "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(data)
    return path


def write_bad_gzip_crc(path: Path, kind: str, ctx: Context) -> Path:
    """A tar.gz whose gzip trailer holds a wrong CRC-32 of the data."""
    build_archive(path, ctx.base(), "tar.gz")
    data = bytearray(path.read_bytes())
    data[-8:-4] = bytes(b ^ 0xFF for b in data[-8:-4])
    path.write_bytes(bytes(data))
    return path


def write_bad_gzip_length(path: Path, kind: str, ctx: Context) -> Path:
    """A tar.gz whose gzip trailer holds a wrong length of the data."""
    build_archive(path, ctx.base(), "tar.gz")
    data = bytearray(path.read_bytes())
    data[-4:] = struct.pack("<I", (struct.unpack("<I", bytes(data[-4:]))[0] + 1) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    return path


def write_corrupt_middle(path: Path, kind: str, ctx: Context) -> Path:
    build_archive(path, ctx.base(), kind)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0x5A for b in data[middle:middle + 64])
    path.write_bytes(bytes(data))
    return path


HOSTILE += [
    Case("bomb of 200 MiB of zeros", lambda c: [], builder=lambda p, k, c: write_bomb(p, k, c)),
    Case("zip declaring over 2 GiB unpacked", lambda c: [], formats=("zip",),
         builder=write_zip_sizes(0xF0000000, b"small\n", zipfile.ZIP_DEFLATED)),
    Case("zip entry longer than its declared size (deflated)", lambda c: [], formats=("zip",),
         builder=write_zip_sizes(1000, b"x" * 300_000, zipfile.ZIP_DEFLATED)),
    Case("zip entry longer than its declared size (stored)", lambda c: [], formats=("zip",),
         builder=write_zip_sizes(1000, b"x" * 300_000, zipfile.ZIP_STORED)),
    Case("zip entry longer than its declared size, CRC of the declared part (deflated)",
         lambda c: [], formats=("zip",), builder=write_zip_liar(1000, b"y" * 300_000, zipfile.ZIP_DEFLATED)),
    Case("zip entry longer than its declared size, CRC of the declared part (stored)",
         lambda c: [], formats=("zip",), builder=write_zip_liar(1000, b"y" * 300_000, zipfile.ZIP_STORED)),
    Case("zip entry marked encrypted", lambda c: [], formats=("zip",), builder=write_encrypted_zip),
    Case("not an archive", lambda c: [], builder=write_garbage),
    Case("archive cut in half", lambda c: [], builder=write_truncated),
    # zip checks each entry's CRC; a tar.gz's corruption is made exactly below
    Case("archive corrupt in the middle", lambda c: [], formats=("zip",), builder=write_corrupt_middle),
    Case("tar with a junk block between members", lambda c: [], formats=("tar.gz",),
         builder=write_tar_with_junk_block),
    Case("gzip trailer with a wrong CRC-32", lambda c: [], formats=("tar.gz",), builder=write_bad_gzip_crc),
    Case("gzip trailer with a wrong length", lambda c: [], formats=("tar.gz",), builder=write_bad_gzip_length),
]

#: the cases also served in a release and fetched (one or two of each kind:
#: the unpacking is the same code; this proves the downloaded archive and the
#: work folder go too). Every case is installed with ``qtmcp install``.
FETCHED = {
    "dotdot deep to the sentinel", "absolute path into the sentinel", "drive C:/x",
    "backslash deep to the sentinel", "empty name", "a file named .",
    "symlink deep to the sentinel", "symlink out of the one top-level folder",
    "file written through a link leading out", "hard link to /etc/passwd",
    "hard link to a later entry", "character device", "fifo", "the launcher twice",
    "names differing only in case Lib/a lib/b", "names differing only in Unicode normalization",
    "a file then a file inside it", "a part over 255 bytes", "a name over 1024 bytes",
    "windows build: CON", "windows build: ab:c", "bomb of 200 MiB of zeros",
    "zip entry longer than its declared size (deflated)",
    "zip entry longer than its declared size, CRC of the declared part (deflated)",
    "archive cut in half", "tar with a junk block between members", "launcher missing",
}
assert FETCHED <= {case.id for case in HOSTILE}, FETCHED - {case.id for case in HOSTILE}

HOSTILE_PARAMS = [pytest.param(case, kind, mode, id="%s-%s-%s" % (case.id, kind, mode))
                  for case in HOSTILE for kind in case.formats for mode in MODES
                  if mode == "install" or case.id in FETCHED]


# --------------------------------------------------------------------------
# Running a case


@pytest.fixture
def ctx(tmp_path) -> Context:
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    (sentinel / "keep.txt").write_bytes(b"the sentinel's own file\n")
    abs_root = "/qtmcp-hostile-" + uuid.uuid4().hex[:12]
    return Context(tmp_path, sentinel, abs_root, HOST_PLATFORM)


def _outside_cache(tmp: Path) -> dict:
    """Everything under tmp except the cache, with sizes and times."""
    return {k: v for k, v in tree_snapshot(tmp).items()
            if k != "cache" and not k.startswith("cache/") and k != "."}


@pytest.fixture(scope="module")
def bomb_store(tmp_path_factory) -> dict:
    """Bombs are built once per format (about 0.6 s each), then copied."""
    return {"dir": tmp_path_factory.mktemp("bombs")}


def make_archive(case: Case, kind: str, ctx: Context, store: dict) -> Path:
    folder = ctx.tmp / "incoming"
    folder.mkdir(exist_ok=True)
    path = folder / ("hostile." + kind)
    if case.builder is None:
        return build_archive(path, case.members(ctx), kind)
    if not case.id.startswith("bomb"):
        return case.builder(path, kind, ctx)
    key = (kind, ctx.plat)
    if key not in store:
        store[key] = case.builder(store["dir"] / ("bomb-%s.%s" % (ctx.plat, kind)), kind, ctx)
    shutil.copyfile(str(store[key]), str(path))
    return path


def case_args(request, mode: str, archive: Path, kind: str, ctx: Context, windows_build: bool) -> list:
    """The qtmcp arguments that install (``install``) or fetch (``fetch``, after
    serving it in release vTEST) ``archive`` as the Qt 6.8 build of ``ctx.plat``."""
    digest = sha256_hex(archive.read_bytes())
    plat_args = ["--platform", ctx.plat] if windows_build else []
    if mode == "install":
        return ["install", str(archive), "--sha256", digest, "--release", "vTEST", "--qt", "6.8"] + plat_args
    server = request.getfixturevalue("http_server")
    asset = asset_name("6.8", ctx.plat, kind)
    tag_dir = server.directory / "vTEST"
    tag_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(str(archive), str(tag_dir / asset))
    (tag_dir / "SHA256SUMS").write_bytes(format_sums({asset: digest}))
    return ["--mirror", server.url, "--release", "vTEST", "--qt", "6.8"] + plat_args + ["fetch"]


def assert_nothing_left(cache_dir: Path, ctx: Context, before: dict) -> None:
    assert cache_leftovers(cache_dir) == [], "the refused archive left files in the cache"
    assert install_dirs(cache_dir) == []
    assert work_leftovers(cache_dir) == []
    assert _outside_cache(ctx.tmp) == before, "something outside the cache was created or changed"
    for target in ctx.targets():
        assert not os.path.lexists(target), "an absolute target was created: %s" % target
    for stray in ("x", "pwned", "outside", "outside.txt", "passwd"):
        assert not (ctx.tmp / stray).exists() and not (ctx.tmp.parent / stray).exists()


@pytest.mark.parametrize("case,kind,mode", HOSTILE_PARAMS)
def test_a_hostile_archive_is_refused_and_leaves_nothing_anywhere(
        request, cache_dir, ctx, bomb_store, case, kind, mode):
    if case.windows_build:
        ctx.plat = "windows-x64"
    archive = make_archive(case, kind, ctx, bomb_store)
    args = case_args(request, mode, archive, kind, ctx, case.windows_build)
    before = _outside_cache(ctx.tmp)
    cp = run_qtmcp(args)
    assert_error(cp, case.status)
    assert cp.stdout == b""
    assert_nothing_left(cache_dir, ctx, before)


@pytest.mark.parametrize("kind", FORMATS)
def test_the_same_windows_only_names_in_a_linux_build_are_accepted(cache_dir, ctx, kind):
    """'In a build for Windows' only: a Linux build may hold aux.txt or ab:c (not
    a:b, which Windows reads as drive A: and is refused everywhere)."""
    if HOST_OS == "windows":
        pytest.skip("this host is Windows: it cannot hold these names in its own cache")
    ctx.plat = "linux-x64"
    archive = build_archive(ctx.tmp / "incoming" / ("ok." + kind),
                            ctx.base() + [F("aux.txt"), F("ab:c"), F("name."), F("CON")], kind)
    digest = sha256_hex(archive.read_bytes())
    cp = run_qtmcp(["install", str(archive), "--sha256", digest, "--release", "vTEST", "--qt", "6.8",
                    "--platform", "linux-x64"])
    path = assert_success(cp)
    build = Path(path).parent
    assert sorted(p.name for p in build.iterdir() if p.name in ("aux.txt", "ab:c", "name.", "CON")) == \
        ["CON", "ab:c", "aux.txt", "name."]


# --------------------------------------------------------------------------
# Legitimate shapes that must be accepted


def _prefixed(prefix: str, entries: List[Entry]) -> List[Entry]:
    return [dataclasses.replace(e, name=prefix + e.name,
                                linkname=prefix + e.linkname if e.type == "hardlink" else e.linkname)
            for e in entries]


def _links_ok() -> bool:
    return HOST_OS != "windows"


@dataclasses.dataclass
class Good:
    id: str
    members: Callable[[Context], List[Entry]]
    check: Callable[[Path], None]
    formats: Sequence[str] = FORMATS


def _is_link_to(path: Path, target: str, content: Optional[bytes] = None) -> None:
    if _links_ok():
        assert path.is_symlink(), "%s is not a symbolic link" % path
        assert os.readlink(str(path)) == target
    if content is not None:
        assert path.read_bytes() == content


def _same_content(path: Path, other: Path, content: bytes) -> None:
    assert path.read_bytes() == content and other.read_bytes() == content


def _has(*names: str) -> Callable[[Path], None]:
    def check(build: Path) -> None:
        for name in names:
            assert (build / name).exists(), "%s missing from the install" % name
    return check


GOOD: List[Good] = [
    Good("./ entries as tar -C dir . writes them",
         lambda c: [D("./")] + _prefixed("./", c.base()), _has(probe_name(HOST_OS), "plugins/platforms")),
    Good("a bare . folder entry", lambda c: [D(".")] + c.base(), _has("plugins/platforms")),
    Good("one top-level folder around everything",
         lambda c: [D("qtmcp-qt6.8/")] + _prefixed("qtmcp-qt6.8/", c.base()),
         _has("plugins/platforms")),
    Good("./ and one top-level folder",
         lambda c: [D("./"), D("./top/")] + _prefixed("./top/", c.base()), _has("plugins/platforms")),
    Good("a relative symlink chain inside lib",
         lambda c: c.base() + [F("lib/libfoo.so.6.8.0", b"foo\n"), L("lib/libfoo.so.6", "libfoo.so.6.8.0"),
                               L("lib/libfoo.so", "libfoo.so.6")],
         lambda b: _is_link_to(b / "lib/libfoo.so", "libfoo.so.6", b"foo\n")),
    Good("a link before its target",
         lambda c: c.base() + [L("lib/libbar.so", "libbar.so.1"), F("lib/libbar.so.1", b"bar\n")],
         lambda b: _is_link_to(b / "lib/libbar.so", "libbar.so.1", b"bar\n")),
    Good("a ../ link that stays inside",
         lambda c: c.base() + [F("lib/y", b"why\n"), L("plugins/x", "../lib/y")],
         lambda b: _is_link_to(b / "plugins/x", "../lib/y", b"why\n")),
    Good("a ../ link inside the one top-level folder",
         lambda c: [D("top/")] + _prefixed("top/", c.base() + [F("lib/y", b"why\n"),
                                                              L("plugins/platforms/x", "../../lib/y")]),
         lambda b: _is_link_to(b / "plugins/platforms/x", "../../lib/y", b"why\n")),
    Good("a link to a folder inside",
         lambda c: c.base() + [D("lib/sub/"), F("lib/sub/f", b"f\n"), L("lib/current", "sub")],
         lambda b: _is_link_to(b / "lib/current", "sub", None)),
    Good("a hard link to an earlier file",
         lambda c: c.base() + [F("lib/a.so", b"shared\n"), H("lib/b.so", "lib/a.so")],
         lambda b: _same_content(b / "lib/b.so", b / "lib/a.so", b"shared\n"), formats=("tar.gz",)),
    Good("a part of exactly 255 bytes", lambda c: c.base() + [F("q" * 255, b"long\n")],
         _has("q" * 255)),
    Good("half a MiB of zeros (very compressible, within the first MiB)",
         lambda c: c.base() + [F("share/zeros.bin", bytes(MIB // 2))], _has("share/zeros.bin")),
    Good("non-ASCII names", lambda c: c.base() + [F("share/" + NFC, b"\xc3\xa9\n"), F("share/\u6f22\u5b57", b"k\n")],
         _has("share/" + NFC)),
]

if not _links_ok():
    # Windows: making symbolic links needs a privilege CI does not have (qtmcp
    # then copies the target); the link shapes are checked on POSIX
    GOOD = [g for g in GOOD if "link" not in g.id or "hard" in g.id]
if HOST_OS == "windows":
    # Windows: a 255-byte name under the cache passes MAX_PATH (260) unless
    # long paths are enabled; that limit is test_windows_paths' subject
    GOOD = [g for g in GOOD if "255" not in g.id]

GOOD_PARAMS = [pytest.param(g, kind, id="%s-%s" % (g.id, kind)) for g in GOOD for kind in g.formats]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("good,kind", GOOD_PARAMS)
def test_a_legitimate_archive_shape_is_accepted_and_verifies(request, cache_dir, ctx, good, kind, mode):
    archive = build_archive(ctx.tmp / "incoming" / ("good." + kind), good.members(ctx), kind)
    cp = run_qtmcp(case_args(request, mode, archive, kind, ctx, False))
    path = Path(assert_success(cp))
    assert path.name == launcher_name(HOST_OS) and path.is_file()
    assert path.parent.name == "build"
    good.check(path.parent)
    assert cache_problems(cache_dir) == []
    verify = run_qtmcp(["verify"])
    assert verify.returncode == 0, text(verify.stdout) + text(verify.stderr)


def test_an_archive_made_by_tar_c_dir_dot_is_accepted_and_verifies(cache_dir, ctx, tmp_path):
    tar = shutil.which("tar")
    if tar is None:
        pytest.skip("no tar program on this machine")
    tree = tmp_path / "tree"
    for e in ctx.base():
        target = tree / e.name
        if e.type == "dir":
            target.mkdir(parents=True, exist_ok=True)
        elif e.type == "file":
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(e.data)
            os.chmod(str(target), e.mode)
        elif e.type == "symlink" and _links_ok():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(e.linkname, str(target))
    archive = tmp_path / "incoming" / "by-tar.tar.gz"
    archive.parent.mkdir(exist_ok=True)
    made = subprocess.run([tar, "-C", str(tree), "-czf", str(archive), "."],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if made.returncode != 0:
        pytest.skip("tar could not make the archive: %s" % text(made.stderr))
    listing = subprocess.run([tar, "-tzf", str(archive)], stdout=subprocess.PIPE).stdout
    assert b"./" in listing.splitlines()[0], "tar did not write ./ entries: the test proves nothing"
    digest = sha256_hex(archive.read_bytes())
    cp = run_qtmcp(["install", str(archive), "--sha256", digest, "--release", "vTEST", "--qt", "6.8"])
    assert_success(cp)
    verify = run_qtmcp(["verify"])
    assert verify.returncode == 0, text(verify.stdout) + text(verify.stderr)


# -- hardening, round two: names that are not valid in the archive's encoding -----------------
#
# Contract, "Archives qtmcp refuses": a name that is not valid in the
# archive's encoding and this file system's is refused (status 6), one line,
# nothing left; never status 1.


def _gnu_tar_with_raw_name(path: Path, raw_name: bytes) -> Path:
    """A real build (tar.gz, GNU format) plus one file whose name is the raw
    bytes ``raw_name`` (not UTF-8)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tf:
        for e in default_members("6.8", HOST_PLATFORM):
            _tar_add(tf, e)
        info = tarfile.TarInfo(raw_name.decode("utf-8", "surrogateescape"))
        info.size, info.mtime, info.mode = 7, FIXED_MTIME, 0o644
        tf.addfile(info, io.BytesIO(b"hostile"))
    with open(str(path), "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(buf.getvalue())
    return path


def _zip_with_utf8_flag_and_raw_name(path: Path, raw_name: bytes) -> Path:
    """A real build (zip) plus one file flagged as UTF-8 (bit 11) whose name bytes are not."""
    placeholder = "P" * len(raw_name)
    build_archive(path, default_members("6.8", HOST_PLATFORM) + [Entry(placeholder, b"hostile")], "zip")
    data = bytearray(path.read_bytes())
    count = 0
    for sig, flag_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        start = 0
        while True:
            pos = data.find(sig, start)
            if pos < 0:
                break
            start = pos + 4
            length = struct.unpack_from("<H", data, pos + name_at - (4 if sig == b"PK\x03\x04" else 18))[0]
            if bytes(data[pos + name_at:pos + name_at + length]) == placeholder.encode():
                data[pos + name_at:pos + name_at + length] = raw_name
                flags = struct.unpack_from("<H", data, pos + flag_at)[0] | 0x800
                struct.pack_into("<H", data, pos + flag_at, flags)
                count += 1
    assert count == 2, "placeholder not found in the local and central headers"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.skipif(HOST_OS == "windows", reason="a raw-bytes file name (not UTF-8) is a POSIX notion")
@pytest.mark.parametrize("raw_name", [b"lib/caf\xe9.so", b"\xff\xfe/plugin", b"share/\xc3\x28.txt"],
                         ids=["latin-1", "invalid lead bytes", "bad continuation"])
@pytest.mark.parametrize("kind", FORMATS)
@pytest.mark.parametrize("mode", MODES)
def test_a_member_name_that_is_not_valid_utf8_is_refused_with_status_6_and_leaves_nothing(
        tmp_path, cache_dir, http_server, kind, mode, raw_name):
    asset = asset_name("6.8", HOST_PLATFORM, kind)
    release_dir = http_server.directory / "vTEST"
    release_dir.mkdir(parents=True, exist_ok=True)
    archive = release_dir / asset
    if kind == "zip":
        _zip_with_utf8_flag_and_raw_name(archive, raw_name)
    else:
        _gnu_tar_with_raw_name(archive, raw_name)
    digest = sha256_hex(archive.read_bytes())
    (release_dir / "SHA256SUMS").write_bytes(format_sums({asset: digest}))
    if mode == "install":
        args = ["install", str(archive), "--sha256", digest, "--release", "vTEST", "--qt", "6.8"]
    else:
        args = ["--mirror", http_server.url, "--release", "vTEST", "--qt", "6.8", "fetch"]
    cp = run_qtmcp(args, timeout=60)
    assert_error(cp, 6)
    assert install_dirs(cache_dir) == []
    assert cache_leftovers(cache_dir) == []
