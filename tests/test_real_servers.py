"""Real servers: qtmcp against nginx (TLS, Basic auth, a 302 to a second
origin) and squid (an authenticating forward proxy, CONNECT).

The servers are started by the tests as their own processes, with
configuration files written into a temporary folder, listening on 127.0.0.1
ports that were free a moment ago; they are stopped at teardown. They run
only where they are installed (Debian ``nginx-light``, ``squid``; ``.ci/run``
installs them where it can); elsewhere the tests skip with the reason.

nginx serves the release over HTTPS with the committed test certificate
(tests/tls: valid for 127.0.0.1) and wants Basic credentials (an htpasswd
file written here); its access log records the Authorization header each
request carried, which proves what reached each origin. squid is a forward
proxy that wants its own Basic credentials (``basic_ncsa_auth``) and tunnels
https:// with CONNECT.

Contract, "Sources": credentials go only to the origin of the mirror base
they were found for, never along a redirect to another origin; a proxy that
refuses qtmcp's credentials (407) is not retried and says so, naming the
proxy (its password masked) and the variable it came from.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from faultserver import install_dirs
from fixtures import HOST_OS, BuildSpec, assert_error, build_release, free_port, run_qtmcp, text
from netfixtures import CA_PEM, SERVER_KEY, SERVER_PEM

pytestmark = pytest.mark.skipif(HOST_OS == "windows", reason="nginx and squid are started as POSIX daemons here")

TAG = "vTEST"
USER, PASSWORD = "mirror-user", "Ng1nx-Pa55-secret"
PROXY_USER, PROXY_PASSWORD = "proxy-user", "Squ1d-Pa55-secret"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SQUID = shutil.which("squid") or "/usr/sbin/squid"
NCSA = "/usr/lib/squid/basic_ncsa_auth"


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("the server ended with status %s:\n%s" % (
                proc.returncode, log.read_text("utf-8", "replace") if log.exists() else ""))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on port %d after %.0f s:\n%s" % (
        port, timeout, log.read_text("utf-8", "replace") if log.exists() else ""))


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _sha_htpasswd_line(user: str, password: str) -> str:
    """An htpasswd line in the {SHA} scheme (nginx reads it; basic_ncsa_auth does not)."""
    digest = base64.b64encode(hashlib.sha1(password.encode("utf-8")).digest()).decode("ascii")
    return "%s:{SHA}%s\n" % (user, digest)


def _md5_htpasswd_line(user: str, password: str) -> str:
    """An htpasswd line in Apache's MD5 scheme ($apr1$), which basic_ncsa_auth reads,
    made by apache2-utils' htpasswd (else the test skips)."""
    htpasswd = shutil.which("htpasswd")
    if htpasswd is None:
        pytest.skip("htpasswd is not installed (Debian: apache2-utils): no password file for squid")
    out = subprocess.run([htpasswd, "-nbm", user, password], stdout=subprocess.PIPE, check=True, timeout=10)
    return out.stdout.decode("ascii").strip() + "\n"


# -- nginx ----------------------------------------------------------------------------------------

NGINX_CONF = """\
daemon off;
master_process off;
user root root;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
http {{
    log_format who '$server_port "$request" $status auth="$http_authorization"';
    access_log {dir}/access.log who;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {www};
        auth_basic "qtmcp-test";
        auth_basic_user_file {dir}/htpasswd;
        location = /{tag}/{asset} {{
            return 302 https://127.0.0.1:{second}/moved/{asset};
        }}
    }}
    server {{
        listen 127.0.0.1:{second} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {www2};
    }}
}}
"""


class Nginx:
    def __init__(self, folder: Path, release):
        self.dir = folder
        self.port, self.second = free_port(), free_port()
        while self.second == self.port:
            self.second = free_port()
        self.release = release
        self.asset = release.host_build().asset
        www2 = folder / "www2" / "moved"
        www2.mkdir(parents=True)
        shutil.copyfile(str(release.dir / self.asset), str(www2 / self.asset))
        (folder / "htpasswd").write_text(_sha_htpasswd_line(USER, PASSWORD), encoding="utf-8")
        conf = folder / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=folder, port=self.port, second=self.second, cert=SERVER_PEM,
                                          key=SERVER_KEY, www=release.root, www2=folder / "www2",
                                          tag=TAG, asset=self.asset), encoding="utf-8")
        self.proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(folder)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(str(folder / "stderr.log"), "wb"))
        try:
            _wait_for_port(self.port, self.proc, folder / "error.log")
            _wait_for_port(self.second, self.proc, folder / "error.log")
        except BaseException:
            _stop(self.proc)
            raise

    @property
    def url(self) -> str:
        return "https://127.0.0.1:%d" % self.port

    def log(self, port: int):
        """(request line, status, Authorization value) of each request to one port."""
        path = self.dir / "access.log"
        out = []
        for line in (path.read_text("utf-8", "replace").splitlines() if path.exists() else []):
            served_port, _, rest = line.partition(" ")
            if served_port == str(port):
                request, _, tail = rest.rpartition(" auth=")
                out.append((request, tail.strip('"')))
        return out

    def stop(self) -> None:
        _stop(self.proc)


