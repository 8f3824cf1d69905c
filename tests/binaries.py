"""Minimal but valid ELF, PE and Mach-O files for qtmcp's detection tests.

Plain Python (struct), no toolchain: every branch of qtmcp's readers can be
tested on every OS. The files carry what qtmcp reads and what a loader needs
to make sense of it (mapped segments, string tables, section tables), and
nothing else: they are not runnable.

    elf(needed=["libQt6Core.so.6"], runpath="$ORIGIN/../lib",
        version_needs={"libQt6Core.so.6": ["Qt_6", "Qt_6.7"]})
    elf(soname="libQt6Core.so.6", version_defs=["Qt_6", "Qt_6.7"], rodata=build_string("6.7.2"))
    pe(imports=["Qt6Core.dll", "KERNEL32.dll"]); pe(dll=True, version=(6, 8, 2, 0))
    macho(dylibs=[("@rpath/QtCore.framework/Versions/A/QtCore", "6.8.2")],
          rpaths=["@executable_path/../Frameworks"]); fat([macho(...), macho(cpu="x64")])
    ld_so_cache({"libQt6Core.so.6": "/usr/lib/x86_64-linux-gnu/libQt6Core.so.6"})

``host_qt_app(folder, "6.7.2")`` writes a program of this machine's format
with its QtCore beside it, where the system's loader would find it.
"""

from __future__ import annotations

import os
import plistlib
import struct
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

ELF_MACHINES = {"x64": 62, "x86": 3, "arm64": 183, "arm": 40, "ppc64": 21, "s390x": 22}
PE_MACHINES = {"x64": 0x8664, "x86": 0x14C, "arm64": 0xAA64}
MACHO_CPUS = {"x64": 0x01000007, "arm64": 0x0100000C, "x86": 7, "ppc": 18}

PT_LOAD, PT_DYNAMIC = 1, 2
DT = {"NULL": 0, "NEEDED": 1, "STRTAB": 5, "STRSZ": 10, "SONAME": 14, "RPATH": 15, "RUNPATH": 29,
      "VERDEF": 0x6FFFFFFC, "VERDEFNUM": 0x6FFFFFFD, "VERNEED": 0x6FFFFFFE, "VERNEEDNUM": 0x6FFFFFFF}


def build_string(version: str, debug: bool = False) -> bytes:
    """QtCore's build string, as QLibraryInfo::build() has it, between other strings."""
    kind = "debug" if debug else "release"
    return (b"\0QObject::connect: Cannot connect\0Qt %s (x86_64-little_endian-lp64 shared (dynamic) "
            b"%s build; by GCC 12.2.0)\0This is the QtCore library version\0"
            % (version.encode(), kind.encode()))


def _align(data: bytearray, boundary: int) -> None:
    data.extend(b"\0" * (-len(data) % boundary))


class _Strings:
    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self.at: Dict[str, int] = {}

    def add(self, text: str) -> int:
        if text not in self.at:
            self.at[text] = len(self.data)
            self.data += text.encode("utf-8", "surrogateescape") + b"\0"
        return self.at[text]


# --------------------------------------------------------------------------
# ELF


