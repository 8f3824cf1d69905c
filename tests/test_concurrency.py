"""Several qtmcp processes at once on one cache.

Contract, "The cache": one build of one release lives in one folder, moved
into place by one rename; temporary files live under the cache root. Design:
``<root>/<tag>/.<buildkey>.lock`` is held (fcntl/msvcrt) while installing that
build; a waiting process says so on stderr. "Starting the launcher": qtmcp
holds no lock once the launcher starts. ``cache clean`` leaves alone a build
another qtmcp is installing.

The archive is served slowly (a 2 MB build in 64 KiB pieces with pauses, about
3 s in all) so that the processes really overlap.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from faultserver import (
    BigBuild,
    Progress,
    assert_success,
    cache_problems,
    install_dirs,
    lock_is_free,
    respond_paced,
    wait_for,
)
from fixtures import QTMCP, run_qtmcp, start_qtmcp, text

STARTS = 8


def _popen(args, env):
    return subprocess.Popen([sys.executable, str(QTMCP)] + list(args), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def _finish(procs, timeout=120):
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


@pytest.fixture
def slow_release(make_release):
    """Qt 6.8 (2 MB, served in 64 KiB pieces 0.1 s apart) and Qt 6.5 for this machine."""
    release = make_release(builds=[BigBuild("6.8", padding=2 * 1000 * 1000, seed=68),
                                   BigBuild("6.5", padding=2 * 1000 * 1000, seed=65)])
    progress = {}
    for qt in ("6.8", "6.5"):
        progress[qt] = Progress()
        path = "/vTEST/" + release.host_build(qt).asset
        release.server.route(path, respond_paced(64 * 1024, 0.1, progress[qt]))
    release.progress = progress
    return release


def _fetch_args(release, qt="6.8"):
    return ["--mirror", release.url, "--release", "vTEST", "--qt", qt, "fetch"]


def test_eight_fetches_at_once_on_an_empty_cache_download_once_and_agree(
        slow_release, cache_dir, qtmcp_env):
    release = slow_release
    procs = [_popen(_fetch_args(release), qtmcp_env) for _ in range(STARTS)]
    results = _finish(procs)
    paths = [assert_success(cp) for cp in results]
    build = release.host_build("6.8")
    assert set(paths) == {str(build.launcher_path(cache_dir, "vTEST"))}
    assert install_dirs(cache_dir) == [build.install_dir(cache_dir, "vTEST")]
    assert cache_problems(cache_dir) == []
    assert len(release.server.requests_for("/vTEST/" + build.asset)) == 1
    sums = len(release.server.requests_for("/vTEST/SHA256SUMS"))
    assert 1 <= sums <= STARTS
    waited = [cp for cp in results if "waiting for another qtmcp" in text(cp.stderr)]
    assert waited, "no process said it waited, so they did not overlap: the test proves nothing"
    assert run_qtmcp(["verify"]).returncode == 0


def test_fetches_of_two_builds_at_once_do_not_wait_for_each_other(slow_release, cache_dir, qtmcp_env):
    release = slow_release
    procs = [_popen(_fetch_args(release, qt), qtmcp_env) for qt in ("6.8", "6.5", "6.8", "6.5")]
    results = _finish(procs)
    for cp in results:
        assert_success(cp)
    assert len(install_dirs(cache_dir)) == 2
    assert cache_problems(cache_dir) == []
    for qt in ("6.8", "6.5"):
        assert len(release.server.requests_for("/vTEST/" + release.host_build(qt).asset)) == 1
    # the two downloads ran side by side: each started before the other finished
    p68, p65 = release.progress["6.8"], release.progress["6.5"]
    assert p68.finished.is_set() and p65.finished.is_set()
    starts = sorted(r.time for r in release.server.requests
                    if r.url_path.endswith((".tar.gz", ".zip")))
    assert starts[1] - starts[0] < 2.0, "the second build waited for the first one's lock"


def test_the_lock_is_released_before_the_launcher_starts(slow_release, cache_dir):
    release = slow_release
    build = release.host_build("6.8")
    lock = cache_dir / "vTEST" / (".%s.lock" % build.build_key)
    with start_qtmcp(["--mirror", release.url, "--release", "vTEST", "--qt", "6.8"], timeout=60) as session:
        answer = session.initialize()  # the launcher runs (and keeps running: stdin is open)
        assert answer["result"]["serverInfo"]["name"] == "qtmcp-stand-in"
        assert lock.exists(), "the run did not install through the lock: the test proves nothing"
        assert lock_is_free(lock), "the lock is still held while the launcher runs"
        started = time.monotonic()
        cp = run_qtmcp(["--mirror", release.url, "--release", "vTEST", "--qt", "6.8", "--refresh", "fetch"],
                       timeout=60)
        assert assert_success(cp) == str(build.launcher_path(cache_dir, "vTEST"))
        assert "waiting for another qtmcp" not in text(cp.stderr)
        assert time.monotonic() - started < 20
        assert session.proc.poll() is None, "the launcher ended early"
        assert session.close() == 0


def test_cache_clean_all_while_a_fetch_downloads_leaves_that_build_alone(slow_release, cache_dir, qtmcp_env):
    release = slow_release
    build = release.host_build("6.8")
    progress = release.progress["6.8"]
    halfway = progress.reached(build.size // 3)
    fetch = _popen(_fetch_args(release), qtmcp_env)
    try:
        assert halfway.wait(30), "the download did not start"
        work = wait_for(lambda: list((cache_dir / "vTEST").glob(".tmp-%s*" % build.build_key)), 5)
        assert work, "no work folder while downloading"
        clean = run_qtmcp(["cache", "clean", "--all"])
        assert clean.returncode == 0, text(clean.stderr)
        assert "left alone" in text(clean.stdout) + text(clean.stderr)
        assert all(w.exists() for w in work), "cache clean removed a live run's work folder"
        assert not progress.finished.is_set(), "the download ended before the clean: the test proves nothing"
    finally:
        (result,) = _finish([fetch])
    assert assert_success(result) == str(build.launcher_path(cache_dir, "vTEST"))
    assert cache_problems(cache_dir) == []
    assert run_qtmcp(["verify"]).returncode == 0


# -- hardening, round two: a file system without flock --------------------------------------
#
# Some file systems (certain NFS and FUSE mounts, SMB shares) refuse flock
# with ENOLCK or EOPNOTSUPP. This machine has none to mount, so the refusal is
# simulated: a wrapper makes fcntl.flock raise as such a file system does,
# then runs qtmcp.py unchanged. qtmcp must not wait the whole lock timeout
# and then blame "another qtmcp" that does not exist.

import os  # noqa: E402

from fixtures import BuildSpec, assert_error  # noqa: E402

_NO_FLOCK_WRAPPER = r'''
import errno, fcntl, runpy, sys
def flock(fd, op):
    raise OSError(errno.%s, "simulated: this file system does not support locks")
fcntl.flock = flock
fcntl.lockf = flock
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
'''


@pytest.mark.skipif(os.name == "nt", reason="flock is POSIX; Windows locks with msvcrt")
@pytest.mark.parametrize("code", ["ENOLCK", "EOPNOTSUPP"])
def test_a_file_system_without_flock_is_not_blamed_on_another_qtmcp_and_is_not_waited_on(
        make_release, tmp_path, qtmcp_env, code):
    rel = make_release(builds=[BuildSpec("6.8")])
    wrapper = tmp_path / "no_flock.py"
    wrapper.write_text(_NO_FLOCK_WRAPPER % code, encoding="utf-8")
    started = time.monotonic()
    cp = subprocess.run([sys.executable, str(wrapper), str(QTMCP), "--mirror", rel.url,
                         "--qt", "6.8", "fetch"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, env=qtmcp_env, timeout=35)
    elapsed = time.monotonic() - started
    err = text(cp.stderr)
    assert elapsed < 30, "waited %.0f s for a lock the file system cannot give" % elapsed
    assert "another qtmcp" not in err, err
    assert "Traceback" not in err
    if cp.returncode != 0:
        line = assert_error(cp, 7)
        assert "lock" in line.lower(), line
