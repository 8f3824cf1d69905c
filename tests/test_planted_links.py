"""Planted links, special files and a second run: where qtmcp writes, reads and deletes.

The contract, "The cache": where qtmcp writes (the cache, a mirror's DEST,
the log) it never writes or deletes through a link or a special file that
someone planted there; temporary files get names no other run uses and are
created exclusively; a second qtmcp working on the same DEST never renames or
removes what the first is writing, and a mirror run that says it finished
leaves only files that match SHA256SUMS. Where it reads a file of its own (a
pointer, the cached SHA256SUMS, a manifest, an installed file during
``verify``) or one it was given (``--sums``, a directory mirror's files), a
fifo in its place is an error with its status, never a wait. ``cache clean``
removes only what qtmcp made, never through a link; ``--release TAG`` for a
release it does not hold is status 2 listing those it holds; ``--dry-run``
removes nothing; ``--cache-dir ""`` is status 2.

The attacker here is a co-user or a careless admin who can write into the
cache, DEST or the folder qtmcp reads from. Links and fifos are POSIX-only.
Every run that could hang has a short timeout, so a hang fails the test fast.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from faultserver import BigBuild, Progress, hold_build_lock, install_dirs, respond_paced, route_sequence, wait_for
from fixtures import (
    HOST_OS,
    HOST_PLATFORM,
    QTMCP,
    BuildSpec,
    assert_error,
    run_qtmcp,
    sha256_hex,
    text,
    tree_snapshot,
)

pytestmark = pytest.mark.skipif(HOST_OS == "windows" or not hasattr(os, "mkfifo"),
                                reason="symbolic links and fifos planted by another user: POSIX only")

TAG = "vTEST"
KEY = "qt6.8-" + HOST_PLATFORM
HANG = 10  # seconds: any run that takes longer is taken to hang (a normal one takes about 1 s)


@pytest.fixture
def rel(make_release):
    """Qt 6.8 for this machine only, served over HTTP and as a directory."""
    return make_release(builds=[BuildSpec("6.8")])


@pytest.fixture
def outside(tmp_path):
    """A folder outside the cache and DEST, holding a file someone cares about."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "victim.txt").write_bytes(b"precious bytes that qtmcp must never touch\n")
    return folder


def shape(root):
    """A tree's kinds and sizes (not times): what a write or a delete changes."""
    return {path: info[:2] for path, info in tree_snapshot(root).items()}


def assert_done_or_failed(cp, *statuses):
    """Success, or the contract's error shape with one of ``statuses``."""
    if cp.returncode != 0:
        assert_error(cp, cp.returncode if cp.returncode in statuses else statuses[0])


def fetch(base, *extra, timeout=HANG):
    return run_qtmcp(["--mirror", str(base), "--qt", "6.8", *extra, "fetch"], timeout=timeout)


def installed(rel, cache_dir):
    cp = fetch(rel.dir)
    assert cp.returncode == 0, text(cp.stderr)
    return rel.host_build().install_dir(cache_dir, TAG)


def mirror(rel, dest, base=None, timeout=HANG):
    return run_qtmcp(["mirror", str(dest), "--mirror", str(base or rel.url), "--qt", "6.8",
                      "--platform", HOST_PLATFORM], timeout=timeout)


def assert_dest_matches_sums(out_dir, rel):
    """Every archive and the SHA256SUMS in DEST/<tag> is a regular file with the
    release's bytes."""
    sums = out_dir / "SHA256SUMS"
    assert sums.is_file() and not sums.is_symlink()
    assert sums.read_bytes() == rel.sums
    build = rel.host_build()
    archive = out_dir / build.asset
    assert archive.is_file() and not archive.is_symlink(), "the archive in DEST is not a plain file"
    assert sha256_hex(archive.read_bytes()) == build.sha256, "DEST holds an archive that does not match SHA256SUMS"


# -- 1. writes through planted links --------------------------------------------------------------


