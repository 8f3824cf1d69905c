"""Packaging: the wheel and sdist flit_core builds, an install into a fresh
venv, and the module used vendored (copied alone)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from fixtures import HOST_OS, QTMCP, REPO, clean_env, run_qtmcp, text

needs_flit = pytest.mark.skipif(
    importlib.util.find_spec("flit_core") is None,
    reason="flit_core is not installed in this Python (pip install 'flit_core>=3.12,<4'); "
           "the tests build with its PEP 517 API and never download it")


def module_version() -> str:
    m = re.search(r'(?m)^__version__\s*=\s*["\']([^"\']+)["\']', QTMCP.read_text(encoding="utf-8"))
    assert m, "qtmcp.py has no __version__"
    return m.group(1)


def build(kind: str, out: Path) -> Path:
    """Build with flit_core's PEP 517 hook in a subprocess, from the repository root."""
    code = ("import sys, flit_core.buildapi as api; "
            "print(api.build_%s(sys.argv[1]))" % kind)
    cp = subprocess.run([sys.executable, "-c", code, str(out)], cwd=str(REPO),
                        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        timeout=120)
    assert cp.returncode == 0, text(cp.stderr)
    name = text(cp.stdout).strip().splitlines()[-1]
    return out / name


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build("wheel", tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    return build("sdist", tmp_path_factory.mktemp("sdist"))


@needs_flit
def test_wheel_holds_only_the_module_and_its_metadata(wheel):
    version = module_version()
    info = "qtmcp-%s.dist-info/" % version
    assert wheel.name == "qtmcp-%s-py3-none-any.whl" % version
    with zipfile.ZipFile(str(wheel)) as zf:
        names = set(zf.namelist())
        entry_points = zf.read(info + "entry_points.txt").decode()
        metadata = zf.read(info + "METADATA").decode()
        assert zf.read("qtmcp.py") == QTMCP.read_bytes()
    assert names == {"qtmcp.py", info + "METADATA", info + "WHEEL", info + "RECORD",
                     info + "entry_points.txt", info + "licenses/LICENSE"}
    assert re.search(r"(?m)^qtmcp\s*=\s*qtmcp:main\s*$", entry_points), entry_points
    assert re.search(r"(?m)^Version: %s$" % re.escape(version), metadata)
    assert re.search(r"(?m)^Requires-Python: >=3\.9$", metadata)
    assert not re.search(r"(?m)^Requires-Dist:", metadata), "qtmcp depends on nothing"


@needs_flit
def test_wheel_installs_into_a_fresh_venv_and_both_entry_points_print_the_version(
        wheel, tmp_path):
    venv = tmp_path / "venv"
    env = clean_env()
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PIP_FIND_LINKS", None)
    env.pop("PYTHONPATH", None)
    bindir = venv / ("Scripts" if HOST_OS == "windows" else "bin")
    python = bindir / ("python.exe" if HOST_OS == "windows" else "python")

    def sh(cmd, **kw):
        return subprocess.run([str(c) for c in cmd], env=env, cwd=str(tmp_path),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=180, **kw)

    # A venv without pip, filled by this Python's pip (--python, pip >= 22.3):
    # fast, and no index is ever asked.
    made = sh([sys.executable, "-m", "venv", "--without-pip", venv])
    assert made.returncode == 0, text(made.stderr)
    installed = sh([sys.executable, "-m", "pip", "--python", python, "install", "--no-index",
                    "--no-deps", wheel])
    if installed.returncode != 0 and "--python" in text(installed.stderr):
        shutil.rmtree(str(venv))  # an older pip: a venv with its own pip instead
        made = sh([sys.executable, "-m", "venv", venv])
        assert made.returncode == 0, text(made.stderr)
        installed = sh([python, "-m", "pip", "install", "--no-index", "--no-deps", wheel])
    assert installed.returncode == 0, text(installed.stdout) + text(installed.stderr)

    expected = "qtmcp %s" % module_version()
    script = bindir / ("qtmcp.exe" if HOST_OS == "windows" else "qtmcp")
    for cmd in ([script, "--version"], [python, "-m", "qtmcp", "--version"]):
        cp = sh(cmd)
        assert cp.returncode == 0, text(cp.stderr)
        assert text(cp.stdout).strip() == expected
        assert cp.stderr == b""
    where = sh([python, "-c", "import qtmcp; print(qtmcp.__file__)"])
    assert venv.resolve() in Path(text(where.stdout).strip()).resolve().parents


@needs_flit
def test_sdist_holds_the_module_the_project_files_and_the_tests_but_no_ci_or_git(sdist):
    version = module_version()
    top = "qtmcp-%s/" % version
    assert sdist.name == "qtmcp-%s.tar.gz" % version
    with tarfile.open(str(sdist)) as tf:
        names = [m.name for m in tf.getmembers()]
    assert all(n == top.rstrip("/") or n.startswith(top) for n in names), names
    inner = {n[len(top):] for n in names if n.startswith(top)}
    for needed in ("qtmcp.py", "pyproject.toml", "README.md", "LICENSE", "PKG-INFO",
                   "tests/conftest.py", "tests/fixtures.py", "tests/demo.py",
                   "tests/test_end_to_end.py", "tests/test_cli.py", "tests/test_packaging.py"):
        assert needed in inner, needed
    for name in inner:
        parts = name.split("/")
        assert not {".git", ".github", ".ci", "__pycache__"} & set(parts), name
        assert not name.endswith((".pyc", ".pyo")), name


def test_module_copied_alone_into_another_project_runs_there(tmp_path, stand_in):
    vendored = tmp_path / "someproject" / "tools" / "qtmcp.py"
    vendored.parent.mkdir(parents=True)
    shutil.copyfile(str(QTMCP), str(vendored))
    version = run_qtmcp(["--version"], module=vendored, cwd=tmp_path)
    assert version.returncode == 0 and text(version.stdout).startswith("qtmcp ")
    cp = run_qtmcp(["--launcher", str(stand_in), "--", "--print-args", "vendored"],
                   module=vendored, cwd=vendored.parent)
    assert cp.returncode == 0, text(cp.stderr)
    assert json.loads(cp.stdout) == ["--print-args", "vendored"]


def test_python_dash_m_qtmcp_runs_the_module(tmp_path):
    env = clean_env(cache_dir=tmp_path / "cache", home=tmp_path, release="vTEST")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]]
                                                       if env.get("PYTHONPATH") else []))
    cp = subprocess.run([sys.executable, "-m", "qtmcp", "--version"], env=env, cwd=str(tmp_path),
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert cp.returncode == 0, text(cp.stderr)
    assert text(cp.stdout).strip() == "qtmcp %s" % module_version()
