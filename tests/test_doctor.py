"""`qtmcp doctor [APP]`: one line per check in the contract's order (ok, warn or
fail, what was found, the fix), --json, --offline, and the exit status of the
first failure's kind. The source check really fetches SHA256SUMS (through the
proxy the environment names, with the CA file in force); the client check
reads the configuration files setup knows. No secret is ever shown."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from faultserver import hold_build_lock
from fixtures import HOST_OS, HOST_PLATFORM, build_release, closed_port, pinned_module, run_qtmcp, text
from netfixtures import CA_PEM, ForwardProxy, TlsMirrorServer

ORDER = ["qtmcp", "platform", "cache", "release", "source", "build", "app", "client"]
USER, PASSWORD, TOKEN = "mirror-user", "pa55-w0rd-s3cret", "t0ken-4-the-mirror-only"


@pytest.fixture
def env(qtmcp_env, home_dir):
    return dict(qtmcp_env, XDG_CONFIG_HOME=str(home_dir / ".config"))


def doctor(args, env, cwd, module=None):
    return run_qtmcp(["doctor"] + [str(a) for a in args], env=env, cwd=cwd, module=module)


def lines_of(cp):
    """[(status, name, rest)] of doctor's stdout, each line checked for its shape."""
    found = []
    for line in text(cp.stdout).splitlines():
        status, _, rest = line.partition(" ")
        assert status in ("ok", "warn", "fail"), line
        name, _, detail = rest.strip().partition(": ")
        if status != "ok":
            assert "; fix: " in detail, line
        found.append((status, name, detail))
    return found


def named(cp, name):
    return [(status, detail) for status, n, detail in lines_of(cp) if n == name]


def write_cursor_config(home: Path, entry: dict) -> Path:
    path = home / ".cursor" / "mcp.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"mcpServers": {"editor": entry}}), encoding="utf-8")
    return path


# -- all well, the shape -----------------------------------------------------------------------

def test_all_well_is_status_0_with_one_line_per_check_in_the_contract_order(release, env, app, project):
    setup = run_qtmcp(["setup", "cursor", "--qt", "6.8", "--mirror", release.url, "--", str(app)],
                      env=env, cwd=project)
    assert setup.returncode == 0, text(setup.stderr)
    cp = doctor(["--qt", "6.8", "--mirror", release.url, app], env, project)
    assert cp.returncode == 0, text(cp.stdout) + text(cp.stderr)
    found = lines_of(cp)
    assert [name for _, name, _ in found] == ORDER
    assert [status for status, _, _ in found].count("fail") == 0
    assert {n: s for s, n, _ in found}["release"] == "warn"  # vTEST has no pin
    assert "SHA256SUMS of vTEST read" in named(cp, "source")[0][1]
    assert named(cp, "build")[0][0] == "ok" and "launcher" in named(cp, "build")[0][1]
    assert ".cursor" in named(cp, "client")[0][1] and named(cp, "client")[0][0] == "ok"
    assert "doctor:" in text(cp.stderr)


def test_json_is_an_object_with_the_checks_and_a_null_fix_where_ok(release, env, project):
    cp = doctor(["--json", "--mirror", release.url], env, project)
    assert cp.returncode == 0, text(cp.stderr)
    checks = json.loads(cp.stdout)["checks"]
    assert [c["name"] for c in checks] == ORDER
    for check in checks:
        assert set(check) == {"name", "status", "detail", "fix"}
        assert isinstance(check["detail"], str)
        assert (check["fix"] is None) == (check["status"] == "ok")


def test_a_build_not_installed_yet_is_a_warning_saying_to_fetch_it(release, env, project):
    cp = doctor(["--qt", "6.8", "--mirror", release.url], env, project)
    assert cp.returncode == 0, text(cp.stderr)
    ((status, detail),) = named(cp, "build")
    assert status == "warn" and "not installed" in detail and "qtmcp fetch --qt 6.8" in detail


def test_a_qt_version_the_release_lacks_is_a_failed_build_check_with_status_3(release, env, project):
    cp = doctor(["--qt", "6.1", "--mirror", release.url], env, project)
    assert cp.returncode == 3
    assert named(cp, "build")[0][0] == "fail"


# -- sources --------------------------------------------------------------------------------------

