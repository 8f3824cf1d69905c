"""Local failures: a cache that cannot be written, a full disk, a path too long.

Contract: status 7 is "local error: cache not writable, disk full, a path too
long for this file system"; errors are one line saying what failed, where and
what to do next. Here: the message names the folder and ``--cache-dir``, and
an install already in the cache is left exactly as it was (files, modes,
manifest).

Tests run as root in CI, so file modes do not stop writes. The failures are
made real where the system allows it, simulated otherwise, and each test says
which:

* not writable, for real: ``--cache-dir`` under a regular file (ENOTDIR, every
  OS); a release folder that is a file; a read-only bind mount (Linux, root,
  ``mount`` allowed; else skipped);
* not writable, simulated in-process (every OS): ``import qtmcp`` and
  ``qtmcp.main([...])`` with ``os.mkdir``/``os.open`` raising EROFS, EACCES or
  EPERM for paths in the cache;
* disk full, for real: a 2 MiB tmpfs (Linux, root; else skipped); simulated
  in-process (every OS): the write of the download, of an unpacked file, of
  the manifest, of the SHA256SUMS copy or of ``.current`` raising ENOSPC;
* path too long, for real: a ``--cache-dir`` with a 300-byte component
  (ENAMETOOLONG), and (POSIX) a cache root so deep that a release folder in it
  passes PATH_MAX while the install beside it still fits.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from faultserver import BigBuild, assert_success, cache_problems, install_dirs
from fixtures import (
    HOST_OS,
    BuildSpec,
    assert_error,
    import_qtmcp,
    run_qtmcp,
    text,
    tree_snapshot,
)


def _fetch(release, *extra, qt="6.8", tag="vTEST", env=None):
    return run_qtmcp(["--mirror", release.url, "--release", tag, "--qt", qt, *extra, "fetch"], env=env)


@pytest.fixture
def rel(make_release):
    """vTEST with Qt 6.8 and 6.5 for this machine, and vOTHER with Qt 6.8."""
    release = make_release(builds=["6.8", "6.5"])
    make_release("vOTHER", builds=["6.8"])
    return release


@pytest.fixture
def installed(rel, cache_dir):
    """Qt 6.8 of vTEST installed in the cache; returns its snapshot (call it
    again later: it must be equal)."""
    assert_success(_fetch(rel))
    install = rel.host_build("6.8").install_dir(cache_dir, "vTEST")
    assert (install / "manifest.json").is_file()
    manifest = (install / "manifest.json").read_bytes()

    def snapshot():
        return tree_snapshot(install), (install / "manifest.json").read_bytes(), \
            (cache_dir / "vTEST" / ("%s.current" % rel.host_build("6.8").build_key)).read_bytes()

    first = snapshot()
    assert first[1] == manifest
    snapshot.first = first
    return snapshot


def assert_untouched(installed):
    assert installed() == installed.first, "the existing install changed"


def assert_local_error(cp, folder, *needles):
    line = assert_error(cp, 7, "--cache-dir", *needles)
    assert str(folder) in line, "the error does not name the folder %s: %s" % (folder, line)
    return line


# -- not writable, for real --------------------------------------------------------


@pytest.mark.parametrize("command", ["fetch", "run", "install"])
def test_a_cache_dir_under_a_regular_file_is_a_local_error_naming_it(rel, tmp_path, qtmcp_env, command):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"not a folder\n")
    root = blocker / "cache"
    env = dict(qtmcp_env, QTMCP_CACHE_DIR=str(root))
    build = rel.host_build("6.8")
    if command == "install":
        args = ["install", str(build.path), "--qt", "6.8"]
    elif command == "run":
        args = ["--mirror", rel.url, "--qt", "6.8", "--", "--print-args"]
    else:
        args = ["--mirror", rel.url, "--qt", "6.8", "fetch"]
    cp = run_qtmcp(args, env=env)
    assert_local_error(cp, root)
    assert cp.stdout == b""
    assert blocker.read_bytes() == b"not a folder\n"


def test_a_release_folder_that_is_a_file_is_a_local_error_and_the_other_install_is_untouched(
        rel, cache_dir, installed):
    (cache_dir / "vOTHER").write_bytes(b"in the way\n")
    cp = _fetch(rel, tag="vOTHER")
    assert_local_error(cp, cache_dir / "vOTHER")
    assert_untouched(installed)
    assert (cache_dir / "vOTHER").read_bytes() == b"in the way\n"


def _can_mount() -> str:
    """'' if this test process can bind-mount and mount tmpfs, else why not."""
    if not sys.platform.startswith("linux"):
        return "bind and tmpfs mounts are a Linux test"
    if os.geteuid() != 0:
        return "mounting needs root (CAP_SYS_ADMIN)"
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return "no mount/umount programs"
    return ""


class Mount:
    """``mount`` in a with-block, unmounted (lazily if busy) at the end."""

    def __init__(self, *args: str, target: Path, remount_ro: bool = False):
        self.args, self.target, self.remount_ro = args, target, remount_ro

    def __enter__(self) -> Path:
        self.target.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", *self.args, str(self.target)], stderr=subprocess.PIPE)
        if done.returncode != 0:
            pytest.skip("mount failed here: %s" % text(done.stderr).strip())
        if self.remount_ro:
            done = subprocess.run(["mount", "-o", "remount,bind,ro", str(self.target)], stderr=subprocess.PIPE)
            if done.returncode != 0:
                self.__exit__()
                pytest.skip("read-only remount failed here: %s" % text(done.stderr).strip())
        return self.target

    def __exit__(self, *exc) -> None:
        if subprocess.run(["umount", str(self.target)], stderr=subprocess.DEVNULL).returncode != 0:
            subprocess.run(["umount", "-l", str(self.target)], stderr=subprocess.DEVNULL)


def test_a_read_only_cache_still_starts_a_cached_build_but_cannot_install_another(
        rel, cache_dir, tmp_path, qtmcp_env, installed):
    """Real: the cache bind-mounted read-only (EROFS)."""
    why = _can_mount()
    if why:
        pytest.skip(why)
    with Mount("--bind", str(cache_dir), target=tmp_path / "ro-cache", remount_ro=True) as ro:
        probe = ro / "probe"
        with pytest.raises(OSError):
            probe.write_bytes(b"x")
        env = dict(qtmcp_env, QTMCP_CACHE_DIR=str(ro))
        cached = _fetch(rel, env=env)  # a cached start writes nothing
        assert assert_success(cached) == str(rel.host_build("6.8").launcher_path(ro, "vTEST"))
        for extra, qt, tag in ((), "6.5", "vTEST"), ((), "6.8", "vOTHER"), (("--refresh",), "6.8", "vTEST"):
            cp = _fetch(rel, *extra, qt=qt, tag=tag, env=env)
            assert_local_error(cp, ro, "not writable")
    assert_untouched(installed)
    assert cache_problems(cache_dir) == []


# -- in-process simulations ---------------------------------------------------------


@pytest.fixture
def module_in_test_env(monkeypatch, qtmcp_env):
    """qtmcp imported into this process (``import qtmcp``), with this test's
    environment in os.environ (no proxies, no QTMCP_* of the caller)."""
    for key in list(os.environ):
        if key not in qtmcp_env:
            monkeypatch.delenv(key)
    for key, value in qtmcp_env.items():
        monkeypatch.setenv(key, value)
    return import_qtmcp()


class Result:
    def __init__(self, status, out, err):
        self.returncode, self.stdout, self.stderr = status, out.encode(), err.encode()


def run_in_process(module, capsys, args):
    capsys.readouterr()
    status = module.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return Result(status, out, err)


def _under(path, root: str) -> bool:
    """True if ``path`` (str, bytes-free) is ``root`` or inside it."""
    try:
        return os.path.commonpath([os.path.abspath(os.fspath(path)), root]) == root
    except (ValueError, TypeError):
        return False


WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


@pytest.mark.parametrize("code", ["EROFS", "EACCES", "EPERM"])
@pytest.mark.parametrize("target", ["another build", "another release", "a refresh"])
def test_a_cache_that_refuses_writes_is_a_local_error_and_the_install_is_untouched(
        rel, cache_dir, installed, module_in_test_env, monkeypatch, capsys, code, target):
    """Simulated in-process: os.mkdir and os.open (for writing) raise
    EROFS/EACCES/EPERM for every path in the cache, as a read-only or
    foreign-owned cache does for a user who is not root."""
    number = getattr(errno, code)
    root = os.path.abspath(str(cache_dir))
    real_mkdir, real_open = os.mkdir, os.open

    def mkdir(path, *args, **kwargs):
        if _under(path, root):
            raise OSError(number, os.strerror(number), os.fspath(path))
        return real_mkdir(path, *args, **kwargs)

    def os_open(path, flags, *args, **kwargs):
        if flags & WRITE_FLAGS and kwargs.get("dir_fd") is None and _under(path, root):
            raise OSError(number, os.strerror(number), os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "open", os_open)
    qt, tag, extra = {"another build": ("6.5", "vTEST", []), "another release": ("6.8", "vOTHER", []),
                      "a refresh": ("6.8", "vTEST", ["--refresh"])}[target]
    cp = run_in_process(module_in_test_env, capsys, ["--mirror", rel.url, "--release", tag, "--qt", qt,
                                                "--cache-dir", cache_dir] + extra + ["fetch"])
    monkeypatch.undo()
    assert_local_error(cp, cache_dir)
    assert_untouched(installed)
    assert cache_problems(cache_dir) == []


class FullDisk(io.RawIOBase):
    """A writable file on a full disk: every write raises ENOSPC."""

    def __init__(self, inner):
        self.inner = inner

    def writable(self):
        return True

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fileno(self):
        return self.inner.fileno()

    def close(self):
        try:
            self.inner.close()
        finally:
            super().close()


STAGES = ("download", "unpacked file", "manifest", "SHA256SUMS copy", ".current")


@pytest.mark.parametrize("stage", STAGES)
def test_a_full_disk_is_a_local_error_at_every_write_and_the_install_is_untouched(
        rel, cache_dir, installed, module_in_test_env, monkeypatch, capsys, stage):
    """Simulated in-process: one write of the install (the download, a file
    being unpacked, the manifest, the SHA256SUMS copy or ``.current``) raises
    ENOSPC, as on a full disk. Release vOTHER, so that every one of these
    writes happens."""
    module = module_in_test_env
    root = os.path.abspath(str(cache_dir))
    real_open, real_fdopen = open, os.fdopen
    hits = []

    def fake_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        name = os.path.basename(os.fspath(file)) if not isinstance(file, int) else ""
        wanted = {"download": name == "archive", "manifest": name == "manifest.json"}.get(stage, False)
        if "w" in mode and wanted and _under(file, root):
            hits.append(file)
            return FullDisk(f)
        return f

    def fake_fdopen(fd, mode="r", *args, **kwargs):
        f = real_fdopen(fd, mode, *args, **kwargs)
        if "w" in mode:
            frame = sys._getframe(1)
            where = frame.f_code.co_name
            target = str(frame.f_locals.get("path", ""))
            name = os.path.basename(target)
            created = where == "open_new" and (  # files qtmcp creates new, never through a link
                (stage == "download" and name == "archive") or (stage == "manifest" and name == "manifest.json"))
            if created or (stage == "unpacked file" and where == "write_file") or (
                    where == "replace_with" and (
                        (stage == "SHA256SUMS copy" and target.endswith("SHA256SUMS"))
                        or (stage == ".current" and target.endswith(".current")))):
                hits.append(target)
                return FullDisk(f)
        return f

    monkeypatch.setattr(module, "open", fake_open, raising=False)
    monkeypatch.setattr(os, "fdopen", fake_fdopen)
    cp = run_in_process(module, capsys, ["--mirror", rel.url, "--release", "vOTHER", "--qt", "6.8",
                                         "--cache-dir", cache_dir, "fetch"])
    monkeypatch.undo()
    assert hits, "the simulated full disk was never written to: the test proves nothing"
    assert_local_error(cp, cache_dir, "disk full")
    assert_untouched(installed)
    assert cache_problems(cache_dir) == [], cache_problems(cache_dir)
    others = [p for p in install_dirs(cache_dir) if p.parent.name == "vOTHER"]
    if stage == ".current":
        # the install was complete (manifest and all) before its pointer was
        # written: it may stay, complete; the next start finds it by digest
        assert all((p / "manifest.json").is_file() for p in others)
    else:
        assert others == [], "a failed install left an install folder"


@pytest.mark.parametrize("size,stage", [(3 * 1000 * 1000, "while downloading"),
                                        (1200 * 1000, "while unpacking")])
def test_a_full_tmpfs_is_a_local_error_and_the_install_is_untouched(
        make_release, tmp_path, qtmcp_env, size, stage):
    """Real: a 2 MiB tmpfs holding the cache. The padding of Qt 6.5 does not
    fit at all (3 MB: the download fills the disk), or fits once but not twice
    (1.2 MB: the unpacking fills it)."""
    why = _can_mount()
    if why:
        pytest.skip(why)
    release = make_release(builds=[BuildSpec("6.8"), BigBuild("6.5", padding=size)])
    with Mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", target=tmp_path / "small") as small:
        root = small / "cache"
        env = dict(qtmcp_env, QTMCP_CACHE_DIR=str(root))
        assert_success(_fetch(release, env=env))
        install = release.host_build("6.8").install_dir(root, "vTEST")
        before = tree_snapshot(install)
        cp = _fetch(release, qt="6.5", env=env)
        assert_local_error(cp, root, "disk full")
        assert tree_snapshot(install) == before
        assert cache_problems(root) == []
        assert [p.name for p in install_dirs(root)] == [install.name]


# -- path too long -------------------------------------------------------------------


@pytest.mark.parametrize("command", ["fetch", "install"])
def test_a_cache_dir_with_a_component_over_255_bytes_is_a_local_error(rel, tmp_path, qtmcp_env, command):
    root = tmp_path / ("c" * 300) / "cache"
    env = dict(qtmcp_env, QTMCP_CACHE_DIR=str(root))
    build = rel.host_build("6.8")
    args = (["install", str(build.path), "--qt", "6.8"] if command == "install"
            else ["--mirror", rel.url, "--qt", "6.8", "fetch"])
    cp = run_qtmcp(args, env=env)
    # Windows reports an overlong name as invalid rather than too long: the
    # folder and --cache-dir are named either way
    needles = ("too long",) if HOST_OS != "windows" else ()
    assert_local_error(cp, tmp_path / ("c" * 300), *needles)


def _deep_folder(base: Path, length: int) -> Path:
    """A folder path of exactly ``length`` characters under ``base`` (parts of
    at most 200 characters), created."""
    path = str(base)
    while len(path) < length:
        part = min(200, length - len(path) - 1)
        if part < 1:
            path = path[:-1]  # one too long: shorten the last part
            continue
        path = os.path.join(path, "d" * part)
    os.makedirs(path)
    return Path(path)


@pytest.mark.skipif(HOST_OS == "windows", reason="POSIX PATH_MAX: Windows path limits are another matter "
                                                 "(MAX_PATH, long path support): see test_windows_paths")
def test_a_release_folder_past_path_max_is_a_local_error_and_the_install_beside_it_is_untouched(
        rel, tmp_path, qtmcp_env):
    """Real: a cache root so deep that the install of vTEST fits under
    PATH_MAX but a release folder with a 128-character tag does not."""
    path_max = os.pathconf(str(tmp_path), "PC_PATH_MAX")
    root = _deep_folder(tmp_path, path_max - 129)
    env = dict(qtmcp_env, QTMCP_CACHE_DIR=str(root))
    assert_success(_fetch(rel, env=env))
    install = rel.host_build("6.8").install_dir(root, "vTEST")
    longest = max(len(str(install)) + 1 + len(k) for k in tree_snapshot(install))
    assert longest < path_max, "the install itself does not fit: the test proves nothing"
    before = tree_snapshot(install)
    tag = "v" + "9" * 127
    cp = _fetch(rel, tag=tag, env=env)
    assert_local_error(cp, root, "too long")
    assert tree_snapshot(install) == before
    assert cache_problems(root) == []
