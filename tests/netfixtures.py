"""Network test machinery beyond tests/fixtures.py: plain Python, stdlib only.

Used by test_mirrors_offline.py, test_private_mirrors.py and test_integrity.py.

* ``network_guard(env, folder)``: an environment for a qtmcp child whose
  Python refuses to open any network connection. A ``sitecustomize.py``
  put first on ``PYTHONPATH`` installs an audit hook (``sys.addaudithook``)
  that, on ``socket.connect``, ``socket.getaddrinfo`` and the other
  name-lookup and send events, appends the event to a marker file and raises.
  ``NetworkGuard.tripped()`` lists what was attempted (empty: nothing).
* ``AuthGate``: makes a ``fixtures.MirrorServer`` answer 401 to every request
  whose ``Authorization`` header is not one of the accepted values, and lets
  it redirect chosen paths.
* ``ForwardProxy``: a small HTTP forward proxy on 127.0.0.1 that takes
  absolute-form ``GET http://host:port/path`` requests, records them, and
  fetches from the origin with ``http.client`` (``hosts`` maps made-up host
  names such as ``qtmcp-test.invalid`` to 127.0.0.1); ``CONNECT host:port``
  opens a tunnel (https:// through the proxy), recorded as well.
* ``TlsMirrorServer``: a ``MirrorServer`` speaking HTTPS with the test
  certificate in ``tests/tls`` (valid for 127.0.0.1 and localhost).
* ``basic(user, password)``: the ``Authorization`` value for HTTP Basic.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import os
import socket
import ssl
import threading
import urllib.parse
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from fixtures import FALLTHROUGH, REPO, TESTS, MirrorServer, import_qtmcp  # noqa: F401 (import_qtmcp kept for callers)

TLS = TESTS / "tls"
CA_PEM = TLS / "ca.pem"
SERVER_PEM = TLS / "server.pem"
SERVER_KEY = TLS / "server.key"


# --------------------------------------------------------------------------
# A child Python that cannot open a network connection

_GUARDED_EVENTS = (
    "socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
    "socket.gethostbyaddr", "socket.getnameinfo", "socket.sendto", "socket.sendmsg",
)

_SITECUSTOMIZE = '''\
# Written by qtmcp's tests (tests/netfixtures.py): no network in this process.
import sys

_MARKER = %(marker)r
_EVENTS = frozenset(%(events)r)


def _qtmcp_tests_no_network(event, args):
    if event in _EVENTS:
        try:
            with open(_MARKER, "a", encoding="utf-8") as marker:
                marker.write("%%s %%r\\n" %% (event, args[:2] if event != "socket.connect" else args[1:]))
        except Exception:
            pass
        raise RuntimeError("qtmcp tests: %%s is forbidden in this process" %% event)


sys.addaudithook(_qtmcp_tests_no_network)
'''


class NetworkGuard:
    """Where the guard of one child writes what it caught."""

    def __init__(self, folder: Path, marker: Path, env: Dict[str, str]):
        self.folder = folder
        self.marker = marker
        self.env = env

    def tripped(self) -> List[str]:
        """The network events the child attempted (each one was refused)."""
        if not self.marker.exists():
            return []
        return [line for line in self.marker.read_text(encoding="utf-8").splitlines() if line]


def network_guard(env: Dict[str, str], folder: Union[str, Path]) -> NetworkGuard:
    """A copy of ``env`` whose Python children refuse every network event.

    ``python qtmcp.py`` cannot take ``-X`` options from a test, so the hook
    comes in through ``sitecustomize`` (imported by ``site`` at start-up, from
    the first folder on ``PYTHONPATH`` that has one).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "network-attempts.txt"
    (folder / "sitecustomize.py").write_text(
        _SITECUSTOMIZE % {"marker": str(marker), "events": _GUARDED_EVENTS}, encoding="utf-8")
    guarded = dict(env)
    old = guarded.get("PYTHONPATH", "")
    guarded["PYTHONPATH"] = str(folder) + (os.pathsep + old if old else "")
    return NetworkGuard(folder, marker, guarded)


# --------------------------------------------------------------------------
# Servers that want credentials

def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode("utf-8")).decode("ascii")


