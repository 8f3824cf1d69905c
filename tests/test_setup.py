"""`qtmcp setup CLIENT APP [APP_ARGS...]`: each client's file and format, the
merge (other keys kept in order, `.bak`, one rename, the mode), refusals, the
dry start that proves the entry before anything is written, secrets, and the
written entry started later as a client starts it.

Every client location is pointed at a temp HOME (and XDG_CONFIG_HOME) through
the environment, or given with --config. What cannot run on this machine (the
macOS and Windows locations, a real `claude` on PATH) is tested with the
environment pointed at temp folders and a stand-in `claude` script.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from fixtures import (
    HOST_OS,
    HOST_PLATFORM,
    QTMCP,
    assert_error,
    encode_message,
    import_qtmcp,
    launcher_name,
    run_qtmcp,
    text,
    tree_snapshot,
    write_launcher,
)

POSIX_ONLY = pytest.mark.skipif(HOST_OS == "windows", reason="POSIX modes, links and shebang scripts")
NON_ASCII = "Grüße, こんにちは ✓"
APP_ARGS = ["--flag", "ä b", "--"]
USER, PASSWORD, TOKEN = "mirror-user", "pa55-w0rd-s3cret", "t0ken-4-the-mirror-only"


@pytest.fixture
def env(qtmcp_env, home_dir):
    """qtmcp_env with the user's settings folder in the temp home on every OS, and
    no real `claude` on PATH (the stand-in below is put there where wanted)."""
    environ = dict(qtmcp_env, XDG_CONFIG_HOME=str(home_dir / ".config"))
    environ["PATH"] = os.pathsep.join(p for p in environ.get("PATH", "").split(os.pathsep)
                                      if not shutil.which("claude", path=p))
    if HOST_OS == "windows":
        environ["APPDATA"] = str(home_dir / "AppData" / "Roaming")
    return environ


def setup(release, client, app, *options, env, cwd, args=APP_ARGS):
    return run_qtmcp(["setup", client, "--qt", "6.8", "--mirror", release.url] + list(options)
                     + ["--", str(app)] + list(args), env=env, cwd=cwd)


def user_settings(home: Path) -> Path:
    """Where desktop apps keep user settings on this OS (the contract's rule, written out)."""
    if HOST_OS == "windows":
        return home / "AppData" / "Roaming"
    if HOST_OS == "macos":
        return home / "Library" / "Application Support"
    return home / ".config"


def expected_file(client, scope, home, project):
    if scope == "project":
        return project / {"claude-code": ".mcp.json", "vscode": ".vscode/mcp.json",
                          "cursor": ".cursor/mcp.json"}[client]
    return {"claude-desktop": user_settings(home) / "Claude" / "claude_desktop_config.json",
            "vscode": user_settings(home) / "Code" / "User" / "mcp.json",
            "cursor": home / ".cursor" / "mcp.json",
            "windsurf": home / ".codeium" / "windsurf" / "mcp_config.json"}[client]


def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


# -- each client's file and format ------------------------------------------------------------

@pytest.mark.parametrize("client,scope", [
    ("claude-desktop", None), ("vscode", None), ("vscode", "project"), ("cursor", None),
    ("cursor", "project"), ("windsurf", None), ("claude-code", "project"), ("claude-code", None),
])
def test_each_client_gets_its_own_format_in_the_file_it_reads(release, env, app, project, home_dir,
                                                              client, scope):
    """claude-code without `claude` on PATH writes the project's .mcp.json."""
    options = ["--scope", scope] if scope else []
    cp = setup(release, client, app, *options, env=env, cwd=project)
    assert cp.returncode == 0, text(cp.stderr)
    path = expected_file(client, scope or ("project" if client == "claude-code" else "user"), home_dir, project)
    key = "servers" if client == "vscode" else "mcpServers"
    data = read_json(path)
    assert list(data) == [key] and list(data[key]) == ["editor"]
    entry = data[key]["editor"]
    if client in ("vscode", "claude-code"):
        assert entry["type"] == "stdio"
    else:
        assert "type" not in entry
    assert os.path.isabs(entry["command"]) and os.path.isfile(entry["command"])
    args = entry["args"]
    assert args[args.index("--"):] == ["--", str(app)] + APP_ARGS  # APP_ARGS unchanged, its own '--' too
    assert args[args.index("--qt") + 1] == "6.8" and release.url in args
    assert entry["env"]["QTMCP_RELEASE"] == "vTEST"
    assert entry["env"]["QTMCP_CACHE_DIR"] == env["QTMCP_CACHE_DIR"]
    assert str(path) in text(cp.stdout) and not os.path.exists(str(path) + ".bak")


def test_app_becomes_absolute_and_the_name_defaults_to_its_file_name(release, env, app, project, home_dir):
    cp = setup(release, "cursor", os.path.relpath(str(app), str(project)), env=env, cwd=project, args=[])
    assert cp.returncode == 0, text(cp.stderr)
    entry = read_json(home_dir / ".cursor" / "mcp.json")["mcpServers"]["editor"]
    assert entry["args"][-2:] == ["--", str(app)]


def test_via_python_writes_the_interpreter_and_the_bytecode_import_of_this_qtmcp(
        release, env, app, project, home_dir):
    cp = setup(release, "windsurf", app, "--via", "python", "--name", "my app", env=env, cwd=project)
    assert cp.returncode == 0, text(cp.stderr)
    entry = read_json(home_dir / ".codeium" / "windsurf" / "mcp_config.json")["mcpServers"]["my app"]
    assert os.path.samefile(entry["command"], sys.executable)
    assert entry["args"][0] == "-c"
    assert "sys.path.insert(0, %r)" % str(QTMCP.parent) in entry["args"][1]
    assert "import qtmcp" in entry["args"][1] and "qtmcp.main()" in entry["args"][1]


def test_config_writes_the_file_it_names_in_the_client_format(release, env, app, project, tmp_path):
    target = tmp_path / "elsewhere" / "my-vscode.json"
    cp = setup(release, "vscode", app, "--config", str(target), env=env, cwd=project)
    assert cp.returncode == 0, text(cp.stderr)
    assert read_json(target)["servers"]["editor"]["type"] == "stdio"


def test_json_prints_only_the_object_and_writes_no_file(release, env, app, project, home_dir):
    before = tree_snapshot(home_dir)
    cp = setup(release, "json", app, env=env, cwd=project)
    assert cp.returncode == 0, text(cp.stderr)
    printed = json.loads(cp.stdout)
    assert list(printed) == ["mcpServers"] and list(printed["mcpServers"]) == ["editor"]
    assert printed["mcpServers"]["editor"]["args"][-4:] == [str(app)] + APP_ARGS
    assert tree_snapshot(home_dir) == before
    assert list(project.iterdir()) == []


# -- the merge ------------------------------------------------------------------------------------

OTHER_FILE = (
    '{\n'
    '    "theme": "dark",\n'
    '    "mcpServers": {\n'
    '        "zeta": {"command": "/usr/bin/zeta", "args": ["x"]},\n'
    '        "alpha": {"command": "/usr/bin/alpha", "env": {"A": "1"}}\n'
    '    },\n'
    '    "globalShortcut": "Ctrl+Space",\n'
    '    "numbers": [3, 1, 2]\n'
    '}\n'
)


def test_the_merge_keeps_every_other_key_and_entry_in_order_and_the_old_bytes_as_bak(
        release, env, app, project, home_dir):
    path = expected_file("claude-desktop", "user", home_dir, project)
    path.parent.mkdir(parents=True)
    path.write_text(OTHER_FILE, encoding="utf-8")
    Path(str(path) + ".bak").write_bytes(b"an older backup")
    if HOST_OS != "windows":
        os.chmod(str(path), 0o640)
    old_inode = os.stat(str(path)).st_ino
    cp = setup(release, "claude-desktop", app, env=env, cwd=project)
    assert cp.returncode == 0, text(cp.stderr)
    data = read_json(path)
    assert list(data) == ["theme", "mcpServers", "globalShortcut", "numbers"]
    assert list(data["mcpServers"]) == ["zeta", "alpha", "editor"]
    before = json.loads(OTHER_FILE)
    assert {k: v for k, v in data.items() if k != "mcpServers"} == {k: v for k, v in before.items()
                                                                   if k != "mcpServers"}
    assert data["mcpServers"]["zeta"] == before["mcpServers"]["zeta"]
    assert data["mcpServers"]["alpha"] == before["mcpServers"]["alpha"]
    assert Path(str(path) + ".bak").read_bytes() == OTHER_FILE.encode("utf-8")  # byte for byte
    assert path.read_text(encoding="utf-8").startswith('{\n    "theme"')  # its own indentation
    if HOST_OS != "windows":
        assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o640
        assert stat.S_IMODE(os.stat(str(path) + ".bak").st_mode) == 0o640
        assert os.stat(str(path)).st_ino != old_inode  # a new file, put there by a rename
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".bak"]  # no temp left
    assert "%s.bak" % path in text(cp.stdout)


