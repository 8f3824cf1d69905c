"""What differs per OS, checked where the real thing cannot run.

Most tests here mock the OS (sys.platform, os.uname, ctypes.WinDLL,
subprocess.Popen, ...) because the code path belongs to another system than
the one running the tests; each says so in its docstring. Where a path can
run for real (run_child on Windows), a real variant runs there too.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys

import pytest
from fixtures import HOST_OS, REPO, import_qtmcp, text, write_launcher

qtmcp = import_qtmcp()

WINDOWS_ONLY = pytest.mark.skipif(HOST_OS != "windows",
                                  reason="runs the real Windows child path: needs Windows")


# -- run_child: the Windows way of starting the launcher ----------------------------------

class FakeChild:
    """Stands for subprocess.Popen: records how it was called, exits with `status`."""

    made: list = []
    status = 0
    events: list = []

    def __init__(self, args, **kwargs):
        FakeChild.events.append("Popen")
        FakeChild.made.append((list(args), kwargs))
        self.args = args

    def wait(self, timeout=None):
        return FakeChild.status


@pytest.fixture
def fake_windows_child(monkeypatch):
    """run_child with the job object, signals and Popen mocked."""
    FakeChild.made, FakeChild.events, FakeChild.status = [], [], 0
    signals = []
    monkeypatch.setattr(qtmcp, "kill_children_on_exit", lambda: FakeChild.events.append("job"))
    monkeypatch.setattr(signal, "signal", lambda sig, handler: signals.append((sig, handler)))
    monkeypatch.setattr(subprocess, "Popen", FakeChild)
    monkeypatch.setattr(qtmcp, "fd_is_open", lambda fd: True)
    return signals


def test_run_child_starts_the_launcher_with_our_standard_handles_tied_to_our_life(
        fake_windows_child):
    """Mocked (Popen, the job object, signal.signal): run_child is the
    Windows way to start the launcher and only runs for real on Windows."""
    status = qtmcp.run_child(r"C:\cache\build\qtmcp-launcher.exe", ["--flag", "a b", "ä"])
    assert status == 0
    ((args, kwargs),) = FakeChild.made
    assert args == [r"C:\cache\build\qtmcp-launcher.exe", "--flag", "a b", "ä"]
    assert (kwargs.get("stdin"), kwargs.get("stdout"), kwargs.get("stderr")) == (0, 1, 2)
    assert "env" not in kwargs and "cwd" not in kwargs  # our environment and folder, as they are
    assert FakeChild.events == ["job", "Popen"]  # in the job before the child starts
    assert (signal.SIGINT, signal.SIG_IGN) in fake_windows_child  # Ctrl-C goes to the child


@pytest.mark.parametrize("raw,signed", [
    (0, 0), (1, 1), (3, 3), (255, 255), (0x7FFFFFFF, 2147483647),
    (0xC000013A, -1073741510), (0xC0000005, -1073741819), (0x80000000, -2147483648),
    (0xFFFFFFFF, -1),
])
def test_run_child_returns_the_child_status_as_a_signed_32_bit_value(fake_windows_child, raw, signed):
    """Mocked Popen: Windows exit codes are unsigned 32-bit (0xC000013A is
    STATUS_CONTROL_C_EXIT); qtmcp passes them on as the signed value."""
    FakeChild.status = raw
    assert qtmcp.run_child(r"C:\l.exe", []) == signed


def test_run_child_that_cannot_start_the_launcher_is_a_local_error(fake_windows_child, monkeypatch):
    """Mocked Popen raising ERROR_BAD_EXE_FORMAT (winerror 193), as Windows
    does for a launcher built for another CPU."""

    class BadExe(OSError):
        winerror = 193

    def refuse(*args, **kwargs):
        raise BadExe(errno.ENOEXEC, "%1 is not a valid Win32 application")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    with pytest.raises(qtmcp.LocalError) as caught:
        qtmcp.run_child(r"C:\cache\qtmcp-launcher.exe", [])
    assert caught.value.status == 7
    assert r"C:\cache\qtmcp-launcher.exe" in str(caught.value)


def _run_child_for_real(launcher, args, tmp_path):
    code = ("import sys; sys.path.insert(0, %r); import qtmcp; "
            "status = qtmcp.run_child(%r, %r); sys.stdout.flush(); print('status', status)"
            % (str(REPO), str(launcher), list(args)))
    return subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=str(tmp_path), timeout=60)


@WINDOWS_ONLY
def test_run_child_for_real_on_windows_shares_our_stdout_and_passes_the_arguments(tmp_path):
    launcher = write_launcher(tmp_path / "build" / "qtmcp-launcher.exe")
    cp = _run_child_for_real(launcher, ["--print-args", "a b", "ä", ""], tmp_path)
    lines = text(cp.stdout).splitlines()
    assert lines[-1] == "status 0", text(cp.stderr)
    assert json.loads(lines[0]) == ["--print-args", "a b", "ä", ""]


@WINDOWS_ONLY
@pytest.mark.parametrize("status", [0, 3, -1073741510])
def test_run_child_for_real_on_windows_returns_the_signed_status(tmp_path, status):
    launcher = write_launcher(tmp_path / "build" / "qtmcp-launcher.exe")
    cp = _run_child_for_real(launcher, ["--exit-with", str(status)], tmp_path)
    assert text(cp.stdout).splitlines()[-1] == "status %d" % status, text(cp.stderr)


@WINDOWS_ONLY
def test_run_child_for_real_on_windows_ties_the_child_to_our_life(tmp_path):
    """Kill the process that called run_child: the job object must take the
    launcher with it, so the launcher's end of our stdout pipe closes."""
    import threading

    launcher = write_launcher(tmp_path / "build" / "qtmcp-launcher.exe")
    code = ("import sys; sys.path.insert(0, %r); import qtmcp; qtmcp.run_child(%r, [])"
            % (str(REPO), str(launcher)))
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=str(tmp_path))
    got = {}

    def read(key, call):
        got[key] = call()

    try:
        proc.stdin.write(b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}\n')
        proc.stdin.flush()
        reader = threading.Thread(target=read, args=("answer", proc.stdout.readline), daemon=True)
        reader.start()
        reader.join(60)
        assert json.loads(got["answer"])["id"] == 1, "the launcher never answered"

        proc.kill()  # TerminateProcess: no Python cleanup runs in the parent
        proc.wait(30)
        reader = threading.Thread(target=read, args=("rest", proc.stdout.read), daemon=True)
        reader.start()
        reader.join(15)
        assert not reader.is_alive(), "the launcher outlived the process that started it"
    finally:
        proc.stdin.close()  # an orphaned launcher ends when its stdin ends
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


