"""Mirrors, offline use and archives carried in by hand.

`qtmcp mirror` copies a release into a folder; `--offline` then runs from it
without opening a single connection; several mirror bases are tried in order;
`qtmcp install` installs an archive brought in by hand. Where a test says "no
connection", the qtmcp child runs with tests/netfixtures.network_guard: an
audit hook that refuses (and records) every socket connect and name lookup.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures import (
    HOST_PLATFORM,
    BuildSpec,
    assert_error,
    build_release,
    cache_leftovers,
    closed_port,
    files_under,
    run_qtmcp,
    stderr_lines,
    text,
)
from netfixtures import network_guard

TAG = "vTEST"


@pytest.fixture
def guard(qtmcp_env, tmp_path):
    """The test's environment, in a Python that refuses every network event."""
    return network_guard(qtmcp_env, tmp_path / "guard")


def mirror_dest(release, dest, *extra):
    cp = run_qtmcp(["mirror", str(dest), "--release", TAG, "--mirror", release.url] + list(extra))
    assert cp.returncode == 0, text(cp.stderr)
    return cp


def summary_counts(stdout: bytes):
    """(copied, kept) as the summary on stdout states them."""
    out = text(stdout)
    copied = re.search(r"(\d+)[^,;\d]*\bcopied\b", out)
    kept = re.search(r"(\d+)[^,;\d]*\b(?:kept|already|unchanged|up to date|verified)\b", out)
    assert copied and kept, "the summary does not say what was copied and kept: %r" % out
    return int(copied.group(1)), int(kept.group(1))


def archives_in(folder: Path):
    return sorted(p.name for p in folder.iterdir() if p.name != "SHA256SUMS")


# -- the guard itself -----------------------------------------------------------

def test_the_network_guard_records_and_refuses_a_connection_from_a_child(guard, release):
    """Proof that the guard used below is live: without it, "no connection"
    would be a vacuous claim."""
    code = ("import socket\n"
            "try:\n    socket.create_connection(('127.0.0.1', %d), timeout=5)\n"
            "except RuntimeError as e:\n    print('refused', e)\n" % release.server.port)
    cp = subprocess.run([sys.executable, "-c", code], env=guard.env, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, timeout=60)
    assert b"refused" in cp.stdout, text(cp.stderr)
    assert any(line.startswith("socket.") for line in guard.tripped())
    assert release.server.requests == []


# -- qtmcp mirror -----------------------------------------------------------------

def test_mirror_copies_sha256sums_byte_for_byte_and_every_archive_and_prints_a_summary(
        release, tmp_path):
    dest = tmp_path / "dest"
    cp = mirror_dest(release, dest)
    out_dir = dest / TAG
    assert (out_dir / "SHA256SUMS").read_bytes() == release.sums
    assert archives_in(out_dir) == sorted(release.assets)
    for build in release.builds:
        assert (out_dir / build.asset).read_bytes() == build.path.read_bytes()
    assert files_under(dest) == sorted(["%s/SHA256SUMS" % TAG] + ["%s/%s" % (TAG, a)
                                                                  for a in release.assets])
    assert summary_counts(cp.stdout) == (len(release.assets), 0)
    assert str(out_dir) in text(cp.stdout) or str(dest) in text(cp.stdout)
    assert "error" not in text(cp.stderr).lower()


def test_mirror_with_repeated_qt_and_platform_copies_only_the_chosen_builds_and_the_whole_index(
        release, tmp_path):
    others = [p for p in ("windows-x64", "macos-arm64", "linux-arm64") if p != HOST_PLATFORM][:2]
    dest = tmp_path / "dest"
    cp = mirror_dest(release, dest, "--qt", "6.8", "--platform", others[0], "--platform", others[1])
    wanted = sorted(release.build("6.8", p).asset for p in others)
    assert archives_in(dest / TAG) == wanted
    assert (dest / TAG / "SHA256SUMS").read_bytes() == release.sums
    assert summary_counts(cp.stdout) == (2, 0)

    dest2 = tmp_path / "dest2"
    mirror_dest(release, dest2, "--qt", "6.8", "--qt", "5.15-patched", "--platform", HOST_PLATFORM)
    assert archives_in(dest2 / TAG) == sorted(
        [release.host_build("6.8").asset, release.host_build("5.15-patched").asset])