def elf(*, arch: str = "x64", bits: Optional[int] = None, order: str = "<", kind: int = 3,
        needed: Sequence[str] = (), soname: Optional[str] = None, rpath: Optional[str] = None,
        runpath: Optional[str] = None, version_needs: Optional[Dict[str, List[str]]] = None,
        version_defs: Optional[List[str]] = None, rodata: bytes = b"", dynamic: bool = True,
        program_headers: bool = True, sections: bool = True, base: int = 0x400000) -> bytes:
    """An ELF program (kind 2 or 3) or shared library with these dynamic entries.

    ``bits`` defaults to 32 for x86 and arm, else 64; ``order`` is '<' or '>'.
    One PT_LOAD maps the whole file at ``base``; PT_DYNAMIC points at the
    dynamic section. ``version_needs`` become .gnu.version_r (Elf_Verneed),
    ``version_defs`` .gnu.version_d (after a base entry named by the soname);
    ``rodata`` is a .rodata section (put a build_string() there).
    ``dynamic=False`` writes a static program; ``program_headers=False`` leaves
    only the section table.
    """
    bits = bits or (32 if arch in ("x86", "arm") else 64)
    wide = bits == 64
    o = order
    header_size, ph_size, sh_size = (64, 56, 64) if wide else (52, 32, 40)
    ph_count = (2 if dynamic else 1) if program_headers else 0
    strings = _Strings()
    body = bytearray(b"\0" * (header_size + ph_count * ph_size))
    entries: List[Tuple[int, int]] = []
    for name in needed:
        entries.append((DT["NEEDED"], strings.add(name)))
    if soname:
        entries.append((DT["SONAME"], strings.add(soname)))
    if rpath is not None:
        entries.append((DT["RPATH"], strings.add(rpath)))
    if runpath is not None:
        entries.append((DT["RUNPATH"], strings.add(runpath)))
    vn = bytearray()
    for index, (library, names) in enumerate((version_needs or {}).items()):
        last = index == len(version_needs or {}) - 1
        vn += struct.pack(o + "HHIII", 1, len(names), strings.add(library), 16, 0 if last else 16 + 16 * len(names))
        for aux_index, name in enumerate(names):
            vn += struct.pack(o + "IHHII", 0, 0, 2 + aux_index, strings.add(name),
                              0 if aux_index == len(names) - 1 else 16)
    vd = bytearray()
    defs = ([soname or "lib.so"] + list(version_defs)) if version_defs else []
    for index, name in enumerate(defs):
        last = index == len(defs) - 1
        vd += struct.pack(o + "HHHHIII", 1, 1 if index == 0 else 0, index + 1, 1, 0, 20, 0 if last else 28)
        vd += struct.pack(o + "II", strings.add(name), 0)
    section_list: List[Tuple[str, int, int, int, int]] = []  # (name, type, offset, size, info)

    def place(name: str, s_type: int, data: bytes, boundary: int = 8, info: int = 0) -> int:
        _align(body, boundary)
        at = len(body)
        body.extend(data)
        section_list.append((name, s_type, at, len(data), info))
        return at

    dynstr_at = place(".dynstr", 3, bytes(strings.data), 1) if dynamic else 0  # every name is added by now
    vn_at = place(".gnu.version_r", 0x6FFFFFFE, bytes(vn), info=len(version_needs or {})) if vn else 0
    vd_at = place(".gnu.version_d", 0x6FFFFFFD, bytes(vd), info=len(defs)) if vd else 0
    if rodata:
        place(".rodata", 1, rodata, 32)
    if dynamic:
        entries += [(DT["STRTAB"], base + dynstr_at), (DT["STRSZ"], len(strings.data))]
        if vn:
            entries += [(DT["VERNEED"], base + vn_at), (DT["VERNEEDNUM"], len(version_needs or {}))]
        if vd:
            entries += [(DT["VERDEF"], base + vd_at), (DT["VERDEFNUM"], len(defs))]
        entries.append((DT["NULL"], 0))
        table = b"".join(struct.pack(o + ("qQ" if wide else "iI"), tag, value) for tag, value in entries)
        dynamic_at = place(".dynamic", 6, table)
    names = _Strings()
    for name, *_ in section_list:
        names.add(name)
    names.add(".shstrtab")
    place(".shstrtab", 3, bytes(names.data), 1)
    _align(body, 8)
    sh_at = len(body) if sections else 0
    if sections:
        body += b"\0" * sh_size  # the null section
        for name, s_type, at, size, info in section_list:
            flags = 0 if name == ".shstrtab" else 2  # SHF_ALLOC
            addr = 0 if name == ".shstrtab" else base + at
            link = 1 if name in (".dynamic", ".gnu.version_r", ".gnu.version_d") else 0  # .dynstr is section 1
            if wide:
                body += struct.pack(o + "IIQQQQIIQQ", names.at[name], s_type, flags, addr, at, size, link, info, 8, 0)
            else:
                body += struct.pack(o + "IIIIIIIIII", names.at[name], s_type, flags, addr, at, size, link, info, 8, 0)
    ident = b"\x7fELF" + bytes([2 if wide else 1, 1 if o == "<" else 2, 1, 0]) + b"\0" * 8
    machine = ELF_MACHINES[arch]
    shnum = len(section_list) + 1 if sections else 0
    shstrndx = len(section_list) if sections else 0
    if wide:
        header = struct.pack(o + "HHIQQQIHHHHHH", kind, machine, 1, base, header_size if ph_count else 0, sh_at, 0,
                             header_size, ph_size, ph_count, sh_size, shnum, shstrndx)
    else:
        header = struct.pack(o + "HHIIIIIHHHHHH", kind, machine, 1, base, header_size if ph_count else 0, sh_at, 0,
                             header_size, ph_size, ph_count, sh_size, shnum, shstrndx)
    body[0:header_size] = ident + header
    phs = [(PT_LOAD, 0, base, len(body))]
    if dynamic and program_headers:
        phs.append((PT_DYNAMIC, dynamic_at, base + dynamic_at, len(table)))
    for index, (p_type, offset, vaddr, size) in enumerate(phs[:ph_count]):
        at = header_size + index * ph_size
        if wide:
            body[at : at + ph_size] = struct.pack(o + "IIQQQQQQ", p_type, 4 if p_type == PT_LOAD else 6, offset,
                                                  vaddr, vaddr, size, size, 0x1000 if p_type == PT_LOAD else 8)
        else:
            body[at : at + ph_size] = struct.pack(o + "IIIIIIII", p_type, offset, vaddr, vaddr, size, size,
                                                  4 if p_type == PT_LOAD else 6, 0x1000 if p_type == PT_LOAD else 4)
    return bytes(body)


