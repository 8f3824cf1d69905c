"""Tests of .github/scripts/check_release.py, the check publish-pypi.yml runs.

They run the script as a child process against a stand-in module written
here (a crafted __version__ and RELEASE_PINS), with SHA256SUMS from a local
file, a file:// URL or an HTTP server on 127.0.0.1. Offline, stdlib only.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator, Optional

import pytest

from fixtures import SUMS_CASES

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".github" / "scripts" / "check_release.py"
REAL_MODULE = ROOT / "qtmcp.py"

SUMS = (
    "1111111111111111111111111111111111111111111111111111111111111111  qtmcp-qt6.8-linux.tar.gz\n"
    "2222222222222222222222222222222222222222222222222222222222222222 *qtmcp-qt6.8-windows-x64.zip\n"
    "\n"
    "3333333333333333333333333333333333333333333333333333333333333333  qtmcp-qt6.8-macos-arm64.zip\n"
).encode()
SUMS_SHA = hashlib.sha256(SUMS).hexdigest()
OTHER_SHA = hashlib.sha256(b"another SHA256SUMS").hexdigest()
ERROR_PREFIX = "check_release: error: "

MODULE_TEMPLATE = '''\
"""A stand-in for qtmcp.py: check_release.py must read it, never import it."""

from __future__ import annotations

import sys

__version__ = "{version}"

RELEASE_PINS: dict[str, str] = {{
    # "v0.1.0": "<sha256 of that release's SHA256SUMS>",
{pins}}}

raise SystemExit("this module was imported or run")
'''


def write_module(directory: Path, version: str, pins: dict[str, str]) -> Path:
    lines = "".join(f'    "{tag}": "{digest}",\n' for tag, digest in pins.items())
    path = directory / "qtmcp.py"
    path.write_text(MODULE_TEMPLATE.format(version=version, pins=lines), encoding="utf-8")
    return path


def write_sums(directory: Path, data: bytes = SUMS) -> Path:
    path = directory / "SHA256SUMS"
    path.write_bytes(data)
    return path


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # GitHub Actions sets these for every step; the tests choose their own.
    for name in ("TAG", "GITHUB_REPOSITORY", "GITHUB_SERVER_URL"):
        env.pop(name, None)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(name, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


def run(*args: str, env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=env if env is not None else child_env(),
        timeout=120,
    )


def assert_fails(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """The check failed with one error line holding every fragment."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(ERROR_PREFIX), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def assert_passes(result: subprocess.CompletedProcess[str], tag: str) -> None:
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert result.stderr == ""
    assert f"release {tag} may be published" in result.stdout
    assert SUMS_SHA in result.stdout


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving a folder: (base URL, folder)."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


# --------------------------------------------------------------------------
# Passing


def test_passes_with_sums_file(tmp_path: Path) -> None:
    module = write_module(tmp_path, "1.2.3", {"v1.2.2": OTHER_SHA, "v1.2.3": SUMS_SHA})
    sums = write_sums(tmp_path)
    result = run("--module", str(module), "--tag", "v1.2.3", "--sums-file", str(sums))
    assert_passes(result, "v1.2.3")
    assert "matches __version__ '1.2.3'" in result.stdout


def test_passes_with_file_url(tmp_path: Path) -> None:
    module = write_module(tmp_path, "0.4.0", {"v0.4.0": SUMS_SHA})
    sums = write_sums(tmp_path)
    result = run("--module", str(module), "--tag", "v0.4.0", "--sums-url", sums.as_uri())
    assert_passes(result, "v0.4.0")


def test_passes_with_release_url_over_http(tmp_path: Path, http_root: tuple[str, Path]) -> None:
    """TAG and GITHUB_REPOSITORY from the environment, as in the workflow."""
    base, root = http_root
    folder = root / "ssss2art" / "QtMcp" / "releases" / "download" / "v0.1.0"
    folder.mkdir(parents=True)
    write_sums(folder)
    module = write_module(tmp_path, "0.1.0", {"v0.1.0": SUMS_SHA})
    env = child_env(TAG="v0.1.0", GITHUB_REPOSITORY="ssss2art/QtMcp", GITHUB_SERVER_URL=base)
    result = run("--module", str(module), env=env)
    assert_passes(result, "v0.1.0")
    assert f"{base}/ssss2art/QtMcp/releases/download/v0.1.0/SHA256SUMS" in result.stdout