@pytest.mark.parametrize("link", ["to a file outside", "dangling, to a path outside"])
@pytest.mark.parametrize("planted", ["the archive's .part", "SHA256SUMS.part"])
def test_a_link_planted_as_a_part_file_in_dest_is_never_written_through(rel, tmp_path, outside, planted, link):
    dest = tmp_path / "dest"
    out_dir = dest / TAG
    out_dir.mkdir(parents=True)
    name = (rel.host_build().asset if planted.startswith("the archive") else "SHA256SUMS") + ".part"
    target = outside / ("victim.txt" if link.startswith("to a file") else "created-by-qtmcp")
    before = shape(outside)
    victim = (outside / "victim.txt").read_bytes()
    os.symlink(str(target), str(out_dir / name))
    cp = mirror(rel, dest)
    assert (outside / "victim.txt").read_bytes() == victim, "bytes landed outside DEST through the link"
    assert shape(outside) == before, "qtmcp created or changed a file outside DEST"
    assert_done_or_failed(cp, 7)
    if cp.returncode == 0:
        assert_dest_matches_sums(out_dir, rel)


def test_links_planted_as_the_files_of_dest_are_replaced_never_written_through(rel, tmp_path, outside):
    dest = tmp_path / "dest"
    out_dir = dest / TAG
    out_dir.mkdir(parents=True)
    (outside / "other.txt").write_bytes(b"another precious file\n")
    os.symlink(str(outside / "victim.txt"), str(out_dir / rel.host_build().asset))
    os.symlink(str(outside / "other.txt"), str(out_dir / "SHA256SUMS"))
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    cp = mirror(rel, dest)
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before
    assert cp.returncode == 0, text(cp.stderr)
    assert_dest_matches_sums(out_dir, rel)


@pytest.mark.parametrize("lock", [".%s.lock" % KEY, ".index.lock"])
def test_a_dangling_link_planted_as_a_lock_file_makes_no_file_outside_the_cache(
        rel, cache_dir, outside, lock):
    (cache_dir / TAG).mkdir(parents=True)
    os.symlink(str(outside / "created-by-qtmcp"), str(cache_dir / TAG / lock))
    before = shape(outside)
    cp = fetch(rel.dir)
    assert shape(outside) == before, "qtmcp created a file outside the cache through a planted link"
    assert_done_or_failed(cp, 7)


@pytest.mark.parametrize("planted", ["the lock", "the pointer", "the cached SHA256SUMS"])
def test_a_link_to_a_file_outside_planted_in_the_cache_leaves_that_file_as_it_was(
        rel, cache_dir, outside, planted):
    (cache_dir / TAG).mkdir(parents=True)
    name = {"the lock": ".%s.lock" % KEY, "the pointer": KEY + ".current",
            "the cached SHA256SUMS": "SHA256SUMS"}[planted]
    os.symlink(str(outside / "victim.txt"), str(cache_dir / TAG / name))
    victim = (outside / "victim.txt").read_bytes()
    mode = os.stat(str(outside / "victim.txt")).st_mode
    cp = fetch(rel.dir)
    assert (outside / "victim.txt").read_bytes() == victim
    assert os.stat(str(outside / "victim.txt")).st_mode == mode
    assert_done_or_failed(cp, 7)


def as_a_user_without_root(code: str, owned: Path) -> subprocess.CompletedProcess:
    """Run Python `code` (with qtmcp importable) as a user the permission bits bind:
    this one, or 'nobody' when the tests run as root (who ignores them), owning `owned`."""
    user, python = None, sys.executable
    if os.geteuid() == 0:
        user, python = 65534, "/usr/bin/python3"  # root's interpreter may sit where 'nobody' cannot go
        if not os.access(python, os.X_OK):
            pytest.skip("no /usr/bin/python3 to run as the user 'nobody'")
        for folder, dirs, files in os.walk(str(owned)):
            for name in [folder] + [os.path.join(folder, n) for n in dirs + files]:
                os.lchown(name, user, user)
    return subprocess.run([python, "-c", code], cwd=str(owned), user=user,
                          env=dict(os.environ, PYTHONPATH=str(owned)), capture_output=True, timeout=HANG)


