"""Speed and memory of qtmcp's two paths (not part of the pytest run).

    python tests/bench.py            # both measurements
    python tests/bench.py cached     # the cached start only
    python tests/bench.py first      # the first start with a 100 MB archive only
    python tests/bench.py auto       # a cached start with --qt auto against one with --qt

Cached start: `qtmcp ... -- ARGS` whose launcher exits at once (a copy of
/bin/true), against running that launcher directly; installed form (the module
imported from cached bytecode, as a console script does) and vendored form
(`python qtmcp.py`, compiled at every start), both with `python -S` so that
site-packages' start-up hooks do not hide qtmcp's own cost.

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


def bench_cached(work: Path, runs: int = 40) -> None:
    true = shutil.which("true") or "/bin/true"
    members = [Entry("qtmcp-launcher", Path(true).read_bytes(), 0o755)]
    release = build_release(work / "mirror", TAG, [_spec("6.8", members)])
    cache = work / "cache"
    env = clean_env(cache_dir=cache)
    env["QTMCP_RELEASE"] = TAG
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the installed form runs from cached bytecode
    with serve(release.root) as server:
        subprocess.run([sys.executable, str(QTMCP), "--mirror", server.url, "--qt", "6.8", "fetch"],
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    launcher = release.host_build("6.8").launcher_path(cache, TAG)
    vendored = work / "vendored" / "qtmcp.py"
    vendored.parent.mkdir()
    shutil.copy(QTMCP, vendored)
    qt_args = ["--qt", "6.8", "--", "an-argument"]
    installed = [sys.executable, "-S", "-c",
                 f"import sys; sys.path.insert(0, {str(REPO)!r}); import qtmcp; sys.exit(qtmcp.main())"]
    subprocess.run(installed + qt_args, env=env, check=True)  # writes __pycache__ (cached bytecode)
    figures = {
        "python -S -c pass (floor)": median_ms([sys.executable, "-S", "-c", "pass"], env, runs),
        "launcher directly": median_ms([str(launcher), "an-argument"], env, runs),
        "installed: python -S -c 'import qtmcp; qtmcp.main()' --qt 6.8 -- ARGS":
            median_ms(installed + qt_args, env, runs),
        "vendored: python -S qtmcp.py --qt 6.8 -- ARGS":
            median_ms([sys.executable, "-S", str(vendored)] + qt_args, env, runs),
    }
    print(f"cached start, median of {runs} runs ({HOST_PLATFORM}, Python {sys.version.split()[0]}):")
    for name, value in figures.items():
        print(f"  {value:7.1f} ms  {name}")
    direct = figures["launcher directly"]
    for form in ("installed", "vendored"):
        value = next(v for k, v in figures.items() if k.startswith(form))
        print(f"  {form}: qtmcp adds {value - direct:.1f} ms to the launcher's own start")


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


def bench_first(work: Path, runs: int = 3) -> None:
    size = 100 * 1024 * 1024
    members = [Entry("qtmcp-launcher", b"#!/bin/sh\nexit 0\n", 0o755),
               Entry("payload.bin", os.urandom(size))]
    release = build_release(work / "mirror", TAG, [_spec("6.8", members)])
    build = release.host_build("6.8")
    qtmcp_times, tool_times, peaks = [], [], []
    with serve(release.root) as server:
        url = f"{server.url}/{TAG}/{build.asset}"
        for run in range(runs):
            cache = work / f"cache{run}"
            env = clean_env(cache_dir=cache)
            env["QTMCP_RELEASE"] = TAG
            seconds, peak = timed([sys.executable, str(QTMCP), "--mirror", server.url, "--qt", "6.8", "fetch"], env)
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
    print(f"first start, 100 MiB archive ({build.size / 2**20:.0f} MiB tar.gz), median of {runs} runs:")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
