#!/usr/bin/env python3
"""Check that .github/server.json may be published to the MCP Registry.

Run by .github/workflows/publish-pypi.yml before anything is built:

    TAG=v0.3.0 python .github/scripts/check_server_json.py

It checks, without importing qtmcp.py (the module is read with ast):

  (a) server.json's "version" and every package's "version" are
      qtmcp.__version__ (and the tag without its "v", when TAG or --tag
      gives one), because the registry shows the server.json's version
      and installs the package's;
  (b) its "description" has at most 100 characters (the registry refuses
      a longer one);
  (c) README.md, the package's long description on PyPI, carries the
      ownership marker "mcp-name: <server.json's name>", which the registry
      looks for on PyPI before it accepts the server.

Exit status: 0 when every check passed, 1 when one failed (one line on
stderr saying what and what to do), 2 for a usage error.
Standard library only; Python 3.9+.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

PROG = "check_server_json"
ROOT = Path(__file__).resolve().parents[2]
# The characters a registry server name may hold: a marker followed by one
# of them names another, longer server.
NAME_CHAR = re.compile(r"[A-Za-z0-9._/-]")


class CheckError(Exception):
    """A failed check: the message is the one line shown to the user."""


def fail(message: str, status: int = 1) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(status)


def module_version(path: Path) -> str:
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError) as exc:
        raise CheckError(f"cannot read __version__ from {path}: {exc}") from None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__version__" for target in node.targets
        ):
            try:
                version = ast.literal_eval(node.value)
            except ValueError:
                version = None
            if isinstance(version, str) and version:
                return version
    raise CheckError(f"{path}: no plain-literal __version__ string at the top level")


def has_marker(readme: str, name: str) -> bool:
    """True when README holds "mcp-name: NAME" not followed by a name character."""
    marker = "mcp-name: " + name
    start = readme.find(marker)
    while start >= 0:
        end = start + len(marker)
        if end == len(readme) or not NAME_CHAR.match(readme[end]):
            return True
        start = readme.find(marker, start + 1)
    return False


def check(server_path: Path, module: Path, readme_path: Path, tag: str) -> str:
    try:
        server: Any = json.loads(server_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckError(f"cannot read {server_path} as JSON: {exc}") from None
    if not isinstance(server, dict):
        raise CheckError(f"{server_path}: not a JSON object")
    version = module_version(module)
    expected = {version}
    if tag:
        expected.add(tag.removeprefix("v"))
    if len(expected) > 1:
        raise CheckError(f"tag {tag!r} does not match {module.name}'s __version__ {version!r}")
    places = [("version", server.get("version"))]
    for index, package in enumerate(server.get("packages") or []):
        places.append((f"packages[{index}].version", (package or {}).get("version")))
    for where, value in places:
        if value != version:
            raise CheckError(
                f"{server_path}: {where} is {value!r}, but {module.name}'s __version__ is"
                f" {version!r}: set every version in server.json to {version!r}"
            )
    description = server.get("description")
    if not isinstance(description, str) or not 1 <= len(description) <= 100:
        length = len(description) if isinstance(description, str) else "no"
        raise CheckError(
            f"{server_path}: description has {length} characters; the registry takes 1 to 100"
        )
    name = server.get("name")
    if not isinstance(name, str) or not name:
        raise CheckError(f"{server_path}: no name")
    try:
        readme = readme_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CheckError(f"cannot read {readme_path}: {exc.strerror or exc}") from None
    if not has_marker(readme, name):
        raise CheckError(
            f"{readme_path} lacks the ownership marker 'mcp-name: {name}' that the MCP"
            f" Registry looks for on PyPI: add '<!-- mcp-name: {name} -->' to it"
        )
    return f"ok: {server_path.name} is {name} {version}, and {readme_path.name} carries its marker"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Check server.json before it goes to the MCP Registry.",
        allow_abbrev=False,
    )
    parser.add_argument("--tag", help="release tag (default: $TAG; none: no tag check)")
    parser.add_argument("--server-json", default=str(ROOT / ".github" / "server.json"))
    parser.add_argument("--module", default=str(ROOT / "qtmcp.py"))
    parser.add_argument("--readme", default=str(ROOT / "README.md"))
    args = parser.parse_args(argv)
    tag = args.tag if args.tag is not None else os.environ.get("TAG", "")
    try:
        print(check(Path(args.server_json), Path(args.module), Path(args.readme), tag))
    except CheckError as exc:
        fail(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