@pytest.fixture
def nginx(tmp_path):
    if not os.path.exists(NGINX):
        pytest.skip("nginx is not installed (Debian: nginx-light)")
    if os.geteuid() != 0:
        pytest.skip("the nginx test configuration runs its worker as root (user root root)")
    info = build_release(tmp_path / "www", TAG, [BuildSpec("6.8")])
    folder = tmp_path / "nginx"
    folder.mkdir()
    os.chmod(str(tmp_path), 0o755)
    server = Nginx(folder, info)
    try:
        yield server
    finally:
        server.stop()


def _netrc(tmp_path: Path, password: str = PASSWORD) -> Path:
    path = tmp_path / "netrc"
    path.write_text("machine 127.0.0.1 login %s password %s\n" % (USER, password), encoding="utf-8")
    os.chmod(str(path), 0o600)
    return path


def test_nginx_over_tls_with_basic_auth_from_netrc_installs_and_the_302_to_another_origin_gets_no_credentials(
        nginx, tmp_path, qtmcp_env, cache_dir):
    env = dict(qtmcp_env, SSL_CERT_FILE=str(CA_PEM), NETRC=str(_netrc(tmp_path)))
    cp = run_qtmcp(["--mirror", nginx.url, "--qt", "6.8", "--timeout", "5", "fetch"], env=env, timeout=30)
    assert cp.returncode == 0, text(cp.stderr)
    assert len(install_dirs(cache_dir)) == 1
    first, second = nginx.log(nginx.port), nginx.log(nginx.second)
    expected = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
    assert any("SHA256SUMS" in req and auth == expected for req, auth in first), first
    assert any(nginx.asset in req for req, _ in second), "the redirect was not followed: %r" % second
    assert all(auth == "-" for _, auth in second), "credentials reached the second origin: %r" % second
    assert PASSWORD not in text(cp.stderr)


def test_nginx_refusing_wrong_credentials_is_a_source_error_that_never_shows_the_password(
        nginx, tmp_path, qtmcp_env, cache_dir):
    env = dict(qtmcp_env, SSL_CERT_FILE=str(CA_PEM), NETRC=str(_netrc(tmp_path, "wr0ng-" + PASSWORD)))
    cp = run_qtmcp(["--mirror", nginx.url, "--qt", "6.8", "--timeout", "5", "fetch"], env=env, timeout=30)
    line = assert_error(cp, 4, "127.0.0.1")
    assert "netrc" in line.lower(), "no hint where credentials come from: " + line
    assert PASSWORD not in text(cp.stderr)
    assert install_dirs(cache_dir) == []
    assert len([r for r, _ in nginx.log(nginx.port) if "SHA256SUMS" in r]) == 1, "a 401 was retried"


def test_nginx_with_a_user_and_password_in_the_mirror_url_masks_them(nginx, qtmcp_env, tmp_path):
    log = tmp_path / "qtmcp.log"
    base = "https://%s:%s@127.0.0.1:%d" % (USER, "wr0ng-" + PASSWORD, nginx.port)
    cp = run_qtmcp(["--mirror", base, "--qt", "6.8", "--timeout", "5", "fetch"],
                   env=dict(qtmcp_env, SSL_CERT_FILE=str(CA_PEM), QTMCP_LOG=str(log)), timeout=30)
    assert_error(cp, 4)
    assert PASSWORD not in text(cp.stderr) + (log.read_text("utf-8") if log.exists() else "")


# -- squid ------------------------------------------------------------------------------------------

SQUID_CONF = """\
http_port 127.0.0.1:{port}
visible_hostname qtmcp-test-proxy
pid_filename {dir}/squid.pid
cache_log {dir}/cache.log
access_log stdio:{dir}/access.log squid
cache_store_log none
coredump_dir {dir}
cache deny all
cache_mem 8 MB
shutdown_lifetime 0 seconds
pinger_enable off
netdb_filename none
logfile_rotate 0
dns_v4_first on
auth_param basic program {ncsa} {dir}/htpasswd
auth_param basic realm qtmcp-test-proxy
auth_param basic children 2
acl from_here src 127.0.0.1/32
acl authed proxy_auth REQUIRED
acl CONNECT method CONNECT
http_access deny !from_here
http_access allow from_here authed
http_access deny all
"""


