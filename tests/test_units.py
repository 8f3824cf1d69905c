"""The pure functions of qtmcp.py, called in-process.

Versions, tags, platforms, asset names, SHA256SUMS, archive member names,
the command line and the settings from flags and environment, as the
contract (the outside behaviour) fixes them.
"""

from __future__ import annotations

import itertools

import pytest
from fixtures import SUMS_CASES, import_qtmcp

qtmcp = import_qtmcp()

HEX_A = "a" * 64
HEX_B = "0123456789abcdef" * 4


def contract_asset_name(qt, os_name, arch, kind):
    """The contract's rule, written out again here: linux x64 has no arch."""
    middle = os_name if (os_name, arch) == ("linux", "x64") else "%s-%s" % (os_name, arch)
    return "qtmcp-qt%s-%s.%s" % (qt, middle, kind)


# -- Qt versions --------------------------------------------------------------------------

@pytest.mark.parametrize("given,build", [
    ("6.8", "6.8"), ("6.8.2", "6.8"), ("6.8.0", "6.8"), ("5.15", "5.15"),
    ("5.15-patched", "5.15-patched"), ("6.10", "6.10"), ("6.10.1", "6.10"), (" 6.9 ", "6.9"),
])
def test_normalize_qt_maps_a_version_to_its_build(given, build):
    assert qtmcp.normalize_qt(given) == build


@pytest.mark.parametrize("bad", [
    "", "6", "6.", ".8", "6..8", "6.8.2.1", "6.x", "v6.8", "6.8-beta", "6.8-", "5.15-PATCHED-x",
    "6,8", "6.8 patched", "\u0666.\u0668", "６.８", "-patched",
])
def test_normalize_qt_refuses_what_is_not_a_qt_version_with_a_usage_error(bad):
    with pytest.raises(qtmcp.UsageError) as caught:
        qtmcp.normalize_qt(bad)
    assert caught.value.status == 2


# -- release tags ------------------------------------------------------------------------------

@pytest.mark.parametrize("tag", ["v0.3.0", "nightly", "vTEST", "0.1", "v1.0+build.5", "a_b-c.d", "V"])
def test_check_tag_accepts_letters_digits_and_dot_underscore_plus_minus(tag):
    assert qtmcp.check_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", "-v1", ".v1", "_v1", "+v1", "v 1", "v1/2", "../v1", "v1\n",
                                 "v1\\2", "é1", "v1:2", "v1?"])
def test_check_tag_refuses_other_tags_with_a_usage_error(tag):
    with pytest.raises(qtmcp.UsageError):
        qtmcp.check_tag(tag)


# -- platforms and asset names ---------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("windows-x86", ("windows", "x86")), ("linux-x64", ("linux", "x64")),
    ("linux-arm64", ("linux", "arm64")), ("macos-arm64", ("macos", "arm64")),
    ("macos-x64", ("macos", "x64")), ("windows-arm64", ("windows", "arm64")),
])
def test_parse_platform_splits_os_and_cpu(text, expected):
    assert qtmcp.parse_platform(text) == expected


@pytest.mark.parametrize("bad", ["linux", "linux-", "-x64", "linux-x86_64", "bsd-x64", "win-x64",
                                 "darwin-arm64", "linux-arm64-extra", "linux_x64", ""])
def test_parse_platform_refuses_unknown_platforms_with_a_usage_error(bad):
    with pytest.raises(qtmcp.UsageError):
        qtmcp.parse_platform(bad)


@pytest.mark.parametrize("platform,names", [
    (("linux", "x64"), ["qtmcp-qt6.8-linux.tar.gz", "qtmcp-qt6.8-linux.zip"]),
    (("linux", "arm64"), ["qtmcp-qt6.8-linux-arm64.tar.gz", "qtmcp-qt6.8-linux-arm64.zip"]),
    (("windows", "x64"), ["qtmcp-qt6.8-windows-x64.zip", "qtmcp-qt6.8-windows-x64.tar.gz"]),
    (("windows", "x86"), ["qtmcp-qt6.8-windows-x86.zip", "qtmcp-qt6.8-windows-x86.tar.gz"]),
    (("macos", "arm64"), ["qtmcp-qt6.8-macos-arm64.zip", "qtmcp-qt6.8-macos-arm64.tar.gz"]),
])
def test_asset_names_put_the_os_own_archive_kind_first(platform, names):
    assert qtmcp.asset_names("6.8", platform) == names