# -- the default cache root per OS -------------------------------------------------------------

@pytest.fixture
def home(monkeypatch, tmp_path):
    """A home folder for os.path.expanduser on every OS (HOME, USERPROFILE)."""
    folder = tmp_path / "os-home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.setenv("USERPROFILE", str(folder))
    return os.path.expanduser("~")


def test_default_cache_root_on_windows_is_under_localappdata(monkeypatch, home, tmp_path):
    """sys.platform mocked as win32."""
    monkeypatch.setattr(sys, "platform", "win32")
    local = str(tmp_path / "AppData-Local")
    assert qtmcp.default_cache_root({"LOCALAPPDATA": local}) == os.path.join(local, "qtmcp", "Cache")


@pytest.mark.parametrize("environ", [{}, {"LOCALAPPDATA": ""}], ids=["unset", "empty"])
def test_default_cache_root_on_windows_without_localappdata_is_in_the_profile(
        monkeypatch, home, environ):
    """sys.platform mocked as win32."""
    monkeypatch.setattr(sys, "platform", "win32")
    assert qtmcp.default_cache_root(environ) == os.path.join(home, "AppData", "Local", "qtmcp", "Cache")


def test_default_cache_root_on_macos_is_library_caches(monkeypatch, home, tmp_path):
    """sys.platform mocked as darwin; XDG_CACHE_HOME is not macOS's."""
    monkeypatch.setattr(sys, "platform", "darwin")
    environ = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert qtmcp.default_cache_root(environ) == os.path.join(home, "Library", "Caches", "qtmcp")


@pytest.mark.parametrize("platform", ["linux", "freebsd13"])
def test_default_cache_root_on_linux_and_other_unix_follows_xdg_cache_home(
        monkeypatch, home, tmp_path, platform):
    """sys.platform mocked."""
    monkeypatch.setattr(sys, "platform", platform)
    xdg = str(tmp_path / "xdg")
    assert qtmcp.default_cache_root({"XDG_CACHE_HOME": xdg}) == os.path.join(xdg, "qtmcp")
    assert qtmcp.default_cache_root({}) == os.path.join(home, ".cache", "qtmcp")
    assert qtmcp.default_cache_root({"XDG_CACHE_HOME": ""}) == os.path.join(home, ".cache", "qtmcp")