@pytest.mark.parametrize("folder_mode", [0o555, 0o000], ids=["read-only folder", "unreadable folder"])
def test_removing_a_tree_with_a_link_in_a_read_only_folder_never_changes_what_the_link_points_to(
        folder_mode):
    """What will not go is an error, never a chmod or a removal along a path a
    co-user could swap for a link while the tree is walked."""
    import shutil
    import tempfile

    owned = Path(tempfile.mkdtemp(prefix="qtmcp-remove-"))  # in /tmp, which 'nobody' can reach
    try:
        os.chmod(str(owned), 0o755)
        shutil.copy(str(QTMCP), str(owned / "qtmcp.py"))
        victim = owned / "victim.txt"
        victim.write_bytes(b"precious\n")
        os.chmod(str(victim), 0o444)
        sub = owned / "tree" / "sub"
        sub.mkdir(parents=True)
        (sub / "file").write_bytes(b"x")
        os.symlink(str(victim), str(sub / "link"))
        os.chmod(str(sub), folder_mode)
        cp = as_a_user_without_root("import qtmcp; qtmcp.remove_path('tree')", owned)
        assert cp.returncode != 0 and "PermissionError" in text(cp.stderr), text(cp.stderr)
        assert stat.S_IMODE(os.stat(str(victim)).st_mode) == 0o444, "the link's target was made writable"
        assert stat.S_IMODE(os.lstat(str(sub)).st_mode) == folder_mode, "a folder was made writable to retry"
        assert victim.read_bytes() == b"precious\n"
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", str(owned)])
        shutil.rmtree(str(owned))


# -- 2. two mirror runs on one DEST ---------------------------------------------------------------


def test_two_mirror_runs_on_one_dest_never_disturb_each_others_files(make_release, tmp_path, qtmcp_env):
    """The first run downloads quickly; once its temporary file is in DEST, a
    second run starts on the same DEST and downloads slowly. Whenever a run
    says it finished, DEST matches SHA256SUMS; in the end both have finished
    and no temporary file is left. (The archive is over 1 MiB so that the
    first run has written part of it to disk before the second one starts.)"""
    rel = make_release(builds=[BigBuild("6.8", padding=1536 * 1024)])
    asset = rel.host_build().asset
    first, second = Progress(), Progress()
    route_sequence(rel.server, "/%s/%s" % (TAG, asset), [respond_paced(128 * 1024, 0.1, first),
                                                         respond_paced(128 * 1024, 0.3, second)])
    dest = tmp_path / "dest"
    out_dir = dest / TAG
    args = [sys.executable, str(QTMCP), "mirror", str(dest), "--mirror", rel.url, "--qt", "6.8",
            "--platform", HOST_PLATFORM]

    def start():
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=qtmcp_env)

    def temporary_files():
        return [p for p in out_dir.iterdir() if p.name not in ("SHA256SUMS", asset)] if out_dir.is_dir() else []

    procs = []
    try:
        procs.append(start())
        assert wait_for(temporary_files, HANG), "the first run wrote no temporary file into DEST"
        procs.append(start())
        out_a, err_a = procs[0].communicate(timeout=HANG)
        if procs[0].returncode == 0:  # it says it finished: DEST must match, now
            assert_dest_matches_sums(out_dir, rel)
        out_b, err_b = procs[1].communicate(timeout=HANG)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert procs[0].returncode == 0, text(err_a)
    assert procs[1].returncode == 0, text(err_b)
    assert_dest_matches_sums(out_dir, rel)
    assert temporary_files() == [], "left in DEST: %r" % temporary_files()


def test_mirror_removes_only_stale_archive_files_never_a_folder_or_other_file_that_sha256sums_names(
        make_release, tmp_path):
    rel = make_release(builds=[BuildSpec("6.8"), BuildSpec("6.7")], extra_files={"notes.txt": b"served notes\n"})
    stale = rel.host_build("6.7").asset
    rel.set_digest("keep", "0" * 64)  # a hostile SHA256SUMS naming a folder DEST holds
    out_dir = tmp_path / "dest" / TAG
    (out_dir / "keep").mkdir(parents=True)
    (out_dir / "keep" / "mine.txt").write_bytes(b"mine\n")
    (out_dir / "notes.txt").write_bytes(b"my own notes\n")
    (out_dir / stale).mkdir()  # a folder with an archive's name
    (out_dir / stale / "inside.txt").write_bytes(b"inside\n")
    cp = mirror(rel, tmp_path / "dest")
    assert cp.returncode == 0, text(cp.stderr)
    assert (out_dir / "keep" / "mine.txt").read_bytes() == b"mine\n"
    assert (out_dir / "notes.txt").read_bytes() == b"my own notes\n"
    assert (out_dir / stale / "inside.txt").read_bytes() == b"inside\n"
    assert "removed" not in text(cp.stdout)


