"""What the fast paths must keep: the cached start does no more than it must,
and the quicker unpacking reads, refuses and records exactly what it did.

Timings stay out of these tests (shared, noisy machines): `python
tests/bench.py` measures them. These tests check what the cached start must
not do (import hashing, networking, archives or `signal`; leave SIGPIPE
ignored for the launcher), that the quick tar header reader agrees with
tarfile's on every header, that the name table refuses every collision after
it has grown, and that a streamed manifest has the shape `verify` reads.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from fixtures import (
    HOST_OS,
    QTMCP,
    BuildSpec,
    Entry,
    asset_name,
    build_archive,
    default_members,
    format_sums,
    run_qtmcp,
    sha256_hex,
    text,
)

#: modules a cached start has no use for (importing one costs milliseconds)
HEAVY = {"signal", "hashlib", "_hashlib", "json", "socket", "ssl", "urllib", "http", "email", "tarfile",
         "zipfile", "gzip", "zlib", "tempfile", "threading", "subprocess", "unicodedata", "typing", "enum"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the launcher's /proc/self/status")
def test_a_cached_start_imports_nothing_heavy_and_gives_the_launcher_default_sigpipe(
        make_release, qtmcp_env):
    """`python -S -X importtime` (no site hooks) names every module the cached start imports on
    stderr before the exec; the launcher (a shell script) prints its ignored
    signals: SIGPIPE (13, bit 12) must not be among them."""
    launcher = Entry("qtmcp-launcher", b"#!/bin/sh\ngrep SigIgn /proc/self/status\n", 0o755)
    rel = make_release(builds=[BuildSpec("6.8", members=[launcher])])
    assert run_qtmcp(["--mirror", rel.url, "--qt", "6.8", "fetch"]).returncode == 0
    rel.server.clear()
    cp = subprocess.run([sys.executable, "-S", "-X", "importtime", str(QTMCP), "--mirror", rel.url, "--qt", "6.8", "--"],
                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        env=qtmcp_env, timeout=60)
    assert cp.returncode == 0, text(cp.stderr)
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0]
                for line in text(cp.stderr).splitlines() if line.startswith("import time:") and "|" in line}
    assert imported, "no import lines: the test proves nothing"
    assert imported & HEAVY == set(), sorted(imported & HEAVY)
    ignored = int(re.search(r"SigIgn:\s*([0-9a-f]+)", text(cp.stdout)).group(1), 16)
    assert not ignored & (1 << 12), "the launcher was started with SIGPIPE ignored"
    assert rel.server.requests == []


def _headers():  # type: ignore[no-untyped-def]
    """Tar headers of every common shape, odd ones, and many damaged ones."""
    for fmt in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        for name, kind in [("a/b.txt", tarfile.REGTYPE), ("dir/", tarfile.DIRTYPE), ("l", tarfile.SYMTYPE),
                           ("d" * 90 + "/" + "e" * 60, tarfile.REGTYPE), ("caf\u00e9 \u2713", tarfile.REGTYPE),
                           ("old-dir/", tarfile.AREGTYPE), ("h", tarfile.LNKTYPE), ("f", tarfile.FIFOTYPE)]:
            info = tarfile.TarInfo(name)
            info.type, info.size, info.mtime, info.uname, info.gname = kind, 0, 1700000000, "user", "group"
            info.size = 1234 if kind == tarfile.REGTYPE else 0
            info.linkname = "target" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
            try:
                yield info.tobuf(fmt, "utf-8", "surrogateescape")[:512]
            except ValueError:
                pass  # a name this format cannot hold
    big = tarfile.TarInfo("big")
    big.size = 8 ** 12  # base-256 in a GNU header
    yield big.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")[:512]
    yield from (bytes(512), b"", b"x" * 100, b"\xa5" * 512)
    rnd = random.Random(15)
    sound = tarfile.TarInfo("lib/libQt6Core.so.6").tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")[:512]
    for number in range(4000):
        header = bytearray(sound)
        for _ in range(rnd.randint(1, 4)):
            header[rnd.randrange(512)] = rnd.randrange(256)
        if number % 2:  # a checksum that fits, so that the damage reaches the other fields
            header[148:156] = b"%06o\0 " % (256 + sum(header[:148]) + sum(header[156:]))
        yield bytes(header)


def _read(cls, header: bytes):  # type: ignore[no-untyped-def]
    try:
        info = cls.frombuf(header, "utf-8", "surrogateescape")
    except Exception as error:  # noqa: BLE001  (the kind of error is what is compared)
        return type(error).__name__
    return tuple(getattr(info, field) for field in (
        "name", "mode", "uid", "gid", "size", "mtime", "chksum", "type", "linkname", "uname", "gname",
        "devmajor", "devminor"))


def test_the_quick_tar_header_reader_reads_every_header_exactly_as_tarfile_does(qtmcp_module):
    quick = qtmcp_module.quick_tar_info()
    headers = list(_headers())
    assert len(headers) > 4000
    for header in headers:
        assert _read(quick, header) == _read(tarfile.TarInfo, header), header


def test_the_name_table_refuses_every_collision_after_it_has_grown(tmp_path, qtmcp_module):
    qtmcp = qtmcp_module
    writer = qtmcp.TreeWriter(str(tmp_path), windows=False)
    for number in range(3000):  # past the table's first sizes
        writer.add_symlink("Lib%d/Name%d" % (number // 50, number), "x")
    writer.add_dir("Lib0/Folder/")
    for name, kind in [("lib0/other", "file"), ("Lib1/name51", "link"), ("Lib2/Name100", "file"),
                       ("Lib3/Name150/inside", "file"), ("Lib0/folder/", "dir"), ("Lib0/Folder/", "dir"),
                       ("Lib0", "file"), ("caf\u00e9/x", "file")]:
        if name.startswith("caf"):
            writer.add_dir("cafe\u0301/")
        with pytest.raises(qtmcp.ArchiveError):
            if kind == "dir":
                writer.add_dir(name)
            elif kind == "link":
                writer.add_symlink(name, "x")
            else:
                writer.add_file(name, 0o644, io.BytesIO(b"data"))
    writer.add_file("Lib0/Folder/new", 0o644, io.BytesIO(b"data"))  # what does not collide goes in
    assert (tmp_path / "Lib0" / "Folder" / "new").read_bytes() == b"data"
    assert writer.kind_of(["Lib59", "Name2999"]) == qtmcp.LINK
    assert writer.kind_of(["lib59", "Name2999"]) == 0


def test_a_build_in_one_top_level_folder_gets_a_manifest_of_paths_inside_it_that_verify_accepts(
        make_release, cache_dir):
    extra = [Entry("share/Gr\u00fc\u00dfe \u2713.txt", b"hello\n"), Entry("share/empty/", type="dir", mode=0o755)]
    rel = make_release(builds=[BuildSpec("6.8", top_folder=True, extra_members=extra)])
    cp = run_qtmcp(["--mirror", rel.url, "--qt", "6.8", "fetch"])
    assert cp.returncode == 0, text(cp.stderr)
    install = rel.host_build("6.8").install_dir(cache_dir, "vTEST")
    manifest = json.loads((install / "manifest.json").read_text(encoding="utf-8"))
    paths = {entry["path"] for entry in manifest["files"]}
    assert "share/Gr\u00fc\u00dfe \u2713.txt" in paths and "qtmcp-launcher" in {p.split("/")[-1] for p in paths}
    assert {"share", "share/empty"} <= set(manifest["dirs"])
    assert not any(path.startswith("qtmcp-qt") for path in paths | set(manifest["dirs"]))
    assert manifest["sha256"] == rel.host_build("6.8").sha256 and manifest["format"] == 1
    verified = run_qtmcp(["verify"])
    assert verified.returncode == 0, text(verified.stdout) + text(verified.stderr)


def test_a_tar_gz_of_two_gzip_members_installs_as_gzip_reads_it(tmp_path, cache_dir):
    """Concatenated gzip members (zero padding between them) are one stream."""
    whole = build_archive(tmp_path / "one.tar.gz", default_members("6.8", "linux-x64"), "tar.gz")
    data = gzip.decompress(whole.read_bytes())
    half = len(data) // 2
    joined = (gzip.compress(data[:half], mtime=0) + bytes(100) + gzip.compress(data[half:], mtime=0))
    archive = tmp_path / asset_name("6.8", "linux-x64", "tar.gz")
    archive.write_bytes(joined)
    (tmp_path / "SHA256SUMS").write_bytes(format_sums({archive.name: sha256_hex(joined)}))
    cp = run_qtmcp(["install", str(archive), "--sha256", sha256_hex(joined), "--release", "vTEST",
                    "--qt", "6.8", "--platform", "linux-x64"])
    assert cp.returncode == 0, text(cp.stderr)
    assert Path(text(cp.stdout).strip()).name == "qtmcp-launcher"
    if HOST_OS == "linux":
        assert run_qtmcp(["verify"]).returncode == 0