def test_default_cache_root_ignores_a_relative_xdg_cache_home(monkeypatch, home):
    """sys.platform mocked as linux. The XDG spec: a relative path is invalid
    and ignored."""
    monkeypatch.setattr(sys, "platform", "linux")
    assert qtmcp.default_cache_root({"XDG_CACHE_HOME": "relative/cache"}) == \
        os.path.join(home, ".cache", "qtmcp")


# -- this machine's platform ---------------------------------------------------------------------

class FakeUname:
    def __init__(self, machine):
        self.machine = machine
        self.sysname = "Fake"


def _uname(monkeypatch, machine):
    monkeypatch.setattr(os, "uname", lambda: FakeUname(machine), raising=False)


@pytest.mark.parametrize("machine,arch", [
    ("x86_64", "x64"), ("amd64", "x64"), ("AMD64", "x64"), ("aarch64", "arm64"), ("arm64", "arm64"),
    ("armv8l", "arm64"), ("i686", "x86"), ("i386", "x86"),
])
def test_machine_platform_on_linux_maps_the_kernel_cpu_name(monkeypatch, machine, arch):
    """sys.platform and os.uname mocked."""
    monkeypatch.setattr(sys, "platform", "linux")
    _uname(monkeypatch, machine)
    assert qtmcp.machine_platform() == ("linux", arch)


@pytest.mark.parametrize("machine", ["riscv64", "armv7l", "ppc64le", "s390x", "mips", ""])
def test_machine_platform_on_a_cpu_without_builds_is_no_build(monkeypatch, machine):
    """sys.platform and os.uname mocked."""
    monkeypatch.setattr(sys, "platform", "linux")
    _uname(monkeypatch, machine)
    with pytest.raises(qtmcp.NoBuildError) as caught:
        qtmcp.machine_platform()
    assert caught.value.status == 3


@pytest.mark.parametrize("machine,translated,arch", [
    ("arm64", False, "arm64"), ("x86_64", False, "x64"), ("x86_64", True, "arm64"),
])
def test_machine_platform_on_macos_sees_through_rosetta(monkeypatch, machine, translated, arch):
    """sys.platform, os.uname and the sysctl.proc_translated probe mocked: an
    x86-64 Python under Rosetta on Apple silicon is on an arm64 machine."""
    monkeypatch.setattr(sys, "platform", "darwin")
    _uname(monkeypatch, machine)
    monkeypatch.setattr(qtmcp, "macos_translated", lambda: translated)
    assert qtmcp.machine_platform() == ("macos", arch)


class FakeKernel32:
    """ctypes.WinDLL('kernel32') with or without IsWow64Process2."""

    native = None  # None: Windows before 10 (no IsWow64Process2)

    def __init__(self, name, use_last_error=False):
        assert name == "kernel32"
        if FakeKernel32.native is not None:
            self.IsWow64Process2 = self._is_wow64_process2

    @staticmethod
    def _is_wow64_process2(process, machine_ref, native_ref):
        native_ref._obj.value = FakeKernel32.native
        return 1


@pytest.mark.parametrize("native,arch", [(0x8664, "x64"), (0xAA64, "arm64"), (0x14C, "x86")])
def test_machine_platform_on_windows_asks_iswow64process2_for_the_native_cpu(
        monkeypatch, native, arch):
    """sys.platform and ctypes.WinDLL mocked: the CPU Windows runs on, not
    the bitness of the Python (a 32-bit Python on 64-bit Windows is x64)."""
    import ctypes

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(FakeKernel32, "native", native)
    monkeypatch.setattr(ctypes, "WinDLL", FakeKernel32, raising=False)
    monkeypatch.setenv("PROCESSOR_ARCHITECTURE", "x86")
    monkeypatch.delenv("PROCESSOR_ARCHITEW6432", raising=False)
    assert qtmcp.machine_platform() == ("windows", arch)


@pytest.mark.parametrize("wow64,architecture,arch", [
    ("AMD64", "x86", "x64"), (None, "AMD64", "x64"), (None, "ARM64", "arm64"), (None, "x86", "x86"),
])
def test_machine_platform_on_older_windows_reads_the_processor_variables(
        monkeypatch, wow64, architecture, arch):
    """sys.platform and ctypes.WinDLL (without IsWow64Process2) mocked."""
    import ctypes

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(FakeKernel32, "native", None)
    monkeypatch.setattr(ctypes, "WinDLL", FakeKernel32, raising=False)
    monkeypatch.setenv("PROCESSOR_ARCHITECTURE", architecture)
    if wow64 is None:
        monkeypatch.delenv("PROCESSOR_ARCHITEW6432", raising=False)
    else:
        monkeypatch.setenv("PROCESSOR_ARCHITEW6432", wow64)
    assert qtmcp.machine_platform() == ("windows", arch)