def test_asset_names_of_a_patched_build_keep_the_suffix():
    assert qtmcp.asset_names("5.15-patched", ("windows", "x86"))[0] == \
        "qtmcp-qt5.15-patched-windows-x86.zip"


QTS = ["5.15", "5.15-patched", "6.5", "6.8", "6.9", "6.10", "7.0"]
COMBINATIONS = list(itertools.product(QTS, ["linux", "windows", "macos"], ["x64", "x86", "arm64"],
                                      ["tar.gz", "zip"]))


@pytest.mark.parametrize("qt,os_name,arch,kind", COMBINATIONS)
def test_parse_asset_name_reads_back_every_build_and_kind(qt, os_name, arch, kind):
    name = contract_asset_name(qt, os_name, arch, kind)
    assert qtmcp.parse_asset_name(name) == (qt, (os_name, arch), kind)
    assert name in qtmcp.asset_names(qt, (os_name, arch))


@pytest.mark.parametrize("name", [
    "SHA256SUMS", "qtmcp-qt6.8-linux-x64.tar.gz", "qtmcp-qt6.8-windows.tar.gz", "qtmcp-qt6.8-macos.zip",
    "qtmcp-qt6.8.2-linux.tar.gz", "qtmcp-qt6.8-Linux.tar.gz", "qtmcp-qt6.8-linux.tgz",
    "qtmcp-qt6.8-linux.tar", "qtmcp-qt6.8-linux-arm64-debug.tar.gz", "qtmcp-qt-linux.tar.gz",
    "qtmcp-qt6.8-beta-linux.tar.gz", "qtmcp-qt6.8-linux-amd64.tar.gz", "qtmcp-6.8-linux.tar.gz",
    "QTMCP-qt6.8-linux.tar.gz", "qtmcp-qt6.8-linux.tar.gz.sig", "qtmcp-qt6.8-windows-x64.ZIP",
])
def test_parse_asset_name_refuses_names_that_are_not_canonical_assets(name):
    assert qtmcp.parse_asset_name(name) is None


def test_a_v0_2_windows_name_without_a_cpu_is_read_as_windows_x64():
    # the contract: releases up to v0.2.x named windows x64 'qtmcp-qt6.8-windows.zip'
    assert qtmcp.parse_asset_name("qtmcp-qt6.8-windows.zip") == ("6.8", ("windows", "x64"), "zip")
    assert qtmcp.parse_asset_name("qtmcp-qt5.15-patched-windows.zip") == ("5.15-patched", ("windows", "x64"), "zip")


def test_the_v0_2_windows_name_is_used_only_where_no_windows_x64_name_is_listed():
    old, new = "qtmcp-qt6.8-windows.zip", "qtmcp-qt6.8-windows-x64.zip"
    assert qtmcp.choose_asset({old: HEX_A}, "6.8", ("windows", "x64"), "v0.2.5") == old
    assert qtmcp.choose_asset({old: HEX_A, new: HEX_B}, "6.8", ("windows", "x64"), "v0.3.0") == new
    with pytest.raises(qtmcp.NoBuildError):
        qtmcp.choose_asset({old: HEX_A}, "6.8", ("windows", "x86"), "v0.2.5")


# -- SHA256SUMS -----------------------------------------------------------------------------------

@pytest.mark.parametrize("data,expected", [case[1:] for case in SUMS_CASES], ids=[case[0] for case in SUMS_CASES])
def test_parse_sums_reads_the_shared_table_of_sha256sums_cases(data, expected):
    if expected is None:
        with pytest.raises(qtmcp.SourceError):
            qtmcp.parse_sums(data, "here")
    else:
        assert qtmcp.parse_sums(data, "here") == expected


def test_parse_sums_reads_gnu_lines():
    data = ("%s  qtmcp-qt6.8-linux.tar.gz\n%s  qtmcp-qt6.8-windows-x64.zip\n" % (HEX_A, HEX_B)).encode()
    assert qtmcp.parse_sums(data, "here") == {
        "qtmcp-qt6.8-linux.tar.gz": HEX_A, "qtmcp-qt6.8-windows-x64.zip": HEX_B}


