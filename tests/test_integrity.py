"""Trust: release pins, unpinned releases, --sha256, and `qtmcp verify`.

A pinned release is simulated with fixtures.pinned_module: a copy of
qtmcp.py whose RELEASE_PINS holds the SHA-256 of the test release's
SHA256SUMS. A "tampered mirror" serves an archive that differs from the
published one together with a SHA256SUMS rewritten to match it: consistent
in itself, but not what the pin vouches for.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from fixtures import (
    HOST_OS,
    BuildSpec,
    assert_error,
    build_release,
    cache_leftovers,
    files_under,
    pinned_module,
    probe_name,
    run_qtmcp,
    stderr_lines,
    text,
)

TAG = "vTEST"
NOT_PINNED = "not pinned"


def tamper(release, tmp_path, qt="6.8"):
    """Swap this machine's `qt` archive for another build and rewrite
    SHA256SUMS to match it. Returns (asset, the other archive's digest)."""
    evil = build_release(tmp_path / "evil", TAG,
                         [BuildSpec(qt, extra_members=[("backdoor.txt", b"not the published build\n")])])
    asset = release.host_build(qt).asset
    shutil.copyfile(str(evil.dir / asset), str(release.info.dir / asset))
    release.set_digest(asset, evil.digests[asset])
    return asset, evil.digests[asset]


def fetch(release, *extra, module=None):
    return run_qtmcp(["--mirror", release.url, "--qt", "6.8", "fetch"] + list(extra), module=module)


def report_lines(cp, kind):
    """The lines of `verify` (stdout or stderr) that start with `kind:`."""
    return [line for line in (text(cp.stdout) + "\n" + text(cp.stderr)).splitlines()
            if line.strip().startswith(kind + ":")]


# -- pinned releases --------------------------------------------------------------------

def test_a_pinned_release_whose_sha256sums_matches_its_pin_installs_without_a_not_pinned_note(
        release, tmp_path):
    module = pinned_module(tmp_path / "pinned", {TAG: release.sha256_of_sums})
    cp = fetch(release, module=module)
    assert cp.returncode == 0, text(cp.stderr)
    assert Path(text(cp.stdout).strip()).is_file()
    assert NOT_PINNED not in text(cp.stderr).lower()


def test_a_pinned_release_from_a_tampered_mirror_is_refused_naming_expected_and_actual_digests(
        release, tmp_path, cache_dir):
    pin = release.sha256_of_sums
    module = pinned_module(tmp_path / "pinned", {TAG: pin})
    tamper(release, tmp_path)
    cp = run_qtmcp(["--mirror", release.url, "--qt", "6.8", "--", "--print-args"], module=module)
    assert_error(cp, 5, "SHA256SUMS", "127.0.0.1:%d" % release.server.port, pin,
                 release.sha256_of_sums)
    assert cp.stdout == b""
    assert cache_leftovers(cache_dir) == []
    assert not any(p.endswith("SHA256SUMS") for p in files_under(cache_dir))


def test_a_pinned_release_from_a_tampered_mirror_is_refused_even_with_a_matching_sha256(
        release, tmp_path, cache_dir):
    module = pinned_module(tmp_path / "pinned", {TAG: release.sha256_of_sums})
    _, evil_digest = tamper(release, tmp_path)
    cp = fetch(release, "--sha256", evil_digest, module=module)
    assert_error(cp, 5)
    assert cache_leftovers(cache_dir) == []


def test_the_pin_holds_for_mirror(release, tmp_path):
    pin = release.sha256_of_sums
    module = pinned_module(tmp_path / "pinned", {TAG: pin})
    good = run_qtmcp(["mirror", str(tmp_path / "good"), "--mirror", release.url], module=module)
    assert good.returncode == 0, text(good.stderr)
    assert (tmp_path / "good" / TAG / "SHA256SUMS").read_bytes() == release.sums
    assert NOT_PINNED not in text(good.stderr).lower()

    tamper(release, tmp_path)
    dest = tmp_path / "dest"
    cp = run_qtmcp(["mirror", str(dest), "--mirror", release.url], module=module)
    assert_error(cp, 5, pin, release.sha256_of_sums)
    assert files_under(dest) == []


def test_the_pin_holds_for_install_with_sums(release, tmp_path, cache_dir):
    pin = release.sha256_of_sums
    genuine_sums = tmp_path / "genuine-SHA256SUMS"
    genuine_sums.write_bytes(release.sums)
    carried = tmp_path / "carried"
    carried.mkdir()
    genuine_archive = carried / release.host_build("6.8").asset
    shutil.copyfile(str(release.host_build("6.8").path), str(genuine_archive))
    module = pinned_module(tmp_path / "pinned", {TAG: pin})
    asset, _ = tamper(release, tmp_path)
    tampered_archive = release.info.dir / asset

    cp = run_qtmcp(["install", str(tampered_archive), "--sums", str(release.info.sums_path)],
                   module=module)
    assert_error(cp, 5, pin, release.sha256_of_sums)
    beside = run_qtmcp(["install", str(tampered_archive)], module=module)
    assert_error(beside, 5, pin, release.sha256_of_sums)
    assert cache_leftovers(cache_dir) == []

    ok = run_qtmcp(["install", str(genuine_archive), "--sums", str(genuine_sums)], module=module)
    assert ok.returncode == 0, text(ok.stderr)


def test_a_pinned_release_may_take_its_archive_from_another_base_than_its_sha256sums(
        release, tmp_path):
    """The pin vouches for the index wherever it comes from, so the archive
    may come from any base."""
    module = pinned_module(tmp_path / "pinned", {TAG: release.sha256_of_sums})
    index_only = tmp_path / "index-only"
    (index_only / TAG).mkdir(parents=True)
    (index_only / TAG / "SHA256SUMS").write_bytes(release.sums)
    release.info.sums_path.unlink()  # the http base: archives, no SHA256SUMS
    cp = run_qtmcp(["--mirror", str(index_only), "--mirror", release.url, "--qt", "6.8", "fetch"],
                   module=module)
    assert cp.returncode == 0, text(cp.stderr)
    assert release.server.requests_for("%s/%s" % (TAG, release.host_build("6.8").asset))


def test_a_sha256sums_that_misses_the_pin_stops_at_once_even_if_a_later_base_is_genuine(
        release, tmp_path, cache_dir):
    pin = release.sha256_of_sums
    module = pinned_module(tmp_path / "pinned", {TAG: pin})
    tampered = tmp_path / "tampered"
    (tampered / TAG).mkdir(parents=True)
    (tampered / TAG / "SHA256SUMS").write_bytes(release.sums + b"\n")
    cp = run_qtmcp(["--mirror", str(tampered), "--mirror", release.url, "--qt", "6.8", "fetch"],
                   module=module)
    assert_error(cp, 5, pin)
    assert release.server.requests == []
    assert cache_leftovers(cache_dir) == []


def test_an_archive_that_misses_its_digest_stops_at_once_even_if_a_later_base_is_genuine(
        release, tmp_path, cache_dir):
    bad = tmp_path / "bad-base"
    shutil.copytree(str(release.info.dir), str(bad / TAG))
    asset = release.host_build("6.8").asset
    data = bytearray((bad / TAG / asset).read_bytes())
    data[-1] ^= 0xFF
    (bad / TAG / asset).write_bytes(bytes(data))  # SHA256SUMS kept: the archive now misses it
    cp = run_qtmcp(["--mirror", str(bad), "--mirror", release.url, "--qt", "6.8", "fetch"])
    assert_error(cp, 5, asset, str(bad), release.digests[asset])
    assert release.server.requests == []
    assert cache_leftovers(cache_dir) == []


# -- unpinned releases and --sha256 ----------------------------------------------------------

def test_an_unpinned_release_warns_on_stderr_and_still_installs(release):
    cp = fetch(release)
    assert cp.returncode == 0, text(cp.stderr)
    assert Path(text(cp.stdout).strip()).is_file()
    warnings = [line for line in stderr_lines(cp) if NOT_PINNED in line.lower()]
    assert warnings and not any(line.startswith("qtmcp: error:") for line in warnings)


def test_sha256_with_the_right_digest_installs_when_no_base_has_sha256sums(release):
    release.info.sums_path.unlink()
    cp = fetch(release, "--sha256", release.host_build("6.8").sha256)
    assert cp.returncode == 0, text(cp.stderr)
    assert Path(text(cp.stdout).strip()).is_file()


def test_without_sha256sums_anywhere_and_without_sha256_it_is_a_source_error(release, cache_dir):
    release.info.sums_path.unlink()
    cp = fetch(release)
    assert_error(cp, 4, "SHA256SUMS")
    assert cache_leftovers(cache_dir) == []


def test_sha256_with_a_wrong_digest_and_no_sha256sums_leaves_no_archive_or_install(
        release, cache_dir):
    release.info.sums_path.unlink()
    wrong = "ab" * 32
    cp = fetch(release, "--sha256", wrong)
    build = release.host_build("6.8")
    assert_error(cp, 5, build.asset, "127.0.0.1:%d" % release.server.port, wrong, build.sha256)
    assert cache_leftovers(cache_dir) == []


def test_sha256_that_disagrees_with_the_sha256sums_found_is_an_integrity_error(release, cache_dir):
    wrong = "cd" * 32
    cp = fetch(release, "--sha256", wrong)
    assert_error(cp, 5, wrong, release.host_build("6.8").sha256)
    assert cache_leftovers(cache_dir) == []


def test_sha256_is_checked_even_when_the_build_is_already_cached(release, cache_dir):
    assert fetch(release).returncode == 0
    release.server.clear()
    same = fetch(release, "--sha256", release.host_build("6.8").sha256)
    assert same.returncode == 0, text(same.stderr)
    assert release.server.requests == []  # the cached install is that archive

    wrong = "ef" * 32
    cp = run_qtmcp(["--mirror", release.url, "--qt", "6.8", "--sha256", wrong, "--", "--print-args"])
    assert_error(cp, 5, wrong)
    assert cp.stdout == b""


# -- verify -------------------------------------------------------------------------------------

@pytest.fixture
def installed(release, cache_dir):
    """This machine's 6.8 build installed from the release: its build folder."""
    cp = fetch(release)
    assert cp.returncode == 0, text(cp.stderr)
    build_dir = release.host_build("6.8").install_dir(cache_dir, TAG) / "build"
    assert Path(text(cp.stdout).strip()).parent == build_dir
    return build_dir


PLUGIN = {"windows": "qoffscreen.dll", "macos": "libqoffscreen.dylib"}.get(HOST_OS, "libqoffscreen.so")


def test_verify_of_an_empty_cache_is_0():
    cp = run_qtmcp(["verify"])
    assert cp.returncode == 0, text(cp.stdout) + text(cp.stderr)


def test_verify_after_an_install_is_0(installed):
    cp = run_qtmcp(["verify"])
    assert cp.returncode == 0, text(cp.stdout) + text(cp.stderr)
    assert not report_lines(cp, "changed") + report_lines(cp, "missing") + report_lines(cp, "added")


@pytest.mark.parametrize("folder", ["qtmcp-\u00fc", "\u30d3\u30eb\u30c9", "with \"quote\" & tab\t"])
def test_an_archive_whose_one_top_folder_has_a_non_ascii_or_escaped_name_installs_and_verifies_clean(
        make_release, cache_dir, folder):
    rel = make_release(builds=[BuildSpec("6.8", top_folder=folder)])
    cp = fetch(rel)
    assert cp.returncode == 0, text(cp.stderr)
    install = rel.host_build("6.8").install_dir(cache_dir, TAG)
    listed = json.loads((install / "manifest.json").read_text(encoding="utf-8"))["files"]
    on_disk = sorted(p.relative_to(install / "build").as_posix() for p in (install / "build").rglob("*")
                     if p.is_file() and not p.is_symlink())
    assert sorted(f["path"] for f in listed) == on_disk, "the manifest does not list every file installed"
    cp = run_qtmcp(["verify"])
    assert cp.returncode == 0, text(cp.stdout) + text(cp.stderr)
    assert not report_lines(cp, "added")


def test_verify_reports_a_changed_file_and_exits_5(installed):
    probe = installed / probe_name(HOST_OS)
    probe.write_bytes(probe.read_bytes().replace(b"qtmcp probe", b"qtmcp PROBE"))
    cp = run_qtmcp(["verify"])
    assert cp.returncode == 5, text(cp.stdout) + text(cp.stderr)
    changed = report_lines(cp, "changed")
    assert len(changed) == 1 and probe_name(HOST_OS) in changed[0], changed


def test_verify_reports_a_missing_file_and_exits_5(installed):
    (installed / "plugins" / "platforms" / PLUGIN).unlink()
    cp = run_qtmcp(["verify"])
    assert cp.returncode == 5, text(cp.stdout) + text(cp.stderr)
    missing = report_lines(cp, "missing")
    assert len(missing) == 1 and PLUGIN in missing[0], missing


def test_verify_reports_an_added_file_and_exits_5(installed):
    (installed / "plugins" / "dropped-in.txt").write_bytes(b"not from the archive\n")
    cp = run_qtmcp(["verify"])
    assert cp.returncode == 5, text(cp.stdout) + text(cp.stderr)
    added = report_lines(cp, "added")
    assert len(added) == 1 and "dropped-in.txt" in added[0], added


@pytest.mark.skipif(HOST_OS == "windows",
                    reason="the test builds carry symbolic links only off Windows "
                           "(making links there needs a privilege)")
def test_verify_reports_a_symbolic_link_pointing_elsewhere_as_changed(installed):
    links = [p for p in installed.rglob("*") if p.is_symlink()]
    assert links, "the build has no symbolic link to change"
    link = links[0]
    link.unlink()
    os.symlink("somewhere-else", str(link))
    cp = run_qtmcp(["verify"])
    assert cp.returncode == 5, text(cp.stdout) + text(cp.stderr)
    changed = report_lines(cp, "changed")
    assert len(changed) == 1 and link.name in changed[0], changed


def test_verify_repair_reinstalls_what_differs_and_a_later_verify_is_0(release, installed):
    probe = installed / probe_name(HOST_OS)
    original = probe.read_bytes()
    probe.write_bytes(b"x" * len(original))
    (installed / "plugins" / "platforms" / PLUGIN).unlink()
    (installed / "added.txt").write_bytes(b"extra\n")
    release.server.clear()

    repaired = run_qtmcp(["verify", "--repair", "--mirror", release.url])
    assert repaired.returncode == 0, text(repaired.stdout) + text(repaired.stderr)
    assert release.server.requests_for("%s/%s" % (TAG, release.host_build("6.8").asset))
    assert probe.read_bytes() == original
    assert (installed / "plugins" / "platforms" / PLUGIN).is_file()
    assert not (installed / "added.txt").exists()

    again = run_qtmcp(["verify"])
    assert again.returncode == 0, text(again.stdout) + text(again.stderr)


def test_verify_repair_without_a_mirror_option_reinstalls_from_where_the_install_came_from(
        release, installed):
    probe = installed / probe_name(HOST_OS)
    original = probe.read_bytes()
    probe.write_bytes(b"changed\n")
    release.server.clear()

    repaired = run_qtmcp(["verify", "--repair"])  # no --mirror: the manifest says where it came from
    assert repaired.returncode == 0, text(repaired.stdout) + text(repaired.stderr)
    assert release.server.requests_for("%s/%s" % (TAG, release.host_build("6.8").asset))
    assert probe.read_bytes() == original


def test_verify_repair_without_a_source_for_the_archive_is_not_0(installed, tmp_path):
    (installed / probe_name(HOST_OS)).write_bytes(b"changed\n")
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    cp = run_qtmcp(["verify", "--repair", "--mirror", str(empty)])
    assert cp.returncode == 4, text(cp.stdout) + text(cp.stderr)


def test_verify_repair_checks_the_archive_against_the_digest_recorded_at_install(
        release, installed, tmp_path):
    probe = installed / probe_name(HOST_OS)
    probe.write_bytes(b"changed\n")
    tamper(release, tmp_path)  # the mirror now serves another archive, self-consistent
    cp = run_qtmcp(["verify", "--repair", "--mirror", release.url])
    assert_error(cp, 5)
    assert not (installed / "backdoor.txt").exists()


@pytest.mark.parametrize("command", ["run", "fetch"])
def test_a_deleted_launcher_is_reinstalled_by_the_next_start_instead_of_failing(
        release, installed, command):
    launcher = installed / ("qtmcp-launcher.exe" if HOST_OS == "windows" else "qtmcp-launcher")
    launcher.unlink()
    release.server.clear()
    args = ["--mirror", release.url, "--qt", "6.8"]
    cp = run_qtmcp(args + (["--", "--print-args", "back"] if command == "run" else ["fetch"]))
    assert cp.returncode == 0, text(cp.stderr)
    if command == "run":
        assert json.loads(cp.stdout) == ["--print-args", "back"]
    else:
        assert Path(text(cp.stdout).strip()) == launcher
    assert release.server.requests_for("%s/%s" % (TAG, release.host_build("6.8").asset))
    assert launcher.is_file()
    assert run_qtmcp(["verify"]).returncode == 0


# -- hardening, round two: verify reports every install, damaged manifests included ----------
#
# Contract, "Output and exit statuses": verify reports each changed, missing
# or added file and exits 5 if there is one; an install whose manifest cannot
# be read is reported as damaged (status 5) and the others are still
# verified; file names in reports are shown with control characters escaped,
# one line each. "The cache": a manifest of the wrong shape is a damaged
# install, not a crash.

import re as _re  # noqa: E402

DAMAGED_MANIFESTS = {
    "a list": b"[]",
    "a string": b'"manifest"',
    "files that is a number": b'{"format": 1, "files": 5}',
    "files of numbers": b'{"format": 1, "files": [1, 2]}',
    "a file entry of the wrong types": b'{"format": 1, "files": [{"path": 5, "size": "x", "sha256": null}]}',
    "links that is an object": b'{"format": 1, "files": [], "links": {"a": "b"}}',
    "not UTF-8": b'{"format": 1, "build": "caf\xe9"}',
    "not JSON": b"{not json",
    "empty": b"",
    "nested too deep": b'{"format": 1, "files": ' + b"[" * 100000 + b"]" * 100000 + b"}",
    "an object nested too deep": b'{"x": ' * 50000 + b"1" + b"}" * 50000,
}


@pytest.fixture
def two_installs(release, cache_dir):
    """Qt 6.8 and Qt 6.5 of this machine installed: their install folders."""
    folders = []
    for qt in ("6.8", "6.5"):
        cp = run_qtmcp(["--mirror", release.url, "--qt", qt, "fetch"])
        assert cp.returncode == 0, text(cp.stderr)
        folders.append(release.host_build(qt).install_dir(cache_dir, TAG))
    return folders


@pytest.mark.parametrize("shape", sorted(DAMAGED_MANIFESTS))
def test_a_damaged_manifest_is_reported_and_the_other_installs_are_still_verified(two_installs, shape):
    damaged, other = two_installs
    (damaged / "manifest.json").write_bytes(DAMAGED_MANIFESTS[shape])
    tampered = other / "build" / "plugins" / "platforms" / PLUGIN
    tampered.write_bytes(b"tampered\n")
    cp = run_qtmcp(["verify"], timeout=30)
    out = text(cp.stdout)
    assert cp.returncode == 5, out + text(cp.stderr)
    assert "Traceback" not in text(cp.stderr)
    assert damaged.name in out + text(cp.stderr), "the damaged install is not reported: " + out
    assert "damaged" in (out + text(cp.stderr)).lower()
    changed = report_lines(cp, "changed")
    assert any(PLUGIN in line and other.name in line for line in changed), (
        "the tampering in the other install is hidden: " + out)


@pytest.mark.parametrize("shape", sorted(DAMAGED_MANIFESTS))
@pytest.mark.parametrize("command", [["cache", "list"], ["cache", "list", "--json"], ["--qt", "6.8", "fetch"]],
                         ids=["cache list", "cache list --json", "fetch"])
def test_a_damaged_manifest_is_never_a_crash(release, two_installs, shape, command):
    (two_installs[0] / "manifest.json").write_bytes(DAMAGED_MANIFESTS[shape])
    cp = run_qtmcp(["--mirror", release.url] + command, timeout=30)
    if cp.returncode != 0:
        assert_error(cp, cp.returncode if cp.returncode in (4, 5, 7) else 7)
    assert "Traceback" not in text(cp.stderr)


@pytest.mark.parametrize("name", ["x\nmissing: forged-line", "y\rchanged: forged", "z\x1b[2Jw", "t\tab\x85u"],
                         ids=["newline", "carriage return", "escape", "tab and NEL"])
def test_a_file_name_in_the_verify_report_is_one_line_with_control_characters_escaped(installed, name):
    (installed / name).write_bytes(b"planted\n")
    cp = run_qtmcp(["verify"], timeout=30)
    out = text(cp.stdout)
    assert cp.returncode == 5, out + text(cp.stderr)
    assert not _re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", out), "raw control characters: %r" % out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(report_lines(cp, "added")) == 1, out
    assert not any("forged" in line and not line.startswith("added") for line in lines), (
        "a file name forged a line of the report: %r" % out)