# --------------------------------------------------------------------------
# PE


def pe(*, arch: str = "x64", imports: Sequence[str] = ("KERNEL32.dll",), dll: bool = False,
       version: Optional[Tuple[int, int, int, int]] = None, debug: bool = False,
       rdata: bytes = b"", wide: Optional[bool] = None) -> bytes:
    """A PE32 (x86) or PE32+ (x64, arm64) program or DLL.

    ``imports``: the DLLs its import directory names (.idata in .rdata);
    ``version``: a VERSIONINFO resource (.rsrc) with that FILEVERSION, its
    VS_FF_DEBUG flag set with ``debug``; ``rdata``: more bytes in .rdata (a
    build string).
    """
    wide = arch != "x86" if wide is None else wide
    file_align, section_align = 0x200, 0x1000
    # .rdata: import descriptors, a zero thunk, names, then `rdata`
    rdata_rva = 0x1000
    descriptors = (len(imports) + 1) * 20 if imports else 0
    thunk_rva = rdata_rva + descriptors
    names_at = descriptors + 8
    section = bytearray(b"\0" * names_at)
    for index, name in enumerate(imports):
        name_rva = rdata_rva + len(section)
        section += name.encode() + b"\0"
        struct.pack_into("<IIIII", section, 20 * index, thunk_rva, 0, 0, name_rva, thunk_rva)
    section += rdata
    sections = [(b".rdata", rdata_rva, bytes(section), 0x40000040)]
    rsrc_rva = rdata_rva + (len(section) + section_align - 1) // section_align * section_align
    if version is not None:
        fixed = struct.pack("<13I", 0xFEEF04BD, 0x10000, version[0] << 16 | version[1],
                            version[2] << 16 | version[3], version[0] << 16 | version[1],
                            version[2] << 16 | version[3], 0x3F, 1 if debug else 0, 0x40004, 2, 0, 0, 0)
        key = "VS_VERSION_INFO\0".encode("utf-16-le")
        blob = struct.pack("<HHH", 6 + len(key) + 2 + len(fixed), len(fixed), 0) + key + b"\0\0" + fixed
        tree = bytearray()
        tree += struct.pack("<IIHHHH", 0, 0, 0, 0, 0, 1) + struct.pack("<II", 16, 0x80000000 | 24)
        tree += struct.pack("<IIHHHH", 0, 0, 0, 0, 0, 1) + struct.pack("<II", 1, 0x80000000 | 48)
        tree += struct.pack("<IIHHHH", 0, 0, 0, 0, 0, 1) + struct.pack("<II", 0x409, 72)
        tree += struct.pack("<IIII", rsrc_rva + 88, len(blob), 0, 0)
        tree += blob
        sections.append((b".rsrc", rsrc_rva, bytes(tree), 0x40000040))
    headers_size = 0x400
    optional_size = (112 if wide else 96) + 16 * 8
    raw_at = headers_size
    table = bytearray()
    images = bytearray()
    image_end = 0
    for name, rva, data, flags in sections:
        raw_size = (len(data) + file_align - 1) // file_align * file_align
        table += struct.pack("<8sIIIIIIHHI", name, len(data), rva, raw_size, raw_at, 0, 0, 0, 0, flags)
        images += data + b"\0" * (raw_size - len(data))
        raw_at += raw_size
        image_end = rva + (len(data) + section_align - 1) // section_align * section_align
    directories = [(0, 0)] * 16
    if imports:
        directories[1] = (rdata_rva, descriptors)
    if version is not None:
        directories[2] = (rsrc_rva, len(sections[1][2]))
    characteristics = 0x0002 | (0x0020 if wide else 0x0100) | (0x2000 if dll else 0)
    coff = struct.pack("<HHIIIHH", PE_MACHINES[arch], len(sections), 0, 0, 0, optional_size, characteristics)
    if wide:
        optional = struct.pack("<HBBIIIIIQIIHHHHHHIIIIHHQQQQII", 0x20B, 14, 0, 0, len(images), 0, 0, rdata_rva,
                               0x140000000, section_align, file_align, 6, 0, 0, 0, 6, 0, 0, image_end,
                               headers_size, 0, 3, 0x8160, 0x100000, 0x1000, 0x100000, 0x1000, 0, 16)
    else:
        optional = struct.pack("<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII", 0x10B, 14, 0, 0, len(images), 0, 0, rdata_rva,
                               rdata_rva, 0x400000, section_align, file_align, 6, 0, 0, 0, 6, 0, 0, image_end,
                               headers_size, 0, 3, 0x8140, 0x100000, 0x1000, 0x100000, 0x1000, 0, 16)
    optional += b"".join(struct.pack("<II", *d) for d in directories)
    dos = bytearray(b"MZ" + b"\0" * 62)
    struct.pack_into("<I", dos, 0x3C, 0x80)
    dos += b"\0" * (0x80 - len(dos))
    head = bytes(dos) + b"PE\0\0" + coff + optional + bytes(table)
    assert len(head) <= headers_size
    return head + b"\0" * (headers_size - len(head)) + bytes(images)