@pytest.mark.parametrize("form", ["directory", "file URL"])
def test_offline_run_from_a_mirrored_folder_starts_the_launcher_and_opens_no_connection(
        release, tmp_path, guard, form):
    dest = tmp_path / "dest"
    mirror_dest(release, dest)
    release.server.clear()
    base = str(dest) if form == "directory" else dest.resolve().as_uri()
    cp = run_qtmcp(["--offline", "--mirror", base, "--qt", "6.8", "--", "--print-args", "offline"],
                   env=guard.env)
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout) == ["--print-args", "offline"]
    assert guard.tripped() == []
    assert release.server.requests == []


def test_offline_mirror_in_a_path_with_spaces_is_given_as_a_file_url_with_percent_20(
        release, tmp_path, guard):
    dest = tmp_path / "carried mirror" / "qtmcp release"
    mirror_dest(release, dest)
    url = dest.resolve().as_uri()
    assert "%20" in url
    env = dict(guard.env, QTMCP_MIRROR="%s %s" % (url, release.url))
    cp = run_qtmcp(["--offline", "--qt", "6.8", "--", "--print-args", "spaces"], env=env)
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout) == ["--print-args", "spaces"]
    assert guard.tripped() == []


def test_offline_variable_with_a_mirrored_folder_opens_no_connection(release, tmp_path, guard):
    dest = tmp_path / "dest"
    mirror_dest(release, dest)
    env = dict(guard.env, QTMCP_OFFLINE="1", QTMCP_MIRROR=str(dest))
    cp = run_qtmcp(["--qt", "6.8", "fetch"], env=env)
    assert cp.returncode == 0, text(cp.stderr)
    assert Path(text(cp.stdout).strip()).is_file()
    assert guard.tripped() == []


def test_offline_with_only_an_http_mirror_fails_at_once_naming_the_missing_file_and_how_to_bring_it(
        release, guard):
    started = time.monotonic()
    cp = run_qtmcp(["--offline", "--mirror", release.url, "--qt", "6.8", "--", "--print-args"],
                   env=guard.env)
    elapsed = time.monotonic() - started
    assert_error(cp, 4, "SHA256SUMS", "qtmcp mirror", "qtmcp install")
    assert cp.stdout == b""
    assert elapsed < 10, "offline must fail at once, not retry (took %.1f s)" % elapsed
    assert guard.tripped() == []
    assert release.server.requests == []


def test_offline_with_a_partial_mirror_names_the_missing_archive_and_how_to_bring_it(
        release, tmp_path, guard):
    dest = tmp_path / "dest"
    mirror_dest(release, dest, "--qt", "5.15-patched", "--platform", HOST_PLATFORM)
    cp = run_qtmcp(["--offline", "--mirror", str(dest), "--qt", "6.8", "fetch"], env=guard.env)
    assert_error(cp, 4, release.host_build("6.8").asset, "qtmcp mirror", "qtmcp install")
    assert guard.tripped() == []


# -- an interrupted or damaged mirror ------------------------------------------------

def test_an_interrupted_mirror_is_completed_by_the_next_run_which_says_what_it_copied_and_kept(
        release, tmp_path):
    dest = tmp_path / "dest"
    mirror_dest(release, dest)
    out_dir = dest / TAG
    truncated = out_dir / release.host_build("6.8").asset
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    interrupted = out_dir / release.host_build("6.5").asset
    part = interrupted.with_name(interrupted.name + ".part")
    part.write_bytes(interrupted.read_bytes()[:100])
    interrupted.unlink()

    cp = mirror_dest(release, dest)
    assert summary_counts(cp.stdout) == (2, len(release.assets) - 2)
    for build in release.builds:
        assert (out_dir / build.asset).read_bytes() == build.path.read_bytes()
    assert not part.exists()
    assert archives_in(out_dir) == sorted(release.assets)