def test_passes_with_sums_url_over_http(tmp_path: Path, http_root: tuple[str, Path]) -> None:
    base, root = http_root
    write_sums(root)
    module = write_module(tmp_path, "2.0.0rc1", {"v2.0.0rc1": SUMS_SHA})
    result = run(
        "--module", str(module), "--tag", "v2.0.0rc1", "--sums-url", f"{base}/SHA256SUMS"
    )
    assert_passes(result, "v2.0.0rc1")


# --------------------------------------------------------------------------
# Failing


def test_fails_when_pin_is_missing(tmp_path: Path) -> None:
    module = write_module(tmp_path, "1.2.3", {"v1.2.2": OTHER_SHA})
    sums = write_sums(tmp_path)
    result = run("--module", str(module), "--tag", "v1.2.3", "--sums-file", str(sums))
    assert_fails(result, "no pin for v1.2.3", "--print-pin")


def test_fails_when_pins_are_empty(tmp_path: Path) -> None:
    module = write_module(tmp_path, "1.2.3", {})
    sums = write_sums(tmp_path)
    result = run("--module", str(module), "--tag", "v1.2.3", "--sums-file", str(sums))
    assert_fails(result, "no pin for v1.2.3")


def test_fails_when_pin_differs(tmp_path: Path) -> None:
    module = write_module(tmp_path, "1.2.3", {"v1.2.3": OTHER_SHA})
    sums = write_sums(tmp_path)
    result = run("--module", str(module), "--tag", "v1.2.3", "--sums-file", str(sums))
    assert_fails(result, SUMS_SHA, OTHER_SHA, "v1.2.3")


def test_fails_when_pin_differs_over_http(tmp_path: Path, http_root: tuple[str, Path]) -> None:
    base, root = http_root
    write_sums(root, SUMS + b"4444444444444444444444444444444444444444444444444444444444444444  extra.zip\n")
    module = write_module(tmp_path, "1.2.3", {"v1.2.3": SUMS_SHA})
    result = run("--module", str(module), "--tag", "v1.2.3", "--sums-url", f"{base}/SHA256SUMS")
    assert_fails(result, "RELEASE_PINS['v1.2.3'] is " + SUMS_SHA)


def test_fails_when_tag_and_version_differ(tmp_path: Path) -> None:
    module = write_module(tmp_path, "1.2.3", {"v1.2.4": SUMS_SHA, "v1.2.3": SUMS_SHA})
    sums = write_sums(tmp_path)
    result = run("--module", str(module), "--tag", "v1.2.4", "--sums-file", str(sums))
    assert_fails(result, "'v1.2.4'", "'1.2.3'", "expected tag 'v1.2.3'")
    assert result.stdout == ""


@pytest.mark.parametrize("version", ["0.2.0.dev0", "0.2.0+local"])
def test_fails_for_a_development_version(tmp_path: Path, version: str) -> None:
    module = write_module(tmp_path, version, {"v" + version: SUMS_SHA})
    sums = write_sums(tmp_path)
    result = run("--module", str(module), "--tag", "v" + version, "--sums-file", str(sums))
    assert_fails(result, "development version")


def test_fails_when_tag_lacks_the_v(tmp_path: Path) -> None:
    module = write_module(tmp_path, "1.2.3", {"1.2.3": SUMS_SHA})
    sums = write_sums(tmp_path)
    result = run("--module", str(module), "--tag", "1.2.3", "--sums-file", str(sums))
    assert_fails(result, "expected tag 'v1.2.3'")


