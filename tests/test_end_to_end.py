"""End to end: qtmcp as an MCP client starts it, against a release served on
127.0.0.1 (or a directory), with the stand-in launcher inside the archives."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures import (
    HOST_OS,
    HOST_PLATFORM,
    REPO,
    BuildSpec,
    Entry,
    assert_error,
    cache_leftovers,
    closed_port,
    default_members,
    encode_message,
    launcher_name,
    native_kind,
    pinned_module,
    run_qtmcp,
    start_qtmcp,
    text,
    tree_snapshot,
    write_launcher,
)

NON_ASCII = "Grüße, Καλημέρα, こんにちは, 🚀 ✓"
BIG_TEXT_CHARS = 5 * 1024 * 1024  # "a message of several MB"
OTHER_KIND = "zip" if native_kind(HOST_OS) == "tar.gz" else "tar.gz"
POSIX_ONLY = pytest.mark.skipif(HOST_OS == "windows",
                                reason="Windows: no Unix modes, and symbolic links need a privilege")


def mcp_script(big_text: str) -> list:
    """The messages a client sends in the byte-for-byte test."""
    return [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "tests", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "echo", "arguments": {"text": NON_ASCII}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
         "params": {"name": "echo", "arguments": {"text": big_text}}},
        {"jsonrpc": "2.0", "id": "five", "method": "no/such/method"},
    ]


def big_text() -> str:
    unit = "QtMcp ✓ ünïcödé 漢字 "
    return (unit * (BIG_TEXT_CHARS // len(unit) + 1))[:BIG_TEXT_CHARS]


def test_mcp_stream_through_qtmcp_is_byte_for_byte_what_the_launcher_answers(
        release, tmp_path):
    text_5mb = big_text()
    stdin = b"".join(encode_message(m) for m in mcp_script(text_5mb))
    direct = subprocess.run([str(write_launcher(tmp_path / "direct" / launcher_name(HOST_OS)))],
                            input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            timeout=60)
    assert direct.returncode == 0, text(direct.stderr)

    cp = run_qtmcp(["--mirror", release.url, "--qt", "6.8", "--", "/opt/app/bin/editor"],
                   input=stdin, timeout=120)
    assert cp.returncode == 0, text(cp.stderr)
    assert cp.stdout == direct.stdout  # nothing added, dropped or re-encoded

    answers = [json.loads(line) for line in cp.stdout.decode("utf-8").splitlines()]
    assert [a["id"] for a in answers] == [1, 2, 3, 4, "five"]
    assert answers[0]["result"]["serverInfo"]["name"] == "qtmcp-stand-in"
    assert answers[0]["result"]["protocolVersion"] == "2025-06-18"
    assert "echo" in [t["name"] for t in answers[1]["result"]["tools"]]
    assert answers[2]["result"]["content"][0]["text"] == NON_ASCII
    assert answers[3]["result"]["content"][0]["text"] == text_5mb
    assert answers[4]["error"]["code"] == -32601
    assert "stand-in launcher started" in text(cp.stderr)
    assert "Traceback" not in text(cp.stderr)


def test_interactive_session_gets_each_answer_before_sending_the_next_request(
        release, tmp_path, qtmcp_env):
    work = tmp_path / "wörk dir"
    work.mkdir()
    env = dict(qtmcp_env, QTMCP_TEST_MARKER="välue with spaces ✓")
    args = ["--mirror", release.url, "--qt", "6.8", "--", "/opt/app", "--flag", "ä b"]
    with start_qtmcp(args, env=env, cwd=work, timeout=60) as session:
        init = session.initialize()
        assert init["result"]["serverInfo"]["name"] == "qtmcp-stand-in"
        tools = session.request("tools/list")["result"]["tools"]
        assert {"echo", "env"} <= {t["name"] for t in tools}
        echo = session.call_tool("echo", {"text": NON_ASCII})
        assert echo["result"]["content"][0]["text"] == NON_ASCII
        report = json.loads(session.call_tool(
            "env", {"names": ["QTMCP_TEST_MARKER"]})["result"]["content"][0]["text"])
        status = session.close()
    assert status == 0, text(session.stderr)
    assert report["argv"] == ["/opt/app", "--flag", "ä b"]
    assert os.path.samefile(report["cwd"], str(work))
    assert report["env"]["QTMCP_TEST_MARKER"] == "välue with spaces ✓"
    assert b"qtmcp: error" not in session.stderr


def test_second_run_makes_no_request_and_changes_nothing_in_the_cache(
        release, cache_dir):
    args = ["--mirror", release.url, "--qt", "6.8", "--", "--print-args", "first"]
    first = run_qtmcp(args)
    assert first.returncode == 0, text(first.stderr)
    assert json.loads(first.stdout) == ["--print-args", "first"]
    fetched = release.server.paths()
    assert "/vTEST/SHA256SUMS" in fetched
    assert "/vTEST/" + release.host_build("6.8").asset in fetched

    before = tree_snapshot(cache_dir)
    assert before, "the first run left no cache"
    release.server.clear()
    time.sleep(0.05)  # so a rewrite would show in mtimes even on coarse clocks
    second = run_qtmcp(["--mirror", release.url, "--qt", "6.8", "--", "--print-args", "again"])
    assert second.returncode == 0, text(second.stderr)
    assert json.loads(second.stdout) == ["--print-args", "again"]
    assert release.server.requests == []
    assert tree_snapshot(cache_dir) == before


def test_cached_start_needs_no_mirror_at_all(release, cache_dir):
    assert run_qtmcp(["--mirror", release.url, "--qt", "6.8", "fetch"]).returncode == 0
    release.server.stop()
    dead = "http://127.0.0.1:%d" % closed_port()
    cp = run_qtmcp(["--mirror", dead, "--qt", "6.8", "--", "--exit-with", "0"], timeout=30)
    assert cp.returncode == 0, text(cp.stderr)


def test_launcher_deleted_from_the_cache_is_reinstalled_on_the_next_run(release):
    cp = run_qtmcp(["--mirror", release.url, "--qt", "6.8", "fetch"])
    assert cp.returncode == 0, text(cp.stderr)
    launcher = Path(text(cp.stdout).strip())
    launcher.unlink()
    release.server.clear()

    again = run_qtmcp(["--mirror", release.url, "--qt", "6.8", "--", "--print-args", "x"])
    assert again.returncode == 0, text(again.stderr)
    assert json.loads(again.stdout) == ["--print-args", "x"]
    assert "/vTEST/" + release.host_build("6.8").asset in release.server.paths()
    assert launcher.is_file()


def test_a_build_listed_in_the_other_archive_kind_is_accepted_and_its_launcher_runs(
        make_release):
    rel = make_release(builds=[BuildSpec("6.8", kind=OTHER_KIND)])
    assert rel.host_build("6.8").kind == OTHER_KIND
    cp = run_qtmcp(["--mirror", rel.url, "--qt", "6.8", "--", "--print-args", "from", OTHER_KIND])
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout) == ["--print-args", "from", OTHER_KIND]


def test_where_a_release_lists_both_kinds_the_os_own_kind_is_fetched(make_release):
    rel = make_release(builds=[BuildSpec("6.8", kind="zip"), BuildSpec("6.8", kind="tar.gz")])
    cp = run_qtmcp(["--mirror", rel.url, "--qt", "6.8", "fetch"])
    assert cp.returncode == 0, text(cp.stderr)
    paths = rel.server.paths()
    own = "/vTEST/" + rel.build("6.8", HOST_PLATFORM, native_kind(HOST_OS)).asset
    other = "/vTEST/" + rel.build("6.8", HOST_PLATFORM, OTHER_KIND).asset
    assert own in paths and other not in paths


def test_a_build_inside_one_top_level_folder_runs_from_the_build_folder(make_release, cache_dir):
    rel = make_release(builds=[BuildSpec("6.8", top_folder=True)])
    cp = run_qtmcp(["--mirror", rel.url, "--qt", "6.8", "fetch"])
    assert cp.returncode == 0, text(cp.stderr)
    launcher = Path(text(cp.stdout).strip())
    assert os.path.samefile(str(launcher), str(rel.host_build("6.8").launcher_path(cache_dir, "vTEST")))
    run = run_qtmcp(["--mirror", rel.url, "--qt", "6.8", "--", "--print-args"])
    assert run.returncode == 0 and json.loads(run.stdout) == ["--print-args"]


@POSIX_ONLY
def test_installed_build_keeps_its_modes_and_relative_symbolic_links(release):
    cp = run_qtmcp(["--mirror", release.url, "--qt", "6.8", "fetch"])
    assert cp.returncode == 0, text(cp.stderr)
    build = Path(text(cp.stdout).strip()).parent
    assert os.access(str(build / "qtmcp-launcher"), os.X_OK)
    assert stat.S_IMODE(os.stat(str(build / "qtmcp-launcher")).st_mode) & 0o111
    links = [m for m in release.host_build("6.8").members if m.type == "symlink"]
    assert links, "the default build has links on this OS"
    for member in links:
        path = build / member.name
        assert path.is_symlink(), member.name
        assert os.readlink(str(path)) == member.linkname
        assert path.exists()  # resolves inside the build


@pytest.mark.parametrize("mirror", ["dir", "file_url"])
def test_a_plain_directory_or_file_url_mirror_serves_as_well_as_http(release, mirror):
    base = str(release.dir) if mirror == "dir" else release.file_url
    cp = run_qtmcp(["--mirror", base, "--qt", "6.8", "--", "--print-args", mirror])
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout) == ["--print-args", mirror]
    assert release.server.requests == []


def test_offline_with_a_directory_mirror_installs_without_a_connection(release):
    cp = run_qtmcp(["--offline", "--mirror", str(release.dir), "--qt", "6.8", "fetch"])
    assert cp.returncode == 0, text(cp.stderr)
    assert Path(text(cp.stdout).strip()).is_file()


def test_offline_with_only_an_http_mirror_is_a_source_error_and_opens_no_connection(release):
    cp = run_qtmcp(["--offline", "--mirror", release.url, "--qt", "6.8", "fetch"])
    assert_error(cp, 4)
    assert release.server.requests == []


def test_an_unreachable_first_mirror_is_skipped_for_the_next(release):
    dead = "http://127.0.0.1:%d" % closed_port()
    cp = run_qtmcp(["--mirror", dead, "--mirror", release.url, "--qt", "6.8",
                    "--", "--print-args"])
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout) == ["--print-args"]


# -- integrity ----------------------------------------------------------------

def test_archive_whose_digest_does_not_match_sha256sums_is_refused_and_nothing_is_installed(
        release, cache_dir):
    asset = release.host_build("6.8").asset
    wrong = "0123456789abcdef" * 4
    release.set_digest(asset, wrong)
    cp = run_qtmcp(["--mirror", release.url, "--qt", "6.8", "--", "--print-args"])
    assert_error(cp, 5, asset, "127.0.0.1", wrong, release.digests[asset])
    assert cp.stdout == b""
    assert cache_leftovers(cache_dir) == []


def test_pinned_release_whose_sha256sums_does_not_match_its_pin_is_refused(
        release, cache_dir, tmp_path):
    module = pinned_module(tmp_path / "pinned", {"vTEST": "ab" * 32})
    cp = run_qtmcp(["--mirror", release.url, "--qt", "6.8", "--", "--print-args"], module=module)
    assert_error(cp, 5, "SHA256SUMS", "ab" * 32, release.sha256_of_sums)
    assert cp.stdout == b""
    assert cache_leftovers(cache_dir) == []
    assert not any(p.endswith("SHA256SUMS") for p in tree_snapshot(cache_dir))


def test_pinned_release_whose_sha256sums_matches_its_pin_runs(release, tmp_path):
    module = pinned_module(tmp_path / "pinned", {"vTEST": release.sha256_of_sums})
    cp = run_qtmcp(["--mirror", release.url, "--qt", "6.8", "--", "--print-args", "pinned"],
                   module=module)
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout) == ["--print-args", "pinned"]


def test_unpinned_release_says_on_stderr_that_it_is_not_pinned(release):
    cp = run_qtmcp(["--mirror", release.url, "--qt", "6.8", "fetch"])
    assert cp.returncode == 0, text(cp.stderr)
    assert "pin" in text(cp.stderr).lower()


# -- refused archives -----------------------------------------------------------

def _hostile_members(case: str, tmp_path: Path) -> list:
    outside = tmp_path / "outside"
    if case == "climbing name":
        return [Entry("../x", b"escaped\n")]
    if case == "deep climbing name":
        return [Entry("plugins/../../../../x", b"escaped\n")]
    if case == "absolute name":
        return [Entry((outside / "x").as_posix(), b"escaped\n")]
    if case == "symlink leading out":
        return [Entry("lib/escape", type="symlink", linkname="../../../../../outside")]
    if case == "absolute symlink":
        return [Entry("lib/escape", type="symlink", linkname=outside.as_posix())]
    if case == "file written through a symlink leading out":
        return [Entry("lib/escape", type="symlink", linkname="../../../../../outside"),
                Entry("lib/escape/x", b"escaped\n")]
    if case == "file written through a symlink inside the build":
        return [Entry("lib/alias", type="symlink", linkname="../plugins"),
                Entry("lib/alias/x", b"through a link\n")]
    if case == "hard link leading out":
        return [Entry("lib/x", type="hardlink", linkname="../../../../../outside/secret")]
    raise AssertionError(case)


HOSTILE = ["climbing name", "deep climbing name", "absolute name", "symlink leading out",
           "absolute symlink", "file written through a symlink leading out",
           "file written through a symlink inside the build"]


@pytest.mark.parametrize("kind,case", [(k, c) for c in HOSTILE for k in ("tar.gz", "zip")]
                         + [("tar.gz", "hard link leading out")])
def test_archive_with_an_entry_leading_out_is_refused_and_nothing_is_written_anywhere(
        make_release, cache_dir, tmp_path, case, kind):
    outside = tmp_path / "outside"
    outside.mkdir()
    rel = make_release(builds=[BuildSpec("6.8", kind=kind,
                                         extra_members=_hostile_members(case, tmp_path))])
    cp = run_qtmcp(["--mirror", rel.url, "--qt", "6.8", "--", "--print-args"])
    assert_error(cp, 6)
    assert cp.stdout == b""
    assert cache_leftovers(cache_dir) == []
    assert list(outside.iterdir()) == []
    www = Path(rel.server.directory)
    strays = [p for p in tmp_path.rglob("*")
              if p.name in ("x", "escape", "qtmcp-launcher", "qtmcp-launcher.exe")
              and www not in p.parents]
    assert strays == []


def test_archive_without_a_launcher_is_a_local_error_and_installs_nothing(
        make_release, cache_dir):
    members = [m for m in default_members("6.8", HOST_PLATFORM)
               if not m.name.startswith("qtmcp-launcher")]
    rel = make_release(builds=[BuildSpec("6.8", members=members)])
    cp = run_qtmcp(["--mirror", rel.url, "--qt", "6.8", "--", "--print-args"])
    assert_error(cp, 7, "launcher")
    assert cp.stdout == b""
    assert not any(p.endswith("manifest.json") for p in tree_snapshot(cache_dir))


# -- sources --------------------------------------------------------------------

def test_mirror_that_is_down_is_a_source_error(qtmcp_env):
    dead = "http://127.0.0.1:%d" % closed_port()
    cp = run_qtmcp(["--mirror", dead, "--qt", "6.8", "fetch"], timeout=90)
    assert_error(cp, 4)
    assert cp.stdout == b""


def test_release_that_no_mirror_has_is_a_source_error_naming_what_was_tried(release):
    cp = run_qtmcp(["--mirror", release.url, "--release", "vNOSUCH", "--qt", "6.8", "fetch"])
    assert_error(cp, 4, "SHA256SUMS")
    assert "/vNOSUCH/SHA256SUMS" in release.server.paths()


# -- the README's demo ------------------------------------------------------------

def test_readme_demo_runs_from_the_repository_root_and_shows_the_echo_answer(qtmcp_env):
    cp = subprocess.run([sys.executable, "tests/demo.py"], cwd=str(REPO), env=qtmcp_env,
                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, timeout=180)
    out = text(cp.stdout)
    assert cp.returncode == 0, out
    assert "Hello from the QtMcp demo" in out
    assert "qtmcp-stand-in" in out
    assert "no request" in out.lower()
    assert "Traceback" not in out


HEAVY = {"signal", "urllib", "ssl", "json", "hashlib", "zipfile", "tarfile", "http", "socket", "email",
         "tempfile", "shutil", "subprocess", "typing", "re", "struct", "threading"}


@POSIX_ONLY
def test_a_cached_start_imports_nothing_heavy_not_even_signal(release, mirror_args, qtmcp_env):
    """`python -X importtime` lists every module loaded before the launcher is
    exec'd; -S keeps site's own imports out of the list. (Auto detection on a
    cached start: test_detect.py checks it loads nothing new.)"""
    fetch = run_qtmcp(mirror_args + ["--qt", "6.8", "fetch"])
    assert fetch.returncode == 0, text(fetch.stderr)
    args = ["--print-args", "x"]
    cp = subprocess.run([sys.executable, "-S", "-X", "importtime", str(REPO / "qtmcp.py"), "--offline",
                         "--qt", "6.8", "--"] + args, env=qtmcp_env, capture_output=True, timeout=60)
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout) == args
    loaded = {line.rsplit("|", 1)[1].strip().split(".")[0]
              for line in text(cp.stderr).splitlines() if line.startswith("import time:") and "|" in line}
    assert loaded, "importtime printed nothing: the test proves nothing"
    assert not loaded & HEAVY, sorted(loaded & HEAVY)
