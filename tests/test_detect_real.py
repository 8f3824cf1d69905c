"""--qt auto on binaries built by real toolchains (skipped, with the reason,
where a toolchain is missing; .ci/run installs them with apt-get).

- g++ against the system's Qt 6 and Qt 5 (qt6-base-dev, qtbase5-dev): the
  version qtmcp reads is the one the program prints (qVersion()) and the
  QtCore is the one ldd resolves;
- a private libQt6Core.so.6 found through DT_RUNPATH $ORIGIN/../lib, which
  must win over the system's; LD_LIBRARY_PATH and DT_RPATH in ld.so's order;
- mingw-w64 programs for x86_64 and i686 importing a Qt6Core.dll whose
  VERSIONINFO windres wrote, and a debug Qt6Cored.dll;
- Mach-O programs and dylibs linked by ld64.lld (clang, lld), universal by
  llvm-lipo, inside an .app with QtCore.framework.
"""

from __future__ import annotations

import glob
import json
import os
import plistlib
import shutil
import subprocess
from pathlib import Path

import pytest
from fixtures import HOST_OS, HOST_PLATFORM, run_qtmcp, stderr_lines, text

LINUX_X64 = HOST_PLATFORM == "linux-x64"


def tool(name: str, package: str) -> str:
    """The path of a tool (or its newest versioned form, like ld64.lld-14); skip naming the package."""
    found = shutil.which(name)
    if not found:
        versioned = []
        for folder in os.environ.get("PATH", "").split(os.pathsep):
            versioned += glob.glob(os.path.join(folder, name + "-[0-9]*"))
        versioned.sort(key=lambda p: int(p.rsplit("-", 1)[1]) if p.rsplit("-", 1)[1].isdigit() else 0)
        found = versioned[-1] if versioned else None
    if not found:
        pytest.skip("needs %s (Debian package %s)" % (name, package))
    return found


def build(*command, cwd=None, env=None):
    cp = subprocess.run([str(c) for c in command], cwd=cwd, env=env, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, timeout=300)
    if cp.returncode != 0:
        raise AssertionError("%s failed:\n%s" % (" ".join(map(str, command)), text(cp.stderr)))
    return text(cp.stdout)


def detect(path, *options, env=None):
    cp = run_qtmcp(["detect", "--json", "--offline", "--mirror", str(Path(path).parent / "no-mirror")]
                   + list(options) + ["--", str(path)], env=env)
    assert cp.returncode == 0, text(cp.stderr)
    return json.loads(cp.stdout)


def ldd_path(program, name, env=None):
    """Where ld.so itself resolves `name` for `program` (ldd)."""
    for line in build(tool("ldd", "libc-bin"), program, env=env).splitlines():
        if line.strip().startswith(name + " => "):
            return os.path.realpath(line.split("=>")[1].split("(")[0].strip())
    raise AssertionError("ldd does not list %s for %s" % (name, program))


# -- g++ against the system's Qt ------------------------------------------------------------

QVERSION_MAIN = """\
#include <cstdio>
#include <QtCore/qglobal.h>
int main() { std::puts(qVersion()); return QT_VERSION_MAJOR == 0; }
"""


