#!/usr/bin/env python3
"""Check that a release of qtmcp may be published to PyPI.

Run by .github/workflows/publish-pypi.yml before anything is built:

    TAG=v0.3.0 GITHUB_REPOSITORY=ssss2art/QtMcp python .github/scripts/check_release.py

It checks, without importing qtmcp.py (the module is read with ast):

  (a) the release tag is "v" + qtmcp.__version__, which is not a development
      version (no ".dev", no "+local");
  (b) qtmcp.RELEASE_PINS has an entry for the tag, and it is the SHA-256 of
      the release's SHA256SUMS asset, downloaded from
      https://github.com/<repo>/releases/download/<tag>/SHA256SUMS
      (or read from --sums-url / --sums-file), which must itself be an index
      qtmcp accepts (GNU coreutils format, UTF-8, at most 1 MiB).

For the releaser, --print-pin FILE prints the line to paste into
RELEASE_PINS for a SHA256SUMS file:

    python .github/scripts/check_release.py --print-pin SHA256SUMS --tag v0.3.0

Exit status: 0 when every check passed, 1 when one failed (one line on
stderr saying what and what to do), 2 for a usage error.
Standard library only; Python 3.9+.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NoReturn

PROG = "check_release"
DEFAULT_MODULE = Path(__file__).resolve().parents[2] / "qtmcp.py"
DEFAULT_SERVER = "https://github.com"
MAX_SUMS_BYTES = 1024 * 1024  # qtmcp refuses a larger SHA256SUMS
TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*\Z")
REPO_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+\Z")
HEX64_RE = re.compile(r"[0-9a-f]{64}\Z")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
ATTEMPTS = 4
TIMEOUT = 30.0


class CheckError(Exception):
    """A failed check: the message is the one line shown to the user."""


def fail(message: str, status: int = 1) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(status)


# --------------------------------------------------------------------------
# Reading qtmcp.py without importing it


def _module_level_value(tree: ast.Module, name: str, path: Path) -> object:
    """The literal value assigned to NAME at module level (last one wins)."""
    found: ast.expr | None = None
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
            value: ast.expr | None = node.value
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
            value = node.value
        else:
            continue
        if value is None:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            found = value
    if found is None:
        raise CheckError(f"{path}: no module-level assignment to {name}")
    try:
        return ast.literal_eval(found)
    except ValueError:
        raise CheckError(
            f"{path}:{found.lineno}: {name} is not a plain literal"
            " (it must be readable without importing the module)"
        ) from None


def read_module(path: Path) -> tuple[str, dict[str, str]]:
    """(__version__, RELEASE_PINS) of the module at PATH, read with ast."""
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise CheckError(f"cannot read the module {path}: {exc.strerror or exc}") from None
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise CheckError(f"{path}:{exc.lineno}: not valid Python: {exc.msg}") from None
    version = _module_level_value(tree, "__version__", path)
    if not isinstance(version, str) or not version:
        raise CheckError(f"{path}: __version__ is not a non-empty string")
    pins = _module_level_value(tree, "RELEASE_PINS", path)
    if not isinstance(pins, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in pins.items()
    ):
        raise CheckError(f"{path}: RELEASE_PINS is not a dict of str to str")
    return version, pins


# --------------------------------------------------------------------------
# SHA256SUMS


def parse_sums(data: bytes, where: str) -> dict[str, str]:
    """{asset name: lowercase digest} from DATA, read exactly as qtmcp's parse_sums reads it.

    Lines end at "\n" only (one "\r" before it is dropped); blank lines are
    skipped; a line is 64 hex digits, "  " or " *", and a name without
    surrounding spaces. A name listed twice with one digest is kept once,
    with two digests it is refused. tests/fixtures.py SUMS_CASES holds both to this.
    """
    if len(data) > MAX_SUMS_BYTES:
        raise CheckError(f"{where}: SHA256SUMS is over 1 MiB ({len(data)} bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckError(f"{where}: SHA256SUMS is not UTF-8 text") from None
    sums: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        digest, name = line[:64].lower(), line[66:]
        if not (SHA256_RE.fullmatch(digest) and line[64:66] in ("  ", " *") and name and name == name.strip()):
            raise CheckError(
                f"{where}: SHA256SUMS line {number} is not"
                f" '<64 hex digits>  <asset name>': {line[:80]!r}"
            )
        if sums.get(name, digest) != digest:
            raise CheckError(f"{where}: SHA256SUMS lists {name!r} twice with different digests (line {number})")
        sums[name] = digest
    return sums


def validate_sums(data: bytes, where: str) -> int:
    """Check DATA is an index qtmcp accepts and lists an asset; return how many."""
    sums = parse_sums(data, where)
    if not sums:
        raise CheckError(f"{where}: SHA256SUMS lists no asset")
    return len(sums)


def read_sums_file(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SUMS_BYTES + 1)
    except OSError as exc:
        raise CheckError(f"cannot read {path}: {exc.strerror or exc}") from None
    return data


def download(url: str) -> bytes:
    """GET URL (https, http or file), retrying transient failures."""
    request = urllib.request.Request(url, headers={"User-Agent": "qtmcp-check-release"})
    delay = 2.0
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                data = response.read(MAX_SUMS_BYTES + 1)
            return data
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                raise CheckError(
                    f"{url}: HTTP {exc.code}: the release has no SHA256SUMS asset;"
                    " attach it to the release, then run this workflow again"
                ) from None
            transient = exc.code >= 500 or exc.code in (408, 429)
            reason = f"HTTP {exc.code} {exc.reason}"
        except urllib.error.URLError as exc:
            if url.startswith("file:"):
                raise CheckError(f"{url}: {exc.reason}") from None
            transient = True
            reason = str(exc.reason)
        except OSError as exc:  # timeouts, resets, a body cut short
            transient = True
            reason = str(exc) or type(exc).__name__
        if not transient or attempt == ATTEMPTS:
            raise CheckError(f"{url}: {reason} (after {attempt} attempt(s))")
        print(f"{PROG}: {url}: {reason}; retrying in {delay:.0f} s", file=sys.stderr)
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


def sums_url(server: str, repo: str, tag: str) -> str:
    return f"{server.rstrip('/')}/{repo}/releases/download/{tag}/SHA256SUMS"


# --------------------------------------------------------------------------
# Commands


def pin_line(tag: str, digest: str) -> str:
    return f'    "{tag}": "{digest}",'


def print_pin(args: argparse.Namespace) -> int:
    path = Path(args.print_pin)
    data = read_sums_file(path)
    count = validate_sums(data, str(path))
    tag = args.tag or os.environ.get("TAG") or ""
    if not tag:
        version, _ = read_module(Path(args.module))
        tag = "v" + version
    if not TAG_RE.match(tag):
        fail(f"bad release tag {tag!r}", 2)
    digest = hashlib.sha256(data).hexdigest()
    print(
        f"# {path}: {count} asset(s), sha256 {digest}; add this line to"
        " RELEASE_PINS in qtmcp.py:",
        file=sys.stderr,
    )
    print(pin_line(tag, digest))
    return 0


def check(args: argparse.Namespace) -> int:
    tag = args.tag if args.tag is not None else os.environ.get("TAG", "")
    if not tag:
        fail("no release tag: pass --tag or set TAG", 2)
    if not TAG_RE.match(tag):
        fail(f"bad release tag {tag!r}: letters, digits and ._+- only", 2)
    module = Path(args.module)

    version, pins = read_module(module)
    expected_tag = "v" + version
    if tag != expected_tag:
        raise CheckError(
            f"tag {tag!r} does not match {module.name}'s __version__ {version!r}"
            f" (expected tag {expected_tag!r}): bump __version__ or fix the tag"
        )
    print(f"ok: tag {tag} matches __version__ {version!r} in {module}")
    if ".dev" in version or "+" in version:
        # qtmcp gives such a version no default release; PyPI refuses "+local".
        raise CheckError(
            f"__version__ {version!r} is a development version, which is never"
            " published: set it to the release's version (X.Y.Z)"
        )

    pin = pins.get(tag)
    if pin is None:
        raise CheckError(
            f"RELEASE_PINS in {module.name} has no pin for {tag}: compute it with"
            f" 'python .github/scripts/check_release.py --print-pin SHA256SUMS --tag {tag}'"
            " and commit it before publishing"
        )
    if not HEX64_RE.match(pin):
        raise CheckError(
            f"RELEASE_PINS[{tag!r}] in {module.name} is not 64 lowercase hex digits: {pin!r}"
        )

    if args.sums_file is not None:
        where = str(args.sums_file)
        data = read_sums_file(Path(args.sums_file))
    else:
        if args.sums_url is not None:
            url = args.sums_url
        else:
            repo = args.repo or os.environ.get("GITHUB_REPOSITORY", "")
            if not repo:
                fail("no repository: pass --repo OWNER/NAME or set GITHUB_REPOSITORY", 2)
            if not REPO_RE.match(repo):
                fail(f"bad repository {repo!r}: expected OWNER/NAME", 2)
            url = sums_url(args.server, repo, tag)
        where = url
        data = download(url)
    count = validate_sums(data, where)
    digest = hashlib.sha256(data).hexdigest()
    if digest != pin:
        raise CheckError(
            f"SHA256SUMS of {tag} from {where} has sha256 {digest}, but"
            f" RELEASE_PINS[{tag!r}] is {pin}: the release's SHA256SUMS changed"
            " after it was pinned, or the pin is wrong"
        )
    print(f"ok: SHA256SUMS from {where} ({count} asset(s)) matches RELEASE_PINS[{tag!r}] = {pin}")
    print(f"release {tag} may be published")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Check a qtmcp release before it is published to PyPI.",
        allow_abbrev=False,
    )
    parser.add_argument("--tag", help="release tag (default: $TAG)")
    parser.add_argument(
        "--module", default=str(DEFAULT_MODULE), help="path of qtmcp.py (default: %(default)s)"
    )
    parser.add_argument("--repo", help="OWNER/NAME on GitHub (default: $GITHUB_REPOSITORY)")
    parser.add_argument(
        "--server",
        default=os.environ.get("GITHUB_SERVER_URL") or DEFAULT_SERVER,
        help="GitHub server URL (default: $GITHUB_SERVER_URL or %(default)s)",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--sums-url", metavar="URL", help="read SHA256SUMS from this URL (https, http or file)"
    )
    source.add_argument("--sums-file", metavar="FILE", help="read SHA256SUMS from this file")
    source.add_argument(
        "--print-pin",
        metavar="FILE",
        help="print the RELEASE_PINS line for this SHA256SUMS file (tag from --tag,"
        " $TAG or the module's __version__) and exit",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.print_pin is not None:
            return print_pin(args)
        return check(args)
    except CheckError as exc:
        fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())
