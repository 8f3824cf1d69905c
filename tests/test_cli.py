"""The command line: what goes to the launcher, options and environment,
messages and exit statuses, and the list/fetch/cache commands."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from fixtures import (
    HOST_OS,
    HOST_PLATFORM,
    assert_error,
    closed_port,
    import_qtmcp,
    launcher_name,
    run_qtmcp,
    start_qtmcp,
    stderr_lines,
    text,
    tree_snapshot,
)


def launcher_view(args, env=None, names=()):
    """Start qtmcp with ``args`` as an MCP client would and ask the stand-in
    launcher (tool ``env``) what it got: {"argv", "cwd", "env"}."""
    with start_qtmcp(args, env=env, timeout=60) as session:
        session.initialize()
        answer = session.call_tool("env", {"names": list(names)})
        status = session.close()
    assert status == 0, text(session.stderr)
    return json.loads(answer["result"]["content"][0]["text"])


def fetched_path(cp) -> Path:
    """The one line ``fetch`` prints, checked."""
    assert cp.returncode == 0, text(cp.stderr)
    lines = text(cp.stdout).splitlines()
    assert len(lines) == 1, cp.stdout
    path = Path(lines[0])
    assert path.is_absolute() and path.is_file(), lines[0]
    assert path.name == launcher_name(HOST_OS)
    return path


# -- --version and --help ---------------------------------------------------------

def test_version_prints_qtmcp_and_the_version_on_stdout():
    cp = run_qtmcp(["--version"])
    assert cp.returncode == 0, text(cp.stderr)
    assert re.fullmatch(r"qtmcp \d+\.\d+\.\d+\S*\r?\n", text(cp.stdout)), cp.stdout


def test_help_lists_the_environment_variables_and_the_exit_statuses():
    cp = run_qtmcp(["--help"])
    assert cp.returncode == 0, text(cp.stderr)
    out = text(cp.stdout)
    for name in ("QTMCP_QT", "QTMCP_RELEASE", "QTMCP_MIRROR", "QTMCP_CACHE_DIR",
                 "QTMCP_OFFLINE", "QTMCP_PLATFORM", "QTMCP_LAUNCHER", "QTMCP_TIMEOUT",
                 "QTMCP_QUIET", "QTMCP_LOG", "QTMCP_MIRROR_TOKEN", "QTMCP_DEBUG"):
        assert name in out, name
    for command in ("run", "fetch", "list", "mirror", "install", "cache", "verify"):
        assert command in out, command
    statuses = out[out.lower().index("exit status"):]
    for status in ("0", "2", "3", "4", "5", "6", "7"):
        assert re.search(r"(?m)^\s*%s\b" % status, statuses), "status %s not listed" % status


def test_the_numbers_and_exit_statuses_in_help_are_the_ones_qtmcp_uses():
    qtmcp = import_qtmcp()
    out = " ".join(text(run_qtmcp(["--help"]).stdout).split())
    assert "(default %g)" % qtmcp.DEFAULT_TIMEOUT in out
    assert "at most %d times" % qtmcp.MAX_ATTEMPTS in out
    assert "--timeout + %g s" % qtmcp.RETRY_BUDGET in out
    for kind in qtmcp.ERROR_KINDS:
        assert re.search(r"\b%d %s: " % (kind.status, re.escape(kind.title)), out), kind.__name__
    assert [kind.status for kind in qtmcp.ERROR_KINDS] == [2, 3, 4, 5, 6, 7]


# -- what the launcher gets ------------------------------------------------------

TRICKY_ARGS = ["with space", "nön-äscii ✓ 日本", "", "--quiet", "fetch", "--", "-x",
               "--qt", "5.15", "run", "a\"quote'", "back\\slash\\", "*"]


def test_arguments_after_the_double_dash_reach_the_launcher_unchanged(mirror_args):
    cp = run_qtmcp(mirror_args + ["--qt", "6.8", "--", "--print-args"] + TRICKY_ARGS)
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout) == ["--print-args"] + TRICKY_ARGS


def test_run_writes_nothing_of_its_own_on_stdout_and_passes_the_launcher_status(mirror_args):
    for status in (0, 3, 255, 1):
        cp = run_qtmcp(mirror_args + ["--qt", "6.8", "--", "--exit-with", str(status)])
        assert cp.returncode == status, text(cp.stderr)
        assert cp.stdout == b""
        assert "stand-in launcher started" in text(cp.stderr)
        assert "Traceback" not in text(cp.stderr)


def test_explicit_run_command_runs_the_launcher(mirror_args):
    cp = run_qtmcp(["run"] + mirror_args + ["--qt", "6.8", "--", "--print-args", "x"])
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout) == ["--print-args", "x"]


def test_first_argument_that_is_not_an_option_and_all_after_it_go_to_the_launcher(mirror_args):
    view = launcher_view(mirror_args + ["--qt", "6.8", "/app", "--quiet"])
    assert view["argv"] == ["/app", "--quiet"]


def test_command_word_after_the_double_dash_goes_to_the_launcher(mirror_args):
    assert launcher_view(mirror_args + ["--qt", "6.8", "--", "fetch"])["argv"] == ["fetch"]


def test_a_second_double_dash_goes_to_the_launcher(mirror_args):
    view = launcher_view(mirror_args + ["--qt", "6.8", "--", "a", "--", "b"])
    assert view["argv"] == ["a", "--", "b"]


def test_no_launcher_arguments_start_it_with_none(mirror_args):
    assert launcher_view(mirror_args + ["--qt", "6.8"])["argv"] == []


def test_environment_and_current_directory_reach_the_launcher(mirror_args, qtmcp_env, tmp_path):
    env = dict(qtmcp_env, QTMCP_E2E_VALUE="Grüße ✓ with spaces", QTMCP_E2E_EMPTY="")
    env["PLAIN_TEST_VAR"] = "plain"
    work = tmp_path / "cwd here"
    work.mkdir()
    with start_qtmcp(mirror_args + ["--qt", "6.8"], env=env, cwd=work, timeout=60) as session:
        session.initialize()
        answer = session.call_tool("env", {"names": ["QTMCP_E2E_VALUE", "QTMCP_E2E_EMPTY",
                                                     "PLAIN_TEST_VAR", "QTMCP_CACHE_DIR"]})
        assert session.close() == 0, text(session.stderr)
    view = json.loads(answer["result"]["content"][0]["text"])
    assert view["env"] == {"QTMCP_E2E_VALUE": "Grüße ✓ with spaces", "QTMCP_E2E_EMPTY": "",
                           "PLAIN_TEST_VAR": "plain", "QTMCP_CACHE_DIR": qtmcp_env["QTMCP_CACHE_DIR"]}
    assert os.path.samefile(view["cwd"], str(work))


# -- usage errors (2) ---------------------------------------------------------------

def test_unknown_option_before_the_launcher_arguments_is_a_usage_error(mirror_args):
    cp = run_qtmcp(mirror_args + ["--qt", "6.8", "--frob", "/app"])
    assert_error(cp, 2, "--frob", "--")
    assert cp.stdout == b""


def test_long_options_are_never_abbreviated(mirror_args):
    assert_error(run_qtmcp(mirror_args + ["--q", "6.8", "fetch"]), 2, "--q")


@pytest.mark.parametrize("version", ["6", "six.eight", "6.8-foo"])
def test_malformed_qt_version_is_a_usage_error(mirror_args, version):
    cp = run_qtmcp(mirror_args + ["--qt", version, "fetch"])
    assert_error(cp, 2)
    assert cp.stdout == b""


def test_run_without_a_qt_version_is_a_usage_error_naming_the_versions_offered(mirror_args):
    line = assert_error(run_qtmcp(mirror_args + ["--", "--print-args"]), 2)
    for version in ("6.8", "6.5", "5.15-patched"):
        assert version in line, line


def test_fetch_without_a_qt_version_is_a_usage_error_naming_the_versions_offered(mirror_args):
    line = assert_error(run_qtmcp(["fetch"] + mirror_args), 2)
    for version in ("6.8", "6.5", "5.15-patched"):
        assert version in line, line


def test_without_a_release_a_development_version_is_a_usage_error(mirror_args, qtmcp_env):
    env = dict(qtmcp_env)
    del env["QTMCP_RELEASE"]
    assert_error(run_qtmcp(mirror_args + ["--qt", "6.8", "fetch"], env=env), 2, "--release")


@pytest.mark.parametrize("tag", ["../x", "-v1", "v 1", "v1/2", ".hidden"])
def test_malformed_release_tag_is_a_usage_error(mirror_args, tag):
    assert_error(run_qtmcp(mirror_args + ["--qt", "6.8", "--release=" + tag, "fetch"]), 2)


def test_another_os_for_run_is_a_usage_error(mirror_args):
    other = "windows-x64" if HOST_OS != "windows" else "linux-x64"
    assert_error(run_qtmcp(mirror_args + ["--qt", "6.8", "--platform", other, "--", "x"]), 2)


def test_bad_platform_is_a_usage_error(mirror_args):
    assert_error(run_qtmcp(mirror_args + ["--qt", "6.8", "--platform", "beos-ppc", "fetch"]), 2)


# -- fetch ------------------------------------------------------------------------

def test_fetch_prints_the_launcher_path_as_the_only_line_whichever_side_the_options_are(
        release, cache_dir):
    first = fetched_path(run_qtmcp(["--mirror", release.url, "--qt", "6.8", "fetch"]))
    second = fetched_path(run_qtmcp(["fetch", "--mirror", release.url, "--qt", "6.8"]))
    assert first == second
    expected = release.host_build("6.8").launcher_path(cache_dir, "vTEST")
    assert os.path.samefile(str(first), str(expected))


def test_fetch_writes_a_manifest_of_the_install(release, cache_dir):
    path = fetched_path(run_qtmcp(["--mirror", release.url, "--qt", "6.8", "fetch"]))
    install = path.parent.parent
    manifest = json.loads((install / "manifest.json").read_text(encoding="utf-8"))
    build = release.host_build("6.8")
    assert manifest["release"] == "vTEST"
    assert manifest["asset"] == build.asset
    assert manifest["sha256"] == build.sha256
    assert manifest["launcher"] == "build/" + launcher_name(HOST_OS)
    listed = {f["path"] for f in manifest["files"]}
    assert any(p.endswith(launcher_name(HOST_OS)) for p in listed), listed


def test_qt_patch_version_picks_the_same_build_as_major_minor(release):
    a = fetched_path(run_qtmcp(["--mirror", release.url, "--qt", "6.8", "fetch"]))
    b = fetched_path(run_qtmcp(["--mirror", release.url, "--qt", "6.8.2", "fetch"]))
    assert a == b


def test_patched_qt_build_is_its_own_build(release):
    a = fetched_path(run_qtmcp(["--mirror", release.url, "--qt", "5.15-patched", "fetch"]))
    assert "qt5.15-patched-" + HOST_PLATFORM in str(a)


def test_qt_version_the_release_lacks_is_no_build_naming_what_it_offers(mirror_args):
    line = assert_error(run_qtmcp(mirror_args + ["--qt", "6.9", "fetch"]), 3, "6.9")
    assert "6.8" in line


# -- environment variables ------------------------------------------------------------

def test_qt_version_from_the_environment(mirror_args, qtmcp_env):
    env = dict(qtmcp_env, QTMCP_QT="6.8")
    assert "qt6.8-" in str(fetched_path(run_qtmcp(mirror_args + ["fetch"], env=env)))


def test_flags_win_over_the_environment(mirror_args, qtmcp_env):
    env = dict(qtmcp_env, QTMCP_QT="6.5")
    assert "qt6.8-" in str(fetched_path(run_qtmcp(mirror_args + ["--qt", "6.8", "fetch"],
                                                  env=env)))


def test_mirror_from_the_environment(release, qtmcp_env):
    env = dict(qtmcp_env, QTMCP_MIRROR=release.url)
    fetched_path(run_qtmcp(["--qt", "6.8", "fetch"], env=env))
    assert release.server.requests


def test_a_mirror_flag_replaces_the_mirror_variable(release, qtmcp_env):
    dead = "http://127.0.0.1:%d" % closed_port()
    env = dict(qtmcp_env, QTMCP_MIRROR=dead)
    cp = run_qtmcp(["--mirror", release.url, "--qt", "6.8", "fetch"], env=env)
    fetched_path(cp)
    assert dead not in text(cp.stderr)


def test_an_empty_release_variable_counts_as_unset(mirror_args, qtmcp_env):
    env = dict(qtmcp_env, QTMCP_RELEASE="")
    assert_error(run_qtmcp(mirror_args + ["--qt", "6.8", "fetch"], env=env), 2)


@pytest.mark.parametrize("value", ["1", "true", "YES", "On"])
def test_quiet_switch_values_in_any_case_silence_everything_but_errors(mirror_args, qtmcp_env,
                                                                      value):
    env = dict(qtmcp_env, QTMCP_QUIET=value)
    cp = run_qtmcp(mirror_args + ["--qt", "6.8", "fetch"], env=env)
    fetched_path(cp)
    assert cp.stderr == b""


@pytest.mark.parametrize("value", ["0", "false", "No", "OFF"])
def test_offline_switch_off_values_allow_the_network(mirror_args, qtmcp_env, value):
    env = dict(qtmcp_env, QTMCP_OFFLINE=value)
    fetched_path(run_qtmcp(mirror_args + ["--qt", "6.8", "fetch"], env=env))


def test_offline_variable_on_forbids_the_network(release, qtmcp_env):
    env = dict(qtmcp_env, QTMCP_OFFLINE="1")
    assert_error(run_qtmcp(["--mirror", release.url, "--qt", "6.8", "fetch"], env=env), 4)
    assert release.server.requests == []


def test_quiet_run_leaves_only_the_launcher_on_stderr(mirror_args):
    cp = run_qtmcp(["--quiet"] + mirror_args + ["--qt", "6.8", "--", "--exit-with", "0"])
    assert cp.returncode == 0
    assert stderr_lines(cp) == ["stand-in launcher started"]


def test_messages_also_go_to_the_log_file(mirror_args, qtmcp_env, tmp_path):
    log = tmp_path / "qtmcp.log"
    env = dict(qtmcp_env, QTMCP_LOG=str(log))
    fetched_path(run_qtmcp(mirror_args + ["--qt", "6.8", "fetch"], env=env))
    assert log.is_file() and log.stat().st_size > 0


# -- --launcher ------------------------------------------------------------------------

def test_local_launcher_runs_without_fetching_anything(stand_in, cache_dir):
    dead = "http://127.0.0.1:%d" % closed_port()
    cp = run_qtmcp(["--mirror", dead, "--launcher", str(stand_in), "--", "--print-args", "a b"])
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout) == ["--print-args", "a b"]
    assert [k for k, v in tree_snapshot(cache_dir).items() if v[0] != "dir"] == []


def test_local_launcher_from_the_environment(stand_in, qtmcp_env):
    env = dict(qtmcp_env, QTMCP_LAUNCHER=str(stand_in))
    cp = run_qtmcp(["--", "--exit-with", "4"], env=env)
    assert cp.returncode == 4, text(cp.stderr)


def test_local_launcher_that_is_missing_is_a_local_error(tmp_path):
    missing = tmp_path / "nowhere" / launcher_name(HOST_OS)
    cp = run_qtmcp(["--launcher", str(missing), "--", "x"])
    assert_error(cp, 7)
    assert cp.stdout == b""


@pytest.mark.skipif(HOST_OS == "windows", reason="Windows has no execute permission bit")
def test_local_launcher_that_is_not_executable_is_a_local_error(stand_in):
    os.chmod(str(stand_in), 0o644)
    assert_error(run_qtmcp(["--launcher", str(stand_in), "--", "x"]), 7)


# -- list -------------------------------------------------------------------------------

def test_list_json_describes_every_build_of_the_release(release, mirror_args):
    cp = run_qtmcp(["list", "--json"] + mirror_args)
    assert cp.returncode == 0, text(cp.stderr)
    data = json.loads(cp.stdout)
    assert data["release"] == "vTEST"
    assert data["platform"] == HOST_PLATFORM
    assert data.get("qt") in (None, "", [])  # --qt may be repeated for list: a list is fine
    by_asset = {b["asset"]: b for b in data["builds"]}
    assert set(by_asset) == set(release.assets)
    for build in release.builds:
        item = by_asset[build.asset]
        assert item["qt"] == build.qt
        assert item["platform"] == build.platform
        assert (item["os"], item["arch"]) == (build.os, build.arch)
        assert item["sha256"] == build.sha256
        assert item["fits"] is (build.platform == HOST_PLATFORM), item
        assert item["cached"] is False


def test_list_json_shows_what_is_cached_and_filters_by_qt(release, mirror_args):
    fetched_path(run_qtmcp(mirror_args + ["--qt", "6.8", "fetch"]))
    data = json.loads(run_qtmcp(["list", "--json", "--qt", "6.8"] + mirror_args).stdout)
    assert data["qt"] in ("6.8", ["6.8"])
    assert {b["qt"] for b in data["builds"]} == {"6.8"}
    cached = [b["asset"] for b in data["builds"] if b["cached"]]
    assert cached == [release.host_build("6.8").asset]
    fitting = [b["asset"] for b in data["builds"] if b["fits"]]
    assert fitting == [release.host_build("6.8").asset]


def test_list_prints_a_table_naming_the_assets(release, mirror_args):
    cp = run_qtmcp(["list"] + mirror_args)
    assert cp.returncode == 0, text(cp.stderr)
    out = text(cp.stdout)
    for build in release.builds:
        assert build.asset in out or (build.qt in out and build.platform in out), build.asset


def test_json_is_an_option_of_list_not_of_run(mirror_args):
    assert_error(run_qtmcp(["--json", "list"] + mirror_args), 2)


# -- cache -------------------------------------------------------------------------------

def test_cache_dir_prints_the_cache_root(cache_dir):
    cp = run_qtmcp(["cache", "dir"])
    assert cp.returncode == 0, text(cp.stderr)
    assert Path(text(cp.stdout).strip()).resolve() == cache_dir.resolve()


def test_cache_dir_flag_wins_over_the_variable(tmp_path):
    other = tmp_path / "other cache"
    cp = run_qtmcp(["cache", "dir", "--cache-dir", str(other)])
    assert Path(text(cp.stdout).strip()).resolve() == other.resolve()


def test_default_cache_root_is_under_the_home_folder(qtmcp_env, home_dir):
    env = dict(qtmcp_env)
    del env["QTMCP_CACHE_DIR"]
    cp = run_qtmcp(["cache", "dir"], env=env)
    assert cp.returncode == 0, text(cp.stderr)
    root = Path(text(cp.stdout).strip())
    assert home_dir.resolve() in root.resolve().parents
    expected = {"linux": Path(".cache", "qtmcp"), "macos": Path("Library", "Caches", "qtmcp"),
                "windows": Path("AppData", "Local", "qtmcp", "Cache")}.get(HOST_OS)
    if expected is not None:
        assert root.resolve() == (home_dir / expected).resolve()


def test_cache_list_json_shows_each_install(release, mirror_args, cache_dir):
    path = fetched_path(run_qtmcp(mirror_args + ["--qt", "6.8", "fetch"]))
    cp = run_qtmcp(["cache", "list", "--json"])
    assert cp.returncode == 0, text(cp.stderr)
    listing = json.loads(cp.stdout)
    assert listing["cache"] == str(cache_dir)
    items = listing["installs"]
    assert len(items) == 1
    item = items[0]
    build = release.host_build("6.8")
    assert item["release"] == "vTEST"
    assert item["build"] == build.build_key
    assert item["sha256"] == build.sha256
    assert item["current"] is True
    assert item["size"] > 0
    assert os.path.samefile(item["path"], str(path.parent.parent))


def test_cache_clean_removes_other_releases_and_keeps_the_current_one(
        make_release, qtmcp_env, cache_dir):
    current = make_release("vTEST", ["6.8"])
    make_release("vOLD", ["6.8"])
    mirror = ["--mirror", current.url, "--qt", "6.8", "fetch"]
    kept = fetched_path(run_qtmcp(mirror))
    gone = fetched_path(run_qtmcp(mirror, env=dict(qtmcp_env, QTMCP_RELEASE="vOLD")))
    assert kept != gone

    cp = run_qtmcp(["cache", "clean"])
    assert cp.returncode == 0, text(cp.stderr)
    assert kept.is_file()
    assert not gone.exists()
    assert not any(k.startswith("vOLD/") and v[0] == "file"
                   for k, v in tree_snapshot(cache_dir).items())


def test_cache_clean_all_removes_every_install(release, mirror_args, cache_dir):
    path = fetched_path(run_qtmcp(mirror_args + ["--qt", "6.8", "fetch"]))
    cp = run_qtmcp(["cache", "clean", "--all"])
    assert cp.returncode == 0, text(cp.stderr)
    assert not path.exists()
    assert [k for k, v in tree_snapshot(cache_dir).items() if v[0] != "dir"
            and not k.endswith(".lock")] == []


def test_cache_list_of_an_empty_cache_is_an_empty_list():
    cp = run_qtmcp(["cache", "list", "--json"])
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout)["installs"] == []


# -- local errors ------------------------------------------------------------------------

def test_cache_root_that_cannot_be_created_is_a_local_error(mirror_args, tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    cp = run_qtmcp(mirror_args + ["--cache-dir", str(blocker / "cache"), "--qt", "6.8", "fetch"])
    assert_error(cp, 7)
    assert cp.stdout == b""


# -- hints for common mistakes -------------------------------------------------------

def test_a_mistyped_command_word_is_named_in_the_error(release, mirror_args):
    cp = run_qtmcp(mirror_args + ["fech"])  # no --qt: run fails, and says what 'fech' may be
    assert_error(cp, 2, "did you mean 'qtmcp fetch'")


def test_a_mirror_folder_that_does_not_exist_is_named_with_a_hint(tmp_path):
    cp = run_qtmcp(["--mirror", "127.0.0.1:8765", "--qt", "6.8", "fetch"], cwd=str(tmp_path))
    assert_error(cp, 4, "no such folder", "did you mean http://127.0.0.1:8765")


def test_a_launcher_given_by_hand_that_does_not_exist_is_a_local_error(tmp_path):
    cp = run_qtmcp(["--launcher", str(tmp_path / "nothing-here"), "--", "x"])
    assert_error(cp, 7, "--launcher")


def test_a_retry_after_of_absurd_length_fails_at_once_with_a_clear_line(release, mirror_args):
    from fixtures import respond_status

    release.server.route("/vTEST/SHA256SUMS", respond_status(503, headers={"Retry-After": "9" * 400}))
    cp = run_qtmcp(mirror_args + ["--qt", "6.8", "fetch"])
    assert_error(cp, 4, "asks to retry after")


def test_a_mirror_token_that_a_header_cannot_carry_is_refused_without_echoing_it(qtmcp_env):
    env = dict(qtmcp_env, QTMCP_MIRROR_TOKEN="abc\nX-Injected: secret-part")
    cp = run_qtmcp(["--mirror", "http://127.0.0.1:9/m", "--qt", "6.8", "fetch"], env=env)
    assert_error(cp, 2, "QTMCP_MIRROR_TOKEN")
    assert b"secret-part" not in cp.stderr


def test_a_netrc_that_cannot_be_parsed_is_ignored_without_echoing_it(release, mirror_args, qtmcp_env, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login bob Hunter2Secret password\n")  # a stray token
    cp = run_qtmcp(mirror_args + ["--qt", "6.8", "fetch"], env=dict(qtmcp_env, NETRC=str(netrc)))
    assert cp.returncode == 0, text(cp.stderr)
    assert b"cannot be parsed" in cp.stderr
    assert b"Hunter2Secret" not in cp.stderr


# -- the first ten minutes: hints, 0.2's words, the log ----------------------------------------

@pytest.mark.parametrize("word,replacement", [
    ("serve", "qtmcp -- /path/to/app"), ("download-tools", "qtmcp fetch --qt 6.8")])
def test_the_commands_of_qtmcp_0_2_are_usage_errors_that_say_what_replaced_them(word, replacement):
    cp = run_qtmcp([word, "--mode", "native", "--target", "/app"])
    assert_error(cp, 2, "0.2", replacement)


def test_an_old_command_word_after_the_double_dash_goes_to_the_launcher(stand_in):
    cp = run_qtmcp(["--launcher", stand_in, "--", "--print-args", "serve"])
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout) == ["--print-args", "serve"]


@pytest.mark.parametrize("typo,known", [("--qtt", "--qt"), ("--mirrror", "--mirror"), ("--releas", "--release")])
def test_a_mistyped_option_suggests_the_nearest_known_one(typo, known):
    cp = run_qtmcp([typo, "6.8", "/app"])
    assert_error(cp, 2, "did you mean %s?" % known, "after '--'")


def test_help_as_a_command_word_prints_the_help_and_starts_nothing():
    cp = run_qtmcp(["help"])
    assert cp.returncode == 0, text(cp.stderr)
    assert text(cp.stdout).startswith("usage: qtmcp") and "exit statuses" in text(cp.stdout)
    assert text(cp.stdout) == text(run_qtmcp(["--help"]).stdout)


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_a_timeout_that_is_not_above_0_says_it_must_be(value):
    assert_error(run_qtmcp(["--timeout", value, "fetch"]), 2, "above 0")


@pytest.mark.parametrize("option", ["--cache-dir", "--release", "--mirror", "--qt"])
def test_an_option_given_an_empty_value_is_a_usage_error_not_the_default(option):
    assert_error(run_qtmcp([option, "", "cache", "dir"]), 2, option, "empty")


def test_qt_5_15_where_only_the_patched_build_exists_points_at_it(release, mirror_args):
    cp = run_qtmcp(mirror_args + ["--qt", "5.15", "fetch"])
    assert_error(cp, 3, "did you mean --qt 5.15-patched?")


def test_cache_clean_of_a_release_the_cache_does_not_hold_lists_those_it_holds(
        release, mirror_args, cache_dir):
    path = fetched_path(run_qtmcp(mirror_args + ["--qt", "6.8", "fetch"]))
    cp = run_qtmcp(["cache", "clean", "--release", "vTSET"])
    assert_error(cp, 2, "vTSET", "holds vTEST")
    assert path.is_file()


def test_cache_clean_dry_run_says_what_would_go_and_removes_nothing(make_release, qtmcp_env, cache_dir):
    current = make_release("vTEST", ["6.8"])
    make_release("vOLD", ["6.8"])
    mirror = ["--mirror", current.url, "--qt", "6.8", "fetch"]
    fetched_path(run_qtmcp(mirror))
    gone = fetched_path(run_qtmcp(mirror, env=dict(qtmcp_env, QTMCP_RELEASE="vOLD")))
    before = tree_snapshot(cache_dir)
    cp = run_qtmcp(["cache", "clean", "--dry-run"])
    assert cp.returncode == 0, text(cp.stderr)
    assert tree_snapshot(cache_dir) == before
    lines = text(cp.stdout).splitlines()
    assert any(line.startswith("would remove ") and "vOLD" in line for line in lines), lines
    assert not any(os.sep + "vTEST" + os.sep in line for line in lines[:-1]), lines
    assert lines[-1].startswith("would remove ")
    assert run_qtmcp(["cache", "clean"]).returncode == 0 and not gone.exists()


def test_the_log_gets_one_line_for_every_start_cached_ones_included(release, mirror_args, tmp_path, qtmcp_env):
    log = tmp_path / "qtmcp.log"
    env = dict(qtmcp_env, QTMCP_LOG=str(log), QTMCP_QUIET="1")
    secret = mirror_args[1].replace("http://", "http://user:s3cr3t@")
    launcher = fetched_path(run_qtmcp(mirror_args + ["--qt", "6.8", "fetch"], env=env))
    size = log.stat().st_size
    cp = run_qtmcp(["--mirror", secret, "--qt", "6.8", "--", "--print-args", "a b"], env=env)
    assert cp.returncode == 0, text(cp.stderr)
    new = log.read_text(encoding="utf-8")[size:].splitlines()
    assert len(new) == 1, new
    assert "run: starting %s" % launcher in new[0] and "'a b'" in new[0]
    assert "s3cr3t" not in log.read_text(encoding="utf-8")


def test_an_integrity_error_says_what_to_do_next(release, mirror_args):
    release.set_digest(release.host_build("6.8").asset, "0" * 64)
    cp = run_qtmcp(mirror_args + ["--qt", "6.8", "fetch"])
    assert_error(cp, 5, "another --mirror", "--refresh", "report it")