class Squid:
    def __init__(self, folder: Path):
        self.dir = folder
        self.port = free_port()
        (folder / "htpasswd").write_text(_md5_htpasswd_line(PROXY_USER, PROXY_PASSWORD), encoding="utf-8")
        conf = folder / "squid.conf"
        conf.write_text(SQUID_CONF.format(port=self.port, dir=folder, ncsa=NCSA), encoding="utf-8")
        if os.geteuid() == 0:  # squid drops root for its cache_effective_user (proxy)
            try:
                entry = pwd.getpwnam("proxy")
                for path in [folder] + list(folder.iterdir()):
                    os.chown(str(path), entry.pw_uid, entry.pw_gid)
            except KeyError:
                pass
        self.proc = subprocess.Popen([SQUID, "-N", "-f", str(conf)], stdin=subprocess.DEVNULL,
                                     stdout=open(str(folder / "stdout.log"), "wb"), stderr=subprocess.STDOUT)
        try:
            _wait_for_port(self.port, self.proc, folder / "cache.log", timeout=20)
        except BaseException:
            _stop(self.proc)
            raise

    def url(self, user: str = PROXY_USER, password: str = PROXY_PASSWORD) -> str:
        return "http://%s:%s@127.0.0.1:%d" % (user, password, self.port)

    def requests(self):
        """(method, URL or host:port, result code) of each request squid logged."""
        path = self.dir / "access.log"
        out = []
        for line in (path.read_text("utf-8", "replace").splitlines() if path.exists() else []):
            fields = line.split()
            if len(fields) >= 7 and fields[5] != "-":  # "-": a connection that sent nothing (the port probe)
                out.append((fields[5], fields[6], fields[3]))
        return out

    def stop(self) -> None:
        _stop(self.proc)


@pytest.fixture
def squid():
    if not os.path.exists(SQUID):
        pytest.skip("squid is not installed (Debian: squid)")
    if not os.path.exists(NCSA):
        pytest.skip("squid's basic_ncsa_auth helper is not at %s" % NCSA)
    folder = Path(tempfile.mkdtemp(prefix="qtmcp-squid-"))  # outside tmp_path: squid's user must reach it
    os.chmod(str(folder), 0o755)
    try:
        server = Squid(folder)
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(str(folder), ignore_errors=True)


def test_squid_tunnels_an_https_mirror_with_connect_when_its_credentials_are_right(
        squid, nginx, tmp_path, qtmcp_env, cache_dir):
    env = dict(qtmcp_env, HTTPS_PROXY=squid.url(), SSL_CERT_FILE=str(CA_PEM), NETRC=str(_netrc(tmp_path)))
    cp = run_qtmcp(["--mirror", nginx.url, "--qt", "6.8", "--timeout", "5", "fetch"], env=env, timeout=30)
    assert cp.returncode == 0, text(cp.stderr) + (squid.dir / "cache.log").read_text("utf-8", "replace")
    assert len(install_dirs(cache_dir)) == 1
    assert ("CONNECT", "127.0.0.1:%d" % nginx.port) in [(m, u) for m, u, _ in squid.requests()], squid.requests()
    assert PROXY_PASSWORD not in text(cp.stderr)


def test_squid_refusing_wrong_credentials_with_407_on_connect_is_one_error_naming_the_proxy_masked(
        squid, nginx, tmp_path, qtmcp_env, cache_dir):
    env = dict(qtmcp_env, HTTPS_PROXY=squid.url(password="wr0ng-" + PROXY_PASSWORD),
               SSL_CERT_FILE=str(CA_PEM), NETRC=str(_netrc(tmp_path)))
    cp = run_qtmcp(["--mirror", nginx.url, "--qt", "6.8", "--timeout", "5", "fetch"], env=env, timeout=30)
    line = assert_error(cp, 4, "127.0.0.1:%d" % squid.port, "HTTPS_PROXY")
    assert "407" in line or "proxy" in line.lower()
    assert PROXY_PASSWORD not in text(cp.stderr)
    assert "retrying" not in text(cp.stderr)
    connects = [r for r in squid.requests() if r[0] == "CONNECT"]
    assert len(connects) == 1, "the 407 was retried: %r" % connects
    assert install_dirs(cache_dir) == []


def test_squid_refusing_wrong_credentials_with_407_on_a_plain_http_mirror_is_not_retried(
        squid, http_server, qtmcp_env, cache_dir):
    build_release(http_server.directory, TAG, [BuildSpec("6.8")])
    env = dict(qtmcp_env, HTTP_PROXY=squid.url(password="wr0ng-" + PROXY_PASSWORD))
    cp = run_qtmcp(["--mirror", http_server.url, "--qt", "6.8", "--timeout", "5", "fetch"], env=env, timeout=30)
    assert_error(cp, 4, "127.0.0.1:%d" % squid.port, "HTTP_PROXY")
    assert PROXY_PASSWORD not in text(cp.stderr)
    assert len(squid.requests()) == 1, "the 407 was retried: %r" % squid.requests()
    assert http_server.requests == []
