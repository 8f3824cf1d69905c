"""qtmcp killed in the middle of an install, then started again.

Contract, "The cache": a finished install is moved into place by one rename;
an install is complete iff its manifest exists (design.md); "What a run that
died left behind is removed by the next run that installs (never what a live
run is writing), and by ``cache clean``."

Two ways to kill:

* from outside, with ``proc.kill()`` (SIGKILL on POSIX, TerminateProcess on
  Windows: the same effect, no cleanup runs), at points the test server sees:
  right after it served SHA256SUMS, while the archive request waits for its
  answer, after N bytes of the archive, and while a build of 3000 files is
  being unpacked (the test polls the cache for the ``.tmp-*/unpack`` folder);
* from inside, at exact points no server can see (the last steps of an
  install: before the manifest, just before and just after the final rename,
  while ``.current`` or the SHA256SUMS copy is being written): a small wrapper
  (``faultserver.KILL_WRAPPER``) runs qtmcp.py with a hook that sends its own
  process SIGKILL (TerminateProcess on Windows) at that point.

After every kill: no install folder without its manifest.json, no ``.current``
naming a missing or incomplete install. Then a normal ``fetch`` succeeds, its
install is complete (``qtmcp verify`` passes) and no ``.tmp-``/``.trash-``
leftover of the dead run remains.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from faultserver import (
    KILL_POINTS,
    BigBuild,
    Progress,
    assert_success,
    cache_problems,
    hold_build_lock,
    install_dirs,
    pointers,
    respond_held,
    respond_paced,
    respond_then,
    wait_for,
    work_leftovers,
    write_kill_wrapper,
)
from fixtures import QTMCP, import_qtmcp, respond_bytes, run_qtmcp, text, tree_snapshot

SUMS = "/vTEST/SHA256SUMS"


def _args(release, *extra):
    return ["--mirror", release.url, "--release", "vTEST", "--qt", "6.8", *extra, "fetch"]


def _start(args, env, wrapper=None, point=None):
    prefix = [sys.executable] + ([str(wrapper), str(QTMCP), point] if wrapper else [str(QTMCP)])
    return subprocess.Popen(prefix + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def _kill(proc) -> bytes:
    """SIGKILL (POSIX) / TerminateProcess (Windows); returns its stderr."""
    proc.kill()
    _, err = proc.communicate(timeout=30)
    return err


def assert_safe_after_kill(cache_dir, *, dangling_pointer_allowed=False):
    problems = cache_problems(cache_dir, leftovers_allowed=True,
                              dangling_pointer_allowed=dangling_pointer_allowed)
    assert problems == [], "after the kill: %s" % problems


def assert_next_fetch_recovers(release, cache_dir, *extra):
    """The next fetch succeeds, its install is complete and verified, and no
    leftover of the dead run remains."""
    cp = run_qtmcp(_args(release, *extra))
    path = assert_success(cp)
    build = release.host_build("6.8")
    assert path == str(build.launcher_path(cache_dir, "vTEST"))
    verify = run_qtmcp(["verify"])
    assert verify.returncode == 0, text(verify.stdout) + text(verify.stderr)
    assert cache_problems(cache_dir) == [], "after the next fetch: %s" % cache_problems(cache_dir)
    return cp


# -- killed from outside, at points the server sees -----------------------------------


@pytest.fixture
def big_release(make_release):
    """Qt 6.8 for this machine: 1 MB of padding and 3000 small files."""
    return make_release(builds=[BigBuild("6.8", padding=1000 * 1000, files=3000)])


def test_killed_right_after_sha256sums_was_served(big_release, cache_dir, qtmcp_env):
    rel = big_release
    served = threading.Event()
    rel.server.route(SUMS, respond_then(respond_bytes(rel.sums), served.set), times=1)
    rel.server.route("/vTEST/" + rel.host_build().asset, respond_held(threading.Event(), limit=30), times=1)
    proc = _start(_args(rel), qtmcp_env)
    assert served.wait(30), "SHA256SUMS was never requested"
    _kill(proc)
    rel.server.clear_routes()  # the held answer may not have been asked for yet
    assert_safe_after_kill(cache_dir)
    assert_next_fetch_recovers(rel, cache_dir)


def test_killed_while_the_archive_request_waits_for_its_answer(big_release, cache_dir, qtmcp_env):
    rel = big_release
    arrived = threading.Event()
    rel.server.route("/vTEST/" + rel.host_build().asset,
                     respond_held(threading.Event(), arrived, limit=30), times=1)
    proc = _start(_args(rel), qtmcp_env)
    assert arrived.wait(30), "the archive was never requested"
    time.sleep(0.1)
    _kill(proc)
    rel.server.clear_routes()
    assert list((cache_dir / "vTEST").glob(".tmp-*")), "no work folder at the kill: the test proves nothing"
    assert_safe_after_kill(cache_dir)
    assert_next_fetch_recovers(rel, cache_dir)


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.95])
def test_killed_in_the_middle_of_the_download(big_release, cache_dir, qtmcp_env, fraction):
    rel = big_release
    build = rel.host_build()
    progress = Progress()
    rel.server.route("/vTEST/" + build.asset, respond_paced(32 * 1024, 0.02, progress), times=1)
    reached = progress.reached(int(build.size * fraction))
    proc = _start(_args(rel), qtmcp_env)
    assert reached.wait(60), "the download never got that far"
    _kill(proc)
    assert not progress.finished.is_set() or fraction > 0.9
    assert_safe_after_kill(cache_dir)
    assert_next_fetch_recovers(rel, cache_dir)


def test_killed_while_unpacking_a_build_of_many_files(big_release, cache_dir, qtmcp_env):
    rel = big_release
    tag_dir = cache_dir / "vTEST"
    proc = _start(_args(rel), qtmcp_env)

    def unpacking():
        for work in tag_dir.glob(".tmp-*") if tag_dir.is_dir() else []:
            if (work / "unpack" / "share" / "many" / "10").is_dir():
                return work
        return None

    work = wait_for(unpacking, 60, interval=0.002)
    _kill(proc)
    if work is None:
        pytest.fail("never saw the unpacking under way (status %r)" % proc.returncode)
    assert proc.returncode != 0, "the fetch finished before the kill: the test proves nothing"
    assert not (work / "install" / "manifest.json").exists(), "killed too late: the test proves nothing"
    assert_safe_after_kill(cache_dir)
    assert install_dirs(cache_dir) == []
    assert_next_fetch_recovers(rel, cache_dir)


# -- killed from inside, at exact points ---------------------------------------------


@pytest.fixture
def wrapper(tmp_path):
    return write_kill_wrapper(tmp_path / "wrapper")


@pytest.fixture
def small_release(make_release):
    return make_release(builds=[BigBuild("6.8", files=20)])


@pytest.mark.parametrize("point", KILL_POINTS)
def test_killed_at_an_exact_point_of_a_first_install(small_release, cache_dir, qtmcp_env, wrapper, point):
    rel = small_release
    proc = _start(_args(rel), qtmcp_env, wrapper, point)
    out, err = proc.communicate(timeout=60)
    assert b"kill-wrapper: killing myself at " + point.encode() in err, text(err)
    assert proc.returncode != 0 and out == b""
    assert_safe_after_kill(cache_dir)
    assert_next_fetch_recovers(rel, cache_dir)


@pytest.mark.parametrize("point", ["before-final-rename", "after-final-rename", "pointer-write"])
def test_killed_while_refreshing_to_a_changed_build_keeps_a_complete_install_current(
        make_release, cache_dir, qtmcp_env, wrapper, point):
    old = make_release(builds=[BigBuild("6.8", files=20, seed=1)])
    assert_success(run_qtmcp(_args(old)))
    old_dir = old.host_build().install_dir(cache_dir, "vTEST")
    before = tree_snapshot(old_dir)
    new = make_release(builds=[BigBuild("6.8", files=20, padding=1000, seed=2)])  # the tag moved
    assert new.host_build().sha256 != old.host_build().sha256
    proc = _start(_args(new, "--refresh"), qtmcp_env, wrapper, point)
    _, err = proc.communicate(timeout=60)
    assert b"kill-wrapper: killing myself" in err, text(err)
    assert_safe_after_kill(cache_dir)
    assert tree_snapshot(old_dir) == before, "the old install changed"
    current = list(pointers(cache_dir).values())
    assert len(current) == 1
    assert current[0] in (old_dir.name, new.host_build().install_dir(cache_dir, "vTEST").name)
    assert_next_fetch_recovers(new, cache_dir, "--refresh")


def test_killed_while_a_damaged_install_is_being_replaced(small_release, cache_dir, qtmcp_env, wrapper):
    """The install's launcher went missing, so the next fetch reinstalls it and
    moves the old folder aside first; killed just after that move. The
    ``.current`` then names a folder that is gone: allowed here (it named an
    install without its launcher already, and a start checks the manifest and
    launcher, never the pointer alone); nothing incomplete may look complete."""
    rel = small_release
    build = rel.host_build()
    assert_success(run_qtmcp(_args(rel)))
    build.launcher_path(cache_dir, "vTEST").unlink()
    proc = _start(_args(rel), qtmcp_env, wrapper, "old-install-moved-aside")
    _, err = proc.communicate(timeout=60)
    assert b"kill-wrapper: killing myself" in err, text(err)
    assert_safe_after_kill(cache_dir, dangling_pointer_allowed=True)
    assert_next_fetch_recovers(rel, cache_dir)


# -- what cleanup may and may not remove -----------------------------------------------


@pytest.mark.parametrize("point", ["mid-download", "pointer-write", "index-write"])
def test_cache_clean_removes_what_a_killed_run_left(make_release, cache_dir, qtmcp_env, wrapper, point):
    if point == "mid-download":
        rel = make_release(builds=[BigBuild("6.8", padding=1000 * 1000, files=3000)])
        build = rel.host_build()
        progress = Progress()
        rel.server.route("/vTEST/" + build.asset, respond_paced(32 * 1024, 0.02, progress), times=1)
        reached = progress.reached(build.size // 2)
        proc = _start(_args(rel), qtmcp_env)
        assert reached.wait(60)
        _kill(proc)
    else:
        proc = _start(_args(make_release(builds=[BigBuild("6.8", files=20)])), qtmcp_env, wrapper, point)
        _, err = proc.communicate(timeout=60)
        assert b"kill-wrapper: killing myself" in err, text(err)
    assert work_leftovers(cache_dir), "the kill left nothing: the test proves nothing"
    clean = run_qtmcp(["cache", "clean"])
    assert clean.returncode == 0, text(clean.stderr)
    assert work_leftovers(cache_dir) == []
    assert cache_problems(cache_dir) == []


def _work_prefix(key: str) -> str:
    """How qtmcp names a build's work folders (``.tmp-<key>`` and a separator;
    design.md says ``.tmp-<buildkey>-<random>``): asked of the module itself,
    so this test follows it."""
    prefix = import_qtmcp().work_prefix(key)
    assert prefix.startswith(".tmp-" + key)
    return prefix


def test_the_work_folder_of_a_live_run_is_not_removed_by_another_runs_cleanup(
        make_release, cache_dir, qtmcp_env):
    rel = make_release(builds=["6.8", "6.5"])
    key = rel.host_build("6.8").build_key
    other = rel.host_build("6.5").build_key
    tag_dir = cache_dir / "vTEST"
    tag_dir.mkdir(parents=True)
    live = tag_dir / (_work_prefix(key) + "live1234")
    (live / "unpack").mkdir(parents=True)
    (live / "archive").write_bytes(b"half a download")
    dead = tag_dir / (_work_prefix(other) + "dead5678")
    (dead / "unpack").mkdir(parents=True)
    with hold_build_lock(tag_dir / (".%s.lock" % key)):
        clean = run_qtmcp(["cache", "clean"])
        assert clean.returncode == 0, text(clean.stderr)
        assert live.is_dir() and (live / "archive").read_bytes() == b"half a download"
        assert not dead.exists(), "cache clean left a dead run's work folder"
        clean_all = run_qtmcp(["cache", "clean", "--all"])
        assert clean_all.returncode == 0, text(clean_all.stderr)
        assert live.is_dir() and (live / "archive").is_file()
        # another build's install in the same release does not touch it either
        cp = run_qtmcp(["--mirror", rel.url, "--release", "vTEST", "--qt", "6.5", "fetch"])
        assert_success(cp)
        assert live.is_dir() and (live / "archive").is_file()
    # the lock is free now: the next install of that build clears it
    assert_success(run_qtmcp(["--mirror", rel.url, "--release", "vTEST", "--qt", "6.8", "fetch"]))
    assert not live.exists()