def test_an_entry_of_that_name_that_differs_is_status_2_and_force_replaces_it_in_place(
        release, env, app, project, home_dir):
    path = home_dir / ".cursor" / "mcp.json"
    path.parent.mkdir()
    old = {"mcpServers": {"editor": {"command": "/old/qtmcp", "args": []}, "last": {"command": "x"}}}
    path.write_text(json.dumps(old), encoding="utf-8")
    before = tree_snapshot(path.parent)
    cp = setup(release, "cursor", app, env=env, cwd=project)
    assert_error(cp, 2, str(path), "editor", "--force")
    assert tree_snapshot(path.parent) == before
    assert not (release.server.requests_for("vTEST/SHA256SUMS"))  # refused before anything ran
    cp = setup(release, "cursor", app, "--force", env=env, cwd=project)
    assert cp.returncode == 0, text(cp.stderr)
    servers = read_json(path)["mcpServers"]
    assert list(servers) == ["editor", "last"] and servers["editor"]["command"] != "/old/qtmcp"
    assert json.loads(Path(str(path) + ".bak").read_text(encoding="utf-8")) == old


def test_the_same_entry_again_changes_nothing_and_writes_no_bak(release, env, app, project, home_dir):
    assert setup(release, "windsurf", app, env=env, cwd=project).returncode == 0
    folder = home_dir / ".codeium" / "windsurf"
    before = tree_snapshot(folder)
    cp = setup(release, "windsurf", app, env=env, cwd=project)
    assert cp.returncode == 0, text(cp.stderr)
    assert "nothing was changed" in text(cp.stdout)
    assert tree_snapshot(folder) == before