def test_mirror_still_removes_a_stale_archive_file_that_does_not_match_sha256sums(make_release, tmp_path):
    rel = make_release(builds=[BuildSpec("6.8"), BuildSpec("6.7")])
    stale = rel.host_build("6.7").asset
    out_dir = tmp_path / "dest" / TAG
    out_dir.mkdir(parents=True)
    (out_dir / stale).write_bytes(b"an archive of an older index\n")
    cp = mirror(rel, tmp_path / "dest")
    assert cp.returncode == 0, text(cp.stderr)
    assert not (out_dir / stale).exists()
    assert "removed 1 archive" in text(cp.stdout)


def test_a_dest_release_folder_that_is_a_link_is_refused_before_anything_is_written(rel, tmp_path, outside):
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(str(outside), str(dest / TAG))
    before = shape(outside)
    cp = mirror(rel, dest)
    assert_error(cp, 7, "symbolic link")
    assert shape(outside) == before


# -- 3. cache clean deletes only what qtmcp made ----------------------------------------------------


def _fake_release_folder(folder: Path) -> None:
    """What a release folder of qtmcp's looks like, written by hand."""
    install = folder / ("%s-0123456789abcdef" % KEY)
    (install / "build").mkdir(parents=True)
    (install / "manifest.json").write_text('{"format": 1, "files": []}\n', encoding="utf-8")
    (install / "build" / "qtmcp-launcher").write_bytes(b"not really a launcher\n")
    (folder / (KEY + ".current")).write_text(install.name + "\n", encoding="utf-8")
    (folder / "SHA256SUMS").write_bytes(b"")
    (folder / (".%s.lock" % KEY)).write_bytes(b"")
    (folder / (".tmp-%s~leftover" % KEY)).mkdir()


@pytest.mark.parametrize("how", [["--all"], ["--release", TAG]])
def test_cache_clean_never_follows_a_release_folder_that_is_a_link(rel, cache_dir, tmp_path, how):
    installed(rel, cache_dir)
    elsewhere = tmp_path / "someone-elses-folder"
    elsewhere.mkdir()
    _fake_release_folder(elsewhere)
    os.symlink(str(elsewhere), str(cache_dir / "vOLD"))
    before = shape(elsewhere)
    cp = run_qtmcp(["cache", "clean", *how], timeout=HANG)
    assert shape(elsewhere) == before, "cache clean deleted through a link"
    assert cp.returncode == 0, text(cp.stderr)


def test_cache_clean_all_keeps_what_it_does_not_recognise_and_says_so(rel, cache_dir):
    install = installed(rel, cache_dir)
    (cache_dir / "notes.txt").write_text("my notes\n", encoding="utf-8")
    photos = cache_dir / "photos" / "qtfoo-0123456789abcdef"
    photos.mkdir(parents=True)
    (photos / "holiday.jpg").write_bytes(b"\xff\xd8 not a real jpeg")
    (cache_dir / TAG / "my-list.txt").write_text("keep me\n", encoding="utf-8")
    strange = cache_dir / TAG / ("qtnotes-" + "x" * 16)
    strange.mkdir()
    (strange / "minutes.txt").write_text("meeting minutes\n", encoding="utf-8")
    cp = run_qtmcp(["cache", "clean", "--all"], timeout=HANG)
    assert cp.returncode == 0, text(cp.stderr)
    assert not install.exists(), "the install qtmcp made was not removed"
    for kept in (cache_dir / "notes.txt", photos / "holiday.jpg", cache_dir / TAG / "my-list.txt",
                 strange / "minutes.txt"):
        assert kept.is_file(), "cache clean removed %s, which qtmcp did not make" % kept
    said = text(cp.stdout) + text(cp.stderr)
    assert any(name in said for name in ("notes.txt", "photos", "my-list.txt", strange.name)), (
        "cache clean does not say what it kept: " + said)