def test_a_corrupted_file_of_the_same_size_in_the_mirror_is_replaced(release, tmp_path):
    dest = tmp_path / "dest"
    mirror_dest(release, dest)
    damaged = dest / TAG / release.host_build("6.8").asset
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))

    cp = mirror_dest(release, dest)
    assert damaged.read_bytes() == release.host_build("6.8").path.read_bytes()
    assert summary_counts(cp.stdout) == (1, len(release.assets) - 1)


def test_a_second_mirror_run_on_a_complete_folder_copies_nothing(release, tmp_path):
    dest = tmp_path / "dest"
    mirror_dest(release, dest)
    release.server.clear()
    cp = mirror_dest(release, dest)
    assert summary_counts(cp.stdout) == (0, len(release.assets))
    archive_requests = [p for p in release.server.paths() if not p.endswith("/SHA256SUMS")]
    assert archive_requests == []
    assert (dest / TAG / "SHA256SUMS").read_bytes() == release.sums


def test_mirror_writes_nothing_into_the_cache(release, tmp_path, cache_dir):
    mirror_dest(release, tmp_path / "dest")
    assert not cache_dir.exists() or files_under(cache_dir) == []


def test_an_archive_that_does_not_match_sha256sums_is_not_mirrored_and_leaves_no_part_file(
        release, tmp_path):
    dest = tmp_path / "dest"
    mirror_dest(release, dest)
    asset = release.host_build("6.8").asset
    good = (dest / TAG / asset).read_bytes()
    (dest / TAG / asset).unlink()
    wrong = "0123456789abcdef" * 4
    release.set_digest(asset, wrong)

    cp = run_qtmcp(["mirror", str(dest), "--mirror", release.url])
    assert_error(cp, 5, asset, wrong, release.digests[asset])
    assert not (dest / TAG / asset).exists()
    assert [p for p in files_under(dest) if p.endswith(".part")] == []
    assert good  # the published bytes were fine; the index lied


def test_mirror_of_a_mirrored_folder_works_offline_without_a_connection(release, tmp_path, guard):
    first = tmp_path / "first"
    mirror_dest(release, first)
    second = tmp_path / "second"
    cp = run_qtmcp(["mirror", str(second), "--offline", "--mirror", str(first)], env=guard.env)
    assert cp.returncode == 0, text(cp.stderr)
    assert files_under(second) == files_under(first)
    assert guard.tripped() == []


def test_mirror_with_a_filter_that_matches_no_build_is_no_build(release, tmp_path):
    cp = run_qtmcp(["mirror", str(tmp_path / "dest"), "--mirror", release.url, "--qt", "4.8"])
    assert_error(cp, 3)
    assert files_under(tmp_path / "dest") == []


def test_mirror_of_an_unpinned_release_takes_index_and_archives_from_the_next_base_that_has_both(
        release, tmp_path):
    first = _variant_release(tmp_path / "first-base")
    (first.dir / release.host_build("6.8").asset).unlink()  # base 1: SHA256SUMS only
    dest = tmp_path / "dest"
    cp = run_qtmcp(["mirror", str(dest), "--mirror", str(first.root), "--mirror", release.url,
                    "--qt", "6.8", "--platform", HOST_PLATFORM])
    assert cp.returncode == 0, text(cp.stderr)
    assert (dest / TAG / "SHA256SUMS").read_bytes() == release.sums
    assert (dest / TAG / release.host_build("6.8").asset).read_bytes() == \
        release.host_build("6.8").path.read_bytes()


# -- several mirror bases ------------------------------------------------------------

def _skipped_notes(cp, needle):
    return [line for line in stderr_lines(cp)
            if needle in line and not line.startswith("qtmcp: error:")]