def test_a_source_that_is_down_is_a_failed_check_naming_it_with_status_4(env, project):
    dead = "http://127.0.0.1:%d" % closed_port()
    cp = doctor(["--qt", "6.8", "--mirror", dead], env, project)
    assert cp.returncode == 4, text(cp.stdout)
    ((status, detail),) = named(cp, "source")
    assert status == "fail" and dead in detail


def test_with_the_first_source_down_and_the_next_up_the_first_is_a_warning(release, env, project):
    dead = "http://127.0.0.1:%d" % closed_port()
    cp = doctor(["--mirror", dead, "--mirror", release.url], env, project)
    assert cp.returncode == 0, text(cp.stdout)
    (first, second) = named(cp, "source")
    assert first[0] == "warn" and dead in first[1] and "next source" in first[1]
    assert second[0] == "ok" and release.url in second[1]


def test_a_pinned_release_whose_sums_do_not_match_is_a_failed_check_with_status_5(release, env, project,
                                                                                  tmp_path):
    module = pinned_module(tmp_path / "pinned", {"vTEST": "0" * 64})
    cp = doctor(["--mirror", release.url], env, project, module=module)
    assert cp.returncode == 5, text(cp.stdout)
    assert named(cp, "release")[0][0] == "ok"
    assert named(cp, "source")[0][0] == "fail" and "pin" in named(cp, "source")[0][1]


def test_offline_checks_without_opening_a_connection(release, env, project):
    cp = doctor(["--offline", "--mirror", release.url], env, project)
    assert release.server.requests == []
    assert "not contacted (offline)" in named(cp, "source")[0][1]


def test_the_source_check_goes_through_the_proxy_the_environment_names_and_masks_it(release, env, project):
    """The mirror's host name exists only for the proxy: the check can only pass through it."""
    proxy = ForwardProxy({"qtmcp-test.invalid": "127.0.0.1"}).start()
    try:
        base = "http://qtmcp-test.invalid:%d" % release.server.port
        proxied = proxy.url.replace("http://", "http://%s:%s@" % (USER, PASSWORD))
        cp = doctor(["--mirror", base], dict(env, HTTP_PROXY=proxied), project)
    finally:
        proxy.stop()
    assert cp.returncode == 0, text(cp.stdout)
    assert "%s/vTEST/SHA256SUMS" % base in proxy.targets()
    ((status, detail),) = named(cp, "source")
    assert status == "ok" and "through the proxy http://***@127.0.0.1:" in detail and "(HTTP_PROXY)" in detail
    assert PASSWORD not in text(cp.stdout) + text(cp.stderr) and USER not in text(cp.stdout)


def test_an_https_source_is_checked_with_the_ca_file_in_force(tmp_path, env, project):
    info = build_release(tmp_path / "www-tls", "vTEST", ["6.8"])
    server = TlsMirrorServer(info.root).start()
    try:
        with_ca = doctor(["--mirror", server.url], dict(env, SSL_CERT_FILE=str(CA_PEM)), project)
        without = doctor(["--mirror", server.url], {k: v for k, v in env.items() if k != "SSL_CERT_DIR"}, project)
    finally:
        server.stop()
    assert with_ca.returncode == 0, text(with_ca.stdout)
    ((status, detail),) = named(with_ca, "source")
    assert status == "ok" and "CA file %s (SSL_CERT_FILE)" % CA_PEM in detail
    assert without.returncode == 4
    ((status, detail),) = named(without, "source")
    assert status == "fail" and "certificate" in detail and "SSL_CERT_FILE" in detail


def test_credentials_are_named_by_kind_and_never_shown(release, env, project, home_dir):
    netrc = home_dir / ".netrc"
    netrc.write_text("machine 127.0.0.1 login %s password %s\n" % (USER, PASSWORD), encoding="utf-8")
    if HOST_OS != "windows":
        os.chmod(str(netrc), 0o600)
    by_netrc = doctor(["--mirror", release.url], dict(env, NETRC=str(netrc)), project)
    by_token = doctor(["--mirror", release.url], dict(env, QTMCP_MIRROR_TOKEN=TOKEN), project)
    assert "credentials: a netrc entry" in named(by_netrc, "source")[0][1]
    assert "credentials: a token (QTMCP_MIRROR_TOKEN)" in named(by_token, "source")[0][1]
    for cp in (by_netrc, by_token):
        shown = text(cp.stdout) + text(cp.stderr)
        assert PASSWORD not in shown and TOKEN not in shown


# -- the cache ------------------------------------------------------------------------------------