# --------------------------------------------------------------------------
# Mach-O


def macho_version(text: str) -> int:
    parts = [int(p) for p in text.split(".")] + [0, 0]
    return parts[0] << 16 | parts[1] << 8 | parts[2]


def _command(cmd: int, fixed: bytes, text: str, order: str, wide: bool) -> bytes:
    offset = 8 + len(fixed)
    raw = text.encode("utf-8", "surrogateescape") + b"\0"
    size = offset + len(raw)
    size += -size % (8 if wide else 4)
    return struct.pack(order + "II", cmd, size) + fixed + raw + b"\0" * (size - offset - len(raw))


def macho(*, cpu: str = "arm64", kind: int = 2, dylibs: Sequence[Tuple] = (), rpaths: Sequence[str] = (),
          id_dylib: Optional[Tuple[str, str]] = None, order: str = "<") -> bytes:
    """A thin Mach-O image: a program (kind 2) or dylib (kind 6).

    ``dylibs``: (install name, current version 'x.y.z'[, weak]) for
    LC_LOAD_DYLIB (or LC_LOAD_WEAK_DYLIB); ``rpaths``: LC_RPATH entries;
    ``id_dylib``: (install name, current version) for LC_ID_DYLIB. 32-bit for
    the x86 and ppc CPUs, else 64-bit; ``order`` '<' or '>'.
    """
    wide = cpu not in ("x86", "ppc")
    o = order
    commands = []
    if id_dylib:
        commands.append(_command(0xD, struct.pack(o + "IIII", 24, 1, macho_version(id_dylib[1]),
                                                  macho_version("6.0.0")), id_dylib[0], o, wide))
    for entry in dylibs:
        name, version = entry[0], entry[1]
        weak = len(entry) > 2 and entry[2]
        commands.append(_command(0x80000018 if weak else 0xC,
                                 struct.pack(o + "IIII", 24, 2, macho_version(version), macho_version("6.0.0")),
                                 name, o, wide))
    commands.append(_command(0xC, struct.pack(o + "IIII", 24, 2, macho_version("1319.0.0"),
                                              macho_version("1.0.0")), "/usr/lib/libSystem.B.dylib", o, wide))
    for path in rpaths:
        commands.append(_command(0x8000001C, struct.pack(o + "I", 12), path, o, wide))
    raw = b"".join(commands)
    magic = 0xFEEDFACF if wide else 0xFEEDFACE
    subtype = 3 if cpu in ("x64", "x86") else 0
    header = struct.pack(o + "IIIIIII", magic, MACHO_CPUS[cpu], subtype, kind, len(commands), len(raw), 0x200085)
    if wide:
        header += b"\0\0\0\0"
    return header + raw + b"\0" * 64