def test_several_mirrors_are_tried_in_order_with_a_note_for_each_skipped_one(release, tmp_path):
    dead = "http://127.0.0.1:%d" % closed_port()
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    cp = run_qtmcp(["--mirror", dead, "--mirror", str(empty), "--mirror", release.url,
                    "--qt", "6.8", "--", "--print-args", "third"])
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout) == ["--print-args", "third"]
    assert len(_skipped_notes(cp, dead.split("//")[1])) == 1, text(cp.stderr)  # left at once
    assert _skipped_notes(cp, str(empty)), text(cp.stderr)


def test_mirror_variable_takes_several_bases_separated_by_whitespace(release, tmp_path, qtmcp_env):
    dead = "http://127.0.0.1:%d" % closed_port()
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    env = dict(qtmcp_env, QTMCP_MIRROR="  %s \t%s\n  %s " % (dead, empty, release.url))
    cp = run_qtmcp(["--qt", "6.8", "--", "--print-args", "from the variable"], env=env)
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout) == ["--print-args", "from the variable"]
    assert _skipped_notes(cp, dead.split("//")[1]), text(cp.stderr)
    assert _skipped_notes(cp, str(empty)), text(cp.stderr)


def test_a_mirror_flag_replaces_every_base_of_the_mirror_variable(
        release, second_server, qtmcp_env):
    dead = "http://127.0.0.1:%d" % closed_port()
    env = dict(qtmcp_env, QTMCP_MIRROR="%s %s" % (second_server.url, dead))
    cp = run_qtmcp(["--mirror", release.url, "--qt", "6.8", "fetch"], env=env)
    assert cp.returncode == 0, text(cp.stderr)
    assert second_server.requests == []
    assert str(second_server.port) not in text(cp.stderr)
    assert dead.split("//")[1] not in text(cp.stderr)


# -- an unpinned release: the archive comes from the base of its SHA256SUMS ------------

def _variant_release(root: Path):
    """A release whose 6.8 build for this machine differs from the default one."""
    extra = BuildSpec("6.8", extra_members=[("variant.txt", b"a different build\n")])
    return build_release(root, TAG, [extra])