def test_parse_sums_accepts_the_binary_marker_blank_lines_crlf_and_no_final_newline():
    data = ("\r\n%s *qtmcp-qt6.8-linux.tar.gz\r\n\r\n   \n%s  qtmcp-qt6.8-macos-arm64.zip"
            % (HEX_A, HEX_B)).encode()
    assert qtmcp.parse_sums(data, "here") == {
        "qtmcp-qt6.8-linux.tar.gz": HEX_A, "qtmcp-qt6.8-macos-arm64.zip": HEX_B}


def test_parse_sums_reads_hex_digits_in_capitals_as_the_same_digest():
    data = ("%s  qtmcp-qt6.8-linux.tar.gz\n" % HEX_B.upper()).encode()
    assert qtmcp.parse_sums(data, "here") == {"qtmcp-qt6.8-linux.tar.gz": HEX_B}


def test_parse_sums_of_an_empty_file_lists_nothing():
    assert qtmcp.parse_sums(b"", "here") == {}


def test_parse_sums_keeps_a_duplicate_line_with_the_same_digest():
    line = "%s  qtmcp-qt6.8-linux.tar.gz\n" % HEX_A
    assert qtmcp.parse_sums((line + line).encode(), "here") == {"qtmcp-qt6.8-linux.tar.gz": HEX_A}