def test_fails_when_release_has_no_sums(tmp_path: Path, http_root: tuple[str, Path]) -> None:
    base, _ = http_root
    module = write_module(tmp_path, "1.2.3", {"v1.2.3": SUMS_SHA})
    env = child_env(TAG="v1.2.3", GITHUB_REPOSITORY="ssss2art/QtMcp")
    result = run("--module", str(module), "--server", base, env=env)
    assert_fails(result, "HTTP 404", "no SHA256SUMS asset", "/v1.2.3/SHA256SUMS")


def test_fails_when_sums_file_is_missing(tmp_path: Path) -> None:
    module = write_module(tmp_path, "1.2.3", {"v1.2.3": SUMS_SHA})
    result = run(
        "--module", str(module), "--tag", "v1.2.3", "--sums-file", str(tmp_path / "nope")
    )
    assert_fails(result, "cannot read", "nope")


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"not a sums line\n", "line 1"),
        (b"\xff\xfe\n", "not UTF-8"),
        (b"\n\n", "lists no asset"),
        (SUMS + SUMS.replace(SUMS[:64], b"0" * 64), "twice with different digests"),
        (b"1" * 63 + b"  short.zip\n", "line 1"),
    ],
)
def test_fails_when_sums_is_not_an_index(tmp_path: Path, data: bytes, fragment: str) -> None:
    """Even when the pin matches: qtmcp would refuse such a file."""
    module = write_module(tmp_path, "1.2.3", {"v1.2.3": hashlib.sha256(data).hexdigest()})
    sums = write_sums(tmp_path, data)
    result = run("--module", str(module), "--tag", "v1.2.3", "--sums-file", str(sums))
    assert_fails(result, fragment)