@POSIX_ONLY
def test_a_linked_configuration_file_stays_a_link_and_its_target_gets_the_entry(
        release, env, app, project, home_dir, tmp_path):
    real = tmp_path / "dotfiles" / "mcp.json"
    real.parent.mkdir()
    real.write_text('{"mcpServers": {}}', encoding="utf-8")
    link = home_dir / ".cursor" / "mcp.json"
    link.parent.mkdir()
    link.symlink_to(real)
    cp = setup(release, "cursor", app, env=env, cwd=project)
    assert cp.returncode == 0, text(cp.stderr)
    assert link.is_symlink() and os.readlink(str(link)) == str(real)
    assert "editor" in read_json(real)["mcpServers"]


# -- files that are not rewritten -------------------------------------------------------------------

JSONC = '{\n  // my servers\n  "servers": {\n    "other": {"type": "stdio", "command": "x",},\n  },\n}\n'


def test_json_with_comments_is_not_rewritten_status_7_and_the_entry_is_printed(
        release, env, app, project, home_dir):
    path = user_settings(home_dir) / "Code" / "User" / "mcp.json"
    path.parent.mkdir(parents=True)
    path.write_text(JSONC, encoding="utf-8")
    cp = setup(release, "vscode", app, env=env, cwd=project)
    assert_error(cp, 7, str(path), "comments")
    assert path.read_text(encoding="utf-8") == JSONC
    assert not os.path.exists(str(path) + ".bak")
    printed = json.loads(cp.stdout)
    assert printed["servers"]["editor"]["type"] == "stdio"
    assert printed["servers"]["editor"]["args"][-4:] == [str(app)] + APP_ARGS


MANY_KEYS = b"{" + b", ".join(b'"k%d": 1' % i for i in range(100000)) + b', "k99999": 2}'
DEEP = b'{"mcpServers": {"x": ' + b"[" * 100000 + b"]" * 100000 + b"}}"


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"mcpServers": []}', b"\xff\xfe{}",
                                     b'{"mcpServers": {}, "mcpServers": {}}', DEEP, MANY_KEYS],
                         ids=["broken", "array", "servers-not-object", "not-utf8", "key-twice",
                              "nested-too-deep", "a-key-twice-among-100000"])
def test_a_file_that_cannot_be_merged_safely_is_not_rewritten_and_is_status_7(
        release, env, app, project, home_dir, content):
    path = home_dir / ".cursor" / "mcp.json"
    path.parent.mkdir()
    path.write_bytes(content)
    cp = setup(release, "cursor", app, env=env, cwd=project)
    assert_error(cp, 7, str(path))
    assert path.read_bytes() == content
    assert json.loads(cp.stdout)["mcpServers"]["editor"]["command"]


# -- the dry start --------------------------------------------------------------------------------

def installed_script(folder: Path, fail_without: str = "") -> Path:
    """A copy of qtmcp.py with a console script beside it, as pip installs one. With
    `fail_without`, its `fetch` fails (status 4) unless that variable is set: what a
    start that works only with this shell's environment does."""
    folder.mkdir(parents=True)
    shutil.copy(str(QTMCP), str(folder / "qtmcp.py"))
    script = folder / "qtmcp"
    guard = ""
    if fail_without:
        guard = ('if sys.argv[1:2] == ["fetch"] and not os.environ.get(%r):\n'
                 '    sys.stderr.write("qtmcp: error: could not get SHA256SUMS (this start lacks %s)\\n")\n'
                 '    sys.exit(4)\n' % (fail_without, fail_without))
    script.write_text("#!%s\nimport os, sys\nsys.path.insert(0, %r)\n%simport qtmcp\nsys.exit(qtmcp.main())\n"
                      % (sys.executable, str(folder), guard), encoding="utf-8")
    os.chmod(str(script), 0o755)
    return script