@pytest.mark.parametrize("data", [
    ("%s  a.zip\n%s  a.zip\n" % (HEX_A, HEX_B)).encode(),        # one name, two digests
    ("%s a.zip\n" % HEX_A).encode(),                              # one space
    ("%s\ta.zip\n" % HEX_A).encode(),                             # a tab
    ("%s  \n" % HEX_A).encode(),                                  # no name
    ("%s  a.zip\n" % HEX_A[:63]).encode(),                        # 63 digits
    ("%sg  a.zip\n" % HEX_A[:63]).encode(),                       # not hex
    ("%s  a.zip\nnot a line\n" % HEX_A).encode(),                 # a bad line after a good one
    b"<html><body>Not Found</body></html>\n",                     # a web page
    ("%s  a.zip\n" % HEX_A).encode() + b"\xff\xfe\n",             # not UTF-8
    ("%s  a.zip\n" % HEX_A).encode() * (1024 * 1024 // 72 + 1),   # over 1 MiB
], ids=["two digests", "one space", "tab", "no name", "short digest", "not hex", "bad line",
        "html", "not utf-8", "over 1 MiB"])
def test_parse_sums_refuses_what_is_not_an_index_with_a_source_error_naming_where(data):
    with pytest.raises(qtmcp.SourceError) as caught:
        qtmcp.parse_sums(data, "http://mirror.example/vTEST/SHA256SUMS")
    assert caught.value.status == 4
    assert "http://mirror.example/vTEST/SHA256SUMS" in str(caught.value)


# -- archive member names ---------------------------------------------------------------------------

@pytest.mark.parametrize("name,is_dir,parts", [
    ("qtmcp-launcher", False, ["qtmcp-launcher"]),
    ("lib/libQt6Core.so.6", False, ["lib", "libQt6Core.so.6"]),
    ("./lib/x", False, ["lib", "x"]),
    ("lib/./x", False, ["lib", "x"]),
    ("plugins/", True, ["plugins"]),
    ("plugins/platforms/", True, ["plugins", "platforms"]),
    ("./", True, []),
    (".", True, []),
    ("é/ü.txt", False, ["é", "ü.txt"]),
    ("a" * 255, False, ["a" * 255]),
    ("/".join(["b" * 255] * 4), False, ["b" * 255] * 4),  # 1,023 bytes in all
    ("CON", False, ["CON"]),  # fine in a build for Linux or macOS
    ("lib/ab:c", False, ["lib", "ab:c"]),
])
def test_member_parts_of_safe_names(name, is_dir, parts):
    assert qtmcp.member_parts(name, is_dir, windows=False) == parts


@pytest.mark.parametrize("name,is_dir", [
    ("", False), ("/", True), ("/etc/passwd", False), ("../x", False), ("lib/../../x", False),
    ("..", True), ("C:x", False), ("c:/x", False), ("C:\\x", False), ("lib\\..\\x", False),
    ("..\\x", False), (".", False), ("./", False),
    ("x\x00y", False), ("a" * 256, False), ("é" * 128, False),
    ("/".join(["b" * 255] * 4) + "/cc", False),  # 1,026 bytes
], ids=lambda v: repr(v)[:40])
def test_member_parts_refuses_unsafe_names_with_an_archive_error(name, is_dir):
    with pytest.raises(qtmcp.ArchiveError) as caught:
        qtmcp.member_parts(name, is_dir, windows=False)
    assert caught.value.status == 6


@pytest.mark.parametrize("link,target,parts", [
    (["lib", "libQt6Core.so.6"], "libQt6Core.so.6.8.0", ["lib", "libQt6Core.so.6.8.0"]),
    (["lib", "QtCore.framework", "QtCore"], "Versions/Current/QtCore",
     ["lib", "QtCore.framework", "Versions", "Current", "QtCore"]),
    (["a", "b", "link"], "../c", ["a", "c"]),
    (["a", "b", "link"], "../../c", ["c"]),
    (["link"], "./x", ["x"]),
    (["a", "link"], "sub/./x", ["a", "sub", "x"]),
])
def test_link_target_parts_resolves_relative_targets_inside_the_build(link, target, parts):
    assert qtmcp.link_target_parts(link, target) == parts


@pytest.mark.parametrize("link,target", [
    (["link"], "../x"), (["a", "link"], "../../x"), (["link"], "/etc/passwd"),
    (["a", "link"], "b/../../x"), (["a", "link"], "b/../c"), (["link"], "C:/x"),
    (["link"], "C:x"), (["link"], "..\\x"), (["link"], ""),
])
def test_link_target_parts_refuses_targets_that_leave_the_build(link, target):
    with pytest.raises(qtmcp.ArchiveError):
        qtmcp.link_target_parts(link, target)


# -- the command line -------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,command,given,positionals,launcher", [
    (["--qt", "6.8", "/app", "--quiet"], "run", {"qt": ["6.8"]}, [], ["/app", "--quiet"]),
    (["--qt", "6.8", "fetch"], "fetch", {"qt": ["6.8"]}, [], []),
    (["fetch", "--qt", "6.8"], "fetch", {"qt": ["6.8"]}, [], []),
    (["--qt", "6.8", "--", "fetch"], "run", {"qt": ["6.8"]}, [], ["fetch"]),
    (["--qt", "6.8"], "run", {"qt": ["6.8"]}, [], []),
    ([], "run", {}, [], []),
    (["--qt", "6.8", "--", "a", "--", "b"], "run", {"qt": ["6.8"]}, [], ["a", "--", "b"]),
    (["run", "--qt", "6.8", "/app"], "run", {"qt": ["6.8"]}, [], ["/app"]),
    (["/app", "fetch", "--qt", "6.8"], "run", {}, [], ["/app", "fetch", "--qt", "6.8"]),
    (["--", "--qt", "6.8"], "run", {}, [], ["--qt", "6.8"]),
    (["--mirror", "a", "--mirror", "b", "--qt", "6.8", "--qt", "5.15"], "run",
     {"mirror": ["a", "b"], "qt": ["6.8", "5.15"]}, [], []),
    (["mirror", "DEST", "--qt", "6.8", "--platform", "windows-x64"], "mirror",
     {"qt": ["6.8"], "platform": ["windows-x64"]}, ["DEST"], []),
    (["list", "--json"], "list", {"json": [""]}, [], []),
    (["install", "a.zip", "--sums", "S"], "install", {"sums": ["S"]}, ["a.zip"], []),
    (["verify", "--repair"], "verify", {"repair": [""]}, [], []),
    (["cache", "clean", "--all"], "cache", {"all": [""]}, ["clean"], []),
    (["--qt", "6.8", "--release", "fetch", "run"], "run", {"qt": ["6.8"], "release": ["fetch"]},
     [], []),
])
def test_split_command_line_as_the_contract_reads_it(argv, command, given, positionals, launcher):
    got = qtmcp.split_command_line(argv)
    assert (got[0], sorted(got[1]), got[2], got[3]) == (command, sorted(given), positionals, launcher)
    for dest, values in given.items():
        assert len(got[1][dest]) == len(values)
        if values != [""]:
            assert got[1][dest] == values