def _check_release_module():  # type: ignore[no-untyped-def]
    """check_release.py imported (its main() runs only as a script)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_release", str(SCRIPT))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("data, expected", [case[1:] for case in SUMS_CASES], ids=[case[0] for case in SUMS_CASES])
def test_the_release_check_reads_sha256sums_as_qtmcp_does(data: bytes, expected: object) -> None:
    check = _check_release_module()
    if expected is None:
        with pytest.raises(check.CheckError):
            check.parse_sums(data, "here")
    else:
        assert check.parse_sums(data, "here") == expected


def test_fails_when_pin_is_not_lowercase_hex(tmp_path: Path) -> None:
    module = write_module(tmp_path, "1.2.3", {"v1.2.3": SUMS_SHA.upper()})
    sums = write_sums(tmp_path)
    result = run("--module", str(module), "--tag", "v1.2.3", "--sums-file", str(sums))
    assert_fails(result, "not 64 lowercase hex digits")


def test_fails_when_version_is_not_a_literal(tmp_path: Path) -> None:
    module = write_module(tmp_path, "1.2.3", {"v1.2.3": SUMS_SHA})
    text = module.read_text(encoding="utf-8").replace('"1.2.3"', 'str("1.2.3")', 1)
    module.write_text(text, encoding="utf-8")
    sums = write_sums(tmp_path)
    result = run("--module", str(module), "--tag", "v1.2.3", "--sums-file", str(sums))
    assert_fails(result, "__version__ is not a plain literal")


def test_fails_when_module_has_no_pins(tmp_path: Path) -> None:
    module = tmp_path / "qtmcp.py"
    module.write_text('__version__ = "1.2.3"\n', encoding="utf-8")
    sums = write_sums(tmp_path)
    result = run("--module", str(module), "--tag", "v1.2.3", "--sums-file", str(sums))
    assert_fails(result, "no module-level assignment to RELEASE_PINS")


@pytest.mark.parametrize(
    "args, fragment",
    [
        ((), "no release tag"),
        (("--tag=-v1",), "bad release tag"),
        (("--tag", "v1 2"), "bad release tag"),
        (("--tag", "v1.2.3"), "no repository"),
    ],
)
def test_usage_errors(tmp_path: Path, args: tuple[str, ...], fragment: str) -> None:
    module = write_module(tmp_path, "1.2.3", {"v1.2.3": SUMS_SHA})
    result = run("--module", str(module), *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith(ERROR_PREFIX) and fragment in result.stderr


# --------------------------------------------------------------------------
# --print-pin


def test_print_pin_round_trip(tmp_path: Path) -> None:
    sums = write_sums(tmp_path)
    result = run("--print-pin", str(sums), "--tag", "v3.1.4")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f'    "v3.1.4": "{SUMS_SHA}",\n'
    assert "3 asset(s)" in result.stderr

    # The printed line, pasted into RELEASE_PINS, passes the check.
    module = write_module(tmp_path, "3.1.4", {})
    text = module.read_text(encoding="utf-8")
    anchor = "RELEASE_PINS: dict[str, str] = {\n"
    module.write_text(text.replace(anchor, anchor + result.stdout), encoding="utf-8")
    check = run("--module", str(module), "--tag", "v3.1.4", "--sums-file", str(sums))
    assert_passes(check, "v3.1.4")


def test_print_pin_tag_defaults_to_module_version(tmp_path: Path) -> None:
    module = write_module(tmp_path, "0.9.0", {})
    sums = write_sums(tmp_path)
    result = run("--print-pin", str(sums), "--module", str(module))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f'    "v0.9.0": "{SUMS_SHA}",\n'


def test_print_pin_refuses_a_bad_index(tmp_path: Path) -> None:
    sums = write_sums(tmp_path, b"garbage\n")
    result = run("--print-pin", str(sums), "--tag", "v1.0.0")
    assert_fails(result, "line 1")
    assert result.stdout == ""


# --------------------------------------------------------------------------
# The real qtmcp.py


def _real_version_and_pins() -> tuple[str, dict[str, str]]:
    tree = ast.parse(REAL_MODULE.read_bytes())
    values: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in ("__version__", "RELEASE_PINS"):
                values[target.id] = ast.literal_eval(value)
    version, pins = values["__version__"], values["RELEASE_PINS"]
    assert isinstance(version, str) and isinstance(pins, dict)
    return version, pins


needs_real_module = pytest.mark.skipif(not REAL_MODULE.exists(), reason="qtmcp.py is not written yet")


@needs_real_module
def test_real_module_as_it_is(tmp_path: Path) -> None:
    """The default --module is the repository's qtmcp.py, readable by ast.

    Its own tag, with a SHA256SUMS made up here, cannot pass: a development
    version is never published, and a release's pin is not this file's.
    """
    version, pins = _real_version_and_pins()
    tag = "v" + version
    sums = write_sums(tmp_path)
    result = run("--tag", tag, "--sums-file", str(sums))
    if ".dev" in version or "+" in version:
        assert_fails(result, "development version")
    elif tag in pins:
        assert_fails(result, f"RELEASE_PINS[{tag!r}] is")
    else:
        assert_fails(result, f"no pin for {tag}")
    assert f"matches __version__ {version!r}" in result.stdout
    # A tag that is not the module's version fails before any pin is looked at.
    other = run("--tag", tag + "-fake", "--sums-file", str(sums))
    assert_fails(other, "does not match", f"{version!r}")
    assert other.stdout == ""


@needs_real_module
def test_real_module_with_a_fake_release_version_has_no_pin(tmp_path: Path) -> None:
    """A copy of qtmcp.py whose __version__ names a release nobody pinned."""
    text = REAL_MODULE.read_text(encoding="utf-8")
    pattern = re.compile(r'^__version__ = "[^"]*"$', re.MULTILINE)
    assert len(pattern.findall(text)) == 1, "qtmcp.py needs one plain __version__ line"
    module = tmp_path / "qtmcp.py"
    module.write_text(pattern.sub('__version__ = "0.0.999"', text), encoding="utf-8")
    sums = write_sums(tmp_path)
    result = run("--module", str(module), "--tag", "v0.0.999", "--sums-file", str(sums))
    assert_fails(result, "no pin for v0.0.999", "--print-pin")
