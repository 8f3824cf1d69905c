"""--qt auto: reading the Qt version and CPU from the application itself.

The readers (ELF, PE, Mach-O, ld.so.cache) on files written by
tests/binaries.py (no toolchain needed), the loaders' search in folders
built here (with a private root for /etc/ld.so.cache and the default
folders), the choice of build, a seeded mutation test of every reader, and
run / fetch / detect end to end against a release served on 127.0.0.1.
Binaries built by real toolchains are in test_detect_real.py.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

import binaries as b
import pytest
from fixtures import HOST_OS, HOST_PLATFORM, assert_error, import_qtmcp, run_qtmcp, start_qtmcp, stderr_lines, text

qtmcp = import_qtmcp()

POSIX_ONLY = pytest.mark.skipif(HOST_OS == "windows", reason="needs symbolic links and fifos (POSIX)")
QT6 = "libQt6Core.so.6"


def read(path, environ=None, root=None, arch=None):
    return qtmcp.read_app(str(path), environ or {}, arch, str(root) if root else os.sep)


def cannot_read(path, *needles, environ=None, root=None):
    with pytest.raises(qtmcp.UsageError) as caught:
        read(path, environ, root)
    message = str(caught.value)
    assert caught.value.status == 2
    assert message.startswith("cannot read the Qt version of ") and message.endswith("; give --qt"), message
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    return message


def linux_app(folder, qt="6.7.2", **program):
    """bin/editor needing libQt6Core.so.6 (versions Qt_6, Qt_6.<minor>) and lib/libQt6Core.so.<qt>."""
    folder = Path(folder)
    minor = "Qt_6.%s" % qt.split(".")[1]
    real = b.write(folder / "lib" / ("libQt6Core.so." + qt), b.elf(soname=QT6, version_defs=["Qt_6", minor]))
    b.link(folder / "lib" / QT6, real.name)
    program.setdefault("needed", [QT6, "libc.so.6"])
    program.setdefault("version_needs", {QT6: ["Qt_6", minor]})
    return b.write(folder / "bin" / "editor", b.elf(**program)), real


# -- ELF ----------------------------------------------------------------------------------

@pytest.mark.parametrize("arch,bits,order", [("x64", 64, "<"), ("x86", 32, "<"), ("arm64", 64, "<"),
                                             ("ppc64", 64, ">"), ("arm", 32, ">")])
def test_an_elf_file_gives_its_machine_needed_libraries_paths_and_versions(arch, bits, order):
    data = b.elf(arch=arch, bits=bits, order=order, needed=[QT6, "libc.so.6"], rpath="/r", runpath="$ORIGIN/../lib",
                 version_needs={QT6: ["Qt_6", "Qt_6.5", "Qt_6_PRIVATE_API"], "libc.so.6": ["GLIBC_2.2.5"]})
    elf = qtmcp.read_elf(qtmcp.ProgramBytes(data))
    assert (elf.bits, elf.order, elf.arch) == (bits, order, arch)
    assert elf.needed == [QT6, "libc.so.6"]
    assert (elf.rpath, elf.runpath) == ("/r", "$ORIGIN/../lib")
    assert elf.version_needs[QT6] == ["Qt_6", "Qt_6.5", "Qt_6_PRIVATE_API"]
    assert qtmcp.highest_qt_version(elf.version_needs[QT6]) == "6.5"


def test_a_library_gives_its_version_definitions_and_its_rodata():
    data = b.elf(soname=QT6, version_defs=["Qt_6_PRIVATE_API", "Qt_6", "Qt_6.0", "Qt_6.8"],
                 rodata=b.build_string("6.8.2"))
    reader = qtmcp.ProgramBytes(data)
    elf = qtmcp.read_elf(reader)
    assert elf.soname == QT6
    assert qtmcp.highest_qt_version(elf.version_defs) == "6.8"
    offset, size = qtmcp.elf_section_named(reader, elf, ".rodata")
    assert qtmcp.qt_build_string(data[offset:offset + size]) == ("6.8.2", False)


def test_an_elf_file_without_program_headers_is_read_from_its_dynamic_section():
    data = b.elf(needed=[QT6], program_headers=False)
    elf = qtmcp.read_elf(qtmcp.ProgramBytes(data))
    assert elf.dynamic and elf.needed == [QT6]


@pytest.mark.parametrize("needed,found", [
    ([QT6], QT6), (["libQt5Core.so.5", QT6], "libQt5Core.so.5"), (["/opt/qt/lib/libQt6Core.so.6"], "/opt/qt/lib/libQt6Core.so.6"),
    (["libQt6Core5Compat.so.6", "libQt6Gui.so.6"], None), (["libc.so.6"], None), (["libQt6Core.so"], "libQt6Core.so"),
])
def test_the_qtcore_entry_among_the_needed_libraries(needed, found):
    assert qtmcp.elf_qtcore_name(needed) == found


@pytest.mark.parametrize("name,version", [
    ("libQt6Core.so.6.8.2", "6.8.2"), ("libQt5Core.so.5.15.8", "5.15.8"), ("libQt6Core.so.6.4", "6.4"),
    ("libQt6Core.6.8.2.dylib", "6.8.2"), ("libQt6Core.so.6", None), ("libQt6Core.so.5.15.2", None),
    ("libQt6Gui.so.6.8.2", None), ("QtCore", None), ("libQt6Core.so.6.8.x", None),
])
def test_the_version_in_a_library_file_name(name, version):
    assert qtmcp.qt_version_in_name(name) == version


def test_the_build_string_is_found_among_other_strings_and_tells_a_debug_build():
    assert qtmcp.qt_build_string(b"Qt has caught\0Qt 5 (\0" + b.build_string("6.5.3", debug=True)) == ("6.5.3", True)
    assert qtmcp.qt_build_string(b"nothing of Qt here (really)") is None


# -- PE -----------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ["x64", "x86", "arm64"])
def test_a_pe_program_gives_its_machine_and_imports(arch):
    data = b.pe(arch=arch, imports=["KERNEL32.dll", "Qt6Core.dll", "Qt6Gui.dll"])
    reader = qtmcp.ProgramBytes(data)
    pe = qtmcp.read_pe(reader)
    assert pe.arch == arch and not pe.dll
    imports = qtmcp.pe_imports(reader, pe)
    assert imports == ["KERNEL32.dll", "Qt6Core.dll", "Qt6Gui.dll"]
    assert qtmcp.pe_qtcore_name(imports) == ("Qt6Core.dll", False)


@pytest.mark.parametrize("imports,found", [
    (["QT5CORED.DLL"], ("QT5CORED.DLL", True)), (["Qt6Core5Compat.dll"], None), (["Qt6Cored.dll"], ("Qt6Cored.dll", True)),
])
def test_the_qtcore_dll_and_its_debug_form(imports, found):
    assert qtmcp.pe_qtcore_name(imports) == found


@pytest.mark.parametrize("arch,debug", [("x64", False), ("x86", True)])
def test_a_qtcore_dll_gives_its_versioninfo(arch, debug):
    reader = qtmcp.ProgramBytes(b.pe(arch=arch, dll=True, version=(6, 8, 2, 0), debug=debug))
    assert qtmcp.pe_file_version(reader, qtmcp.read_pe(reader)) == ("6.8.2", debug)


def test_a_resource_directory_that_points_at_itself_gives_no_version_and_no_hang():
    data = bytearray(b.pe(dll=True, version=(6, 8, 2, 0)))
    reader = qtmcp.ProgramBytes(bytes(data))
    root = qtmcp.pe_offset(qtmcp.read_pe(reader), qtmcp.read_pe(reader).directories[2][0])
    data[root + 20 : root + 24] = (0x80000000).to_bytes(4, "little")  # the RT_VERSION entry: the root again
    reader = qtmcp.ProgramBytes(bytes(data))
    assert qtmcp.pe_file_version(reader, qtmcp.read_pe(reader)) is None


def test_a_dll_without_versioninfo_gives_none():
    reader = qtmcp.ProgramBytes(b.pe(dll=True))
    assert qtmcp.pe_file_version(reader, qtmcp.read_pe(reader)) is None


# -- Mach-O -------------------------------------------------------------------------------

def test_a_thin_macho_gives_its_cpu_dylibs_rpaths_and_versions():
    data = b.macho(cpu="x64", dylibs=[("@rpath/QtCore.framework/Versions/A/QtCore", "6.8.2"),
                                      ("@rpath/QtGui.framework/Versions/A/QtGui", "6.8.2", True)],
                   rpaths=["@executable_path/../Frameworks", "/opt/qt/lib"])
    reader = qtmcp.ProgramBytes(data)
    assert qtmcp.macho_slices(reader) == [("x64", 0)]
    image = qtmcp.read_macho(reader, 0)
    assert image.arch == "x64" and image.kind == 2
    assert image.rpaths == ["@executable_path/../Frameworks", "/opt/qt/lib"]
    assert qtmcp.macho_qtcore(image) == ("@rpath/QtCore.framework/Versions/A/QtCore", (6 << 16) | (8 << 8) | 2, False)
    assert qtmcp.macho_version(image.dylibs[0][2]) == "6.8.2"


@pytest.mark.parametrize("wide", [False, True])
def test_a_universal_macho_gives_each_slice(wide):
    data = b.fat([b.macho(cpu="x64"), b.macho(cpu="arm64", order="<"), b.macho(cpu="ppc", order=">")], wide=wide)
    reader = qtmcp.ProgramBytes(data)
    slices = qtmcp.macho_slices(reader)
    assert [s[0] for s in slices] == ["x64", "arm64", "ppc"]
    assert [qtmcp.read_macho(reader, s[1]).arch for s in slices] == ["x64", "arm64", "ppc"]


@pytest.mark.parametrize("name,debug", [
    ("@rpath/libQt6Core.6.dylib", False), ("/usr/local/lib/libQt5Core.5.15.2.dylib", False),
    ("@rpath/QtCore.framework/Versions/5/QtCore_debug", True), ("@rpath/libQt6Core_debug.dylib", True),
])
def test_the_qtcore_dylib_in_its_forms(name, debug):
    image = qtmcp.read_macho(qtmcp.ProgramBytes(b.macho(dylibs=[(name, "6.2.0")])), 0)
    assert qtmcp.macho_qtcore(image)[::2] == (name, debug)


def test_a_dylib_that_only_looks_like_qtcore_is_not_it():
    image = qtmcp.read_macho(qtmcp.ProgramBytes(b.macho(dylibs=[("@rpath/libQt6Core5Compat.6.dylib", "6.2.0"),
                                                                 ("@rpath/NotQtCore.framework/QtCore", "1.0")])), 0)
    assert qtmcp.macho_qtcore(image) is None


# -- /etc/ld.so.cache ---------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["new", "old", "compat"])
def test_the_loader_cache_in_each_format_lists_the_paths_of_a_library(fmt):
    data = b.ld_so_cache({"libc.so.6": "/lib/x86_64-linux-gnu/libc.so.6",
                          QT6: ["/usr/lib/x86_64-linux-gnu/libQt6Core.so.6", "/usr/lib/i386-linux-gnu/libQt6Core.so.6"],
                          "libQt6Core.so.6.bak": "/x/libQt6Core.so.6.bak"}, fmt)
    assert qtmcp.ld_cache_paths(data, QT6) == ["/usr/lib/x86_64-linux-gnu/libQt6Core.so.6",
                                               "/usr/lib/i386-linux-gnu/libQt6Core.so.6"]
    assert qtmcp.ld_cache_paths(data, "libQt5Core.so.5") == []


def test_the_loader_cache_of_this_machine_is_read_without_running_ldconfig():
    try:
        data = Path("/etc/ld.so.cache").read_bytes()
    except OSError:
        pytest.skip("this machine has no /etc/ld.so.cache")
    paths = qtmcp.ld_cache_paths(data, "libc.so.6")
    assert paths and all(os.path.basename(p) == "libc.so.6" for p in paths)


# -- Linux: ld.so's search ----------------------------------------------------------------

@pytest.fixture
def system(tmp_path):
    """A private root: its etc/ld.so.cache lists usr/lib/x86_64-linux-gnu/libQt6Core.so.6 (Qt 6.4.2)."""
    root = tmp_path / "root"
    lib = root / "usr" / "lib" / "x86_64-linux-gnu"
    real = b.write(lib / "libQt6Core.so.6.4.2", b.elf(soname=QT6, version_defs=["Qt_6", "Qt_6.4"]))
    b.link(lib / QT6, real.name)
    b.write(root / "etc" / "ld.so.cache", b.ld_so_cache({QT6: "/usr/lib/x86_64-linux-gnu/" + QT6}), 0o644)
    return root


@POSIX_ONLY
def test_a_system_qt_is_found_through_the_loader_cache_and_its_real_file_name(tmp_path, system):
    program = b.write(tmp_path / "app", b.elf(needed=[QT6], version_needs={QT6: ["Qt_6", "Qt_6.2"]}))
    info = read(program, root=system)
    assert (info.qt, info.source, info.method, info.format, info.platform) == ("6.4.2", "library", "file name", "elf",
                                                                               ("linux", "x64"))
    assert info.qtcore == str((system / "usr/lib/x86_64-linux-gnu/libQt6Core.so.6.4.2").resolve())


@POSIX_ONLY
def test_a_runpath_with_origin_finds_a_private_qtcore_before_the_systems(tmp_path, system):
    program, real = linux_app(tmp_path / "opt", "6.7.2", runpath="$ORIGIN/../lib")
    info = read(program, root=system)
    assert (info.qt, info.qtcore) == ("6.7.2", str(real.resolve()))


@POSIX_ONLY
def test_ld_library_path_comes_before_the_runpath(tmp_path, system):
    program, _ = linux_app(tmp_path / "opt", "6.7.2", runpath="$ORIGIN/../lib")
    other = b.write(tmp_path / "other" / QT6, b.elf(soname=QT6, rodata=b.build_string("6.9.1")))
    info = read(program, {"LD_LIBRARY_PATH": "/nowhere;%s" % other.parent}, root=system)
    assert (info.qt, info.method, info.qtcore) == ("6.9.1", "build string", str(other.resolve()))


@POSIX_ONLY
def test_an_rpath_comes_before_ld_library_path_but_only_without_a_runpath(tmp_path, system):
    program, real = linux_app(tmp_path / "opt", "6.7.2", rpath="$ORIGIN/../lib")
    other = b.write(tmp_path / "other" / QT6, b.elf(soname=QT6, rodata=b.build_string("6.9.1")))
    environ = {"LD_LIBRARY_PATH": str(other.parent)}
    assert read(program, environ, root=system).qt == "6.7.2"
    both, _ = linux_app(tmp_path / "both", "6.7.2", rpath="$ORIGIN/../lib", runpath="/nowhere")
    assert read(both, environ, root=system).qt == "6.9.1"


@POSIX_ONLY
def test_origin_is_the_folder_of_the_real_program_after_links(tmp_path, system):
    program, real = linux_app(tmp_path / "opt", "6.7.2", runpath="${ORIGIN}/../lib")
    shortcut = b.link(tmp_path / "usr-bin" / "editor", str(program))
    info = read(shortcut, root=system)
    assert (info.app, info.qt) == (str(program.resolve()), "6.7.2")


@POSIX_ONLY
def test_lib_in_an_rpath_stands_for_the_systems_library_folder_names(tmp_path, system):
    program, real = linux_app(tmp_path / "opt", "6.7.2", runpath="$ORIGIN/../$LIB")
    (tmp_path / "opt" / "lib").rename(tmp_path / "opt" / "lib64")
    assert read(program, root=system).qtcore == str((tmp_path / "opt" / "lib64" / real.name).resolve())


@POSIX_ONLY
def test_a_library_of_another_class_or_machine_is_skipped_as_ld_so_skips_it(tmp_path, system):
    b.write(tmp_path / "wrong32" / QT6, b.elf(arch="x86", soname=QT6, rodata=b.build_string("6.9.0")))
    b.write(tmp_path / "wrongarm" / QT6, b.elf(arch="arm64", soname=QT6, rodata=b.build_string("6.9.0")))
    program = b.write(tmp_path / "app", b.elf(needed=[QT6], runpath="%s:%s" % (tmp_path / "wrong32", tmp_path / "wrongarm")))
    assert read(program, root=system).qt == "6.4.2"


@POSIX_ONLY
def test_the_default_folders_come_after_the_loader_cache(tmp_path):
    root = tmp_path / "root"
    b.write(root / "usr" / "lib64" / "libQt6Core.so.6.6.1", b.elf(soname=QT6))
    b.link(root / "usr" / "lib64" / QT6, "libQt6Core.so.6.6.1")
    program = b.write(tmp_path / "app", b.elf(needed=[QT6]))
    assert read(program, root=root).qt == "6.6.1"


def test_a_library_named_without_its_version_gives_its_build_string_else_its_version_definitions(tmp_path):
    b.write(tmp_path / "a" / "lib" / QT6, b.elf(soname=QT6, rodata=b.build_string("6.8.3"),
                                                version_defs=["Qt_6", "Qt_6.8"]))
    program = b.write(tmp_path / "a" / "app", b.elf(needed=[QT6], runpath="$ORIGIN/lib"))
    assert (read(program, root=tmp_path).qt, read(program, root=tmp_path).method) == ("6.8.3", "build string")
    b.write(tmp_path / "b" / "lib" / QT6, b.elf(soname=QT6, version_defs=["Qt_6", "Qt_6.0", "Qt_6.8"]))
    program = b.write(tmp_path / "b" / "app", b.elf(needed=[QT6], runpath="$ORIGIN/lib"))
    info = read(program, root=tmp_path)
    assert (info.qt, info.method, info.source) == ("6.8", "version definitions", "library")


def test_a_qtcore_that_cannot_be_found_gives_the_version_the_program_was_linked_against(tmp_path):
    program = b.write(tmp_path / "app", b.elf(needed=[QT6], runpath="$ORIGIN/lib",
                                              version_needs={QT6: ["Qt_6", "Qt_6.0", "Qt_6.5", "Qt_6_PRIVATE_API"]}))
    info = read(program, root=tmp_path)
    assert (info.qt, info.source, info.qtcore, info.wanted) == ("6.5", "program", None, QT6)


def test_a_qtcore_that_cannot_be_found_and_a_program_without_a_minor_version_is_status_2(tmp_path):
    program = b.write(tmp_path / "app", b.elf(needed=[QT6], version_needs={QT6: ["Qt_6"]}))
    cannot_read(program, QT6, "not where the loader would look", root=tmp_path)


def test_a_thousand_rpath_entries_are_looked_at_only_so_far(tmp_path):
    runpath = ":".join("/nowhere/%d" % i for i in range(1000)) + ":$ORIGIN/lib"
    program = b.write(tmp_path / "app", b.elf(needed=[QT6], runpath=runpath, version_needs={QT6: ["Qt_6.3"]}))
    b.write(tmp_path / "lib" / QT6, b.elf(soname=QT6, rodata=b.build_string("6.3.1")))
    start = time.perf_counter()
    info = read(program, root=tmp_path)
    assert time.perf_counter() - start < 1
    assert (info.qt, info.source) == ("6.3", "program")  # the library past the limit is not reached


# -- Windows: the program's folder, then PATH ---------------------------------------------

def test_a_windows_program_finds_qtcore_in_its_folder_before_path(tmp_path):
    program, real = b.qt_app(tmp_path / "app", "6.7.2", "windows")
    b.write(tmp_path / "path" / "Qt6Core.dll", b.pe(dll=True, version=(6, 9, 0, 0)))
    info = read(program, {"PATH": str(tmp_path / "path")})
    assert (info.format, info.platform, info.qt, info.method) == ("pe", ("windows", "x64"), "6.7.2", "VERSIONINFO")
    assert info.qtcore == str(real.resolve())


def test_a_windows_program_finds_qtcore_on_path_skipping_other_cpus(tmp_path):
    program = b.write(tmp_path / "app" / "editor.exe", b.pe(arch="x86", imports=["Qt6Core.dll"]))
    b.write(tmp_path / "x64" / "Qt6Core.dll", b.pe(dll=True, version=(6, 9, 0, 0)))
    b.write(tmp_path / "x86" / "Qt6Core.dll", b.pe(arch="x86", dll=True, version=(6, 5, 3, 0)))
    path = os.pathsep.join([str(tmp_path / "nowhere"), str(tmp_path / "x64"), str(tmp_path / "x86")])
    info = read(program, {"PATH": path})
    assert (info.platform, info.qt) == (("windows", "x86"), "6.5.3")


def test_a_windows_program_of_a_debug_qt_says_so(tmp_path):
    program = b.write(tmp_path / "editor.exe", b.pe(imports=["Qt6Cored.dll"]))
    b.write(tmp_path / "qt6cored.dll", b.pe(dll=True, version=(6, 8, 1, 0), debug=True))
    info = read(program)
    assert (info.qt, info.debug) == ("6.8.1", True)


def test_a_qtcore_dll_without_versioninfo_gives_its_build_string(tmp_path):
    program = b.write(tmp_path / "editor.exe", b.pe(imports=["Qt6Core.dll"]))
    b.write(tmp_path / "Qt6Core.dll", b.pe(dll=True, rdata=b.build_string("6.6.0")))
    assert (read(program).qt, read(program).method) == ("6.6.0", "build string")


def test_a_windows_program_whose_qtcore_is_missing_is_status_2(tmp_path):
    program = b.write(tmp_path / "editor.exe", b.pe(imports=["Qt6Core.dll"]))
    cannot_read(program, "Qt6Core.dll", "program's folder or on PATH", environ={"PATH": ""})


# -- macOS: @rpath, @executable_path, frameworks, .app ------------------------------------

@POSIX_ONLY
def test_an_app_bundle_finds_its_framework_through_rpath_and_the_current_version_links(tmp_path):
    program, real = b.qt_app(tmp_path, "6.8.2", "macos", "arm64")
    info = read(tmp_path / "editor.app")
    assert (info.format, info.platform, info.qt, info.method) == ("macho", ("macos", "arm64"), "6.8.2", "LC_ID_DYLIB")
    assert (info.app, info.qtcore) == (str(program.resolve()), str(real.resolve()))


def test_an_app_bundle_names_its_program_in_info_plist(tmp_path):
    image = b.macho(dylibs=[("@executable_path/../lib/libQt6Core.6.dylib", "6.5.0")])
    bundle = b.app_bundle(tmp_path, "Editor", image, executable="editor-bin")
    b.write(bundle / "Contents" / "lib" / "libQt6Core.6.dylib",
            b.macho(kind=6, id_dylib=("@rpath/libQt6Core.6.dylib", "6.5.3")))
    info = read(bundle)
    assert (info.app.endswith("editor-bin"), info.qt) == (True, "6.5.3")


@pytest.mark.parametrize("plist", [b"not a plist", b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><plist/>",
                                   b"bplist00\xff\xff"])
def test_a_damaged_info_plist_is_status_2(tmp_path, plist):
    bundle = b.app_bundle(tmp_path, "Editor", b.macho(), plist=plist)
    cannot_read(bundle, "Info.plist")


def test_loader_path_and_an_absolute_install_name_are_followed(tmp_path):
    b.write(tmp_path / "qt" / "libQt6Core.6.dylib", b.macho(kind=6, id_dylib=("x", "6.4.0")))
    program = b.write(tmp_path / "app", b.macho(dylibs=[("%s/qt/libQt6Core.6.dylib" % tmp_path, "6.2.0")]))
    assert read(program).qt == "6.4.0"
    program = b.write(tmp_path / "qt" / "tool", b.macho(dylibs=[("@loader_path/libQt6Core.6.dylib", "6.2.0")]))
    assert read(program).qt == "6.4.0"


def test_a_universal_program_is_read_in_the_slice_of_the_cpu_asked_for(tmp_path):
    qt = "@rpath/QtCore.framework/Versions/A/QtCore"
    program = b.write(tmp_path / "app", b.fat([b.macho(cpu="x64", dylibs=[(qt, "6.5.0")]),
                                                b.macho(cpu="arm64", dylibs=[(qt, "6.8.0")])]))
    assert (read(program, arch="arm64").platform, read(program, arch="arm64").qt) == (("macos", "arm64"), "6.8.0")
    assert read(program, arch="x64").platform == ("macos", "x64")
    assert read(program, arch="ppc").platform == ("macos", "x64")  # no such slice: the first


def test_a_framework_without_the_programs_cpu_is_skipped(tmp_path):
    qt = "@rpath/QtCore.framework/Versions/A/QtCore"
    b.framework(tmp_path / "fw", b.macho(cpu="arm64", kind=6, id_dylib=(qt, "6.8.2")), links=False)
    program = b.write(tmp_path / "app", b.macho(cpu="x64", dylibs=[(qt, "6.7.0")], rpaths=[str(tmp_path / "fw")]))
    info = read(program, no_fallback(tmp_path))
    assert (info.qt, info.source) == ("6.7.0", "program")  # the version it was linked against


def no_fallback(tmp_path):
    """dyld's fallback folders made empty (a Mac may have a Qt in /Library/Frameworks)."""
    return {"DYLD_FALLBACK_FRAMEWORK_PATH": str(tmp_path / "none"), "DYLD_FALLBACK_LIBRARY_PATH": str(tmp_path / "none")}