@pytest.mark.skipif(not LINUX_X64, reason="g++ with the system's Qt: Linux x64 only")
@pytest.mark.parametrize("module,package", [("Qt6Core", "qt6-base-dev"), ("Qt5Core", "qtbase5-dev")])
def test_a_gpp_program_against_the_systems_qt_is_read_as_the_loader_loads_it(tmp_path, qtmcp_env, module, package):
    gpp = tool("g++", "g++")
    pkg_config = tool("pkg-config", "pkg-config")
    flags = subprocess.run([pkg_config, "--cflags", "--libs", module], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
    if flags.returncode != 0:
        pytest.skip("needs %s's development files (Debian package %s)" % (module, package))
    (tmp_path / "main.cpp").write_text(QVERSION_MAIN)
    program = tmp_path / "editor"
    build(gpp, "-fPIC", "main.cpp", "-o", program, *flags.stdout.decode().split(), cwd=tmp_path)
    loaded = build(program).strip()  # the Qt the program really gets
    got = detect(program)
    assert (got["qt"], got["from"], got["format"], got["platform"]) == (loaded, "library", "elf", "linux-x64")
    soname = "lib%s.so.%s" % (module, module[2])
    assert got["qtcore"] == ldd_path(program, soname)


# -- a private libQt6Core.so.6 -------------------------------------------------------------

PRIVATE_QTCORE = """\
extern "C" __attribute__((visibility("default"))) const char qt_core_build[] =
    "Qt %s (x86_64-little_endian-lp64 shared (dynamic) release build; by GCC)";
extern "C" __attribute__((visibility("default"))) int qt_private_version() { return qt_core_build[3]; }
"""
PRIVATE_MAIN = 'extern "C" int qt_private_version();\nint main() { return qt_private_version() == 0; }\n'
VERSION_SCRIPT = "Qt_6 { global: *; };\nQt_6.2 { global: qt_private_version; } Qt_6;\n"


def private_qtcore(folder: Path, version: str, named: bool = True) -> Path:
    """folder/libQt6Core.so.<version> (named) or just folder/libQt6Core.so.6, soname libQt6Core.so.6."""
    gpp = tool("g++", "g++")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "qtcore.cpp").write_text(PRIVATE_QTCORE % version)
    (folder / "qt.map").write_text(VERSION_SCRIPT)
    real = folder / ("libQt6Core.so." + (version if named else "6"))
    build(gpp, "-shared", "-fPIC", "-o", real, "qtcore.cpp", "-Wl,-soname,libQt6Core.so.6",
          "-Wl,--version-script=qt.map", cwd=folder)
    if named:
        os.symlink(real.name, folder / "libQt6Core.so.6")
    os.symlink("libQt6Core.so.6", folder / "libQt6Core.so")
    return real


def private_program(folder: Path, lib: Path, *link_flags: str) -> Path:
    gpp = tool("g++", "g++")
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    (folder / "main.cpp").write_text(PRIVATE_MAIN)
    program = folder / "bin" / "editor"
    build(gpp, "main.cpp", "-o", program, "-L%s" % lib, "-lQt6Core", *link_flags, cwd=folder)
    return program


@pytest.mark.skipif(not LINUX_X64, reason="g++ building x86-64 ELF: Linux x64 only")
@pytest.mark.parametrize("named", [True, False])
def test_a_private_qtcore_through_runpath_origin_wins_over_the_systems(tmp_path, named):
    real = private_qtcore(tmp_path / "app" / "lib", "6.2.9", named)
    program = private_program(tmp_path / "app", real.parent, "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib")
    assert "RUNPATH" in build(tool("readelf", "binutils"), "-d", program)
    got = detect(program)
    assert (got["qt"], got["qtcore"]) == ("6.2.9", str(real.resolve()))
    assert got["qtcore"] == ldd_path(program, "libQt6Core.so.6")


@pytest.mark.skipif(not LINUX_X64, reason="g++ building x86-64 ELF: Linux x64 only")
@pytest.mark.parametrize("dtags,winner", [("--enable-new-dtags", "env"), ("--disable-new-dtags", "rpath")])
def test_ld_library_path_and_the_rpath_kinds_in_ld_sos_order(tmp_path, qtmcp_env, dtags, winner):
    ours = private_qtcore(tmp_path / "app" / "lib", "6.2.9")
    other = private_qtcore(tmp_path / "other", "6.3.1")
    program = private_program(tmp_path / "app", ours.parent, "-Wl,%s,-rpath,$ORIGIN/../lib" % dtags)
    env = dict(qtmcp_env, LD_LIBRARY_PATH=str(other.parent))
    got = detect(program, env=env)
    assert got["qtcore"] == str((other if winner == "env" else ours).resolve())
    assert got["qtcore"] == ldd_path(program, "libQt6Core.so.6", env=env)


@pytest.mark.skipif(not LINUX_X64, reason="runs the g++ program: Linux x64 only")
def test_run_with_a_real_program_starts_the_build_for_its_qt(tmp_path, make_release, cache_dir):
    real = private_qtcore(tmp_path / "app" / "lib", "6.4.2")
    program = private_program(tmp_path / "app", real.parent, "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib")
    release = make_release(builds=["6.2", "6.4", "6.8"])
    cp = run_qtmcp(["--mirror", release.url, "--", "--print-args", str(program), "-platform", "offscreen"])
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout) == ["--print-args", str(program), "-platform", "offscreen"]
    assert any("using the Qt 6.4 build" in line for line in stderr_lines(cp))
    assert release.host_build("6.4").launcher_path(cache_dir, "vTEST").is_file()