def run_script(script: Path, args, env, cwd):
    return subprocess.run([str(script)] + [str(a) for a in args], env=env, cwd=str(cwd),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=120)


@POSIX_ONLY
def test_run_as_the_installed_console_script_the_entry_starts_that_script(
        release, env, app, project, home_dir, tmp_path):
    script = installed_script(tmp_path / "venv-bin")
    cp = run_script(script, ["setup", "cursor", "--qt", "6.8", "--mirror", release.url, "--", app],
                    env, project)
    assert cp.returncode == 0, text(cp.stderr)
    entry = read_json(home_dir / ".cursor" / "mcp.json")["mcpServers"]["editor"]
    assert entry["command"] == str(script) and entry["args"][0] == "--qt"


@POSIX_ONLY
def test_a_dry_start_that_fails_writes_nothing_and_exits_with_its_status(
        release, env, app, project, home_dir, tmp_path):
    """The entry's start needs a variable only this shell has: the dry start,
    in the client's minimal environment, fails, and nothing is written."""
    script = installed_script(tmp_path / "venv-bin", fail_without="ONLY_IN_THIS_SHELL")
    before = tree_snapshot(home_dir)
    cp = run_script(script, ["setup", "claude-desktop", "--qt", "6.8", "--mirror", release.url, "--", app],
                    dict(env, ONLY_IN_THIS_SHELL="1"), project)
    assert_error(cp, 4, "does not start as the client will start it", "ONLY_IN_THIS_SHELL", "nothing was written")
    assert tree_snapshot(home_dir) == before
    assert cp.stdout == b""


