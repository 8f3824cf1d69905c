"""Speed and memory of qtmcp's two paths (not part of the pytest run).

    python tests/bench.py            # both measurements
    python tests/bench.py cached     # the cached start only
    python tests/bench.py first      # the first start with a 100 MB archive only
    python tests/bench.py auto       # a cached start with --qt auto against one with --qt
    python tests/bench.py small      # the first start with 10,000 small files (on tmpfs)

Cached start: every form a user puts into a client (the installed console
script, the module from bytecode, the vendored file run as a script and
imported from bytecode, `uvx`, `pipx run`), from a warm cache, with a
launcher that exits at once (a copy of /bin/true), in interleaved runs; with
the floor (`python -S -c pass`) and the launcher run directly. pipx and uv
are installed into a temporary venv when missing: tools of the bench, not
dependencies of qtmcp. The wheel is built from this checkout.

Auto: the cached start (installed form) reading the Qt version from the
application (no --qt) against the same start with --qt, interleaved runs
(the machine's noise hits every variant alike), medians; and read_app() alone,
in-process, for an application with a private QtCore and one with the
system's (through /etc/ld.so.cache).

First start: `qtmcp fetch` of a 100 MB archive from a local HTTP server,
against `curl -o` + `sha256sum` + `tar xzf` on the same file; with the peak
memory (max RSS) of the qtmcp process.

POSIX only (it times processes with os.wait4).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures import HOST_PLATFORM, QTMCP, REPO, Entry, build_release, clean_env, serve  # noqa: E402

TAG = "vBENCH"


# Peak memory is read by a small fresh Python that forks the measured command:
# a child forked straight from this process would count this process's own
# memory (the 100 MB archive it built) in its max RSS.
PEAK_WRAPPER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write("peak-rss-kib %d\\n" % (usage.ru_maxrss // (1024 if sys.platform == "darwin" else 1)))
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)
"""


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one run of `argv`."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-S", "-c", PEAK_WRAPPER] + argv, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench: {argv[:4]}... exited {proc.returncode}: {proc.stderr[-500:]!r}")
    rss = int(proc.stderr.decode().rsplit("peak-rss-kib ", 1)[1].split()[0])
    return elapsed, rss


def spawned_ms(argv: list[str], env: dict[str, str]) -> float:
    """Wall milliseconds of one run of `argv`, started directly."""
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000


def median_ms(argv: list[str], env: dict[str, str], runs: int) -> float:
    spawned_ms(argv, env)  # warm-up
    return statistics.median(spawned_ms(argv, env) for _ in range(runs))


def tool_venv(work: Path) -> Path:
    """A venv holding the bench's tools (pipx, uv), installed from PyPI: not dependencies of qtmcp."""
    venv = work / "tools"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run(pip + ["pipx", "uv"], check=True)
    return venv / "bin"