def test_dyld_framework_path_comes_first(tmp_path):
    qt = "@rpath/QtCore.framework/Versions/A/QtCore"
    b.framework(tmp_path / "fw1", b.macho(kind=6, id_dylib=(qt, "6.8.2")), links=False)
    b.framework(tmp_path / "fw2", b.macho(kind=6, id_dylib=(qt, "6.9.0")), links=False)
    program = b.write(tmp_path / "app", b.macho(dylibs=[(qt, "6.7.0")], rpaths=[str(tmp_path / "fw1")]))
    assert read(program, {"DYLD_FRAMEWORK_PATH": str(tmp_path / "fw2")}).qt == "6.9.0"


# -- what is not an application with a QtCore ---------------------------------------------

def test_a_script_is_status_2(tmp_path):
    script = b.write(tmp_path / "run.sh", b"#!/bin/sh\nexec ./editor\n")
    cannot_read(script, "a script")


def test_a_static_program_is_status_2(tmp_path):
    cannot_read(b.write(tmp_path / "app", b.elf(kind=2, dynamic=False)), "static program")


@pytest.mark.parametrize("data,needle", [
    (b.elf(needed=["libc.so.6"]), "libQt<N>Core.so.<N>"), (b.pe(), "Qt<N>Core.dll"),
    (b.macho(), "QtCore.framework"), (b"\x7fELF\x02\x01\x01" + bytes(57), "neither a program nor a shared library"),
    (b"MZ" + bytes(100), "without a PE header"), (b"plain text", "not an ELF, PE or Mach-O program"),
])
def test_a_program_without_qtcore_or_a_file_that_is_no_program_is_status_2(tmp_path, data, needle):
    cannot_read(b.write(tmp_path / "app", data), needle)