def test_machine_platform_on_another_os_is_no_build(monkeypatch):
    """sys.platform mocked."""
    monkeypatch.setattr(sys, "platform", "sunos5")
    with pytest.raises(qtmcp.NoBuildError):
        qtmcp.machine_platform()


@pytest.mark.parametrize("confstr", [None, ValueError, OSError], ids=["none", "ValueError", "OSError"])
def test_a_linux_without_glibc_has_no_build_and_says_so(monkeypatch, confstr):
    """sys.platform and os.confstr mocked (musl answers no CS_GNU_LIBC_VERSION)."""

    def fake(name):
        if isinstance(confstr, type):
            raise confstr("unknown name")
        return confstr

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(os, "confstr", fake, raising=False)
    with pytest.raises(qtmcp.NoBuildError) as caught:
        qtmcp.check_libc(("linux", "x64"))
    assert caught.value.status == 3
    assert "glibc" in str(caught.value)


def test_a_linux_with_glibc_has_builds(monkeypatch):
    """sys.platform and os.confstr mocked."""
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(os, "confstr", lambda name: "glibc 2.36", raising=False)
    assert qtmcp.check_libc(("linux", "x64")) is None


# -- names Windows cannot hold ------------------------------------------------------------------

WINDOWS_REFUSED = [
    "CON", "con", "Con.txt", "CON .txt", "lib/NUL", "nul.tar.gz", "PRN", "AUX", "COM1", "com9.log",
    "LPT1", "lpt9", "COM\u00b9", "LPT\u00b3.txt", "CONIN$", "CONOUT$", "lib/CON/x",
    "lib/a:b", "lib/x<y", "x>y", 'x"y', "x|y", "x?y", "x*y", "x\x01y", "x\x1fy",
    "trailing.", "trailing ", "lib/folder./x", "lib/folder /x",
]


@pytest.mark.parametrize("name", WINDOWS_REFUSED)
def test_a_name_windows_cannot_hold_is_refused_in_a_windows_build_only(name):
    """Pure: the same names are fine for a Linux or macOS build."""
    with pytest.raises(qtmcp.ArchiveError) as caught:
        qtmcp.member_parts(name, False, windows=True)
    assert caught.value.status == 6
    assert qtmcp.member_parts(name, False, windows=False) == name.split("/")


@pytest.mark.parametrize("name", ["CONSOLE", "con2", "NULL.txt", "COM10", "lib/qoffscreen.dll",
                                  "a.b.c", "plugins/platforms/qwindows.dll", ".hidden", "x y"])
def test_ordinary_names_are_fine_in_a_windows_build(name):
    assert qtmcp.member_parts(name, False, windows=True) == name.split("/")


# -- why a launcher could not start ---------------------------------------------------------------

class WinError(OSError):
    def __init__(self, winerror, message):
        super().__init__(errno.ENOEXEC if winerror in (193, 216) else errno.EINVAL, message)
        self.winerror_code = winerror

    @property
    def winerror(self):
        return self.winerror_code


@pytest.mark.parametrize("error,reason", [
    (OSError(errno.ENOEXEC, "Exec format error"), "not a program"),
    (OSError(errno.EACCES, "Permission denied"), "not executable"),
    (OSError(errno.EPERM, "Operation not permitted"), "not executable"),
    (OSError(errno.ENOENT, "No such file or directory"), "missing"),
], ids=["ENOEXEC", "EACCES", "EPERM", "ENOENT"])
def test_launch_failure_says_why_the_launcher_did_not_start(error, reason):
    failure = qtmcp.launch_failure("/cache/build/qtmcp-launcher", error)
    assert isinstance(failure, qtmcp.LocalError) and failure.status == 7
    assert "/cache/build/qtmcp-launcher" in str(failure)
    assert reason in str(failure)


@pytest.mark.parametrize("winerror", [193, 216])
def test_launch_failure_of_a_launcher_for_another_cpu_on_windows(winerror):
    """A mocked OSError carrying winerror 193 (ERROR_BAD_EXE_FORMAT) or 216
    (ERROR_EXE_MACHINE_TYPE_MISMATCH): only Windows raises those."""
    failure = qtmcp.launch_failure(r"C:\cache\qtmcp-launcher.exe",
                                   WinError(winerror, "%1 is not a valid Win32 application"))
    assert failure.status == 7
    assert "not a program" in str(failure) and "CPU" in str(failure)