def test_the_written_entry_started_as_a_client_starts_it_relays_mcp_byte_for_byte(
        release, env, app, project, home_dir, tmp_path):
    """A minimal environment (the entry's env, HOME and the desktop PATH), another
    working folder, the mirror stopped: the launcher answers from the cache."""
    cp = setup(release, "cursor", app, env=env, cwd=project)
    assert cp.returncode == 0, text(cp.stderr)
    entry = read_json(home_dir / ".cursor" / "mcp.json")["mcpServers"]["editor"]
    release.server.stop()
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "tests", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "echo", "arguments": {"text": NON_ASCII}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "env", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 5, "method": "no/such/method"},
    ]
    stdin = b"".join(encode_message(m) for m in messages)
    elsewhere = tmp_path / "the client's folder"
    elsewhere.mkdir()
    minimal = dict(entry.get("env", {}), HOME=str(home_dir), PATH="/usr/bin:/bin")
    if HOST_OS == "windows":
        minimal.update({k: os.environ[k] for k in ("SYSTEMROOT", "TEMP") if k in os.environ},
                       PATH=os.environ.get("SYSTEMROOT", "C:\\Windows") + "\\system32", USERPROFILE=str(home_dir))
    client = subprocess.run([entry["command"]] + entry["args"], input=stdin, env=minimal, cwd=str(elsewhere),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert client.returncode == 0, text(client.stderr)
    direct_launcher = write_launcher(tmp_path / "direct" / launcher_name(HOST_OS))
    direct = subprocess.run([str(direct_launcher), str(app)] + APP_ARGS, input=stdin, cwd=str(elsewhere),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert client.stdout == direct.stdout  # nothing added, dropped or re-encoded
    answers = [json.loads(line) for line in client.stdout.decode("utf-8").splitlines()]
    assert answers[2]["result"]["content"][0]["text"] == NON_ASCII
    report = json.loads(answers[3]["result"]["content"][0]["text"])
    assert report["argv"] == [str(app)] + APP_ARGS
    assert os.path.samefile(report["cwd"], str(elsewhere))


def test_print_installs_nothing_runs_nothing_and_writes_nothing(release, env, app, project, home_dir,
                                                                cache_dir):
    before = tree_snapshot(home_dir)
    forms = {}
    for client in ("claude-code", "vscode", "cursor"):
        cp = setup(release, client, app, "--print", env=env, cwd=project)
        assert cp.returncode == 0, text(cp.stderr)
        forms[client] = text(cp.stdout)
    assert release.server.requests == [] and not cache_dir.exists()
    assert tree_snapshot(home_dir) == before and list(project.iterdir()) == []
    assert "claude mcp add-json editor " in forms["claude-code"]
    assert "code --add-mcp " in forms["vscode"]
    link = next(line for line in forms["cursor"].splitlines() if "cursor://" in line).split(": ", 1)[1]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    assert link.startswith("cursor://anysphere.cursor-deeplink/mcp/install?")
    assert query["name"] == ["editor"]
    entry = json.loads(base64.b64decode(query["config"][0]))
    printed = json.loads(forms["cursor"][: forms["cursor"].index("\nfile: ")])
    assert entry == printed["mcpServers"]["editor"]


# -- what the entry carries, secrets -------------------------------------------------------------

def test_proxy_certificate_display_and_qtmcp_variables_set_now_go_into_env(
        release, env, app, project, home_dir, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not a real CA", encoding="utf-8")
    variables = dict(env, HTTPS_PROXY="http://proxy.example:3128", NO_PROXY="127.0.0.1,localhost",
                     SSL_CERT_FILE=os.path.relpath(str(ca), str(project)), DISPLAY=":7",
                     QT_QPA_PLATFORM="offscreen", QTMCP_QUIET="1", QTMCP_TIMEOUT="45",
                     UNRELATED_VARIABLE="left out")
    cp = setup(release, "cursor", app, env=variables, cwd=project)
    assert cp.returncode == 0, text(cp.stderr)
    carried = read_json(home_dir / ".cursor" / "mcp.json")["mcpServers"]["editor"]["env"]
    assert carried["HTTPS_PROXY"] == "http://proxy.example:3128"
    assert carried["NO_PROXY"] == "127.0.0.1,localhost"
    assert carried["SSL_CERT_FILE"] == str(ca)  # made absolute
    assert carried["DISPLAY"] == ":7" and carried["QT_QPA_PLATFORM"] == "offscreen"
    assert carried["QTMCP_QUIET"] == "1" and carried["QTMCP_TIMEOUT"] == "45"
    assert "UNRELATED_VARIABLE" not in carried and "PATH" not in carried


def test_a_token_in_the_environment_is_not_written_without_with_secrets(release, env, app, project, home_dir):
    cp = setup(release, "cursor", app, env=dict(env, QTMCP_MIRROR_TOKEN=TOKEN), cwd=project)
    assert cp.returncode == 0, text(cp.stderr)
    path = home_dir / ".cursor" / "mcp.json"
    assert TOKEN not in path.read_text(encoding="utf-8")
    assert "QTMCP_MIRROR_TOKEN" not in read_json(path)["mcpServers"]["editor"]["env"]
    assert "netrc" in text(cp.stderr) and TOKEN not in text(cp.stdout) + text(cp.stderr)


def test_with_secrets_writes_the_token_into_a_file_only_the_user_reads(release, env, app, project, home_dir):
    cp = setup(release, "cursor", app, "--with-secrets", env=dict(env, QTMCP_MIRROR_TOKEN=TOKEN), cwd=project)
    assert cp.returncode == 0, text(cp.stderr)
    path = home_dir / ".cursor" / "mcp.json"
    assert read_json(path)["mcpServers"]["editor"]["env"]["QTMCP_MIRROR_TOKEN"] == TOKEN
    if HOST_OS != "windows":
        assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o600


@pytest.mark.parametrize("proxy", [
    "http://proxy-user:%s@proxy.example:3128", "proxy-user:%s@proxy.example:3128",
    "http://proxy-user:pa/%s@proxy.example:3128", "proxy-user:pa/%s@proxy.example:3128",
    "http://proxy-user:pa@%s@proxy.example:3128",
])
def test_a_proxy_password_is_not_written_or_shown_whatever_it_holds_and_with_or_without_a_scheme(
        release, env, app, project, home_dir, proxy):
    cp = setup(release, "cursor", app, env=dict(env, HTTPS_PROXY=proxy % PASSWORD), cwd=project)
    assert PASSWORD not in text(cp.stdout) + text(cp.stderr)
    path = home_dir / ".cursor" / "mcp.json"
    if cp.returncode == 0:
        written = path.read_text(encoding="utf-8")
        assert PASSWORD not in written and "proxy-user" not in written
        assert read_json(path)["mcpServers"]["editor"]["env"]["HTTPS_PROXY"].endswith("proxy.example:3128")
    else:  # a proxy urllib cannot read is refused before anything is written
        assert_error(cp, 2, "HTTPS_PROXY")
        assert not path.exists()


def test_a_mirror_url_with_an_at_sign_after_its_first_slash_is_refused_as_ambiguous(
        release, env, app, project, home_dir):
    base = release.url.replace("http://", "http://%s:12/%s@" % (USER, PASSWORD))
    cp = run_qtmcp(["setup", "cursor", "--qt", "6.8", "--mirror", base, "--", str(app)], env=env, cwd=project)
    assert PASSWORD not in text(cp.stdout) + text(cp.stderr)
    assert not (home_dir / ".cursor" / "mcp.json").exists()
    assert_error(cp, 2, "%40", "***@")


@pytest.mark.parametrize("where", ["flag", "variable"])
@pytest.mark.parametrize("secrets", [[], ["--with-secrets"]], ids=["plain", "with-secrets"])
def test_a_password_in_a_mirror_url_is_never_written(release, env, app, project, home_dir, where, secrets):
    base = release.url.replace("http://", "http://%s:%s@" % (USER, PASSWORD))
    if where == "flag":
        cp = run_qtmcp(["setup", "cursor", "--qt", "6.8", "--mirror", base] + secrets + ["--", str(app)],
                       env=env, cwd=project)
    else:
        cp = run_qtmcp(["setup", "cursor", "--qt", "6.8"] + secrets + ["--", str(app)],
                       env=dict(env, QTMCP_MIRROR=base), cwd=project)
    assert cp.returncode == 0, text(cp.stderr)
    written = (home_dir / ".cursor" / "mcp.json").read_text(encoding="utf-8")
    assert PASSWORD not in written and USER not in written and release.url in written
    assert PASSWORD not in text(cp.stdout) + text(cp.stderr)
    assert "netrc" in text(cp.stderr)


# -- Claude Code through `claude` ----------------------------------------------------------------

CLAUDE_STAND_IN = r'''
import json, os, sys
store = os.environ["CLAUDE_STAND_IN_STORE"]
args = sys.argv[1:]
with open(store + ".calls", "a", encoding="utf-8") as calls:
    calls.write(json.dumps(args) + "\n")
data = json.load(open(store, encoding="utf-8")) if os.path.exists(store) else {}
scope = args[args.index("--scope") + 1] if "--scope" in args else "local"
servers = data.setdefault(scope, {})
if args[:2] == ["mcp", "add-json"]:
    if args[2] in servers:
        sys.stderr.write("MCP server %s already exists in %s config\n" % (args[2], scope))
        sys.exit(1)
    servers[args[2]] = json.loads(args[3])
    print("Added stdio MCP server %s to %s config" % (args[2], scope))
elif args[:2] == ["mcp", "remove"]:
    servers.pop(args[2], None)
    print("Removed MCP server %s from %s config" % (args[2], scope))
json.dump(data, open(store, "w", encoding="utf-8"))
'''


@pytest.fixture
def claude(tmp_path, env):
    """A stand-in `claude` on PATH (a real one cannot run here): it records its
    arguments and keeps the entries it is given in a JSON file per scope."""
    folder = tmp_path / "claude-bin"
    folder.mkdir()
    script = folder / ("claude.bat" if HOST_OS == "windows" else "claude")
    if HOST_OS == "windows":
        (folder / "claude.py").write_text(CLAUDE_STAND_IN, encoding="utf-8")
        script.write_text('@"%s" "%s" %%*\n' % (sys.executable, folder / "claude.py"), encoding="utf-8")
    else:
        script.write_text("#!%s\n%s" % (sys.executable, CLAUDE_STAND_IN), encoding="utf-8")
        os.chmod(str(script), 0o755)
    store = tmp_path / "claude-store.json"
    environ = dict(env, PATH=str(folder) + os.pathsep + env.get("PATH", ""), CLAUDE_STAND_IN_STORE=str(store))
    return environ, store


def claude_calls(store: Path):
    return [json.loads(line) for line in Path(str(store) + ".calls").read_text(encoding="utf-8").splitlines()]


@pytest.mark.skipif(HOST_OS == "windows", reason="the stand-in claude is a shebang script")
def test_claude_code_uses_claude_mcp_add_json_where_claude_is_on_path(release, claude, app, project):
    environ, store = claude
    cp = setup(release, "claude-code", app, "--scope", "user", env=environ, cwd=project)
    assert cp.returncode == 0, text(cp.stderr)
    (call,) = claude_calls(store)
    assert call[:3] == ["mcp", "add-json", "editor"] and call[4:] == ["--scope", "user"]
    entry = json.loads(call[3])
    assert entry["type"] == "stdio" and entry["args"][-4:] == [str(app)] + APP_ARGS
    assert read_json(store)["user"]["editor"] == entry
    assert list(project.iterdir()) == []  # no .mcp.json: claude keeps it


@pytest.mark.skipif(HOST_OS == "windows", reason="the stand-in claude is a shebang script")
def test_claude_code_entry_that_exists_is_status_2_and_force_removes_it_first(release, claude, app, project):
    environ, store = claude
    assert setup(release, "claude-code", app, env=environ, cwd=project).returncode == 0
    cp = setup(release, "claude-code", app, env=environ, cwd=project)
    assert_error(cp, 2, "editor", "--force")
    cp = setup(release, "claude-code", app, "--force", env=environ, cwd=project)
    assert cp.returncode == 0, text(cp.stderr)
    # added; refused; with --force: refused, removed, added
    assert [c[1] for c in claude_calls(store)] == ["add-json"] * 3 + ["remove", "add-json"]
    assert read_json(store)["local"]["editor"]["args"][-4:] == [str(app)] + APP_ARGS


def test_claude_code_user_scope_without_claude_on_path_is_a_usage_error(release, env, app, project):
    cp = setup(release, "claude-code", app, "--scope", "user", env=env, cwd=project)
    assert_error(cp, 2, "claude", "--scope project")


# -- usage errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args,needles", [
    (["setup"], ["client"]),
    (["setup", "cursr", "--qt", "6.8", "--", "/app"], ["cursor"]),
    (["setup", "cursor", "--qt", "6.8"], ["application"]),
    (["setup", "cursor", "--", "/app"], ["--qt"]),
    (["setup", "cursor", "--qt", "auto", "--", "/app"], ["--qt"]),
    (["setup", "claude-desktop", "--qt", "6.8", "--scope", "project", "--", "/app"], ["project"]),
    (["setup", "cursor", "--qt", "6.8", "--scope", "team", "--", "/app"], ["--scope"]),
    (["setup", "cursor", "--qt", "6.8", "--via", "conda", "--", "/app"], ["--via"]),
    (["setup", "cursor", "--qt", "6.8", "--via", "pipx", "--", "/app"], ["development version"]),
    (["setup", "json", "--qt", "6.8", "--config", "x.json", "--", "/app"], ["--config"]),
    (["--name", "x", "setup", "cursor", "--qt", "6.8", "--", "/app"], ["--name"]),
], ids=["no-client", "mistyped-client", "no-app", "no-qt", "qt-auto", "no-project-scope", "bad-scope",
        "bad-via", "pipx-dev", "json-config", "option-before-setup"])
def test_setup_usage_errors_are_status_2_and_say_what_to_give(args, needles, env, project):
    cp = run_qtmcp(args, env=env, cwd=project)
    assert_error(cp, 2, *needles)
    assert list(project.iterdir()) == []


def test_options_after_app_are_app_args_not_setup_options(release, env, app, project, home_dir):
    cp = run_qtmcp(["setup", "cursor", "--qt", "6.8", "--mirror", release.url, str(app), "--force", "--qt"],
                   env=env, cwd=project)
    assert cp.returncode == 0, text(cp.stderr)
    args = read_json(home_dir / ".cursor" / "mcp.json")["mcpServers"]["editor"]["args"]
    assert args[-4:] == ["--", str(app), "--force", "--qt"]


# -- locations on the other OSes (the pure function, in-process) ----------------------------------

def test_client_locations_on_macos_windows_and_linux_follow_the_environment(tmp_path):
    """macOS and Windows cannot run here: the location function is given the OS
    and an environment pointed at temp folders."""
    qtmcp = import_qtmcp()
    home, appdata, xdg, cwd = (str(tmp_path / n) for n in ("home", "appdata", "xdg", "project"))
    where = qtmcp.client_config_path
    mac = {"HOME": home}
    assert where("claude-desktop", "user", mac, "macos", cwd) == os.path.join(
        home, "Library", "Application Support", "Claude", "claude_desktop_config.json")
    assert where("vscode", "user", mac, "macos", cwd) == os.path.join(
        home, "Library", "Application Support", "Code", "User", "mcp.json")
    win = {"USERPROFILE": home, "APPDATA": appdata}
    assert where("claude-desktop", "user", win, "windows", cwd) == os.path.join(
        appdata, "Claude", "claude_desktop_config.json")
    assert where("vscode", "user", win, "windows", cwd) == os.path.join(appdata, "Code", "User", "mcp.json")
    assert where("cursor", "user", win, "windows", cwd) == os.path.join(home, ".cursor", "mcp.json")
    assert where("windsurf", "user", win, "windows", cwd) == os.path.join(
        home, ".codeium", "windsurf", "mcp_config.json")
    assert where("vscode", "user", {"USERPROFILE": home}, "windows", cwd) == os.path.join(
        home, "AppData", "Roaming", "Code", "User", "mcp.json")
    linux = {"HOME": home, "XDG_CONFIG_HOME": xdg}
    assert where("claude-desktop", "user", linux, "linux", cwd) == os.path.join(
        xdg, "Claude", "claude_desktop_config.json")
    assert where("vscode", "user", {"HOME": home}, "linux", cwd) == os.path.join(
        home, ".config", "Code", "User", "mcp.json")
    for os_name in ("linux", "macos", "windows"):
        assert where("vscode", "project", win, os_name, cwd) == os.path.join(cwd, ".vscode", "mcp.json")
        assert where("cursor", "project", win, os_name, cwd) == os.path.join(cwd, ".cursor", "mcp.json")
        assert where("claude-code", "project", win, os_name, cwd) == os.path.join(cwd, ".mcp.json")


def test_the_desktop_path_of_each_os_is_the_minimal_one(tmp_path):
    qtmcp = import_qtmcp()
    assert qtmcp.desktop_path("linux", {}) == "/usr/bin:/bin"
    assert qtmcp.desktop_path("macos", {}) == "/usr/bin:/bin:/usr/sbin:/sbin"
    assert qtmcp.desktop_path("windows", {"SystemRoot": "D:\\Win"}).split(";")[:2] == ["D:\\Win\\system32", "D:\\Win"]


def test_via_pipx_and_uvx_name_the_tool_found_on_path_and_this_version(tmp_path, monkeypatch):
    """A released version, pretended in-process, with stand-in pipx and uvx on PATH."""
    qtmcp = import_qtmcp()
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("pipx", "uvx"):
        write_launcher(folder / (tool + (".exe" if HOST_OS == "windows" else "")))
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.setattr(qtmcp, "__version__", "0.3.0")
    settings = qtmcp.Settings()
    settings.via = "pipx"
    command, prefix = qtmcp.entry_command(settings)
    assert Path(command).parent == folder and prefix == ["run", "--spec", "qtmcp==0.3.0", "qtmcp"]
    settings.via = "uvx"
    command, prefix = qtmcp.entry_command(settings)
    assert Path(command).parent == folder and prefix == ["--from", "qtmcp==0.3.0", "qtmcp"]


def test_json_with_comments_is_recognised_and_its_strings_are_kept():
    qtmcp = import_qtmcp()
    assert json.loads(qtmcp.strip_json_comments(JSONC)) == {"servers": {"other": {"type": "stdio", "command": "x"}}}
    tricky = '{"a": "// not a comment", "b": "/* nor this */", "c": "x\\"//y", "d": [1, 2,]}'
    assert json.loads(qtmcp.strip_json_comments(tricky)) == {"a": "// not a comment", "b": "/* nor this */",
                                                            "c": 'x"//y', "d": [1, 2]}


@pytest.mark.parametrize("script,via", [
    ("home/.local/pipx/.cache/0123abcd/bin/qtmcp", "pipx"),
    ("home/.cache/uv/archive-v0/XyZ/bin/qtmcp", "uvx"),
    ("venv/bin/qtmcp", "installed"),
    ("project/tools/qtmcp.py", "python"),
])
def test_the_default_via_is_how_qtmcp_runs_now(tmp_path, monkeypatch, script, via):
    """pipx run and uvx clear their run folders later: an entry made from one uses the tool again."""
    qtmcp = import_qtmcp()
    path = tmp_path / script
    path.parent.mkdir(parents=True)
    path.write_text("", encoding="utf-8")
    monkeypatch.setattr(sys, "argv", [str(path), "setup"])
    assert qtmcp.default_via() == via


# -- the Qt version read from the application -----------------------------------------------------

def test_without_qt_the_entry_reads_the_application_at_each_start_and_the_dry_start_proves_it(
        release, env, project, cache_dir, tmp_path):
    import binaries

    program, _ = binaries.host_qt_app(tmp_path / "qtapp", "6.7.2", HOST_PLATFORM.split("-")[1])
    app = program.parents[2] if HOST_OS == "macos" else program
    cp = run_qtmcp(["setup", "json", "--mirror", release.url, "--", str(app), "--flag"], env=env, cwd=project)
    assert cp.returncode == 0, text(cp.stderr)
    entry = json.loads(cp.stdout)["mcpServers"][app.name]
    assert "--qt" not in entry["args"] and entry["args"][-2:] == [str(app), "--flag"]
    assert "using the Qt 6.5 build" in text(cp.stderr)
    assert release.host_build("6.5").launcher_path(cache_dir, "vTEST").is_file()  # installed before writing


def test_without_qt_an_application_whose_version_cannot_be_read_is_status_2_and_nothing_is_written(
        release, env, app, project, home_dir):
    before = tree_snapshot(home_dir)
    cp = run_qtmcp(["setup", "claude-desktop", "--mirror", release.url, "--", str(app)], env=env, cwd=project)
    assert cp.returncode == 2, text(cp.stderr)
    assert "give --qt" in text(cp.stderr)
    assert tree_snapshot(home_dir) == before
