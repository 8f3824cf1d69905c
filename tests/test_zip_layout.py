"""Zip archives built byte by byte, and the limits that hold on every path.

zipfile writes only well-formed archives, so these are assembled here from
their headers: a deflate stream with bytes after its end, entries that share
one compressed stream, a local name that is not the central one, a method
qtmcp does not read. Each is refused with status 6, promptly (a reader that
loops would hit the timeout). The last tests are in-process: the copies made
where Windows cannot make links count against the limits (os.symlink failing
and os.name "nt" are simulated: this machine is not Windows), and the entry
count limit.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zlib
from pathlib import Path

import pytest
from fixtures import HOST_PLATFORM, assert_error, run_qtmcp, sha256_hex, text

LAUNCHER = b"#!/bin/sh\necho hi\n"


def local_header(name: str, method: int, crc: int, packed: int, size: int, data: bytes) -> bytes:
    encoded = name.encode()
    return struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, packed, size,
                       len(encoded), 0) + encoded + data


def central_header(name: str, method: int, crc: int, packed: int, size: int, offset: int) -> bytes:
    encoded = name.encode()
    return struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", (3 << 8) | 20, 20, 0, method, 0, 0x21,
                       crc, packed, size, len(encoded), 0, 0, 0, 0, 0o100755 << 16, offset) + encoded


def zip_bytes(locals_: list, centrals: list) -> bytes:
    body, directory = b"".join(locals_), b"".join(centrals)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(centrals), len(centrals),
                      len(directory), len(body), 0)
    return body + directory + end


def with_launcher(name: str, method: int, crc: int, packed: int, size: int, data: bytes,
                  central_names: list = None) -> bytes:
    """A zip holding the launcher, then one crafted entry (and more central entries)."""
    first = local_header("qtmcp-launcher", 0, zlib.crc32(LAUNCHER), len(LAUNCHER), len(LAUNCHER), LAUNCHER)
    second = local_header(name, method, crc, packed, size, data)
    centrals = [central_header("qtmcp-launcher", 0, zlib.crc32(LAUNCHER), len(LAUNCHER), len(LAUNCHER), 0)]
    centrals += [central_header(n, method, crc, packed, size, len(first)) for n in (central_names or [name])]
    return zip_bytes([first, second], centrals)


def deflated(plain: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(plain) + packer.flush()


def install(tmp_path: Path, data: bytes):  # type: ignore[no-untyped-def]
    archive = tmp_path / ("qtmcp-qt6.8-%s.zip" % HOST_PLATFORM.replace("linux-x64", "linux"))
    archive.write_bytes(data)
    return run_qtmcp(["install", str(archive), "--sha256", sha256_hex(data), "--qt", "6.8",
                      "--platform", HOST_PLATFORM], timeout=30)


def test_a_deflate_stream_followed_by_more_bytes_of_its_entry_is_refused_at_once(tmp_path, cache_dir):
    plain = os.urandom(4096) + b"\0" * 100000
    stream = deflated(plain) + b"\0" * 64  # declared compressed size covers 64 stray bytes
    cp = install(tmp_path, with_launcher("big", 8, zlib.crc32(plain), len(stream), len(plain), stream))
    assert_error(cp, 6, "data after its end")
    assert not any(cache_dir.rglob("manifest.json"))


def test_entries_that_share_one_compressed_stream_are_refused(tmp_path, cache_dir):
    plain = b"\0" * (2 * 1024 * 1024)
    stream = deflated(plain)
    names = ["blob%d" % n for n in range(5)]  # five central entries, one local header
    cp = install(tmp_path, with_launcher("blob0", 8, zlib.crc32(plain), len(stream), len(plain), stream,
                                         central_names=names))
    assert_error(cp, 6, "overlaps another entry")
    assert not any(cache_dir.rglob("blob*"))


def test_a_local_name_that_differs_from_the_central_name_is_refused(tmp_path):
    data = b"payload\n"
    first = local_header("qtmcp-launcher", 0, zlib.crc32(LAUNCHER), len(LAUNCHER), len(LAUNCHER), LAUNCHER)
    second = local_header("../escape", 0, zlib.crc32(data), len(data), len(data), data)
    centrals = [central_header("qtmcp-launcher", 0, zlib.crc32(LAUNCHER), len(LAUNCHER), len(LAUNCHER), 0),
                central_header("innocent", 0, zlib.crc32(data), len(data), len(data), len(first))]
    assert_error(install(tmp_path, zip_bytes([first, second], centrals)), 6, "local and central names")


def test_an_entry_compressed_with_a_method_qtmcp_does_not_read_is_refused(tmp_path):
    import lzma

    plain = b"x" * 30
    data = lzma.compress(plain, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA1}])
    cp = install(tmp_path, with_launcher("lz", 14, zlib.crc32(plain), len(data), len(plain), data))
    assert_error(cp, 6, "method 14")


def test_a_well_formed_hand_built_zip_installs(tmp_path, cache_dir):
    plain = b"plugin\n" * 100
    stream = deflated(plain)
    cp = install(tmp_path, with_launcher("plugin.txt", 8, zlib.crc32(plain), len(stream), len(plain), stream))
    assert cp.returncode == 0, text(cp.stderr)
    installed = Path(text(cp.stdout).strip()).parent
    assert (installed / "plugin.txt").read_bytes() == plain


def test_copies_made_where_windows_cannot_make_links_count_against_the_size_limit(
        tmp_path, monkeypatch, qtmcp_module):
    """Simulated: os.symlink fails and os.name is "nt", as on Windows without the
    right to make links; every link is then a copy, and copies are counted."""
    qtmcp = qtmcp_module
    monkeypatch.setattr(qtmcp, "MAX_UNPACKED", 3 * 1024 * 1024)
    writer = qtmcp.TreeWriter(str(tmp_path), windows=False)
    writer.add_file("qtmcp-launcher", 0o755, _reader(LAUNCHER))
    writer.add_file("lib/big", 0o644, _reader(os.urandom(1024 * 1024)))
    for n in range(4):  # four links to a 1 MiB file: 4 MiB of copies, over the 3 MiB limit
        writer.add_symlink("lib/link%d" % n, "big")
    monkeypatch.setattr(os, "symlink", _no_symlink)
    monkeypatch.setattr(os, "name", "nt")
    with pytest.raises(qtmcp.ArchiveError, match="unpacks to over"):
        writer.finish([])


def test_a_folder_link_copied_on_windows_lists_its_files_in_the_manifest(tmp_path, monkeypatch, qtmcp_module):
    """Simulated as above: the copied folder's files are recorded, so that
    `verify` does not report them as added."""
    qtmcp = qtmcp_module
    records = io.BytesIO()
    writer = qtmcp.TreeWriter(str(tmp_path), windows=False, records=records)
    writer.add_file("qtmcp-launcher", 0o755, _reader(LAUNCHER))
    writer.add_file("Versions/A/lib", 0o644, _reader(b"library\n"))
    writer.add_symlink("Versions/Current", "A")
    monkeypatch.setattr(os, "symlink", _no_symlink)
    monkeypatch.setattr(os, "name", "nt")
    writer.finish([])
    monkeypatch.undo()
    (tmp_path / "records.jsonl").write_bytes(records.getvalue())
    qtmcp.write_manifest(str(tmp_path / "manifest.json"), {}, str(tmp_path / "records.jsonl"), writer.links, [])
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    files = {entry["path"]: (entry["size"], entry["sha256"]) for entry in manifest["files"]}
    assert files["Versions/Current/lib"] == (8, hashlib.sha256(b"library\n").hexdigest())
    assert "Versions/Current" in manifest["dirs"]
    assert (tmp_path / "Versions" / "Current" / "lib").read_bytes() == b"library\n"
    assert writer.links == []


def test_an_archive_over_the_entry_limit_is_refused(tmp_path, monkeypatch, qtmcp_module):
    qtmcp = qtmcp_module
    monkeypatch.setattr(qtmcp, "MAX_ENTRIES", 10)
    writer = qtmcp.TreeWriter(str(tmp_path), windows=False)
    with pytest.raises(qtmcp.ArchiveError, match="over 10 entries"):
        for n in range(11):
            writer.add_dir("d%d/" % n)


def test_a_password_holding_a_slash_is_masked_and_the_mirror_refused(tmp_path):
    cp = run_qtmcp(["--mirror", "https://alice:s3cr/et@127.0.0.1/m", "--qt", "6.8", "fetch"])
    assert_error(cp, 2, "bad mirror")
    assert b"s3cr" not in cp.stderr


def _reader(data: bytes):  # type: ignore[no-untyped-def]
    import io

    return io.BytesIO(data)


def _no_symlink(*_args, **_kwargs):  # type: ignore[no-untyped-def]
    raise OSError(1314, "A required privilege is not held by the client")