def fat(images: Sequence[bytes], wide: bool = False) -> bytes:
    """A universal (fat, or fat64 with ``wide``) file of these thin images, each at a 4 KiB boundary."""
    at = 4096
    table = bytearray()
    body = bytearray()
    for index, image in enumerate(images):
        cpu_type, sub_type = struct.unpack_from("<ii" if image[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe")
                                                else ">ii", image, 4)
        offset = at + len(body)
        if wide:
            table += struct.pack(">iiQQII", cpu_type, sub_type, offset, len(image), 12, 0)
        else:
            table += struct.pack(">iiIII", cpu_type, sub_type, offset, len(image), 12)
        body += image + b"\0" * (-len(image) % 4096)
    head = struct.pack(">II", 0xCAFEBABF if wide else 0xCAFEBABE, len(images)) + bytes(table)
    assert len(head) <= at
    return head + b"\0" * (at - len(head)) + bytes(body)


def app_bundle(folder: Union[str, Path], name: str, program: bytes, executable: Optional[str] = None,
               plist: Optional[bytes] = None) -> Path:
    """``folder/<name>.app`` with Contents/Info.plist (CFBundleExecutable) and Contents/MacOS/<executable>."""
    bundle = Path(folder) / (name + ".app")
    executable = executable or name
    (bundle / "Contents" / "MacOS").mkdir(parents=True)
    info = {"CFBundleExecutable": executable, "CFBundleIdentifier": "org.example." + name,
            "CFBundlePackageType": "APPL"}
    (bundle / "Contents" / "Info.plist").write_bytes(plist if plist is not None else plistlib.dumps(info))
    write(bundle / "Contents" / "MacOS" / executable, program)
    return bundle


def framework(folder: Union[str, Path], binary: bytes, links: bool = True) -> Path:
    """``folder/QtCore.framework`` with Versions/A/QtCore and (``links``) the
    Versions/Current and QtCore links; returns the real binary's path."""
    root = Path(folder) / "QtCore.framework"
    real = write(root / "Versions" / "A" / "QtCore", binary)
    if links:
        os.symlink("A", root / "Versions" / "Current")
        os.symlink("Versions/Current/QtCore", root / "QtCore")
    return real


# --------------------------------------------------------------------------
# /etc/ld.so.cache


def ld_so_cache(libraries: Dict[str, Union[str, List[str]]], fmt: str = "new", flags: int = 0x0303) -> bytes:
    """An ld.so.cache listing {name: path or [paths]}: 'new' (glibc 2.32+),
    'old' (ld.so-1.7.0) or 'compat' (old, then new), with key strings shared
    as suffixes of the paths as ldconfig writes them."""
    items = [(name, path) for name, paths in libraries.items()
             for path in ([paths] if isinstance(paths, str) else paths)]

    def strings_for(base: int) -> Tuple[bytes, List[Tuple[int, int]]]:
        data = bytearray()
        offsets = []
        for name, path in items:
            at = base + len(data)
            data += path.encode() + b"\0"
            key = at + len(path.encode()) - len(name.encode()) if path.endswith("/" + name) else None
            if key is None:
                key = base + len(data)
                data += name.encode() + b"\0"
            offsets.append((key, at))
        return bytes(data), offsets

    def new_part() -> bytes:
        header_size, entry = 48, 24
        strings, offsets = strings_for(header_size + entry * len(items))
        head = b"glibc-ld.so.cache1.1" + struct.pack("<IIB3xI12x", len(items), len(strings), 2, 0)
        table = b"".join(struct.pack("<iIIIQ", flags, key, value, 0, 0) for key, value in offsets)
        return head + table + strings

    def old_part(with_strings: bool) -> bytes:
        strings, offsets = strings_for(0)
        head = b"ld.so-1.7.0\0" + struct.pack("<I", len(items))
        table = b"".join(struct.pack("<iII", 1 if flags & 0xFF == 3 else flags, key, value) for key, value in offsets)
        return head + table + (strings if with_strings else b"")

    if fmt == "new":
        return new_part()
    if fmt == "old":
        return old_part(True)
    old = old_part(False)
    return old + b"\0" * (-len(old) % 8) + new_part()


# --------------------------------------------------------------------------
# Files


def write(path: Union[str, Path], data: bytes, mode: int = 0o755) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def link(path: Union[str, Path], target: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)
    return path


def host_os() -> str:
    return "windows" if sys.platform == "win32" else "macos" if sys.platform == "darwin" else "linux"


def qt_app(folder: Union[str, Path], qt: str, os_name: str, arch: str = "x64",
           name: str = "editor") -> Tuple[Path, Path]:
    """An application for `os_name` and `arch` using Qt `qt` ('6.7.2') from a
    QtCore where its loader finds it; returns (program, QtCore's real file).

    linux: bin/<name> with DT_RUNPATH $ORIGIN/../lib and lib/libQt6Core.so.6 ->
    libQt6Core.so.6.7.2; windows: <name>.exe beside Qt6Core.dll (VERSIONINFO);
    macos: Contents/MacOS/<name> of <name>.app with @rpath to Contents/Frameworks/QtCore.framework.
    """
    folder = Path(folder)
    major = qt.split(".")[0]
    numbers = tuple(int(p) for p in qt.split(".")) + (0,) * 4
    if os_name == "linux":
        soname = "libQt%sCore.so.%s" % (major, major)
        real = write(folder / "lib" / ("libQt%sCore.so.%s" % (major, qt)),
                     elf(arch=arch, soname=soname, version_defs=["Qt_" + major, "Qt_%s.%s" % tuple(qt.split(".")[:2])]))
        if sys.platform == "win32":
            real = write(folder / "lib" / soname, real.read_bytes())
        else:
            link(folder / "lib" / soname, real.name)
        program = write(folder / "bin" / name, elf(
            arch=arch, needed=[soname, "libc.so.6"], runpath="$ORIGIN/../lib",
            version_needs={soname: ["Qt_" + major, "Qt_%s.%s" % tuple(qt.split(".")[:2])]}))
        return program, real
    if os_name == "windows":
        real = write(folder / ("Qt%sCore.dll" % major), pe(arch=arch, dll=True, version=numbers[:4]))
        program = write(folder / (name + ".exe"), pe(arch=arch, imports=["Qt%sCore.dll" % major, "KERNEL32.dll"]))
        return program, real
    fw_binary = macho(cpu=arch, kind=6, id_dylib=("@rpath/QtCore.framework/Versions/A/QtCore", qt))
    program_bytes = macho(cpu=arch, dylibs=[("@rpath/QtCore.framework/Versions/A/QtCore", qt)],
                          rpaths=["@executable_path/../Frameworks"])
    bundle = app_bundle(folder, name, program_bytes)
    real = framework(bundle / "Contents" / "Frameworks", fw_binary, links=sys.platform != "win32")
    return bundle / "Contents" / "MacOS" / name, real


def host_qt_app(folder: Union[str, Path], qt: str, arch: Optional[str] = None) -> Tuple[Path, Path]:
    """qt_app() for this machine's OS and CPU (x64 where the CPU has no builder)."""
    import platform

    machine = platform.machine().lower()
    guess = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, "x64")
    return qt_app(folder, qt, host_os(), arch or guess)