class AuthGate:
    """Every request to ``server`` must carry one of ``accepted`` as its
    ``Authorization`` header, else 401 (with a ``WWW-Authenticate``
    challenge). ``redirect(path, location)``: answer that path (once
    authorised) with a 302 to ``location``. ``open_paths``: paths served
    without credentials."""

    def __init__(self, server: MirrorServer, accepted: Iterable[str], scheme: str = "Basic"):
        self.server = server
        self.accepted = set(accepted)
        self.scheme = scheme
        self.redirects: Dict[str, str] = {}
        self.refused = 0
        self._lock = threading.Lock()
        server.route(lambda path: True, self)

    def redirect(self, path: str, location: str) -> None:
        self.redirects["/" + path.lstrip("/")] = location

    def __call__(self, req: Any) -> Any:
        if req.headers.get("Authorization") not in self.accepted:
            with self._lock:
                self.refused += 1
            req.send_body(b"authentication required\n", status=401,
                          headers={"WWW-Authenticate": '%s realm="qtmcp-test"' % self.scheme})
            return None
        location = self.redirects.get(req.url_path)
        if location is not None:
            req.send_body(b"", status=302, headers={"Location": location})
            return None
        return FALLTHROUGH


# --------------------------------------------------------------------------
# A forward proxy

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
               "trailers", "transfer-encoding", "upgrade", "proxy-connection", "content-length"}


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def do_GET(self) -> None:  # noqa: N802
        server: ForwardProxy = self.server  # type: ignore[assignment]
        headers = {k: v for k, v in self.headers.items()}
        server.record(self.command, self.path, headers)
        parts = urllib.parse.urlsplit(self.path)
        if parts.scheme != "http" or not parts.hostname:
            self._answer(400, [], b"this proxy takes absolute-form http:// requests only\n")
            return
        host = server.hosts.get(parts.hostname.lower(), parts.hostname)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        try:
            origin = http.client.HTTPConnection(host, parts.port or 80, timeout=30)
            forward = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            origin.request("GET", target, headers=forward)
            response = origin.getresponse()
            body = response.read()
            status, reason, got = response.status, response.reason, response.getheaders()
            origin.close()
        except OSError as error:
            self._answer(502, [], ("proxy: %s\n" % error).encode("utf-8"))
            return
        self._answer(status, [(k, v) for k, v in got if k.lower() not in _HOP_BY_HOP], body, reason)

    def do_CONNECT(self) -> None:  # noqa: N802
        """A tunnel (for https:// through the proxy): bytes both ways, unread."""
        server: ForwardProxy = self.server  # type: ignore[assignment]
        server.record(self.command, self.path, {k: v for k, v in self.headers.items()})
        host, _, port = self.path.rpartition(":")
        try:
            upstream = socket.create_connection((server.hosts.get(host.lower(), host), int(port)),
                                                timeout=30)
        except (OSError, ValueError) as error:
            self._answer(502, [], ("proxy: %s\n" % error).encode("utf-8"))
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        client = self.connection

        def pump(source: socket.socket, sink: socket.socket) -> None:
            try:
                while True:
                    data = source.recv(65536)
                    if not data:
                        break
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                for end in (sink, source):
                    try:
                        end.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        back.start()
        pump(client, upstream)
        back.join(30)
        upstream.close()
        self.close_connection = True

    def _answer(self, status: int, headers: List[Tuple[str, str]], body: bytes,
                reason: Optional[str] = None) -> None:
        self.send_response(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class ForwardProxy(http.server.ThreadingHTTPServer):
    """An HTTP forward proxy on 127.0.0.1. ``requests``: (method, target,
    headers) of every request it received, ``targets()``: just the targets.
    ``hosts``: host name -> address it connects to instead."""

    daemon_threads = True

    def __init__(self, hosts: Optional[Dict[str, str]] = None):
        self.hosts = {k.lower(): v for k, v in (hosts or {}).items()}
        self._lock = threading.Lock()
        self._requests: List[Tuple[str, str, Dict[str, str]]] = []
        self._thread: Optional[threading.Thread] = None
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.server_address[1]

    def record(self, method: str, target: str, headers: Dict[str, str]) -> None:
        with self._lock:
            self._requests.append((method, target, headers))

    @property
    def requests(self) -> List[Tuple[str, str, Dict[str, str]]]:
        with self._lock:
            return list(self._requests)

    def targets(self) -> List[str]:
        return [target for _, target, _ in self.requests]

    def start(self) -> "ForwardProxy":
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(10)
            self._thread = None
        self.server_close()


# --------------------------------------------------------------------------
# HTTPS

class TlsMirrorServer(MirrorServer):
    """A MirrorServer over TLS with tests/tls/server.pem (127.0.0.1, localhost).

    The handshake runs in the request's own thread, so a client that rejects
    the certificate (or never speaks) cannot stall the server.
    """

    def __init__(self, directory: Union[str, Path]):
        super().__init__(directory)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(SERVER_PEM), str(SERVER_KEY))
        self.handshake_failures: List[str] = []

    @property
    def url(self) -> str:
        return "https://127.0.0.1:%d" % self.port

    def get_request(self) -> Tuple[Any, Any]:
        sock, address = self.socket.accept()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(30)
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError) as error:
            self.handshake_failures.append(str(error))
            return
        super().finish_request(request, client_address)