@pytest.mark.parametrize("argv", [
    ["--qt", "6.8", "--frob", "/app"], ["--q", "6.8"], ["--qt"], ["--json", "list"],
    ["--repair"], ["fetch", "--sums", "S"], ["--all"], ["-x"], ["--quiet=yes"],
])
def test_split_command_line_refuses_unknown_misplaced_or_incomplete_options(argv):
    with pytest.raises(qtmcp.UsageError) as caught:
        qtmcp.split_command_line(argv)
    assert caught.value.status == 2


def test_an_unknown_option_error_says_to_put_launcher_options_after_the_double_dash():
    with pytest.raises(qtmcp.UsageError) as caught:
        qtmcp.split_command_line(["--qt", "6.8", "--frob", "/app"])
    assert "--frob" in str(caught.value) and "'--'" in str(caught.value)


# -- settings: flags, environment, defaults -------------------------------------------------------

def settings(argv, **env):
    return qtmcp.read_settings(argv, env)


def test_flags_win_over_the_environment_and_the_environment_over_defaults():
    env = {"QTMCP_QT": "5.15", "QTMCP_RELEASE": "v1", "QTMCP_CACHE_DIR": "/env/cache",
           "QTMCP_TIMEOUT": "7", "QTMCP_PLATFORM": "linux-arm64"}
    from_env = settings([], **env)
    assert (from_env.qt, from_env.release, from_env.cache_dir, from_env.timeout, from_env.platform) \
        == (["5.15"], "v1", "/env/cache", 7.0, ["linux-arm64"])
    flagged = settings(["--qt", "6.8", "--release", "v2", "--cache-dir", "/flag", "--timeout", "3",
                        "--platform", "windows-x86"], **env)
    assert (flagged.qt, flagged.release, flagged.cache_dir, flagged.timeout, flagged.platform) \
        == (["6.8"], "v2", "/flag", 3.0, ["windows-x86"])
    default = settings([])
    assert (default.qt, default.release, default.cache_dir, default.timeout, default.mirror) \
        == ([], "", "", 30.0, [])
    assert (default.offline, default.quiet, default.refresh) == (False, False, False)


def test_an_empty_variable_counts_as_unset():
    got = settings([], QTMCP_QT="", QTMCP_RELEASE="", QTMCP_MIRROR="", QTMCP_TIMEOUT="",
                   QTMCP_OFFLINE="", QTMCP_QUIET="", QTMCP_LAUNCHER="", QTMCP_MIRROR_TOKEN="",
                   QTMCP_DEBUG="", QTMCP_LOG="", QTMCP_PLATFORM="", QTMCP_CACHE_DIR="")
    assert (got.qt, got.release, got.mirror, got.timeout, got.offline, got.quiet, got.launcher) \
        == ([], "", [], 30.0, False, False, "")
    assert (got.token, got.log, got.platform, got.cache_dir) == ("", "", [], "")
    assert qtmcp.debug_wanted({"QTMCP_DEBUG": ""}) is False


@pytest.mark.parametrize("value", ["1", "true", "yes", "on", "TRUE", "Yes", "On"])
def test_a_switch_variable_is_on_for_1_true_yes_on_in_any_case(value):
    got = settings([], QTMCP_OFFLINE=value, QTMCP_QUIET=value, QTMCP_DEBUG=value)
    assert (got.offline, got.quiet, qtmcp.debug_wanted({"QTMCP_DEBUG": value})) == (True, True, True)


@pytest.mark.parametrize("value", ["0", "false", "no", "off", "FALSE", "No", "OFF"])
def test_a_switch_variable_is_off_for_0_false_no_off_in_any_case(value):
    got = settings([], QTMCP_OFFLINE=value, QTMCP_QUIET=value, QTMCP_DEBUG=value)
    assert (got.offline, got.quiet, qtmcp.debug_wanted({"QTMCP_DEBUG": value})) == (False, False, False)


@pytest.mark.parametrize("name", ["QTMCP_OFFLINE", "QTMCP_QUIET", "QTMCP_DEBUG"])
@pytest.mark.parametrize("value", ["2", "maybe", "y", "enabled"])
def test_a_switch_variable_with_another_value_is_a_usage_error_naming_it(name, value):
    with pytest.raises(qtmcp.UsageError) as caught:
        settings([], **{name: value})
    assert name in str(caught.value)


def test_a_switch_flag_wins_over_its_variable_set_off():
    assert settings(["--offline", "--quiet"], QTMCP_OFFLINE="0", QTMCP_QUIET="no").offline is True


