"""Private mirrors: credentials (netrc, QTMCP_MIRROR_TOKEN), redirects, proxies, TLS.

Everything is served from 127.0.0.1: a mirror that wants Basic or Bearer
credentials (netfixtures.AuthGate), a forward proxy written here
(netfixtures.ForwardProxy) and an HTTPS mirror with the test certificate in
tests/tls (netfixtures.TlsMirrorServer; see tests/tls/README.md).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import pytest
from fixtures import (
    assert_error,
    build_release,
    closed_port,
    respond_redirect,
    respond_status,
    run_qtmcp,
    text,
)
from netfixtures import CA_PEM, AuthGate, ForwardProxy, TlsMirrorServer, basic

TAG = "vTEST"
USER = "mirror-user"
PASSWORD = "pa55-w0rd-s3cret"
TOKEN = "t0ken-4-the-mirror-only"
SECRETS = (PASSWORD, TOKEN, base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode())


@pytest.fixture
def proxy():
    server = ForwardProxy({"qtmcp-test.invalid": "127.0.0.1"}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tls_release(tmp_path):
    """The release served over HTTPS (tests/tls/server.pem) from 127.0.0.1."""
    info = build_release(tmp_path / "www-tls", TAG, ["6.8"])
    server = TlsMirrorServer(info.root).start()
    try:
        yield info, server
    finally:
        server.stop()


def write_netrc(path: Path, entry: str) -> Path:
    path.write_text(entry, encoding="utf-8")
    if os.name == "posix":
        os.chmod(str(path), 0o600)
    return path


def fetch(release, env, *extra):
    return run_qtmcp(["--mirror", release.url, "--qt", "6.8", "fetch"] + list(extra), env=env)


def assert_no_secret(*blobs):
    for blob in blobs:
        for secret in SECRETS:
            assert secret not in blob, "a credential leaked: %r in %r" % (secret, blob)


# -- credentials -----------------------------------------------------------------

@pytest.mark.parametrize("entry", [
    "machine 127.0.0.1 login %s password %s\n" % (USER, PASSWORD),
    "machine other.example login nobody password nothing\ndefault login %s password %s\n"
    % (USER, PASSWORD),
], ids=["host entry", "default entry"])
def test_credentials_from_the_netrc_file_named_by_NETRC_open_a_basic_auth_mirror(
        release, qtmcp_env, tmp_path, entry):
    gate = AuthGate(release.server, [basic(USER, PASSWORD)])
    netrc = write_netrc(tmp_path / "mirror.netrc", entry)
    cp = fetch(release, dict(qtmcp_env, NETRC=str(netrc)))
    assert cp.returncode == 0, text(cp.stderr)
    assert Path(text(cp.stdout).strip()).is_file()
    assert gate.refused == 0
    assert all(r.header("authorization") == basic(USER, PASSWORD) for r in release.server.requests)


def test_credentials_from_netrc_in_the_home_folder_open_a_basic_auth_mirror(
        release, qtmcp_env, home_dir):
    AuthGate(release.server, [basic(USER, PASSWORD)])
    write_netrc(home_dir / ".netrc", "machine 127.0.0.1 login %s password %s\n" % (USER, PASSWORD))
    cp = fetch(release, qtmcp_env)
    assert cp.returncode == 0, text(cp.stderr)


def test_a_mirror_refusing_access_without_credentials_is_a_source_error_naming_host_and_where_to_put_them(
        release, qtmcp_env):
    AuthGate(release.server, [basic(USER, PASSWORD)])
    cp = fetch(release, qtmcp_env)
    assert_error(cp, 4, "127.0.0.1", "401", "netrc", "QTMCP_MIRROR_TOKEN")
    assert cp.stdout == b""


def test_a_bearer_token_mirror_opens_with_QTMCP_MIRROR_TOKEN(release, qtmcp_env):
    gate = AuthGate(release.server, ["Bearer " + TOKEN], scheme="Bearer")
    cp = fetch(release, dict(qtmcp_env, QTMCP_MIRROR_TOKEN=TOKEN))
    assert cp.returncode == 0, text(cp.stderr)
    assert gate.refused == 0
    assert {r.header("authorization") for r in release.server.requests} == {"Bearer " + TOKEN}


def test_the_token_wins_over_netrc_where_both_apply(release, qtmcp_env, tmp_path):
    gate = AuthGate(release.server, ["Bearer " + TOKEN], scheme="Bearer")
    netrc = write_netrc(tmp_path / "mirror.netrc",
                        "machine 127.0.0.1 login %s password %s\n" % (USER, PASSWORD))
    cp = fetch(release, dict(qtmcp_env, NETRC=str(netrc), QTMCP_MIRROR_TOKEN=TOKEN))
    assert cp.returncode == 0, text(cp.stderr)
    assert gate.refused == 0
    assert {r.header("authorization") for r in release.server.requests} == {"Bearer " + TOKEN}


@pytest.mark.parametrize("status", [401, 403])
def test_a_mirror_that_refuses_access_is_skipped_with_a_note_for_the_next(
        release, second_server, qtmcp_env, status):
    second_server.route(lambda path: True, respond_status(status, b"go away\n"))
    cp = run_qtmcp(["--mirror", second_server.url, "--mirror", release.url, "--qt", "6.8", "fetch"],
                   env=qtmcp_env)
    assert cp.returncode == 0, text(cp.stderr)
    notes = [line for line in text(cp.stderr).splitlines() if ":%d" % second_server.port in line]
    assert notes and not any(line.startswith("qtmcp: error:") for line in notes), text(cp.stderr)


def test_credentials_never_go_to_the_default_release_host(qtmcp_env, tmp_path, monkeypatch):
    """In-process: the default base is on the internet, so the rule is checked
    on the Fetcher itself (token and a netrc entry for github.com and the
    default entry are all there, and none is used)."""
    from fixtures import import_qtmcp

    qtmcp = import_qtmcp()
    netrc = write_netrc(tmp_path / "all.netrc", "machine github.com login u password %s\n"
                        "default login u password %s\n" % (PASSWORD, PASSWORD))
    monkeypatch.setenv("NETRC", str(netrc))
    settings = qtmcp.read_settings(["--release", TAG], {"QTMCP_MIRROR_TOKEN": TOKEN})
    fetcher = qtmcp.make_fetcher(settings, qtmcp.Reporter(quiet=True), [qtmcp.DEFAULT_BASE])
    assert fetcher.http.credential_for(qtmcp.DEFAULT_BASE) is None
    same_origin = "https://github.com/ssss2art/QtMcp/releases/download/"
    assert fetcher.http.credential_for(same_origin) is None
    with_login = "https://%s:%s@github.com/ssss2art/QtMcp/releases/download" % (USER, PASSWORD)
    assert fetcher.http.credential_for(with_login) is None
    mirror = "https://mirror.example.com/qtmcp"
    found = fetcher.http.credential_for(mirror)
    assert found is not None and found[1] == "Bearer " + TOKEN

    without_token = qtmcp.read_settings(["--release", TAG], {})
    fetcher = qtmcp.make_fetcher(without_token, qtmcp.Reporter(quiet=True), [qtmcp.DEFAULT_BASE])
    assert fetcher.http.credential_for(qtmcp.DEFAULT_BASE) is None  # netrc: github.com and default
    found = fetcher.http.credential_for(mirror)
    assert found is not None and found[1] == basic("u", PASSWORD)  # the default entry, elsewhere


# -- credentials and redirects ---------------------------------------------------------

def _credential_env(kind, qtmcp_env, tmp_path, base):
    """(environment, the Authorization the mirror wants, the mirror base) for
    credentials from netrc, from QTMCP_MIRROR_TOKEN, or written in the URL."""
    if kind == "token":
        return dict(qtmcp_env, QTMCP_MIRROR_TOKEN=TOKEN), "Bearer " + TOKEN, base
    if kind == "url":
        scheme, _, rest = base.partition("//")
        return dict(qtmcp_env), basic(USER, PASSWORD), "%s//%s:%s@%s" % (scheme, USER, PASSWORD, rest)
    netrc = write_netrc(tmp_path / "mirror.netrc",
                        "machine 127.0.0.1 login %s password %s\n" % (USER, PASSWORD))
    return dict(qtmcp_env, NETRC=str(netrc)), basic(USER, PASSWORD), base


CREDENTIAL_KINDS = ["netrc", "token", "url"]


@pytest.mark.parametrize("kind", CREDENTIAL_KINDS)
def test_a_redirect_to_another_origin_gets_no_credentials_but_the_download_works(
        release, second_server, qtmcp_env, tmp_path, kind):
    env, authorization, base = _credential_env(kind, qtmcp_env, tmp_path, release.url)
    second_server.directory = release.dir  # the same files, on another port
    gate = AuthGate(release.server, [authorization])
    asset = release.host_build("6.8").asset
    gate.redirect("%s/%s" % (TAG, asset), second_server.url_for("%s/%s" % (TAG, asset)))

    cp = run_qtmcp(["--mirror", base, "--qt", "6.8", "fetch"], env=env)
    assert cp.returncode == 0, text(cp.stderr)
    assert gate.refused == 0
    assert second_server.requests_for("%s/%s" % (TAG, asset)), "the redirect was not followed"
    assert [r.header("authorization") for r in second_server.requests] == [None] * len(
        second_server.requests)
    assert_no_secret(text(cp.stderr))


@pytest.mark.parametrize("kind", CREDENTIAL_KINDS)
def test_a_redirect_within_the_mirror_origin_keeps_the_credentials(
        release, qtmcp_env, tmp_path, kind):
    env, authorization, base = _credential_env(kind, qtmcp_env, tmp_path, release.url)
    gate = AuthGate(release.server, [authorization])
    asset = release.host_build("6.8").asset
    moved = release.dir / "moved" / TAG / asset
    moved.parent.mkdir(parents=True)
    shutil.copyfile(str(release.dir / TAG / asset), str(moved))
    gate.redirect("%s/%s" % (TAG, asset), "/moved/%s/%s" % (TAG, asset))

    cp = run_qtmcp(["--mirror", base, "--qt", "6.8", "fetch"], env=env)
    assert cp.returncode == 0, text(cp.stderr)
    followed = release.server.requests_for("moved/%s/%s" % (TAG, asset))
    assert followed and all(r.header("authorization") == authorization for r in followed)
    assert gate.refused == 0


# -- credentials never shown -------------------------------------------------------------

def test_credentials_never_appear_on_stderr_or_in_the_log_file(release, qtmcp_env, tmp_path):
    log = tmp_path / "qtmcp.log"
    netrc = write_netrc(tmp_path / "mirror.netrc",
                        "machine 127.0.0.1 login %s password %s\n" % (USER, PASSWORD))
    gate = AuthGate(release.server, [basic(USER, PASSWORD)])
    ok = fetch(release, dict(qtmcp_env, NETRC=str(netrc), QTMCP_LOG=str(log)))
    assert ok.returncode == 0, text(ok.stderr)

    gate.accepted = {"Bearer something-else"}
    refused = run_qtmcp(["--mirror", release.url, "--qt", "6.5", "fetch"],
                        env=dict(qtmcp_env, NETRC=str(netrc), QTMCP_MIRROR_TOKEN=TOKEN,
                                 QTMCP_LOG=str(log), QTMCP_DEBUG="1"))
    assert refused.returncode == 4, text(refused.stderr)
    in_url = "http://%s:%s@127.0.0.1:%d" % (USER, PASSWORD, release.server.port)
    refused_url = run_qtmcp(["--mirror", in_url, "--qt", "6.5", "fetch"],
                            env=dict(qtmcp_env, QTMCP_LOG=str(log), QTMCP_DEBUG="1"))
    assert refused_url.returncode == 4, text(refused_url.stderr)
    assert log.is_file() and log.stat().st_size > 0
    assert_no_secret(text(ok.stderr), text(refused.stderr), text(refused.stdout),
                     text(refused_url.stderr), text(refused_url.stdout),
                     log.read_text(encoding="utf-8"))


def test_a_mirror_url_with_a_user_and_password_is_shown_masked(
        release, second_server, qtmcp_env, tmp_path):
    log = tmp_path / "qtmcp.log"
    parts = second_server.url.split("//")
    with_password = "%s//%s:%s@%s" % (parts[0], USER, PASSWORD, parts[1])
    cp = run_qtmcp(["--mirror", with_password, "--mirror", release.url, "--qt", "6.8", "fetch"],
                   env=dict(qtmcp_env, QTMCP_LOG=str(log)))
    assert cp.returncode == 0, text(cp.stderr)
    logged = log.read_text(encoding="utf-8")
    assert_no_secret(text(cp.stderr), logged)
    assert USER + ":" not in text(cp.stderr) + logged
    where = "127.0.0.1:%d" % second_server.port
    notes = [line for line in text(cp.stderr).splitlines() if where in line]
    assert notes, "the skipped base is not named: " + text(cp.stderr)
    # masked ("http://***@host") or with the login left out ("http://host"), never the login
    assert all("//***@" + where in line or "//" + where in line for line in notes), notes


# -- proxies ---------------------------------------------------------------------------------

@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy"])
def test_requests_go_through_the_proxy_named_by_the_proxy_variable(
        release, proxy, qtmcp_env, variable):
    """The mirror's host name exists only for the proxy (it maps it to
    127.0.0.1): the install can only work through it."""
    base = "http://qtmcp-test.invalid:%d" % release.server.port
    cp = run_qtmcp(["--mirror", base, "--qt", "6.8", "--", "--print-args", "proxied"],
                   env=dict(qtmcp_env, **{variable: proxy.url}))
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout) == ["--print-args", "proxied"]
    asset = release.host_build("6.8").asset
    assert "%s/%s/SHA256SUMS" % (base, TAG) in proxy.targets()
    assert "%s/%s/%s" % (base, TAG, asset) in proxy.targets()
    assert release.server.requests_for("%s/%s" % (TAG, asset))


def test_with_a_proxy_variable_and_no_NO_PROXY_even_127_0_0_1_goes_through_the_proxy(
        release, proxy, qtmcp_env):
    """urllib proxies every host when a *_proxy variable is set and NO_PROXY
    is not (proxy_bypass_environment); the NO_PROXY test below relies on it."""
    cp = fetch(release, dict(qtmcp_env, HTTP_PROXY=proxy.url))
    assert cp.returncode == 0, text(cp.stderr)
    assert "%s/%s/SHA256SUMS" % (release.url, TAG) in proxy.targets()


@pytest.mark.parametrize("variable,value", [("NO_PROXY", "127.0.0.1"),
                                            ("no_proxy", "localhost, 127.0.0.1"),
                                            ("NO_PROXY", "*")])
def test_no_proxy_covering_the_mirror_host_bypasses_the_proxy(
        release, proxy, qtmcp_env, variable, value):
    cp = fetch(release, dict(qtmcp_env, HTTP_PROXY=proxy.url, **{variable: value}))
    assert cp.returncode == 0, text(cp.stderr)
    assert proxy.requests == []
    assert release.server.requests_for("%s/SHA256SUMS" % TAG)


def test_an_https_mirror_goes_through_the_https_proxy_tunnel(tls_release, proxy, qtmcp_env):
    """CONNECT through the proxy; the certificate is still checked end to end."""
    info, server = tls_release
    env = dict(qtmcp_env, HTTPS_PROXY=proxy.url, SSL_CERT_FILE=str(CA_PEM))
    cp = run_qtmcp(["--mirror", server.url, "--qt", "6.8", "fetch"], env=env)
    assert cp.returncode == 0, text(cp.stderr)
    assert ("CONNECT", "127.0.0.1:%d" % server.port) in [(m, t) for m, t, _ in proxy.requests]
    assert server.requests_for("%s/%s" % (TAG, info.host_build("6.8").asset))

    # Qt 6.5 is not cached, so the index is read again: through the tunnel,
    # without the test CA this time.
    without_ca = {k: v for k, v in env.items() if k != "SSL_CERT_FILE"}
    refused = run_qtmcp(["--mirror", server.url, "--qt", "6.5", "fetch"], env=without_ca)
    assert_error(refused, 4, "SSL_CERT_FILE")


# -- TLS ---------------------------------------------------------------------------------------

def test_an_https_mirror_with_an_unknown_certificate_authority_is_a_source_error_naming_SSL_CERT_FILE(
        tls_release, qtmcp_env):
    _, server = tls_release
    env = {k: v for k, v in qtmcp_env.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    cp = run_qtmcp(["--mirror", server.url, "--qt", "6.8", "fetch"], env=env, timeout=60)
    assert_error(cp, 4, "SSL_CERT_FILE")
    assert server.requests == []


def test_an_https_mirror_works_when_SSL_CERT_FILE_names_its_certificate_authority(
        tls_release, qtmcp_env):
    info, server = tls_release
    cp = run_qtmcp(["--mirror", server.url, "--qt", "6.8", "--", "--print-args", "over TLS"],
                   env=dict(qtmcp_env, SSL_CERT_FILE=str(CA_PEM)))
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout) == ["--print-args", "over TLS"]
    assert server.requests_for("%s/%s" % (TAG, info.host_build("6.8").asset))


def test_an_https_mirror_that_redirects_to_http_is_refused(tls_release, second_server, qtmcp_env):
    info, server = tls_release
    second_server.directory = info.root
    server.route("/%s/SHA256SUMS" % TAG, respond_redirect(second_server.url_for("%s/SHA256SUMS" % TAG)))
    cp = run_qtmcp(["--mirror", server.url, "--qt", "6.8", "fetch"],
                   env=dict(qtmcp_env, SSL_CERT_FILE=str(CA_PEM)))
    assert_error(cp, 4)
    assert second_server.requests == []
    assert server.requests_for("%s/SHA256SUMS" % TAG)


def test_a_proxy_that_refuses_the_connection_is_named_in_the_error(qtmcp_env):
    proxy = "http://127.0.0.1:%d" % closed_port()
    env = dict(qtmcp_env, HTTP_PROXY=proxy)
    cp = run_qtmcp(["--mirror", "http://qtmcp-test.invalid/m", "--qt", "6.8", "--timeout", "2", "fetch"], env=env)
    assert_error(cp, 4, "the proxy " + proxy, "HTTP_PROXY")


# -- hardening, round two: secrets, proxies that refuse, names that only look like secrets -----
#
# Contract, "Sources": URLs with a user and password are shown masked,
# whatever characters the password holds; a proxy that refuses qtmcp's
# credentials (407) is not retried and says so, naming the proxy (its password
# masked) and the variable it came from. A local mirror path holding '@' is a
# path, not a login; a mirror folder whose name holds 401 or 403 is not a
# refusal of credentials.

HEAD, TAIL = "Head5ecret", "Tail5ecret"
SPECIAL = ["?", "#", "@", "/", ":", "%3F", "%40", "%23", " "]


def assert_no_part_of_the_password(*blobs):
    for blob in blobs:
        shown = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
        for part in (HEAD, TAIL):
            assert part not in shown, "part of the password (%s) is shown: %r" % (part, shown)


@pytest.mark.parametrize("special", SPECIAL, ids=[repr(c) for c in SPECIAL])
def test_a_password_with_characters_urls_treat_specially_is_never_shown(qtmcp_env, tmp_path, special):
    log = tmp_path / "qtmcp.log"
    base = "http://%s:%s%s%s@127.0.0.1:%d/private" % (USER, HEAD, special, TAIL, closed_port())
    cp = run_qtmcp(["--mirror", base, "--offline", "--qt", "6.8", "fetch"],
                   env=dict(qtmcp_env, QTMCP_LOG=str(log)), timeout=30)
    assert cp.returncode in (2, 4), text(cp.stderr)
    assert_error(cp, cp.returncode)
    assert_no_part_of_the_password(cp.stderr, cp.stdout, log.read_bytes() if log.exists() else b"")


@pytest.mark.parametrize("special", ["?", "#", "/"], ids=repr)
def test_a_password_with_special_characters_is_never_shown_when_the_mirror_refuses_it(
        release, qtmcp_env, tmp_path, special):
    log = tmp_path / "qtmcp.log"
    AuthGate(release.server, [basic(USER, "something else")])
    base = "http://%s:%s%s%s@127.0.0.1:%d" % (USER, HEAD, special, TAIL, release.server.port)
    cp = run_qtmcp(["--mirror", base, "--qt", "6.8", "--timeout", "2", "fetch"],
                   env=dict(qtmcp_env, QTMCP_LOG=str(log)), timeout=60)
    assert cp.returncode in (2, 4), text(cp.stderr)
    assert_error(cp, cp.returncode)
    assert_no_part_of_the_password(cp.stderr, cp.stdout, log.read_bytes() if log.exists() else b"")


@pytest.mark.parametrize("scheme", ["http://", ""], ids=["with-scheme", "without-scheme"])
@pytest.mark.parametrize("special", ["?", "#", "@", "/", ":"], ids=repr)
def test_a_proxy_password_with_special_characters_is_never_shown(qtmcp_env, tmp_path, special, scheme):
    log = tmp_path / "qtmcp.log"
    proxy = "%sproxy-user:%s%s%s@127.0.0.1:%d" % (scheme, HEAD, special, TAIL, closed_port())
    cp = run_qtmcp(["--mirror", "http://qtmcp-test.invalid/m", "--qt", "6.8", "--timeout", "1", "fetch"],
                   env=dict(qtmcp_env, HTTP_PROXY=proxy, QTMCP_LOG=str(log)), timeout=60)
    assert cp.returncode in (2, 4), text(cp.stderr)
    assert_error(cp, cp.returncode, "HTTP_PROXY")
    assert_no_part_of_the_password(cp.stderr, cp.stdout, log.read_bytes() if log.exists() else b"")


@pytest.mark.parametrize("scheme", ["http://", ""], ids=["with-scheme", "without-scheme"])
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy"])
def test_a_proxy_that_refuses_the_credentials_with_407_is_not_retried_and_is_named_masked(
        http_server, qtmcp_env, variable, scheme):
    http_server.route(lambda path: True, respond_status(
        407, b"proxy authentication required\n", {"Proxy-Authenticate": 'Basic realm="qtmcp-test"'}))
    proxy = "%sproxy-user:%s%s@127.0.0.1:%d" % (scheme, HEAD, TAIL, http_server.port)
    cp = run_qtmcp(["--mirror", "http://qtmcp-test.invalid:8080/m", "--qt", "6.8", "--timeout", "2", "fetch"],
                   env=dict(qtmcp_env, **{variable: proxy}), timeout=60)
    line = assert_error(cp, 4, "127.0.0.1:%d" % http_server.port, variable)
    assert "407" in line or "proxy" in line.lower()
    assert "retrying" not in text(cp.stderr)
    assert len(http_server.requests) == 1, "a 407 was retried: %r" % http_server.paths()
    assert "network" not in line.lower(), "a 407 is not a network problem: " + line
    assert_no_part_of_the_password(cp.stderr)


@pytest.mark.parametrize("proxy", ["http:/proxy-user:%s%s@127.0.0.1:9", "proxy-user:%s://%s@127.0.0.1:9"],
                         ids=["one slash", "'://' in the password"])
def test_a_malformed_proxy_value_is_a_usage_error_that_never_shows_its_password(qtmcp_env, tmp_path, proxy):
    log = tmp_path / "qtmcp.log"
    value = proxy % (HEAD, TAIL)
    cp = run_qtmcp(["--mirror", "https://qtmcp-test.invalid/m", "--qt", "6.8", "--timeout", "1", "fetch"],
                   env=dict(qtmcp_env, HTTPS_PROXY=value, HTTP_PROXY=value, QTMCP_LOG=str(log)), timeout=60)
    assert_error(cp, 2, "PROXY")
    assert_no_part_of_the_password(cp.stderr, cp.stdout, log.read_bytes() if log.exists() else b"")


def test_a_mirror_password_holding_a_space_is_never_shown_when_the_variable_splits_there(qtmcp_env, tmp_path):
    log = tmp_path / "qtmcp.log"
    base = "https://mirror-user:%s %s@qtmcp-test.invalid/m" % (HEAD, TAIL)
    cp = run_qtmcp(["--qt", "6.8", "fetch"], env=dict(qtmcp_env, QTMCP_MIRROR=base, QTMCP_LOG=str(log)), timeout=60)
    assert_error(cp, 2, "bad mirror")
    assert HEAD not in text(cp.stderr) + text(cp.stdout)
    assert HEAD.encode() not in (log.read_bytes() if log.exists() else b"")


def test_a_407_from_a_mirror_with_no_proxy_set_says_that_no_proxy_is_set_and_is_not_retried(
        http_server, qtmcp_env):
    http_server.route(lambda path: True, respond_status(407, b"proxy authentication required\n", {}))
    cp = run_qtmcp(["--mirror", http_server.url + "/m", "--qt", "6.8", "--timeout", "2", "fetch"],
                   env=qtmcp_env, timeout=60)
    line = assert_error(cp, 4, "407", "no proxy is set", "HTTPS_PROXY")
    assert len(http_server.requests) == 1, "a 407 was retried: %r" % http_server.paths()
    assert "refused qtmcp's credentials" not in line


def test_a_local_mirror_path_holding_an_at_sign_is_shown_whole_not_masked(qtmcp_env, tmp_path):
    base = tmp_path / "builds@team" / "mirror"
    base.mkdir(parents=True)
    cp = run_qtmcp(["--mirror", str(base), "--qt", "6.8", "fetch"], timeout=30)
    line = assert_error(cp, 4)
    assert str(base) in line, "the path is not shown as it is: " + line
    assert "***" not in line


@pytest.mark.parametrize("folder", ["mirror-401", "403", "http-403-cache"])
def test_a_local_mirror_folder_named_with_401_or_403_gets_no_credentials_hint(qtmcp_env, tmp_path, folder):
    base = tmp_path / folder / "qtmcp"
    base.mkdir(parents=True)
    cp = run_qtmcp(["--mirror", str(base), "--qt", "6.8", "fetch"], timeout=30)
    line = assert_error(cp, 4)
    assert "netrc" not in line and "QTMCP_MIRROR_TOKEN" not in line, line


def test_an_http_mirror_path_with_401_in_it_that_answers_404_gets_no_credentials_hint(release, qtmcp_env):
    cp = run_qtmcp(["--mirror", release.url + "/mirrors/401", "--qt", "6.8", "fetch"], timeout=30)
    line = assert_error(cp, 4)
    assert "netrc" not in line and "QTMCP_MIRROR_TOKEN" not in line, line


@pytest.mark.parametrize("data", [
    pytest.param(b"machine 127.0.0.1 login us\xe9r password p\xe4ss" + HEAD.encode() + b"\n", id="latin-1"),
    pytest.param(b"\xff\xfe" + "machine 127.0.0.1 login u password p".encode("utf-16-le"), id="utf-16"),
    pytest.param(b"machine 127.0.0.1 login u password " + HEAD.encode() + b"\x80\x81\n", id="stray bytes"),
])
def test_a_netrc_that_is_not_utf8_is_ignored_with_a_note_never_a_crash(release, qtmcp_env, tmp_path, data):
    netrc = tmp_path / "netrc"
    netrc.write_bytes(data)
    os.chmod(str(netrc), 0o600)
    cp = run_qtmcp(["--mirror", release.url, "--qt", "6.8", "fetch"],
                   env=dict(qtmcp_env, NETRC=str(netrc)), timeout=30)
    if cp.returncode != 0:
        assert_error(cp, cp.returncode if cp.returncode in (4, 7) else 4)
    assert "Traceback" not in text(cp.stderr)
    assert HEAD not in text(cp.stderr)
