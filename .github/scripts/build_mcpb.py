#!/usr/bin/env python3
"""Build qtmcp's Claude Desktop bundle: OUTDIR/qtmcp-<version>.mcpb.

    python .github/scripts/build_mcpb.py OUTDIR

An MCP Bundle (https://github.com/modelcontextprotocol/mcpb, MANIFEST.md,
manifest_version 0.3) is a zip file with a manifest.json at its root; Claude
Desktop installs it with one click and asks the user for the settings the
manifest's user_config declares. This bundle holds exactly two files:

  manifest.json  name "qtmcp", version = qtmcp.__version__, server type
                 "python" with entry point qtmcp.py, and the settings:
                 the application (a file, required), the Qt version
                 (default "auto") and a mirror (default empty);
  qtmcp.py       the repository's qtmcp.py, byte for byte.

Claude Desktop starts it as `python3 <bundle>/qtmcp.py -- <application>`
(`python` on Windows) with QTMCP_QT and QTMCP_MIRROR set from the settings:
an empty value counts as unset for qtmcp, so an empty mirror means the
project's own releases. qtmcp needs nothing but the standard library, so
the "python" server type needs no bundled packages; it does need a Python
3.9+ on the machine (see README.md, "Claude Desktop: one-click bundle").

The build is reproducible: the same qtmcp.py gives the same bytes (fixed
entry order, times and modes), so the SHA-256 published with a release can
be checked by building it again from the tagged commit. qtmcp.py is read
with ast, never imported.

Prints "<sha256>  <path>" (sha256sum's format) on stdout. Exit status 0,
1 when the bundle cannot be built (one line on stderr), 2 for a usage error.
Standard library only; Python 3.9+.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, NoReturn

PROG = "build_mcpb"
ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "qtmcp.py"
MANIFEST_VERSION = "0.3"
REPOSITORY = "https://github.com/ssss2art/QtMcp"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold: no build time leaks in
FILE_MODE = 0o100644  # a regular file, rw-r--r--


class BuildError(Exception):
    """The bundle cannot be built: the message is the one line shown."""


def fail(message: str, status: int = 1) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(status)


def module_version(source: bytes, where: str) -> str:
    """The plain-literal __version__ assigned at the module's top level."""
    try:
        tree = ast.parse(source, filename=where)
    except SyntaxError as exc:
        raise BuildError(f"{where}:{exc.lineno}: not valid Python: {exc.msg}") from None
    version: Any = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__version__" for target in node.targets
        ):
            try:
                version = ast.literal_eval(node.value)
            except ValueError:
                raise BuildError(f"{where}:{node.lineno}: __version__ is not a plain literal") from None
    if not isinstance(version, str) or not version:
        raise BuildError(f"{where}: no __version__ string at the top level")
    return version


def manifest(version: str) -> dict[str, Any]:
    """The bundle's manifest.json (MCPB manifest_version 0.3)."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "name": "qtmcp",
        "display_name": "QtMcp",
        "version": version,
        "description": "Let Claude inspect and drive a Qt desktop application.",
        "long_description": (
            "QtMcp is a native launcher that injects a probe library into a Qt application"
            " and speaks the Model Context Protocol, so that Claude can see the application's"
            " widgets and QML items, click, type and read them back. This bundle holds qtmcp,"
            " a single standard-library Python file: on the first start it picks the QtMcp"
            " build for this machine and the application's Qt version, downloads it from the"
            " project's GitHub release (or your mirror), checks its SHA-256 and caches it;"
            " later starts come from the cache. It needs Python 3.9 or newer."
        ),
        "author": {"name": "QtMcp developers", "url": REPOSITORY},
        "repository": {"type": "git", "url": REPOSITORY},
        "homepage": REPOSITORY,
        "documentation": f"{REPOSITORY}#readme",
        "support": f"{REPOSITORY}/issues",
        "license": "MIT",
        "keywords": ["qt", "qml", "gui", "testing", "automation", "desktop"],
        "server": {
            "type": "python",
            "entry_point": "qtmcp.py",
            "mcp_config": {
                "command": "python3",
                "args": ["${__dirname}/qtmcp.py", "--", "${user_config.application}"],
                "env": {
                    "QTMCP_QT": "${user_config.qt_version}",
                    "QTMCP_MIRROR": "${user_config.mirror}",
                },
                # python.org's Windows installer puts python.exe on PATH, not python3.
                "platform_overrides": {"win32": {"command": "python"}},
            },
        },
        # The tools come from the native launcher and the application.
        "tools_generated": True,
        "compatibility": {
            "platforms": ["darwin", "win32", "linux"],
            "runtimes": {"python": ">=3.9"},
        },
        "user_config": {
            "application": {
                "type": "file",
                "title": "Qt application",
                "description": "The program to inspect and drive (its executable; on macOS the .app).",
                "required": True,
            },
            "qt_version": {
                "type": "string",
                "title": "Qt version",
                "description": (
                    "The Qt version the application is built with (6.8, 6.5, 5.15-patched),"
                    " or auto to read it from the application."
                ),
                "required": False,
                "default": "auto",
            },
            "mirror": {
                "type": "string",
                "title": "Mirror",
                "description": (
                    "Your organisation's mirror of the QtMcp releases (a URL or folder)."
                    " Leave empty to download from the project's GitHub releases."
                ),
                "required": False,
                # A default, so that an empty setting becomes "" (which qtmcp reads as
                # unset) rather than a "${user_config.mirror}" left unreplaced.
                "default": "",
            },
        },
    }


def manifest_bytes(version: str) -> bytes:
    return (json.dumps(manifest(version), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, so that the mode below is read
    info.external_attr = FILE_MODE << 16
    return info


def build(outdir: Path, module: Path = MODULE) -> Path:
    """Write outdir/qtmcp-<version>.mcpb (by one rename) and return its path."""
    try:
        source = module.read_bytes()
    except OSError as exc:
        raise BuildError(f"cannot read {module}: {exc.strerror or exc}") from None
    version = module_version(source, str(module))
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        target = outdir / f"qtmcp-{version}.mcpb"
        handle, temporary = tempfile.mkstemp(prefix=".qtmcp-", suffix=".mcpb.part", dir=str(outdir))
        try:
            with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w") as bundle:
                bundle.writestr(_entry("manifest.json"), manifest_bytes(version), compresslevel=9)
                bundle.writestr(_entry("qtmcp.py"), source, compresslevel=9)
            os.chmod(temporary, 0o644)  # mkstemp made it private; it is a file to hand out
            os.replace(temporary, target)
        except BaseException:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise
    except OSError as exc:
        raise BuildError(f"cannot write the bundle into {outdir}: {exc.strerror or exc}") from None
    return target


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__.strip())
        return 0
    if len(args) != 1 or args[0].startswith("-"):
        fail("usage: build_mcpb.py OUTDIR", 2)
    try:
        path = build(Path(args[0]))
    except BuildError as exc:
        fail(str(exc))
    print(f"{sha256_of(path)}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