def test_the_mirror_variable_splits_on_whitespace_and_a_mirror_flag_replaces_it():
    assert settings([], QTMCP_MIRROR=" a  b\tc\nfile:///x%20y ").mirror == ["a", "b", "c", "file:///x%20y"]
    assert settings(["--mirror", "d"], QTMCP_MIRROR="a b").mirror == ["d"]


def test_token_and_log_come_from_the_environment_only():
    got = settings([], QTMCP_MIRROR_TOKEN="T", QTMCP_LOG="/tmp/q.log")
    assert (got.token, got.log) == ("T", "/tmp/q.log")


@pytest.mark.parametrize("argv,env", [
    (["--timeout", "soon"], {}), ([], {"QTMCP_TIMEOUT": "-1"}), (["--timeout", "0"], {}),
    (["--sha256", "abc"], {}), (["--sha256", "g" * 64], {}),
    (["--release", "../x"], {}), ([], {"QTMCP_RELEASE": "bad tag"}),
])
def test_bad_values_are_usage_errors(argv, env):
    with pytest.raises(qtmcp.UsageError):
        settings(argv, **env)


def test_a_sha256_in_capitals_is_taken_as_lowercase():
    assert settings(["--sha256", HEX_B.upper()]).sha256 == HEX_B


# -- messages ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url,shown", [
    ("https://user:secret@mirror.example/qtmcp", "https://***@mirror.example/qtmcp"),
    ("http://token@127.0.0.1:8080/a/b", "http://***@127.0.0.1:8080/a/b"),
    ("http://127.0.0.1:8080/a/b", "http://127.0.0.1:8080/a/b"),
    ("/srv/mirror", "/srv/mirror"),
])
def test_urls_with_a_user_and_password_are_shown_masked(url, shown):
    assert qtmcp.mask_url(url) == shown


@pytest.mark.parametrize("proxy,shown,stripped", [
    ("http://alice:pw@proxy:3128", "http://***@proxy:3128", "http://proxy:3128"),
    ("alice:pw@proxy:3128", "***@proxy:3128", "proxy:3128"),
    ("alice:pa/ss@proxy:3128", "***@proxy:3128", "proxy:3128"),
    ("http://alice:pa/ss@proxy:3128", "http://***@proxy:3128", "http://proxy:3128"),
    ("http://alice:p@s#s?x@proxy:3128/", "http://***@proxy:3128/", "http://proxy:3128/"),
    ("alice:pa://ss@proxy:3128", "***@proxy:3128", "proxy:3128"),  # '://' in the password, no scheme
    ("http:/alice:pw@proxy:3128", "***@proxy:3128", "proxy:3128"),  # one slash: no authority
    ("proxy:3128", "proxy:3128", "proxy:3128"),
    ("http://proxy:3128", "http://proxy:3128", "http://proxy:3128"),
])
def test_proxy_values_with_or_without_a_scheme_are_masked_and_stripped_up_to_their_last_at(
        proxy, shown, stripped):
    assert qtmcp.mask_proxy(proxy) == shown
    assert qtmcp.strip_login(proxy) == stripped
    assert qtmcp.has_login(proxy) == (proxy != stripped)


@pytest.mark.parametrize("path", ["/srv/builds@team/m", "file:///srv/builds@team/m", "C:\\a@b\\m"])
def test_local_mirror_paths_holding_an_at_sign_are_shown_as_they_are(path):
    assert qtmcp.mask_url(path) == path


@pytest.mark.parametrize("cut,shown", [
    ("https://alice:S3", "https://***"), ("https://alice:S3/x?y", "https://***/x?y"),
    ("https://mirror.example:8443/a", "https://mirror.example:8443/a"), ("http://[::1]:80/", "http://[::1]:80/"),
])
def test_a_user_and_password_cut_short_before_the_at_are_masked_where_a_port_is_not_digits(cut, shown):
    assert qtmcp.mask_url(cut) == shown


def test_a_url_is_reached_at_the_host_urllib_reads_but_shown_masked_up_to_its_last_at():
    url = "https://alice:12/secret@mirror.example/qtmcp"
    assert qtmcp.without_login(url) == url  # urllib reads host 'alice', port 12
    assert "secret" not in qtmcp.mask_url(url) and "12" not in qtmcp.mask_url(url)