def bench_cached(work: Path, runs: int = 30) -> None:
    """Every form a user puts into a client, from a warm cache, interleaved runs."""
    true = shutil.which("true") or "/bin/true"
    members = [Entry("qtmcp-launcher", Path(true).read_bytes(), 0o755)]
    release = build_release(work / "mirror", TAG, [_spec("6.8", members)])
    cache = work / "cache"
    env = clean_env(cache_dir=cache)
    env["QTMCP_RELEASE"] = TAG
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the installed forms run from cached bytecode
    for name in ("PIPX_HOME", "PIPX_BIN_DIR", "UV_CACHE_DIR", "UV_TOOL_DIR"):
        env[name] = str(work / name.lower())
    with serve(release.root) as server:
        subprocess.run([sys.executable, str(QTMCP), "--mirror", server.url, "--qt", "6.8", "fetch"],
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    launcher = release.host_build("6.8").launcher_path(cache, TAG)
    python = os.path.realpath(sys.executable)  # the real interpreter, not a shim
    vendored = work / "vendored"
    vendored.mkdir()
    shutil.copy(QTMCP, vendored / "qtmcp.py")
    wheels = work / "wheels"
    subprocess.run([python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)], check=True)
    wheel = str(next(wheels.glob("*.whl")))
    venv = work / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", wheel], check=True)
    tools = {name: shutil.which(name) for name in ("pipx", "uvx")}
    if not all(tools.values()):
        bin_dir = tool_venv(work)
        tools = {name: tools[name] or str(bin_dir / name) for name in tools}
    args = ["--qt", "6.8", "--", "an-argument"]
    from_bytecode = f"import sys; sys.path.insert(0, {str(vendored)!r}); import qtmcp; sys.exit(qtmcp.main())"
    venv_python = str(venv / "bin" / "python")  # a clean site: only qtmcp in its site-packages
    site_packages = str(next((venv / "lib").glob("python*/site-packages")))
    forms = {
        "python -S -c pass (the floor)": [python, "-S", "-c", "pass"],
        "the launcher alone": [str(launcher), "an-argument"],
        "venv python -c pass (a clean venv's site)": [venv_python, "-c", "pass"],
        "installed: qtmcp (pip's console script)": [str(venv / "bin" / "qtmcp")] + args,
        "installed, no wrapper: python -S -c 'import qtmcp; sys.exit(qtmcp.main())'":
            [venv_python, "-S", "-c", from_bytecode.replace(str(vendored), site_packages)] + args,
        "vendored: python qtmcp.py": [venv_python, str(vendored / "qtmcp.py")] + args,
        "vendored: python -S qtmcp.py": [venv_python, "-S", str(vendored / "qtmcp.py")] + args,
        "vendored from bytecode: python -c 'import sys; sys.path.insert(0, DIR); import qtmcp; ...'":
            [venv_python, "-c", from_bytecode] + args,
        "vendored from bytecode, python -S": [venv_python, "-S", "-c", from_bytecode] + args,
        "uvx --offline --from WHEEL qtmcp": [tools["uvx"], "--offline", "--from", wheel, "qtmcp"] + args,
        "pipx run --spec WHEEL qtmcp": [tools["pipx"], "run", "--spec", wheel, "qtmcp"] + args,
    }
    for argv in forms.values():  # warm-up: bytecode written, uv's and pipx's caches filled
        subprocess.run(argv, env=env, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    times: dict[str, list[float]] = {name: [] for name in forms}
    for _ in range(runs):
        for name, argv in forms.items():
            times[name].append(spawned_ms(argv, env))
    figures = {name: statistics.median(values) for name, values in times.items()}
    direct = figures["the launcher alone"]
    floor = figures["python -S -c pass (the floor)"]
    print(f"cached start, launcher `exit 0`, median of {runs} interleaved runs "
          f"({HOST_PLATFORM}, Python {sys.version.split()[0]}):")
    print("      ms   over the launcher   over floor+launcher   form")
    for name, value in figures.items():
        print(f"  {value:7.1f}   {value - direct:+8.1f}          {value - direct - floor:+8.1f}          {name}")


def bench_auto(work: Path, rounds: int = 150) -> None:
    import binaries

    true = shutil.which("true") or "/bin/true"
    members = [Entry("qtmcp-launcher", Path(true).read_bytes(), 0o755)]
    release = build_release(work / "mirror", TAG, [_spec("6.2", members), _spec("6.5", members)])
    cache = work / "cache"
    env = clean_env(cache_dir=cache)
    env["QTMCP_RELEASE"] = TAG
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    private, _ = binaries.host_qt_app(work / "private", "6.7.2")  # RUNPATH $ORIGIN/../lib, Qt 6.7.2
    system = binaries.write(work / "system" / "editor", binaries.elf(needed=["libQt6Core.so.6", "libc.so.6"]))
    installed = [sys.executable, "-S", "-c",
                 f"import sys; sys.path.insert(0, {str(REPO)!r}); import qtmcp; sys.exit(qtmcp.main())"]
    with serve(release.root) as server:
        for app in (private, system):
            subprocess.run(installed + ["--mirror", server.url, "fetch", str(app)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(installed + ["--mirror", server.url, "--qt", "6.5", "fetch"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    variants = {
        "--qt 6.5 -- an-argument (no application)": ["--qt", "6.5", "--", "an-argument"],
        "--qt 6.5 -- APP (read for warnings)": ["--qt", "6.5", "--", str(private)],
        "-- APP (auto, private QtCore via $ORIGIN)": ["--", str(private)],
    }
    if sys.platform.startswith("linux"):
        variants["-- SYSAPP (auto, system QtCore via ld.so.cache)"] = ["--", str(system)]
    quiet_env = dict(env, QTMCP_QUIET="1")
    for args in variants.values():
        spawned_ms(installed + args, quiet_env)  # warm-up, and proof that each variant starts
    times: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(rounds):
        names = list(variants)
        names = names[round_ % len(names):] + names[: round_ % len(names)]  # rotate the order
        for name in names:
            times[name].append(spawned_ms(installed + variants[name], quiet_env))
    print(f"cached start with auto, installed form, median of {rounds} interleaved runs "
          f"({HOST_PLATFORM}, Python {sys.version.split()[0]}):")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"  {value:7.2f} ms  {name}")
    names = list(medians)
    print(f"  auto adds {medians[names[2]] - medians[names[0]]:.2f} ms over --qt without an application, "
          f"{medians[names[2]] - medians[names[1]]:.2f} ms over --qt with it")
    sys.path.insert(0, str(REPO))
    import qtmcp

    for label, app in (("private QtCore", private), ("system QtCore", system)):
        try:
            qtmcp.read_app(str(app), os.environ)
        except qtmcp.UsageError as error:
            print(f"  read_app ({label}): {error}")
            continue
        samples = []
        for _ in range(300):
            start = time.perf_counter()
            qtmcp.read_app(str(app), os.environ)
            samples.append((time.perf_counter() - start) * 1000)
        print(f"  {statistics.median(samples):7.3f} ms  read_app() in-process, {label} (median of 300)")


def bench_first(work: Path, runs: int = 3, files: int = 0) -> None:
    """One archive of 100 MiB of random bytes, or (`files`) of that many small text files."""
    members = [Entry("qtmcp-launcher", b"#!/bin/sh\nexit 0\n", 0o755)]
    if files:
        words = [os.urandom(6).hex() for _ in range(500)]
        members += [Entry(f"qml/Module{n // 100}/File{n}.qml", " ".join(words[(n + k) % 500] for k in range(40)).encode())
                    for n in range(files - 1)]
    else:
        members.append(Entry("payload.bin", os.urandom(100 * 1024 * 1024)))
    release = build_release(work / "mirror", TAG, [_spec("6.8", members)])
    build = release.host_build("6.8")
    qtmcp_times, tool_times, peaks = [], [], []
    with serve(release.root) as server:
        url = f"{server.url}/{TAG}/{build.asset}"
        for run in range(runs):
            cache = work / f"cache{run}"
            env = clean_env(cache_dir=cache)
            env["QTMCP_RELEASE"] = TAG
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            installed = f"import sys; sys.path.insert(0, {str(REPO)!r}); import qtmcp; sys.exit(qtmcp.main())"
            seconds, peak = timed([sys.executable, "-c", installed, "--mirror", server.url, "--qt", "6.8", "fetch"], env)
            qtmcp_times.append(seconds)
            peaks.append(peak)
            shutil.rmtree(cache)
            target = work / f"tools{run}"
            target.mkdir()
            script = (f"curl -sf -o {target}/a.tar.gz {url} && sha256sum {target}/a.tar.gz >/dev/null "
                      f"&& mkdir {target}/x && tar xzf {target}/a.tar.gz -C {target}/x")
            tool_times.append(timed(["sh", "-c", script], env)[0])
            shutil.rmtree(target)
    ours, theirs = statistics.median(qtmcp_times), statistics.median(tool_times)
    what = f"{files} small files" if files else "100 MiB of random bytes"
    print(f"first start, {what} ({build.size / 2**20:.1f} MiB tar.gz), median of {runs} runs:")
    print(f"  {ours:6.2f} s  qtmcp fetch (download, verify, unpack, manifest, rename)")
    print(f"  {theirs:6.2f} s  curl -o + sha256sum + tar xzf")
    print(f"  ratio {ours / theirs:.2f}x; qtmcp's peak memory (max RSS) {max(peaks) / 1024:.1f} MiB")


def _spec(qt: str, members: list[Entry]):  # type: ignore[no-untyped-def]
    from fixtures import BuildSpec

    return BuildSpec(qt, HOST_PLATFORM, members=members)


def main() -> int:
    if os.name != "posix":
        print("bench.py times processes with os.wait4: POSIX only")
        return 1
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    with tempfile.TemporaryDirectory(prefix="qtmcp-bench-") as tmp:
        if which in ("all", "cached"):
            bench_cached(Path(tmp) / "cached")
        if which in ("all", "auto"):
            bench_auto(Path(tmp) / "auto")
        if which in ("all", "first"):
            bench_first(Path(tmp) / "first")
        if which in ("all", "small"):  # on tmpfs where there is one: a disk's discard on delete is no measure
            shm = Path("/dev/shm")
            with tempfile.TemporaryDirectory(prefix="qtmcp-bench-", dir=str(shm) if shm.is_dir() else None) as small:
                bench_first(Path(small) / "small", runs=3, files=10_000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