# -- mingw-w64 ----------------------------------------------------------------------------

VERSION_RC = """\
1 VERSIONINFO
FILEVERSION %(comma)s
PRODUCTVERSION %(comma)s
FILEFLAGSMASK 0x3fL
FILEFLAGS %(flags)s
FILEOS 0x40004L
FILETYPE 0x2L
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "CompanyName", "The Qt Company Ltd."
      VALUE "FileVersion", "%(dotted)s"
      VALUE "ProductName", "Qt6"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
"""
DLL_SOURCE = 'extern "C" __declspec(dllexport) int qt_private_version() { return 6; }\n'
EXE_SOURCE = ('extern "C" __declspec(dllimport) int qt_private_version();\n'
              "int main() { return qt_private_version() == 0; }\n")


def mingw_app(folder: Path, triplet: str, version: str, debug: bool) -> tuple[Path, Path]:
    package = "g++-mingw-w64-" + ("x86-64" if triplet == "x86_64" else "i686")
    gpp = tool("%s-w64-mingw32-g++" % triplet, package)
    windres = tool("%s-w64-mingw32-windres" % triplet, "binutils-mingw-w64")
    folder.mkdir(parents=True)
    numbers = version.split(".") + ["0"]
    (folder / "qtcore.rc").write_text(VERSION_RC % {"comma": ",".join(numbers), "dotted": ".".join(numbers),
                                                    "flags": "0x1L" if debug else "0x0L"})
    (folder / "qtcore.cpp").write_text(DLL_SOURCE)
    (folder / "main.cpp").write_text(EXE_SOURCE)
    dll = "Qt6Cored" if debug else "Qt6Core"
    build(windres, "qtcore.rc", "-O", "coff", "-o", "qtcore.res.o", cwd=folder)
    build(gpp, "-shared", "-o", dll + ".dll", "qtcore.cpp", "qtcore.res.o",
          "-Wl,--out-implib,lib%s.dll.a" % dll, cwd=folder)
    build(gpp, "-o", "editor.exe", "main.cpp", "-L.", "-l" + dll, "-static-libgcc", "-static-libstdc++", cwd=folder)
    return folder / "editor.exe", folder / (dll + ".dll")


@pytest.mark.parametrize("triplet,platform", [("x86_64", "windows-x64"), ("i686", "windows-x86")])
@pytest.mark.parametrize("debug", [False, True])
def test_mingw_programs_read_the_version_from_their_qtcore_dlls_versioninfo(tmp_path, triplet, platform, debug):
    program, dll = mingw_app(tmp_path / "app", triplet, "6.8.2", debug)
    got = detect(program)
    assert (got["format"], got["platform"], got["qt"], got["debug"], got["from"]) == \
        ("pe", platform, "6.8.2", debug, "library")
    assert got["qtcore"] == str(dll.resolve())


def test_a_mingw_program_whose_dll_is_on_path_only(tmp_path, qtmcp_env):
    program, dll = mingw_app(tmp_path / "app", "x86_64", "6.5.1", False)
    moved = tmp_path / "qt" / "bin" / dll.name
    moved.parent.mkdir(parents=True)
    dll.rename(moved)
    env = dict(qtmcp_env, PATH=os.pathsep.join([str(tmp_path / "nowhere"), str(moved.parent), os.environ["PATH"]]))
    got = detect(program, env=env)
    assert (got["qt"], got["qtcore"]) == ("6.5.1", str(moved.resolve()))


# -- Mach-O by ld64.lld --------------------------------------------------------------------

STUB_SOURCE = 'void binder(void) __asm__("dyld_stub_binder");\nvoid binder(void) {}\n'
QTCORE_SOURCE = "int qt_private_version(void) { return 6; }\n"
MAIN_SOURCE = "int qt_private_version(void);\nint main(void) { return qt_private_version() == 0; }\n"