def test_a_cache_that_cannot_be_written_is_a_failed_check_with_status_7(release, env, project, tmp_path):
    """Under a regular file: no folder can be made there, root or not."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    cp = doctor(["--mirror", release.url], dict(env, QTMCP_CACHE_DIR=str(blocker / "cache")), project)
    assert cp.returncode == 7, text(cp.stdout)
    ((status, detail),) = named(cp, "cache")
    assert status == "fail" and str(blocker / "cache") in detail


def test_a_cache_that_does_not_exist_yet_but_can_be_made_is_ok(release, env, project, cache_dir):
    cp = doctor(["--mirror", release.url], env, project)
    assert named(cp, "cache") == [("ok", "%s does not exist yet and can be made (%s" % (
        cache_dir, named(cp, "cache")[0][1].split(" (", 1)[1]))]
    assert not cache_dir.exists()


def test_a_lock_held_by_another_process_is_named_with_its_holder(release, env, project, cache_dir):
    assert run_qtmcp(["fetch", "--qt", "6.8", "--mirror", release.url], env=env).returncode == 0
    lock = cache_dir / "vTEST" / (".%s.lock" % release.host_build("6.8").build_key)
    with hold_build_lock(lock):
        cp = doctor(["--mirror", release.url], env, project)
    ((_status, detail),) = named(cp, "cache")
    assert "lock of %s of vTEST is held by" % release.host_build("6.8").build_key in detail
    if sys.platform.startswith("linux"):
        assert "process %d" % os.getpid() in detail


# -- APP and the release --------------------------------------------------------------------------

def test_an_app_that_does_not_exist_is_a_failed_check_with_status_2(release, env, project, tmp_path):
    cp = doctor(["--qt", "6.8", "--mirror", release.url, tmp_path / "no-such-app"], env, project)
    assert cp.returncode == 2
    assert named(cp, "app")[0][0] == "fail"


def test_an_app_whose_version_cannot_be_read_is_a_warning_with_qt_and_a_failure_without(
        release, env, project, app):
    # the contract: with --qt given, an APP whose Qt version cannot be read is warn;
    # without it a start would fail (status 2), so the check fails
    with_qt = doctor(["--qt", "6.8.2", "--mirror", release.url, app], env, project)
    assert with_qt.returncode == 0
    assert named(with_qt, "app")[0][0] == "warn" and "--qt" in named(with_qt, "app")[0][1]
    without = doctor(["--mirror", release.url, "--", app], env, project)
    assert without.returncode == 2 and named(without, "app")[0][0] == "fail"
    assert "give --qt" in named(without, "app")[0][1]


def test_a_qt_program_is_read_and_the_build_it_needs_is_named_and_checked(release, env, project, tmp_path):
    import binaries

    program, real = binaries.host_qt_app(tmp_path / "qtapp", "6.7.2", HOST_PLATFORM.split("-")[1])
    app = program.parents[2] if HOST_PLATFORM.startswith("macos") else program
    cp = doctor(["--mirror", release.url, "--", app], env, project)
    ((status, detail),) = named(cp, "app")
    assert status == "ok" and "uses Qt 6.7.2" in detail and "using the Qt 6.5 build" in detail, detail
    ((_, build),) = named(cp, "build")
    assert release.host_build("6.5").asset in build, build
    mismatch = doctor(["--qt", "6.8", "--mirror", release.url, "--", app], env, project)
    assert named(mismatch, "app")[0][0] == "warn" and mismatch.returncode == 0


def test_a_development_version_without_a_release_fails_the_release_check(env, project):
    cp = doctor([], {k: v for k, v in env.items() if k != "QTMCP_RELEASE"}, project)
    assert cp.returncode == 2
    assert named(cp, "release")[0][0] == "fail" and "--release" in named(cp, "release")[0][1]


def test_doctor_takes_at_most_one_app(env, project):
    cp = doctor(["/a", "/b"], env, project)
    assert cp.returncode == 2 and "at most one" in text(cp.stderr)
    assert cp.stdout == b""


# -- client configurations ------------------------------------------------------------------------

def test_a_configuration_whose_command_is_gone_is_a_failed_check_naming_the_file(
        release, env, project, home_dir, tmp_path, app):
    gone = str(tmp_path / "removed-venv" / "bin" / "qtmcp")
    path = write_cursor_config(home_dir, {"command": gone, "args": ["--qt", "6.8", "--", str(app)]})
    cp = doctor(["--mirror", release.url], env, project)
    assert cp.returncode == 7, text(cp.stdout)
    ((status, detail),) = named(cp, "client")
    assert status == "fail" and str(path) in detail and gone in detail and "editor" in detail


@pytest.mark.parametrize("content", [
    b'{"mcpServers": {"qtmcp": ' + b"[" * 100000 + b"]" * 100000 + b"}}",
    b'{"mcpServers": {"qtmcp": {}}, ' + b", ".join(b'"k%d": 1' % i for i in range(100000)) + b', "k99999": 2}',
], ids=["nested too deep", "a key twice among 100000"])
def test_a_hostile_client_configuration_is_a_warning_naming_the_file_never_a_crash_or_a_wait(
        release, env, project, home_dir, content):
    path = home_dir / ".cursor" / "mcp.json"
    path.parent.mkdir()
    path.write_bytes(content)
    cp = doctor(["--mirror", release.url], env, project)
    assert "Traceback" not in text(cp.stderr)
    ((status, detail),) = named(cp, "client")
    assert status == "warn" and str(path) in detail


def test_a_python_entry_whose_qtmcp_folder_is_gone_is_a_failed_check(release, env, project, home_dir, tmp_path):
    code = "import sys; sys.path.insert(0, %r); import qtmcp; sys.exit(qtmcp.main())" % str(tmp_path / "gone")
    write_cursor_config(home_dir, {"command": sys.executable, "args": ["-c", code, "--qt", "6.8", "--", "/a"]})
    cp = doctor(["--mirror", release.url], env, project)
    assert cp.returncode == 7
    assert "qtmcp.py" in named(cp, "client")[0][1]


@pytest.mark.skipif(HOST_OS == "windows", reason="a shebang stand-in on PATH")
def test_a_bare_command_found_only_on_this_shell_path_is_a_warning(release, env, project, home_dir, tmp_path):
    folder = tmp_path / "user-bin"
    folder.mkdir()
    tool = folder / "qtmcp-only-here"
    tool.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    os.chmod(str(tool), 0o755)
    write_cursor_config(home_dir, {"command": "qtmcp-only-here", "args": ["qtmcp", "--", "/a"]})
    cp = doctor(["--mirror", release.url], dict(env, PATH=str(folder) + os.pathsep + env["PATH"]), project)
    assert cp.returncode == 0, text(cp.stdout)
    ((status, detail),) = named(cp, "client")
    assert status == "warn" and "desktop" in detail and str(tool) in detail


def test_an_entry_whose_env_lacks_the_proxy_and_ca_variables_set_now_is_a_warning(
        release, env, project, home_dir, app):
    write_cursor_config(home_dir, {"command": sys.executable, "args": ["-m", "qtmcp", "--", str(app)],
                                   "env": {"HTTPS_PROXY": "http://proxy.example:3128"}})
    shell = dict(env, HTTPS_PROXY="http://proxy.example:3128", SSL_CERT_FILE=str(CA_PEM),
                 NO_PROXY="127.0.0.1")
    cp = doctor(["--mirror", release.url], shell, project)
    assert cp.returncode == 0, text(cp.stdout)
    ((status, detail),) = named(cp, "client")
    assert status == "warn" and "lacks NO_PROXY, SSL_CERT_FILE" in detail and str(CA_PEM) not in detail


def test_project_files_and_claude_code_user_file_are_read_too(release, env, project, home_dir, tmp_path):
    gone = str(tmp_path / "gone" / "qtmcp")
    (project / ".vscode").mkdir()
    (project / ".vscode" / "mcp.json").write_text(
        '{\n // JSON with comments is read\n "servers": {"a": {"type": "stdio", "command": "%s"},}\n}' % gone,
        encoding="utf-8")
    (home_dir / ".claude.json").write_text(json.dumps(
        {"projects": {"/p": {"mcpServers": {"b": {"command": gone, "args": ["--", "/a"]}}}},
         "mcpServers": {"not-ours": {"command": "/usr/bin/other"}}}), encoding="utf-8")
    cp = doctor(["--mirror", release.url], env, project)
    details = [detail for status, detail in named(cp, "client") if status == "fail"]
    assert len(details) == 2, text(cp.stdout)
    assert any(".vscode" in d for d in details) and any(".claude.json (project /p)" in d for d in details)