@pytest.mark.parametrize("args", [
    ["--cache-dir", "", "cache", "clean", "--all"],
    ["--cache-dir=", "cache", "clean", "--all"],
    ["cache", "dir", "--cache-dir", ""],
    ["--cache-dir", "", "--qt", "6.8", "fetch"],
], ids=["clean --all", "--cache-dir= form", "cache dir", "fetch"])
def test_an_empty_cache_dir_flag_is_a_usage_error_and_the_default_cache_is_untouched(
        rel, home_dir, qtmcp_env, args):
    default = home_dir / ".cache" / "qtmcp"
    _fake_release_folder(default / "vOLD")
    before = shape(default)
    env = {k: v for k, v in qtmcp_env.items() if k != "QTMCP_CACHE_DIR"}
    cp = run_qtmcp(["--mirror", str(rel.dir)] + args, env=env, timeout=HANG)
    assert_error(cp, 2, "--cache-dir")
    assert shape(default) == before
    assert cp.stdout == b""


def test_cache_clean_of_a_release_the_cache_does_not_hold_is_a_usage_error_listing_those_it_holds(
        rel, cache_dir):
    install = installed(rel, cache_dir)
    before = shape(cache_dir)
    cp = run_qtmcp(["cache", "clean", "--release", "vNOT-CACHED"], timeout=HANG)
    assert_error(cp, 2, "vNOT-CACHED", TAG)
    assert install.is_dir()
    assert shape(cache_dir) == before


def test_cache_clean_dry_run_says_what_would_go_and_removes_nothing(make_release, cache_dir):
    old = make_release("vOLD", builds=[BuildSpec("6.8")])
    rel = make_release(builds=[BuildSpec("6.8")])
    for tag, base in (("vOLD", old.dir), (TAG, rel.dir)):
        cp = run_qtmcp(["--mirror", str(base), "--release", tag, "--qt", "6.8", "fetch"], timeout=HANG)
        assert cp.returncode == 0, text(cp.stderr)
    old_install = old.host_build().install_dir(cache_dir, "vOLD")
    assert old_install.is_dir()
    before = tree_snapshot(cache_dir)
    cp = run_qtmcp(["cache", "clean", "--release", TAG, "--dry-run"], timeout=HANG)
    assert cp.returncode == 0, text(cp.stderr)
    assert tree_snapshot(cache_dir) == before, "--dry-run removed or changed something"
    said = text(cp.stdout)
    assert old_install.name in said or str(old_install) in said, "--dry-run does not say what would go: " + said


def test_one_busy_build_does_not_stop_cache_clean_from_removing_other_releases(make_release, cache_dir):
    """vOLD1's build is being installed by another qtmcp (its lock is held):
    it is left alone, and vOLD2 (idle) is still removed whole; vTEST is kept."""
    for tag in ("vOLD1", "vOLD2", TAG):
        other = make_release(tag, builds=[BuildSpec("6.8")])
        cp = run_qtmcp(["--mirror", str(other.dir), "--release", tag, "--qt", "6.8", "fetch"], timeout=HANG)
        assert cp.returncode == 0, text(cp.stderr)
    with hold_build_lock(cache_dir / "vOLD1" / (".%s.lock" % KEY)):
        cp = run_qtmcp(["cache", "clean", "--release", TAG], timeout=HANG)
    assert cp.returncode == 0, text(cp.stderr)
    assert sorted(p.parent.name for p in install_dirs(cache_dir)) == ["vOLD1", TAG]
    assert not (cache_dir / "vOLD2").exists(), "left of vOLD2: %r" % sorted(tree_snapshot(cache_dir / "vOLD2"))


# -- 6. a fifo where qtmcp reads or writes is an error, never a wait --------------------------------


def plant_fifo(path: Path) -> Path:
    if path.is_dir() and not path.is_symlink():
        import shutil
        shutil.rmtree(str(path))
    elif os.path.lexists(str(path)):
        path.unlink()
    os.mkfifo(str(path))
    return path


def test_a_fifo_as_the_pointer_is_an_error_not_a_wait(rel, cache_dir):
    installed(rel, cache_dir)
    plant_fifo(cache_dir / TAG / (KEY + ".current"))
    assert_error(fetch(rel.dir, "--offline"), 7)


