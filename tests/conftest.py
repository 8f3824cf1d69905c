"""pytest fixtures for qtmcp's tests.

Everything runs qtmcp as a subprocess (``python qtmcp.py ...``), as an MCP
client or a person would, against releases built on the fly and served from
127.0.0.1. No test touches the internet. The builders themselves live in
``tests/fixtures.py`` (plain Python, shared with ``tests/demo.py``); import
helpers from there::

    from fixtures import run_qtmcp, assert_error, Entry, BuildSpec, HOST_PLATFORM

Fixtures (all function-scoped unless said otherwise):

``cache_dir`` -> Path
    A fresh, not yet created, cache root for this test (``QTMCP_CACHE_DIR``).
``home_dir`` -> Path
    A fresh, empty home folder (``HOME``; also ``USERPROFILE`` and
    ``LOCALAPPDATA`` on Windows) so ``~/.netrc`` and default caches are the
    test's own.
``qtmcp_env`` -> dict
    The environment every qtmcp child gets by default: ``os.environ`` minus
    every ``QTMCP_*``, proxy (``*_proxy``, ``NO_PROXY``, any case), ``NETRC``,
    ``SSL_CERT_FILE``, ``SSL_CERT_DIR``, ``XDG_CACHE_HOME``, ``NO_COLOR``
    variable; plus ``QTMCP_CACHE_DIR=cache_dir``, ``HOME=home_dir`` and
    ``QTMCP_RELEASE=vTEST``. Changing this dict in a test changes what
    ``run_qtmcp(args)`` (with no ``env=``) passes; or pass
    ``env=dict(qtmcp_env, QTMCP_QT="6.8")`` for one call.
``http_server`` -> fixtures.MirrorServer
    A recording HTTP/1.1 server on 127.0.0.1 serving ``tmp_path/"www"``:
    ``.url``, ``.directory``, ``.requests``, ``.requests_for(path)``,
    ``.clear()``, ``.route(path, handler, times=None)`` with the
    ``respond_*`` behaviours of fixtures.py. Stopped at teardown.
``release`` -> ServedRelease
    The default release ``vTEST`` (Qt 6.8, 5.15-patched, 6.5 for this machine
    and 6.8 for other platforms; see ``fixtures.default_build_specs``) built
    into the server's folder: ``.url`` (``--mirror`` base over HTTP),
    ``.dir`` (the same base as a plain directory), ``.file_url`` (as a
    ``file://`` URL), ``.server``, ``.info`` (the ``fixtures.Release``) and
    every ``Release`` attribute (``.tag``, ``.builds``, ``.sums``,
    ``.sha256_of_sums``, ``.digests``, ``.host_build(qt)``,
    ``.set_digest(asset, hex)``, ``.write_sums(bytes)``...).
``make_release`` -> callable(tag="vTEST", builds=None, **kw) -> ServedRelease
    Build another release (other tag, custom or hostile builds) into the same
    served folder; same arguments as ``fixtures.build_release``.
``mirror_args`` -> list
    ``["--mirror", release.url]`` for the ``release`` fixture.
``app`` -> Path
    A file that is no program (``tmp_path/"apps"/"editor"``): an APP whose Qt
    version cannot be read.
``project`` -> Path
    An empty folder ``tmp_path/"project"`` (a client's project scope).
``stand_in`` -> Path
    A runnable stand-in launcher for this machine in ``tmp_path`` (for
    ``--launcher PATH``); no server needed.

Helpers re-exported here for convenience (defined in fixtures.py):
``QTMCP``, ``REPO``, ``HOST_PLATFORM``, ``run_qtmcp(args, *, env=None,
input=None, timeout=60, cwd=None, module=None)``, ``start_qtmcp``,
``mcp_session(proc)``, ``McpSession``, ``launcher_source()``,
``make_launcher_bytes(os_name, arch=None)``, ``Entry``,
``build_archive(path, members, kind)``, ``build_release(root, tag="vTEST",
builds=None, *, extra_files=None, top_folder=None)``,
``pinned_module(tmp_path, pins)``, ``tree_snapshot(root)``,
``files_under(root)``, ``cache_leftovers(cache_root)``,
``assert_error(cp, status, *needles)``, ``stderr_lines(cp)``, ``text(bytes)``,
``closed_port()``, ``encode_message(msg)``, ``write_launcher(path)``, the
server behaviours ``respond_status``, ``respond_redirect``, ``respond_bytes``,
``respond_truncated``, ``respond_stall``, ``respond_slow``, ``respond_reset``,
``respond_raw`` (raw bytes: malformed HTTP, endless or trickling heads) and
``FALLTHROUGH``; ``free_port()`` for servers started as other processes.

Example (a fault-injection test)::

    from fixtures import respond_status, run_qtmcp, text

    def test_a_503_is_retried(release):
        asset = "/vTEST/" + release.host_build("6.8").asset
        release.server.route(asset, respond_status(503), times=2)  # then the file
        cp = run_qtmcp(["--mirror", release.url, "--qt", "6.8", "fetch"])
        assert cp.returncode == 0, text(cp.stderr)
        assert len(release.server.requests_for(asset)) == 3
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fixtures  # noqa: E402
from fixtures import *  # noqa: E402,F401,F403  (re-exported for tests)
from fixtures import (  # noqa: E402
    MirrorServer,
    Release,
    build_release,
    clean_env,
    import_qtmcp,
    set_default_env,
    write_launcher,
)


class ServedRelease:
    """A ``fixtures.Release`` together with where it is served.

    ``url``: the HTTP mirror base; ``dir``: the plain-directory mirror base;
    ``file_url``: the ``file://`` form of ``dir``; ``server``: the
    MirrorServer; ``info``: the Release. Other attributes are the Release's.
    """

    def __init__(self, info: Release, server: MirrorServer):
        self.info = info
        self.server = server
        self.url = server.url
        self.dir = info.root
        self.file_url = info.root.resolve().as_uri()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.info, name)

    def __repr__(self) -> str:
        return "<ServedRelease %s at %s>" % (self.info.tag, self.url)


@pytest.fixture
def qtmcp_module() -> Any:
    """The module under test, imported in this process (fixtures.import_qtmcp)."""
    return import_qtmcp()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def home_dir(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def qtmcp_env(cache_dir: Path, home_dir: Path) -> Dict[str, str]:
    return clean_env(cache_dir=cache_dir, home=home_dir, release="vTEST")


@pytest.fixture(autouse=True)
def _default_qtmcp_env(qtmcp_env: Dict[str, str]) -> Iterator[None]:
    """Make this test's ``qtmcp_env`` what ``run_qtmcp``/``start_qtmcp`` use
    when called without ``env=``."""
    set_default_env(qtmcp_env)
    yield
    set_default_env(None)


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[MirrorServer]:
    """A recording HTTP server on 127.0.0.1 serving ``tmp_path/'www'``."""
    with MirrorServer(_fresh_dir(tmp_path / "www")) as server:
        yield server


@pytest.fixture
def second_server(tmp_path: Path) -> Iterator[MirrorServer]:
    """Another recording HTTP server on 127.0.0.1 (another origin: another port),
    serving ``tmp_path/'www2'``."""
    with MirrorServer(_fresh_dir(tmp_path / "www2")) as server:
        yield server


def _fresh_dir(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.fixture
def make_release(http_server: MirrorServer) -> Callable[..., ServedRelease]:
    def make(tag: str = "vTEST", builds: Any = None, **kwargs: Any) -> ServedRelease:
        return ServedRelease(build_release(http_server.directory, tag, builds, **kwargs),
                             http_server)
    return make


@pytest.fixture
def release(make_release: Callable[..., ServedRelease]) -> ServedRelease:
    return make_release()


@pytest.fixture
def mirror_args(release: ServedRelease) -> list:
    return ["--mirror", release.url]


@pytest.fixture
def stand_in(tmp_path: Path) -> Path:
    return write_launcher(tmp_path / "local-build" / fixtures.launcher_name(fixtures.HOST_OS))


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """An application path that is a file but no program (so no Qt version can be read from it)."""
    path = tmp_path / "apps" / "editor"
    path.parent.mkdir()
    path.write_bytes(b"not really a Qt program\n")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project folder (a client's project scope, a working folder)."""
    folder = tmp_path / "project"
    folder.mkdir()
    return folder