def test_unpinned_release_takes_archive_and_sha256sums_from_the_same_base(
        release, tmp_path, cache_dir):
    first = _variant_release(tmp_path / "first-base")
    asset = release.host_build("6.8").asset
    assert first.digests[asset] != release.digests[asset]
    (first.dir / asset).unlink()  # base 1: SHA256SUMS, but not the archive

    cp = run_qtmcp(["--mirror", str(first.root), "--mirror", release.url, "--qt", "6.8", "fetch"])
    assert cp.returncode == 0, text(cp.stderr)
    launcher = Path(text(cp.stdout).strip())
    manifest = json.loads((launcher.parent.parent / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["sha256"] == release.digests[asset]  # base 2's SHA256SUMS vouches
    assert launcher.parent.parent == release.host_build("6.8").install_dir(cache_dir, TAG)


def test_unpinned_release_never_takes_an_archive_from_a_base_without_sha256sums(
        release, tmp_path, second_server):
    first = _variant_release(second_server.directory)
    (first.dir / "SHA256SUMS").unlink()  # base 1: the archive (another one), no SHA256SUMS
    asset = release.host_build("6.8").asset

    cp = run_qtmcp(["--mirror", second_server.url, "--mirror", release.url, "--qt", "6.8", "fetch"])
    assert cp.returncode == 0, text(cp.stderr)
    assert second_server.requests_for("%s/%s" % (TAG, asset)) == []
    assert release.server.requests_for("%s/%s" % (TAG, asset))


# -- qtmcp install ---------------------------------------------------------------------

def _carry(build, folder: Path, name: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (name or build.asset)
    shutil.copyfile(str(build.path), str(target))
    return target


def test_install_with_sha256sums_beside_the_archive_opens_no_connection_and_run_finds_it(
        release, guard, cache_dir):
    build = release.host_build("6.8")
    cp = run_qtmcp(["install", str(build.path), "--release", TAG], env=guard.env)
    assert cp.returncode == 0, text(cp.stderr)
    assert guard.tripped() == []
    assert release.server.requests == []
    printed = Path(text(cp.stdout).strip())
    assert printed.is_file()
    assert printed == build.launcher_path(cache_dir, TAG)

    run = run_qtmcp(["--release", TAG, "--qt", "6.8", "--mirror", release.url,
                     "--", "--print-args", "carried in"], env=guard.env)
    assert run.returncode == 0, text(run.stderr)
    assert json.loads(run.stdout) == ["--print-args", "carried in"]
    assert release.server.requests == []
    assert guard.tripped() == []


def test_install_with_sums_given_as_a_file(release, tmp_path, guard):
    build = release.host_build("6.8")
    archive = _carry(build, tmp_path / "carried")
    sums = tmp_path / "elsewhere" / "release-index.txt"
    sums.parent.mkdir()
    sums.write_bytes(release.sums)
    cp = run_qtmcp(["install", str(archive), "--sums", str(sums)], env=guard.env)
    assert cp.returncode == 0, text(cp.stderr)
    assert Path(text(cp.stdout).strip()).is_file()
    assert guard.tripped() == []


def test_install_with_the_right_sha256_and_no_sums_works(release, tmp_path, guard):
    build = release.host_build("6.8")
    archive = _carry(build, tmp_path / "carried")
    cp = run_qtmcp(["install", str(archive), "--sha256", build.sha256], env=guard.env)
    assert cp.returncode == 0, text(cp.stderr)
    assert Path(text(cp.stdout).strip()).is_file()
    assert guard.tripped() == []


def test_install_with_a_wrong_sha256_is_an_integrity_error_and_installs_nothing(
        release, tmp_path, cache_dir):
    build = release.host_build("6.8")
    archive = _carry(build, tmp_path / "carried")
    wrong = "0" * 64
    cp = run_qtmcp(["install", str(archive), "--sha256", wrong])
    assert_error(cp, 5, wrong, build.sha256)
    assert cache_leftovers(cache_dir) == []
    assert archive.read_bytes() == build.path.read_bytes()  # the carried file is left alone


def test_install_with_a_sha256_that_disagrees_with_the_sha256sums_beside_it_is_refused(
        release, cache_dir):
    build = release.host_build("6.8")
    wrong = "ab" * 32
    cp = run_qtmcp(["install", str(build.path), "--sha256", wrong])
    assert_error(cp, 5, wrong, build.sha256)
    assert cache_leftovers(cache_dir) == []


def test_install_with_nothing_to_check_against_is_an_integrity_error_naming_sums_and_sha256(
        release, tmp_path, cache_dir):
    archive = _carry(release.host_build("6.8"), tmp_path / "carried")
    cp = run_qtmcp(["install", str(archive)])
    assert_error(cp, 5, "--sums", "--sha256")
    assert cache_leftovers(cache_dir) == []


def test_install_of_a_renamed_archive_takes_the_build_from_qt_and_platform(
        release, tmp_path, cache_dir, guard):
    build = release.host_build("6.8")
    archive = _carry(build, tmp_path / "carried", "downloaded-build." + build.kind)
    no_build = run_qtmcp(["install", str(archive), "--sha256", build.sha256], env=guard.env)
    assert_error(no_build, 2, "--qt")

    cp = run_qtmcp(["install", str(archive), "--qt", "6.8", "--platform", HOST_PLATFORM,
                    "--sha256", build.sha256], env=guard.env)
    assert cp.returncode == 0, text(cp.stderr)
    assert Path(text(cp.stdout).strip()) == build.launcher_path(cache_dir, TAG)
    assert guard.tripped() == []


def test_install_of_a_renamed_archive_with_sha256sums_beside_it(release, tmp_path, cache_dir):
    build = release.host_build("5.15-patched")
    folder = tmp_path / "carried"
    archive = _carry(build, folder, "qt-build-for-this-pc." + build.kind)
    (folder / "SHA256SUMS").write_bytes(release.sums)
    cp = run_qtmcp(["install", str(archive), "--qt", "5.15-patched"])
    assert cp.returncode == 0, text(cp.stderr)
    assert Path(text(cp.stdout).strip()) == build.launcher_path(cache_dir, TAG)