@pytest.mark.parametrize("command", [["list", "--offline"], ["--qt", "6.8", "--offline", "fetch"]],
                         ids=["list", "fetch"])
def test_a_fifo_as_the_cached_sha256sums_is_an_error_not_a_wait(rel, cache_dir, tmp_path, command):
    install = installed(rel, cache_dir)
    plant_fifo(cache_dir / TAG / "SHA256SUMS")
    (cache_dir / TAG / (KEY + ".current")).unlink()  # so the index is needed
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    cp = run_qtmcp(["--mirror", str(empty)] + command, timeout=HANG)
    assert install.is_dir()
    assert_error(cp, cp.returncode if cp.returncode in (4, 7) else 7)


def test_a_fifo_among_the_installed_files_is_reported_by_verify_not_waited_on(rel, cache_dir):
    install = installed(rel, cache_dir)
    plugin = install / "build" / "plugins" / "platforms" / "libqoffscreen.so"
    plant_fifo(plugin)
    cp = run_qtmcp(["verify"], timeout=HANG)
    assert cp.returncode == 5, text(cp.stdout) + text(cp.stderr)
    assert "Traceback" not in text(cp.stderr)
    assert "libqoffscreen.so" in text(cp.stdout)


def test_a_fifo_as_a_manifest_is_a_damaged_install_for_verify_not_a_wait(rel, cache_dir):
    install = installed(rel, cache_dir)
    plant_fifo(install / "manifest.json")
    cp = run_qtmcp(["verify"], timeout=HANG)
    assert cp.returncode == 5, text(cp.stdout) + text(cp.stderr)
    assert "Traceback" not in text(cp.stderr)
    assert install.name in text(cp.stdout) + text(cp.stderr)


@pytest.mark.parametrize("where", ["--sums FILE", "SHA256SUMS beside the archive"])
def test_a_fifo_given_as_the_sums_of_an_install_is_an_error_not_a_wait(rel, tmp_path, cache_dir, where):
    carried = tmp_path / "carried"
    carried.mkdir()
    archive = carried / rel.host_build().asset
    archive.write_bytes(rel.host_build().path.read_bytes())
    if where == "--sums FILE":
        args = ["install", str(archive), "--sums", str(plant_fifo(tmp_path / "sums.fifo"))]
    else:
        plant_fifo(carried / "SHA256SUMS")
        args = ["install", str(archive)]
    cp = run_qtmcp(args, timeout=HANG)
    assert_error(cp, cp.returncode if cp.returncode in (2, 4, 5, 7) else 7)
    assert install_dirs(cache_dir) == []


@pytest.mark.parametrize("which", ["SHA256SUMS", "the archive"])
def test_a_fifo_in_a_directory_mirror_is_a_source_error_not_a_wait(rel, tmp_path, which, cache_dir):
    base = tmp_path / "dir-mirror"
    (base / TAG).mkdir(parents=True)
    asset = rel.host_build().asset
    (base / TAG / "SHA256SUMS").write_bytes(rel.sums)
    (base / TAG / asset).write_bytes(rel.host_build().path.read_bytes())
    plant_fifo(base / TAG / ("SHA256SUMS" if which == "SHA256SUMS" else asset))
    assert_error(fetch(base), 4)
    assert install_dirs(cache_dir) == []


def test_a_fifo_in_a_directory_mirror_stops_mirror_with_a_source_error(rel, tmp_path):
    base = tmp_path / "dir-mirror"
    (base / TAG).mkdir(parents=True)
    (base / TAG / "SHA256SUMS").write_bytes(rel.sums)
    plant_fifo(base / TAG / rel.host_build().asset)
    assert_error(mirror(rel, tmp_path / "dest", base=base), 4)


def test_a_fifo_as_the_log_file_neither_hangs_nor_stops_qtmcp(rel, tmp_path, qtmcp_env):
    log = plant_fifo(tmp_path / "qtmcp.log")
    started = time.monotonic()
    cp = run_qtmcp(["--mirror", str(rel.dir), "--qt", "6.8", "fetch"],
                   env=dict(qtmcp_env, QTMCP_LOG=str(log)), timeout=HANG)
    assert cp.returncode == 0, text(cp.stderr)
    assert time.monotonic() - started < 15
