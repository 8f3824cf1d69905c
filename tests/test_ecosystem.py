"""qtmcp in the MCP ecosystem: the MCP Registry's server.json and the Claude
Desktop bundle (.mcpb), checked offline against what their specs require.

The checks are written from the specs themselves, with no schema library:

* server.json: the registry's schema 2025-12-11
  (https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json,
  the copy in github.com/modelcontextprotocol/registry,
  internal/validators/schemas/2025-12-11.json), its semantic checks
  (internal/validators/validators.go: versions that are not ranges nor
  "latest") and the official registry's rules
  (docs/reference/server-json/official-registry-requirements.md: PyPI only
  from https://pypi.org; the README's "mcp-name: <name>" marker,
  docs/modelcontextprotocol-io/package-types.mdx).
* the bundle's manifest.json: MANIFEST.md of github.com/modelcontextprotocol/mcpb
  (manifest_version 0.3, "current version" there) and its strict zod schema
  src/schemas/0.3.ts (no unknown keys at any level).

The bundle is built by .github/scripts/build_mcpb.py, unzipped, and its
mcp_config started as Claude Desktop would start it: the variables
substituted the way the mcpb library does (src/shared/config.ts), against a
release served on 127.0.0.1 whose archives hold the stand-in launcher.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any, Dict, List

import pytest
from fixtures import (
    QTMCP,
    REPO,
    McpSession,
    clean_env,
    closed_port,
    respond_bytes,
    text,
)

SERVER_JSON = REPO / ".github" / "server.json"
README = REPO / "README.md"
SCRIPTS = REPO / ".github" / "scripts"
BUILD_MCPB = SCRIPTS / "build_mcpb.py"
CHECK_SERVER_JSON = SCRIPTS / "check_server_json.py"
WAIT_FOR_PYPI = SCRIPTS / "wait_for_pypi.py"

SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
SERVER_NAME = "io.github.ssss2art/qtmcp"
MARKER = re.compile(r"mcp-name: ([A-Za-z0-9._/-]+)")

# An sdist carries tests/ but not .github/ (pyproject.toml excludes it).
pytestmark = pytest.mark.skipif(not (REPO / ".github").is_dir(),
                                reason="no .github/ here (an sdist): server.json and the scripts live there")

needs_flit = pytest.mark.skipif(
    importlib.util.find_spec("flit_core") is None,
    reason="flit_core is not installed in this Python (pip install 'flit_core>=3.12,<4')")


def module_version() -> str:
    m = re.search(r'(?m)^__version__\s*=\s*["\']([^"\']+)["\']', QTMCP.read_text(encoding="utf-8"))
    assert m, "qtmcp.py has no __version__"
    return m.group(1)


def server_json() -> Dict[str, Any]:
    return json.loads(SERVER_JSON.read_text(encoding="utf-8"))


def run_script(script: Path, *args: str, timeout: float = 120) -> "subprocess.CompletedProcess[bytes]":
    env = clean_env()
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return subprocess.run([sys.executable, str(script), *args], env=env, cwd=str(REPO),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


# --------------------------------------------------------------------------
# server.json against the registry's schema 2025-12-11

# ServerDetail's properties (the schema leaves others open, but an unknown key
# here would be a typo: the registry would ignore it).
SERVER_KEYS = {"$schema", "_meta", "description", "icons", "name", "packages", "remotes",
               "repository", "title", "version", "websiteUrl"}
PACKAGE_KEYS = {"environmentVariables", "fileSha256", "identifier", "packageArguments",
                "registryBaseUrl", "registryType", "runtimeArguments", "runtimeHint",
                "transport", "version"}
INPUT_KEYS = {"choices", "default", "description", "format", "isRequired", "isSecret",
              "placeholder", "value", "variables"}
INPUT_FORMATS = {"string", "number", "boolean", "filepath"}
# validators.go refuses "latest" and versions that look like ranges: these
# are its four patterns.
_V = r"v?\d+(?:\.\d+){0,3}(?:-[0-9A-Za-z.-]+)?"
RANGE_PATTERNS = [
    re.compile(r"\s*(?:\^|~|>=|<=|>|<|=)\s*" + _V + r"\s*"),
    re.compile(r"\s*" + _V + r"\s-\s*" + _V + r"\s*"),
    re.compile(r"\s*(?:" + _V + r"\s*)(?:\|\|\s*" + _V + r"\s*)+"),
]
WILDCARD = re.compile(r"\s*(?:v?\d+|x|X|\*)(?:\.(?:\d+|x|X|\*)){1,2}(?:-[0-9A-Za-z.-]+)?\s*")


def looks_like_a_range(version: str) -> bool:
    trimmed = version.strip()
    if any(pattern.fullmatch(trimmed) for pattern in RANGE_PATTERNS):
        return True
    return bool(WILDCARD.fullmatch(trimmed)) and any(c in trimmed for c in "xX*")


def check_specific_version(where: str, version: Any) -> None:
    assert isinstance(version, str) and version.strip(), (where, version)
    assert version != "latest", where
    assert not looks_like_a_range(version), (where, version)
    assert len(version) <= 255, where


def test_the_range_check_is_the_registrys() -> None:
    for refused in ("^1.2.3", "~1.2.3", ">=1.0.0", "1.x", "1.2.*", "1.2.3 - 2.0.0", "1.2 || 1.3"):
        assert looks_like_a_range(refused), refused
    for taken in ("1.0.0", "0.3.0", "0.3.0.dev0", "2.1.3-alpha", "2025-06-18", "v1.0"):
        assert not looks_like_a_range(taken), taken


def check_input(where: str, item: Dict[str, Any], extra: set) -> None:
    assert isinstance(item, dict), where
    assert set(item) <= INPUT_KEYS | extra, (where, set(item) - INPUT_KEYS - extra)
    for key in ("description", "value", "default", "placeholder"):
        if key in item:
            assert isinstance(item[key], str), (where, key)
    for key in ("isRequired", "isSecret"):
        if key in item:
            assert isinstance(item[key], bool), (where, key)
    if "format" in item:
        assert item["format"] in INPUT_FORMATS, (where, item["format"])
    if "choices" in item:
        assert all(isinstance(c, str) for c in item["choices"]), where


def check_argument(where: str, arg: Dict[str, Any]) -> None:
    assert arg.get("type") in ("positional", "named"), where
    if arg["type"] == "positional":
        check_input(where, arg, {"type", "valueHint", "isRepeated"})
        assert "valueHint" in arg or "value" in arg, where  # the schema's anyOf
    else:
        check_input(where, arg, {"type", "name", "isRepeated"})
        assert isinstance(arg.get("name"), str) and arg["name"], where
        assert not re.search(r"[<> $]", arg["name"]), where  # validators.go


def test_server_json_has_every_field_the_registry_schema_requires() -> None:
    server = server_json()
    assert set(server) <= SERVER_KEYS, set(server) - SERVER_KEYS
    assert server["$schema"] == SCHEMA_URL
    # name: required, ^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$, 3..200 characters
    assert server["name"] == SERVER_NAME
    assert re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", server["name"])
    assert 3 <= len(server["name"]) <= 200
    # description: required, 1..100 characters (the registry refuses more)
    assert isinstance(server["description"], str)
    assert 1 <= len(server["description"]) <= 100, len(server["description"])
    check_specific_version("version", server["version"])
    if "title" in server:
        assert 1 <= len(server["title"]) <= 100 and server["title"].strip()
    if "websiteUrl" in server:
        assert server["websiteUrl"].startswith("https://")
    repository = server["repository"]
    assert set(repository) <= {"url", "source", "id", "subfolder"}
    assert repository["source"] == "github"
    assert repository["url"] == "https://github.com/ssss2art/QtMcp"

    packages = server["packages"]
    assert isinstance(packages, list) and len(packages) == 1
    for index, package in enumerate(packages):
        where = f"packages[{index}]"
        assert set(package) <= PACKAGE_KEYS, set(package) - PACKAGE_KEYS
        for required in ("registryType", "identifier", "transport"):
            assert required in package, (where, required)
        check_specific_version(where + ".version", package.get("version"))
        assert " " not in package["identifier"]
        assert package["transport"] == {"type": "stdio"}
        for group in ("packageArguments", "runtimeArguments"):
            for number, arg in enumerate(package.get(group) or []):
                check_argument(f"{where}.{group}[{number}]", arg)
        for number, variable in enumerate(package.get("environmentVariables") or []):
            variable_where = f"{where}.environmentVariables[{number}]"
            check_input(variable_where, variable, {"name"})
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable.get("name", "")), variable_where


def test_server_json_names_the_pypi_package_run_with_uvx_over_stdio() -> None:
    package = server_json()["packages"][0]
    assert package["registryType"] == "pypi"
    assert package["identifier"] == "qtmcp"
    assert package["runtimeHint"] == "uvx"
    assert package["transport"] == {"type": "stdio"}
    # The official registry takes PyPI packages from pypi.org only.
    assert package.get("registryBaseUrl", "https://pypi.org") == "https://pypi.org"


def test_server_json_asks_for_the_application_and_the_optional_qt_version_and_mirror() -> None:
    package = server_json()["packages"][0]
    args = package["packageArguments"]
    # qtmcp -- APPLICATION: "--" is fixed, the application a required file path.
    assert args[0] == {"type": "positional", "value": "--", "description": args[0]["description"]}
    application = args[1]
    assert application["type"] == "positional" and "value" not in application
    assert application["valueHint"] == "application"
    assert application["format"] == "filepath" and application["isRequired"] is True
    assert len(args) == 2, "qtmcp's options must come before --"
    variables = {v["name"]: v for v in package["environmentVariables"]}
    assert set(variables) == {"QTMCP_QT", "QTMCP_MIRROR"}
    assert variables["QTMCP_QT"]["isRequired"] is False
    assert variables["QTMCP_QT"]["default"] == "auto"
    assert variables["QTMCP_MIRROR"]["isRequired"] is False
    assert "default" not in variables["QTMCP_MIRROR"], "empty: the project's releases"
    for variable in variables.values():
        assert variable["description"] and not variable.get("isSecret")


def test_server_json_versions_are_the_module_version() -> None:
    server = server_json()
    version = module_version()
    assert server["version"] == version
    assert [package["version"] for package in server["packages"]] == [version]


def test_the_readme_carries_the_marker_of_server_json_name_and_no_other() -> None:
    readme = README.read_text(encoding="utf-8")
    names = MARKER.findall(readme)
    assert names, "README.md has no mcp-name: marker"
    assert set(names) == {server_json()["name"]}
    # As the registry matches it: the name, then no further name character.
    assert re.search(r"mcp-name: " + re.escape(SERVER_NAME) + r"(?![A-Za-z0-9._/-])", readme)
    assert "<!-- mcp-name: %s -->" % SERVER_NAME in readme


def test_pyproject_makes_the_readme_the_package_description() -> None:
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'(?m)^readme\s*=\s*"README\.md"\s*$', pyproject)


@needs_flit
def test_the_wheel_and_the_sdist_carry_the_marker_in_their_description(tmp_path: Path) -> None:
    """PyPI shows (and its JSON API serves) the description of the files uploaded."""
    code = ("import sys, flit_core.buildapi as api; "
            "print(api.build_wheel(sys.argv[1])); print(api.build_sdist(sys.argv[1]))")
    cp = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=str(REPO),
                        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        timeout=120)
    assert cp.returncode == 0, text(cp.stderr)
    wheel_name, sdist_name = text(cp.stdout).split()[-2:]
    version = module_version()
    marker = "<!-- mcp-name: %s -->" % SERVER_NAME
    with zipfile.ZipFile(str(tmp_path / wheel_name)) as wheel:
        metadata = wheel.read("qtmcp-%s.dist-info/METADATA" % version).decode("utf-8")
    assert "Description-Content-Type: text/markdown" in metadata
    assert marker in metadata.split("\n\n", 1)[1], "not in the wheel's description"
    with tarfile.open(str(tmp_path / sdist_name)) as sdist:
        top = "qtmcp-%s/" % version
        pkg_info = sdist.extractfile(top + "PKG-INFO").read().decode("utf-8")
        readme = sdist.extractfile(top + "README.md").read()
    assert marker in pkg_info.split("\n\n", 1)[1], "not in the sdist's description"
    assert readme == README.read_bytes()


def test_check_server_json_passes_on_the_repository_and_names_a_version_out_of_step(
        tmp_path: Path) -> None:
    ok = run_script(CHECK_SERVER_JSON)
    assert ok.returncode == 0, text(ok.stderr)
    assert SERVER_NAME in text(ok.stdout)

    stale = server_json()
    stale["packages"][0]["version"] = "0.0.1"
    stale_path = tmp_path / "server.json"
    stale_path.write_text(json.dumps(stale), encoding="utf-8")
    cp = run_script(CHECK_SERVER_JSON, "--server-json", str(stale_path))
    assert cp.returncode == 1
    lines = text(cp.stderr).splitlines()
    assert len(lines) == 1 and lines[0].startswith("check_server_json: error: ")
    assert "packages[0].version is '0.0.1'" in lines[0] and module_version() in lines[0]

    no_marker = tmp_path / "README.md"
    no_marker.write_text("# qtmcp\n\nmcp-name: %s-fork\n" % SERVER_NAME, encoding="utf-8")
    cp = run_script(CHECK_SERVER_JSON, "--readme", str(no_marker))
    assert cp.returncode == 1 and "lacks the ownership marker" in text(cp.stderr)

    cp = run_script(CHECK_SERVER_JSON, "--tag", "v9.9.9")
    assert cp.returncode == 1 and "does not match" in text(cp.stderr)


def test_wait_for_pypi_polls_until_both_pages_carry_the_marker(http_server) -> None:
    version = server_json()["packages"][0]["version"]
    release_page = "/pypi/qtmcp/%s/json" % version
    with_marker = json.dumps({"info": {"description": "# qtmcp\n<!-- mcp-name: %s -->\n"
                                                      % SERVER_NAME}}).encode()
    old = json.dumps({"info": {"description": "the earlier server"}}).encode()
    # Later routes win: not there twice, then the page; the project's page is
    # the earlier server's once, then ours.
    http_server.route(release_page, respond_bytes(with_marker))
    http_server.route(release_page, respond_bytes(b"", status=404), times=2)
    http_server.route("/pypi/qtmcp/json", respond_bytes(with_marker))
    http_server.route("/pypi/qtmcp/json", respond_bytes(old), times=1)
    cp = run_script(WAIT_FOR_PYPI, str(SERVER_JSON), "--index", http_server.url,
                    "--timeout", "30", "--poll", "0.05")
    assert cp.returncode == 0, text(cp.stderr) + text(cp.stdout)
    assert len(http_server.requests_for(release_page)) == 3
    assert len(http_server.requests_for("/pypi/qtmcp/json")) == 2

    http_server.clear_routes()
    http_server.route(release_page, respond_bytes(old))
    cp = run_script(WAIT_FOR_PYPI, str(SERVER_JSON), "--index", http_server.url,
                    "--timeout", "0.3", "--poll", "0.05")
    assert cp.returncode == 1
    assert text(cp.stderr).startswith("::error::wait_for_pypi: ")
    assert "no 'mcp-name: %s'" % SERVER_NAME in text(cp.stderr)


# --------------------------------------------------------------------------
# The Claude Desktop bundle against MANIFEST.md (manifest_version 0.3)

# src/schemas/0.3.ts: strict objects, so these are all the keys there are.
MANIFEST_KEYS = {"$schema", "dxt_version", "manifest_version", "name", "display_name", "version",
                 "description", "long_description", "author", "repository", "homepage",
                 "documentation", "support", "icon", "icons", "screenshots", "localization",
                 "server", "tools", "tools_generated", "prompts", "prompts_generated",
                 "keywords", "license", "privacy_policies", "compatibility", "user_config",
                 "_meta"}
USER_CONFIG_KEYS = {"type", "title", "description", "required", "default", "multiple",
                    "sensitive", "min", "max"}
USER_CONFIG_TYPES = {"string", "number", "boolean", "directory", "file"}
PLATFORMS = {"darwin", "win32", "linux"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    outdir = tmp_path_factory.mktemp("mcpb")
    cp = run_script(BUILD_MCPB, str(outdir))
    assert cp.returncode == 0, text(cp.stderr)
    digest, path = text(cp.stdout).strip().split("  ", 1)
    built = Path(path)
    assert built.parent == outdir
    assert digest == hashlib.sha256(built.read_bytes()).hexdigest()
    return built


@pytest.fixture(scope="module")
def manifest(bundle: Path) -> Dict[str, Any]:
    with zipfile.ZipFile(str(bundle)) as zf:
        return json.loads(zf.read("manifest.json").decode("utf-8"))


def test_bundle_is_a_zip_of_the_manifest_and_this_very_qtmcp_py(bundle: Path) -> None:
    assert bundle.name == "qtmcp-%s.mcpb" % module_version()
    with zipfile.ZipFile(str(bundle)) as zf:
        assert zf.testzip() is None
        assert sorted(zf.namelist()) == ["manifest.json", "qtmcp.py"]
        assert zf.read("qtmcp.py") == QTMCP.read_bytes()
        for info in zf.infolist():
            assert info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
            assert (info.external_attr >> 16) & 0o777 == 0o644


def test_bundle_build_is_reproducible(bundle: Path, tmp_path: Path) -> None:
    outdir = tmp_path / "again"
    cp = run_script(BUILD_MCPB, str(outdir))
    assert cp.returncode == 0, text(cp.stderr)
    assert (outdir / bundle.name).read_bytes() == bundle.read_bytes()
    assert sorted(p.name for p in outdir.iterdir()) == [bundle.name], "no temporary left"


def test_bundle_builder_usage_error_is_one_line_and_status_2() -> None:
    cp = run_script(BUILD_MCPB)
    assert cp.returncode == 2
    assert text(cp.stderr).splitlines() == ["build_mcpb: error: usage: build_mcpb.py OUTDIR"]


def test_bundle_manifest_has_every_field_the_mcpb_spec_requires(
        manifest: Dict[str, Any], bundle: Path) -> None:
    assert set(manifest) <= MANIFEST_KEYS, set(manifest) - MANIFEST_KEYS
    # Required: manifest_version, name, version, description, author.name, server.
    assert manifest["manifest_version"] == "0.3"
    for key in ("name", "version", "description"):
        assert isinstance(manifest[key], str) and manifest[key], key
    assert set(manifest["author"]) <= {"name", "email", "url"}
    assert isinstance(manifest["author"]["name"], str) and manifest["author"]["name"]
    if "repository" in manifest:
        assert set(manifest["repository"]) == {"type", "url"}
    for key in ("homepage", "documentation", "support"):
        if key in manifest:
            assert manifest[key].startswith("https://"), key
    for key in ("tools_generated", "prompts_generated"):
        if key in manifest:
            assert isinstance(manifest[key], bool), key

    server = manifest["server"]
    assert set(server) == {"type", "entry_point", "mcp_config"}  # all three required in 0.3
    assert server["type"] in ("python", "node", "binary")
    with zipfile.ZipFile(str(bundle)) as zf:
        assert server["entry_point"] in zf.namelist()
    config = server["mcp_config"]
    assert set(config) <= {"command", "args", "env", "platform_overrides"}
    assert isinstance(config["command"], str) and config["command"]
    assert all(isinstance(arg, str) for arg in config.get("args", []))
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in config.get("env", {}).items())
    for platform, override in (config.get("platform_overrides") or {}).items():
        assert platform in PLATFORMS, platform
        assert set(override) <= {"command", "args", "env"}, platform

    compatibility = manifest.get("compatibility", {})
    assert set(compatibility) <= {"claude_desktop", "platforms", "runtimes"}
    assert set(compatibility.get("platforms", [])) <= PLATFORMS
    assert set(compatibility.get("runtimes", {})) <= {"python", "node"}

    for key, option in manifest.get("user_config", {}).items():
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key), key
        assert set(option) <= USER_CONFIG_KEYS, (key, set(option) - USER_CONFIG_KEYS)
        assert option["type"] in USER_CONFIG_TYPES, key
        for field in ("title", "description"):  # required for every option
            assert isinstance(option[field], str) and option[field], (key, field)
        for field in ("required", "multiple", "sensitive"):
            if field in option:
                assert isinstance(option[field], bool), (key, field)
        if "default" in option:
            assert isinstance(option["default"], (str, int, float, bool, list)), key


def test_bundle_manifest_is_qtmcp_in_python_for_every_platform(manifest: Dict[str, Any]) -> None:
    assert manifest["name"] == "qtmcp"
    assert manifest["version"] == module_version()
    server = manifest["server"]
    assert server["type"] == "python"  # qtmcp needs nothing but the standard library
    assert server["entry_point"] == "qtmcp.py"
    assert set(manifest["compatibility"]["platforms"]) == PLATFORMS
    assert len(manifest["compatibility"]["platforms"]) == 3
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    requires = re.search(r'(?m)^requires-python\s*=\s*"([^"]+)"', pyproject).group(1)
    assert manifest["compatibility"]["runtimes"] == {"python": requires}


def test_bundle_asks_for_the_application_the_qt_version_and_a_mirror(
        manifest: Dict[str, Any]) -> None:
    options = manifest["user_config"]
    assert set(options) == {"application", "qt_version", "mirror"}
    assert options["application"]["type"] == "file"
    assert options["application"]["required"] is True
    assert "multiple" not in options["application"]
    assert options["qt_version"]["type"] == "string"
    assert options["qt_version"]["required"] is False
    assert options["qt_version"]["default"] == "auto"
    assert options["mirror"]["type"] == "string"
    assert options["mirror"]["required"] is False
    # Without a default an unset mirror would stay "${user_config.mirror}".
    assert options["mirror"]["default"] == ""
    config = manifest["server"]["mcp_config"]
    assert config["args"] == ["${__dirname}/qtmcp.py", "--", "${user_config.application}"]
    assert config["env"] == {"QTMCP_QT": "${user_config.qt_version}",
                             "QTMCP_MIRROR": "${user_config.mirror}"}


# What Claude Desktop does with mcp_config (github.com/modelcontextprotocol/mcpb,
# src/shared/config.ts, getMcpConfigForManifest): the platform's override,
# then ${__dirname}, ${/}, ${pathSeparator} and ${user_config.KEY} from the
# manifest's defaults overridden by the user's settings; a variable it does
# not know stays as it is.

def claude_desktop_config(manifest: Dict[str, Any], extension_dir: Path,
                          settings: Dict[str, Any], platform: str = sys.platform) -> Dict[str, Any]:
    base = manifest["server"]["mcp_config"]
    config = {"command": base["command"], "args": list(base.get("args", [])),
              "env": dict(base.get("env", {}))}
    override = (base.get("platform_overrides") or {}).get(platform) or {}
    for key in ("command", "args", "env"):
        if override.get(key):
            config[key] = override[key]
    values: Dict[str, Any] = {}
    for key, option in (manifest.get("user_config") or {}).items():
        if "default" in option:
            values[key] = option["default"]
    values.update(settings)
    variables = {"__dirname": str(extension_dir), "pathSeparator": "\\" if platform == "win32" else "/"}
    variables["/"] = variables["pathSeparator"]
    for key, value in values.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        variables["user_config." + key] = value if isinstance(value, list) else str(value)

    def substitute(item: str) -> List[str]:
        whole = re.fullmatch(r"\$\{(user_config\.[^}]+)\}", item)
        if whole and isinstance(variables.get(whole.group(1)), list):
            return list(variables[whole.group(1)])
        return [re.sub(r"\$\{([^}]+)\}",
                       lambda m: variables[m.group(1)]
                       if isinstance(variables.get(m.group(1)), str) else m.group(0), item)]

    return {"command": substitute(config["command"])[0],
            "args": [out for arg in config["args"] for out in substitute(arg)],
            "env": {key: substitute(value)[0] for key, value in config["env"].items()}}


@pytest.fixture
def installed(bundle: Path, tmp_path: Path) -> Path:
    """The bundle unzipped, as Claude Desktop unpacks an extension."""
    where = tmp_path / "Claude Extensions" / "local.mcpb.qtmcp"
    with zipfile.ZipFile(str(bundle)) as zf:
        zf.extractall(str(where))
    return where


def test_the_defaults_give_a_complete_command_line_on_every_platform(
        manifest: Dict[str, Any], installed: Path) -> None:
    app = "/opt/My App/bin/editor"
    for platform in sorted(PLATFORMS):
        config = claude_desktop_config(manifest, installed, {"application": app}, platform)
        assert config["command"] == ("python" if platform == "win32" else "python3")
        assert config["args"] == [str(installed) + "/qtmcp.py", "--", app]
        # An empty QTMCP_MIRROR counts as unset: the project's releases.
        assert config["env"] == {"QTMCP_QT": "auto", "QTMCP_MIRROR": ""}
        assert "${" not in json.dumps(config)


def start_bundle(config: Dict[str, Any], env: Dict[str, str]) -> McpSession:
    """Start the substituted command as Claude Desktop does: the command with
    its args, the client's environment plus the config's env, pipes on all
    three. The command is python3 (python on Windows); this test runs it with
    the interpreter running the tests."""
    assert config["command"] in ("python3", "python")
    child_env = dict(env)
    child_env.update(config["env"])
    proc = subprocess.Popen([sys.executable, *config["args"]], env=child_env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return McpSession(proc, timeout=60)


def test_the_bundle_started_as_claude_desktop_does_relays_mcp_through_the_launcher(
        manifest: Dict[str, Any], installed: Path, release, qtmcp_env, tmp_path: Path) -> None:
    app = tmp_path / "My App" / "editor"
    app.parent.mkdir()
    app.write_bytes(b"a Qt application\n")
    config = claude_desktop_config(manifest, installed, {
        "application": str(app), "qt_version": "6.8", "mirror": release.url})
    assert config["env"] == {"QTMCP_QT": "6.8", "QTMCP_MIRROR": release.url}
    # qtmcp_env: a fresh cache and home, and QTMCP_RELEASE=vTEST, the served
    # release (a development version of qtmcp has no release of its own).
    with start_bundle(config, qtmcp_env) as session:
        answer = session.initialize()
        assert answer["result"]["serverInfo"]["name"] == "qtmcp-stand-in", answer
        report = session.call_tool("env", {"names": ["QTMCP_QT", "QTMCP_MIRROR"]})
        seen = json.loads(report["result"]["content"][0]["text"])
        assert seen["argv"] == [str(app)]
        assert seen["env"] == {"QTMCP_QT": "6.8", "QTMCP_MIRROR": release.url}
        assert session.close() == 0, text(session.stderr)
    asset = "/vTEST/" + release.host_build("6.8").asset
    assert len(release.server.requests_for(asset)) == 1

    # Later, the mirror setting left empty: qtmcp starts from the cache and
    # reaches for no network (a proxy that cannot be reached stands guard).
    release.server.clear()
    config = claude_desktop_config(manifest, installed, {"application": str(app),
                                                         "qt_version": "6.8"})
    assert config["env"]["QTMCP_MIRROR"] == ""
    guard = "http://127.0.0.1:%d" % closed_port()
    env = dict(qtmcp_env, HTTPS_PROXY=guard, HTTP_PROXY=guard, https_proxy=guard, http_proxy=guard)
    with start_bundle(config, env) as session:
        answer = session.initialize()
        assert answer["result"]["serverInfo"]["name"] == "qtmcp-stand-in", text(session.stderr)
        assert session.close() == 0, text(session.stderr)
    assert release.server.requests == []