def test_a_folder_that_is_not_an_app_bundle_is_status_2(tmp_path):
    cannot_read(tmp_path, "a folder")


@POSIX_ONLY
def test_a_fifo_as_the_application_is_an_error_not_a_wait(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cannot_read(fifo, "fifo")


def test_a_missing_file_is_status_2(tmp_path):
    cannot_read(tmp_path / "nothing")


def test_a_huge_sparse_program_is_read_by_its_headers_only(tmp_path):
    path = tmp_path / "huge"
    with open(path, "wb") as out:
        out.write(b.elf(needed=[QT6], runpath="$ORIGIN/lib", version_needs={QT6: ["Qt_6.6"]}))
        out.truncate(4 * 1024 ** 3)
    reads = read_bytes_during(lambda: read(path, root=tmp_path))
    assert reads is None or reads < 1024 * 1024


def test_a_fat_header_claiming_two_to_the_32_slices_is_status_2(tmp_path):
    cannot_read(b.write(tmp_path / "app", b"\xca\xfe\xba\xbe\xff\xff\xff\xff" + bytes(64)), "4294967295 slices")


def test_a_200_mb_program_is_detected_reading_under_one_mib_of_it(tmp_path):
    path = tmp_path / "big"
    b.write(tmp_path / "lib" / QT6, b.elf(soname=QT6, rodata=b.build_string("6.8.2")))
    with open(path, "wb") as out:
        out.write(b.elf(needed=[QT6, "libc.so.6"], runpath="$ORIGIN/lib"))
        out.truncate(200 * 1024 * 1024)  # sparse: the size is what a reader could be lured into
    reads = read_bytes_during(lambda: read(path, root=tmp_path))
    if reads is None:
        pytest.skip("this OS has no /proc/self/io to count the bytes read")
    assert reads < 1024 * 1024


def read_bytes_during(action):
    """Bytes this process read (Linux /proc/self/io 'rchar') while `action` ran; None elsewhere."""
    def rchar():
        try:
            with open("/proc/self/io") as io:
                return int(next(line for line in io if line.startswith("rchar:")).split()[1])
        except (OSError, StopIteration):
            return None
    before = rchar()
    action()
    after = rchar()
    return None if before is None or after is None else after - before


# -- finding the application among the arguments ------------------------------------------

def test_the_application_is_the_first_argument_naming_a_program_or_an_app_bundle(tmp_path, monkeypatch):
    program = b.write(tmp_path / "editor", b.elf(needed=[QT6]))
    script = b.write(tmp_path / "run.sh", b"#!/bin/sh\n")
    bundle = b.app_bundle(tmp_path, "Other", b.macho())
    monkeypatch.chdir(tmp_path)
    assert qtmcp.find_app(["--verbose", str(script), "", "editor", str(bundle)]) == str(program)
    assert qtmcp.find_app([str(bundle), str(program)]) == str(bundle)
    assert qtmcp.find_app(["--print-args", str(tmp_path), str(tmp_path / "missing")]) is None


@POSIX_ONLY
def test_a_fifo_among_the_arguments_is_passed_over_without_waiting(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    program = b.write(tmp_path / "editor", b.elf(needed=[QT6]))
    assert qtmcp.find_app([str(tmp_path / "fifo"), str(program)]) == str(program)


# -- the choice of build ------------------------------------------------------------------

def sums_of(*names):
    return {name: "0" * 64 for name in names}


RELEASE = sums_of("qtmcp-qt6.5-linux.tar.gz", "qtmcp-qt6.8-linux.tar.gz", "qtmcp-qt6.9-linux-arm64.tar.gz",
                  "qtmcp-qt5.15-patched-linux.tar.gz", "qtmcp-qt5.12-linux.tar.gz", "qtmcp-qt6.8-windows-x86.zip")


def info_for(qt, platform=("linux", "x64")):
    return qtmcp.AppInfo("/app", "elf", platform, qt, None, "program", False)


@pytest.mark.parametrize("qt,build", [
    ("6.8.2", "6.8"), ("6.8", "6.8"), ("6.7.2", "6.5"), ("6.12.0", "6.8"), ("6.5.0", "6.5"), ("6.4.2", None),
    ("5.15.2", "5.12"), ("5.11.3", None), ("7.0.0", None),
])
def test_the_build_is_the_same_major_at_the_highest_minor_not_above_the_applications(qt, build):
    assert qtmcp.build_for_app(RELEASE, info_for(qt), ("linux", "x64")) == build


def test_the_build_is_never_a_patched_one_and_is_for_the_platform_asked():
    assert qtmcp.build_for_app(sums_of("qtmcp-qt5.15-patched-linux.tar.gz"), info_for("5.15.8"), ("linux", "x64")) is None
    assert qtmcp.build_for_app(RELEASE, info_for("6.9.1"), ("linux", "arm64")) == "6.9"
    assert qtmcp.build_for_app(RELEASE, info_for("6.9.1"), ("windows", "x86")) == "6.8"


def test_the_reason_for_the_build_is_said_in_words():
    assert qtmcp.build_reason(RELEASE, info_for("6.7.2"), ("linux", "x64"), "6.5") == \
        "no 6.7 build; the 6.5 build loads into Qt 6.7"
    assert "offers Qt 5.12, 5.15-patched, 6.5, 6.8" in qtmcp.build_reason(RELEASE, info_for("6.4.2"), ("linux", "x64"), None)


# -- a seeded mutation test of every reader ------------------------------------------------

MUTATION_SEED = 20240611
MUTATIONS_PER_FILE = 110


def mutate(data: bytes, rng: random.Random) -> bytes:
    """Flip, cut, stretch or overwrite with huge numbers: one to three times."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        how = rng.choice(["flip", "flip", "cut", "stretch", "huge", "huge", "copy"])
        at = rng.randrange(max(1, len(data)))
        if how == "flip":
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif how == "cut":
            del data[at:]
        elif how == "stretch":
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 64, 4096])))
        elif how == "huge":
            value = rng.choice([0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, len(data), len(data) - 1, 0])
            at -= at % 4
            data[at:at + 4] = value.to_bytes(4, rng.choice(["little", "big"]))
        else:  # a header's bytes copied over another place: offsets that loop
            source = rng.randrange(min(len(data), 256) or 1)
            data[at:at + 16] = data[source:source + 16]
    return bytes(data)


def test_mutated_programs_libraries_and_loader_caches_are_input_not_crashes(tmp_path):
    rng = random.Random(MUTATION_SEED)
    good_elf_lib = b.elf(soname=QT6, version_defs=["Qt_6", "Qt_6.7"], rodata=b.build_string("6.7.2"))
    good_dll = b.pe(dll=True, version=(6, 8, 2, 0), rdata=b.build_string("6.8.2"))
    good_dylib = b.macho(cpu="x64", kind=6, id_dylib=("@rpath/QtCore.framework/Versions/A/QtCore", "6.8.2"))
    originals = dict(b.all_kinds())
    cache = b.ld_so_cache({QT6: "/usr/lib/x86_64-linux-gnu/" + QT6, "libc.so.6": "/lib/libc.so.6"})
    outcomes = {"read": 0, "status 2": 0}
    start = time.perf_counter()
    cases = 0
    for label, original in sorted(originals.items()):
        for _ in range(MUTATIONS_PER_FILE):
            cases += 1
            folder = tmp_path / ("case%d" % cases)
            mutated = mutate(original, rng)
            on_library = rng.random() < 0.3
            program = b.write(folder / "app", original if on_library else mutated)
            libs = {QT6: good_elf_lib, "Qt6Core.dll": good_dll}
            for name, data in libs.items():
                b.write(folder / name, mutate(data, rng) if on_library else data)
            b.write(folder / "QtCore.framework" / "Versions" / "A" / "QtCore",
                    mutate(good_dylib, rng) if on_library else good_dylib)
            b.write(folder / "etc" / "ld.so.cache", mutate(cache, rng), 0o644)
            try:
                info = qtmcp.read_app(str(program), {"PATH": str(folder)}, None, str(folder))
            except qtmcp.UsageError as error:
                message = str(error)
                assert message.startswith("cannot read the Qt version of ") and message.endswith("; give --qt")
                assert "\n" not in message and error.status == 2
                outcomes["status 2"] += 1
            else:
                assert qtmcp.qt_major_minor(info.qt) and info.format in ("elf", "pe", "macho")
                outcomes["read"] += 1
            assert isinstance(qtmcp.ld_cache_paths(mutate(cache, rng), QT6), list)
    assert cases >= 600
    assert outcomes["read"] and outcomes["status 2"], outcomes  # both kinds happen
    assert time.perf_counter() - start < 30


def test_each_reader_stops_at_its_read_budget():
    reader = qtmcp.ProgramBytes(b"\0" * 100, budget=10)
    reader.read(0, 10)
    with pytest.raises(qtmcp.BadProgram):
        reader.read(10, 1)


# -- end to end: run, fetch and detect with --qt auto -------------------------------------

def host_app(tmp_path, qt):
    program, real = b.host_qt_app(tmp_path / "app", qt, HOST_PLATFORM.split("-")[1])
    return (program.parents[2] if HOST_OS == "macos" else program), real


def test_run_without_qt_starts_the_build_the_application_needs_with_its_arguments_unchanged(
        tmp_path, release, mirror_args, cache_dir):
    app, real = host_app(tmp_path, "6.7.2")
    args = ["--print-args", str(app), "--quiet", "-", "x y"]
    cp = run_qtmcp(mirror_args + ["--"] + args)
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout) == args
    note = next(line for line in stderr_lines(cp) if "uses Qt" in line)
    assert "uses Qt 6.7.2 (%s, %s): using the Qt 6.5 build" % (HOST_PLATFORM, real.resolve()) in note
    assert release.host_build("6.5").launcher_path(cache_dir, "vTEST").is_file()
    assert not release.host_build("6.8").install_dir(cache_dir, "vTEST").exists()


def test_an_mcp_client_talks_to_the_launcher_started_for_the_application(tmp_path, mirror_args):
    app, _ = host_app(tmp_path, "6.8.1")
    with start_qtmcp(mirror_args + [str(app), "--flag"], timeout=60) as session:
        session.initialize()
        answer = session.call_tool("env", {"names": []})
        assert session.close() == 0, text(session.stderr)
    assert json.loads(answer["result"]["content"][0]["text"])["argv"] == [str(app), "--flag"]
    assert b"using the Qt 6.8 build" in session.stderr


@pytest.mark.parametrize("form", [["fetch", "--"], ["fetch"], ["--qt", "auto", "fetch", "--"]])
def test_fetch_with_the_application_installs_its_build_and_prints_the_launcher(
        tmp_path, release, mirror_args, cache_dir, form):
    app, _ = host_app(tmp_path, "6.8.0")
    cp = run_qtmcp(mirror_args + form + [str(app), "ignored", "--also-ignored"])
    assert cp.returncode == 0, text(cp.stderr)
    assert text(cp.stdout).strip() == str(release.host_build("6.8").launcher_path(cache_dir, "vTEST"))


def test_an_application_whose_qt_minor_the_release_lacks_uses_the_highest_lower_minor(tmp_path, release,
                                                                                         mirror_args, cache_dir):
    app, _ = host_app(tmp_path, "6.12.1")
    cp = run_qtmcp(["fetch"] + mirror_args + [str(app)])
    assert text(cp.stdout).strip() == str(release.host_build("6.8").launcher_path(cache_dir, "vTEST"))


@pytest.mark.parametrize("qt", ["6.4.2", "5.15.2"])
def test_no_build_that_loads_into_the_application_is_status_3_naming_its_version(tmp_path, mirror_args, qt):
    app, _ = host_app(tmp_path, qt)
    line = assert_error(run_qtmcp(mirror_args + ["--", str(app)]), 3, qt, "6.5", "6.8", "--qt")
    assert "5.15-patched" in line  # offered, but never chosen by itself


def test_a_script_as_the_application_is_status_2_naming_the_versions_offered(tmp_path, mirror_args):
    script = b.write(tmp_path / "run.sh", b"#!/bin/sh\nexec ./editor\n")
    assert_error(run_qtmcp(mirror_args + ["--", str(script)]), 2, "run.sh", "script", "--qt", "6.8", "6.5")


def test_a_static_program_as_the_application_is_status_2(tmp_path, mirror_args):
    static = b.write(tmp_path / "editor", b.elf(kind=2, dynamic=False))
    assert_error(run_qtmcp(mirror_args + ["fetch", str(static)]), 2, "static", "give --qt", "offers Qt 5.15-patched, 6.5, 6.8")


def test_no_application_is_status_2_naming_the_versions_offered(mirror_args):
    assert_error(run_qtmcp(mirror_args + ["--", "--print-args"]), 2, "no application", "--qt", "6.8", "6.5")


def test_with_qt_a_mismatching_application_is_a_warning_not_an_error(tmp_path, mirror_args):
    app, _ = host_app(tmp_path, "6.5.3")
    cp = run_qtmcp(mirror_args + ["--qt", "6.8", "--", "--print-args", str(app)])
    assert cp.returncode == 0, text(cp.stderr)
    warning = next(line for line in stderr_lines(cp) if "warning" in line)
    assert "6.5.3" in warning and "cannot load" in warning


def test_with_qt_an_application_that_cannot_be_read_changes_nothing(tmp_path, mirror_args):
    static = b.write(tmp_path / "editor", b.elf(kind=2, dynamic=False))
    cp = run_qtmcp(mirror_args + ["--qt", "6.8", "--", "--print-args", str(static)])
    assert cp.returncode == 0 and b"warning" not in cp.stderr, text(cp.stderr)


def test_a_cached_start_with_auto_opens_no_connection(tmp_path, release, mirror_args):
    app, _ = host_app(tmp_path, "6.7.2")
    assert run_qtmcp(mirror_args + ["fetch", str(app)]).returncode == 0
    release.server.clear()
    cp = run_qtmcp(mirror_args + ["--", "--print-args", str(app)])
    assert cp.returncode == 0, text(cp.stderr)
    assert release.server.requests == []
    assert b"using the Qt 6.5 build" in cp.stderr


def test_a_cached_start_with_auto_and_no_index_in_the_cache_chooses_among_the_installed_builds(
        tmp_path, release, mirror_args, cache_dir):
    app, _ = host_app(tmp_path, "6.9.0")
    assert run_qtmcp(mirror_args + ["fetch", str(app)]).returncode == 0
    (cache_dir / "vTEST" / "SHA256SUMS").unlink()
    cp = run_qtmcp(["--offline", "--mirror", str(tmp_path / "nowhere"), "--", "--print-args", str(app)])
    assert cp.returncode == 0, text(cp.stderr)
    assert b"using the Qt 6.8 build" in cp.stderr


def test_run_of_a_program_for_another_os_is_status_2(tmp_path, mirror_args):
    other = "windows" if HOST_OS != "windows" else "linux"
    program, _ = b.qt_app(tmp_path, "6.8.2", other)
    assert_error(run_qtmcp(mirror_args + ["--", str(program)]), 2, "program for %s-x64" % other, "fetch")


def test_fetch_of_a_program_for_another_os_gets_that_oss_build(tmp_path, release, mirror_args, cache_dir):
    other = "windows" if HOST_OS != "windows" else "linux"
    program, _ = b.qt_app(tmp_path, "6.8.2", other)
    cp = run_qtmcp(mirror_args + ["fetch", str(program)])
    assert cp.returncode == 0, text(cp.stderr)
    assert text(cp.stdout).strip() == str(release.build("6.8", other + "-x64").launcher_path(cache_dir, "vTEST"))


def test_a_32_bit_windows_program_gets_the_x86_build_and_platform_wins(tmp_path, mirror_args):
    program, _ = b.qt_app(tmp_path, "6.8.2", "windows", "x86")
    info = json.loads(run_qtmcp(mirror_args + ["detect", "--json", str(program)]).stdout)
    assert (info["platform"], info["build"], info["asset"]) == ("windows-x86", "6.8", "qtmcp-qt6.8-windows-x86.zip")
    info = json.loads(run_qtmcp(mirror_args + ["detect", "--json", "--platform", "windows-x64", str(program)]).stdout)
    assert (info["platform"], info["asset"]) == ("windows-x64", "qtmcp-qt6.8-windows-x64.zip")


def test_an_x64_program_in_a_universal_file_gets_the_x64_build(tmp_path, mirror_args, qtmcp_env):
    qt = "@rpath/QtCore.framework/Versions/A/QtCore"
    program = b.write(tmp_path / "app", b.fat([b.macho(cpu="x64", dylibs=[(qt, "6.8.0")])]))
    env = dict(qtmcp_env, **no_fallback(tmp_path))
    info = json.loads(run_qtmcp(mirror_args + ["detect", "--json", str(program)], env=env).stdout)
    assert (info["platform"], info["build"]) == ("macos-x64", "6.8")


# -- detect ------------------------------------------------------------------------------

def test_detect_json_has_the_contracts_fields(tmp_path, release, mirror_args, cache_dir):
    app, real = host_app(tmp_path, "6.7.2")
    cp = run_qtmcp(mirror_args + ["detect", "--json", "--", str(app)])
    assert cp.returncode == 0, text(cp.stderr)
    got = json.loads(cp.stdout)
    program = app if HOST_OS != "macos" else app / "Contents" / "MacOS" / "editor"
    assert got == {"app": str(Path(program).resolve()), "format": {"linux": "elf", "windows": "pe", "macos": "macho"}[HOST_OS],
                   "platform": HOST_PLATFORM, "qt": "6.7.2", "qtcore": str(real.resolve()), "from": "library",
                   "debug": False, "build": "6.5", "asset": release.host_build("6.5").asset}
    assert (cache_dir / "vTEST" / "SHA256SUMS").is_file()  # the index is kept in the cache


def test_detect_says_which_build_and_why_in_words(tmp_path, release, mirror_args):
    app, real = host_app(tmp_path, "6.7.2")
    cp = run_qtmcp(mirror_args + ["detect", str(app)])
    assert cp.returncode == 0, text(cp.stderr)
    out = text(cp.stdout)
    assert str(real.resolve()) in out and "6.7.2" in out
    assert "Qt 6.5 for %s: %s" % (HOST_PLATFORM, release.host_build("6.5").asset) in out
    assert "no 6.7 build; the 6.5 build loads into Qt 6.7" in out


def test_detect_without_an_index_at_hand_is_status_0_with_a_null_build(tmp_path):
    app, _ = host_app(tmp_path, "6.7.2")
    cp = run_qtmcp(["detect", "--json", "--offline", "--mirror", str(tmp_path / "nowhere"), str(app)])
    assert cp.returncode == 0, text(cp.stderr)
    got = json.loads(cp.stdout)
    assert (got["qt"], got["build"], got["asset"]) == ("6.7.2", None, None)
    assert "build is null" in text(cp.stderr)


def test_detect_with_no_build_that_fits_is_status_0_and_says_why(tmp_path, mirror_args):
    app, _ = host_app(tmp_path, "6.4.2")
    cp = run_qtmcp(mirror_args + ["detect", str(app)])
    assert cp.returncode == 0, text(cp.stderr)
    assert "no Qt 6 build at or below 6.4" in text(cp.stdout)


@pytest.mark.parametrize("extra", [[], ["a", "b"]])
def test_detect_needs_exactly_one_app(tmp_path, mirror_args, extra):
    app, _ = host_app(tmp_path, "6.7.2")
    args = ["detect"] + ([str(app)] + extra if extra else [])
    assert_error(run_qtmcp(mirror_args + args), 2, "detect")


def test_detect_of_an_unreadable_app_is_status_2_with_one_line(tmp_path, mirror_args):
    cp = run_qtmcp(mirror_args + ["detect", str(tmp_path)])
    line = assert_error(cp, 2, "cannot read the Qt version of", "give --qt")
    assert cp.stdout == b"" and len(stderr_lines(cp)) == 1, line


def test_detect_of_a_program_whose_qtcore_is_missing_names_the_version_it_was_linked_against(tmp_path, mirror_args):
    program = b.write(tmp_path / "editor", b.elf(arch="x86", needed=[QT6], version_needs={QT6: ["Qt_6", "Qt_6.6"]}))
    got = json.loads(run_qtmcp(mirror_args + ["detect", "--json", str(program)]).stdout)
    if got["from"] == "library":
        pytest.skip("this machine has a 32-bit x86 libQt6Core.so.6 where ld.so looks")
    assert (got["qt"], got["qtcore"], got["platform"], got["build"]) == ("6.6", None, "linux-x86", None)


def test_qt_auto_from_the_environment_reads_the_application(tmp_path, release, mirror_args, qtmcp_env, cache_dir):
    app, _ = host_app(tmp_path, "6.8.3")
    cp = run_qtmcp(mirror_args + ["fetch", str(app)], env=dict(qtmcp_env, QTMCP_QT="auto"))
    assert text(cp.stdout).strip() == str(release.host_build("6.8").launcher_path(cache_dir, "vTEST"))


def test_reading_an_application_on_a_cached_start_imports_no_module(tmp_path, release, mirror_args, cache_dir):
    import subprocess

    app, _ = host_app(tmp_path, "6.7.2")
    if HOST_OS == "macos":
        app = app / "Contents" / "MacOS" / "editor"  # a .app's Info.plist needs plistlib
    assert run_qtmcp(mirror_args + ["fetch", str(app)]).returncode == 0
    code = ("import sys, os; sys.path.insert(0, sys.argv[1]); import qtmcp; before = set(sys.modules); "
            "info = qtmcp.read_app(qtmcp.find_app(sys.argv[3:]), os.environ); "
            "sums = qtmcp.cached_index(sys.argv[2], 'vTEST'); build = qtmcp.build_for_app(sums, info, info.platform); "
            "print(build, sorted(set(sys.modules) - before))")
    cp = subprocess.run([sys.executable, "-S", "-c", code, str(qtmcp.__file__).rsplit(os.sep, 1)[0], str(cache_dir),
                         "--flag", str(app)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert text(cp.stdout).split() == ["6.5", "[]"], text(cp.stderr)