def all_kinds() -> Iterable[Tuple[str, bytes]]:
    """(label, bytes) of one file of each shape the readers take (for mutation tests)."""
    yield "elf64-program", elf(needed=["libQt6Core.so.6"], runpath="$ORIGIN", rpath="/x",
                               version_needs={"libQt6Core.so.6": ["Qt_6", "Qt_6.7"]})
    yield "elf32-be-library", elf(arch="arm", order=">", soname="libQt6Core.so.6",
                                  version_defs=["Qt_6", "Qt_6.7"], rodata=build_string("6.7.2"))
    yield "pe32plus-program", pe(imports=["Qt6Core.dll", "KERNEL32.dll"])
    yield "pe32-dll", pe(arch="x86", dll=True, version=(6, 8, 2, 0), rdata=build_string("6.8.2"))
    yield "macho-fat", fat([macho(cpu="x64", dylibs=[("@rpath/QtCore.framework/Versions/A/QtCore", "6.8.2")],
                                  rpaths=["@executable_path"]),
                            macho(cpu="arm64", dylibs=[("@rpath/libQt6Core.6.dylib", "6.8.2", True)])])
    yield "macho-dylib", macho(cpu="x64", kind=6, id_dylib=("@rpath/QtCore.framework/Versions/A/QtCore", "6.8.2"))