def macho_slices(folder: Path, version: str) -> dict:
    """{arch: (program, QtCore)} linked by ld64.lld for arm64 and x86_64."""
    clang = tool("clang", "clang")
    ld64 = tool("ld64.lld", "lld")
    for name, source in (("stub.c", STUB_SOURCE), ("qtcore.c", QTCORE_SOURCE), ("main.c", MAIN_SOURCE)):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(source)
    built = {}
    for arch in ("arm64", "x86_64"):
        out = folder / arch
        out.mkdir()
        for name in ("stub", "qtcore", "main"):
            build(clang, "-target", arch + "-apple-macos11", "-c", folder / (name + ".c"), "-o", out / (name + ".o"))
        common = ["-arch", arch, "-platform_version", "macos", "11.0", "11.0"]
        build(ld64, *common, "-dylib", "-install_name", "/usr/lib/libSystem.B.dylib", "-o", out / "libSystem.dylib",
              out / "stub.o")
        build(ld64, *common, "-dylib", "-install_name", "@rpath/QtCore.framework/Versions/A/QtCore",
              "-current_version", version, "-compatibility_version", "6.0.0", "-o", out / "QtCore",
              out / "qtcore.o", out / "libSystem.dylib")
        build(ld64, *common, "-o", out / "editor", out / "main.o", out / "QtCore", out / "libSystem.dylib",
              "-rpath", "@executable_path/../Frameworks")
        built[arch] = (out / "editor", out / "QtCore")
    return built


def app_bundle(folder: Path, program: Path, qtcore: Path) -> Path:
    bundle = folder / "Editor.app"
    (bundle / "Contents" / "MacOS").mkdir(parents=True)
    framework = bundle / "Contents" / "Frameworks" / "QtCore.framework"
    (framework / "Versions" / "A").mkdir(parents=True)
    shutil.copy(program, bundle / "Contents" / "MacOS" / "Editor")
    shutil.copy(qtcore, framework / "Versions" / "A" / "QtCore")
    os.symlink("A", framework / "Versions" / "Current")
    os.symlink("Versions/Current/QtCore", framework / "QtCore")
    (bundle / "Contents" / "Info.plist").write_bytes(plistlib.dumps({"CFBundleExecutable": "Editor"}))
    return bundle


@pytest.mark.skipif(HOST_OS == "windows", reason="the .app's framework links need symbolic links")
def test_a_universal_app_bundle_linked_by_ld64_lld_is_read_in_the_slice_asked_for(tmp_path):
    slices = macho_slices(tmp_path / "build", "6.8.2")
    lipo = tool("llvm-lipo", "llvm")
    program, qtcore = tmp_path / "editor", tmp_path / "QtCore"
    build(lipo, "-create", slices["arm64"][0], slices["x86_64"][0], "-output", program)
    build(lipo, "-create", slices["arm64"][1], slices["x86_64"][1], "-output", qtcore)
    bundle = app_bundle(tmp_path, program, qtcore)
    real_qtcore = str((bundle / "Contents/Frameworks/QtCore.framework/Versions/A/QtCore").resolve())
    for platform in ("macos-arm64", "macos-x64"):
        got = detect(bundle, "--platform", platform)
        assert (got["format"], got["platform"], got["qt"], got["from"], got["qtcore"]) == \
            ("macho", platform, "6.8.2", "library", real_qtcore)
        assert got["app"] == str((bundle / "Contents" / "MacOS" / "Editor").resolve())


def test_a_thin_x64_program_linked_by_ld64_lld_gets_the_x64_platform(tmp_path, qtmcp_env):
    slices = macho_slices(tmp_path / "build", "6.7.1")
    program = slices["x86_64"][0]
    none = str(tmp_path / "none")  # dyld's fallback folders empty: a Mac may have a Qt in /Library/Frameworks
    env = dict(qtmcp_env, DYLD_FALLBACK_FRAMEWORK_PATH=none, DYLD_FALLBACK_LIBRARY_PATH=none)
    got = detect(program, env=env)  # its framework is not beside it: the version it was linked against
    assert (got["platform"], got["qt"], got["from"], got["qtcore"]) == ("macos-x64", "6.7.1", "program", None)
