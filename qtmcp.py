"""Fetch, verify and start the native QtMcp launcher: an MCP server for Qt apps.

QtMcp lets an AI assistant inspect and drive a Qt desktop application: a native
launcher injects a probe library into the application and speaks the Model
Context Protocol (MCP) over stdio. This module is the Python side. Put it into
an MCP client's configuration as the server command:

    pipx run qtmcp --qt 6.8 -- /path/to/app [APP_ARGS...]

and it picks the native build for this machine and Qt version, fetches it from
the project's release (or an organisation's mirror, a directory, an archive
carried in by hand), checks its SHA-256, unpacks it into a per-user cache and
replaces itself with the launcher, so that the MCP stream flows between the
client and the launcher unchanged. Later starts come from the cache.

It is one file that needs nothing but the Python standard library (3.9+): it
runs installed (`qtmcp`, `python -m qtmcp`) or vendored (`python qtmcp.py`).
Run `qtmcp --help` for the commands, options and exit statuses.
"""

from __future__ import annotations

__version__ = "0.3.0.dev0"

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # names for type hints only: typing is not imported at run time
    from typing import BinaryIO

# Only os and sys are imported here: a cached start needs nothing else. The
# heavier modules (urllib, ssl, json, hashlib, zipfile, tarfile, ...) are
# imported inside the functions that use them.

# Constants ###################################################################

PROJECT_URL = "https://github.com/ssss2art/QtMcp"
DEFAULT_BASE = PROJECT_URL + "/releases/download"
USER_AGENT = "qtmcp/" + __version__

# The SHA-256 of each known release's SHA256SUMS file. A pinned release's index
# must match its pin wherever it comes from, mirrors included. Every published
# version carries the pin of its own release (see README, "Releasing").
RELEASE_PINS: dict[str, str] = {
}

COMMANDS = ("run", "fetch", "list", "mirror", "install", "cache", "verify")
OS_NAMES = ("linux", "windows", "macos")
ARCH_NAMES = ("x64", "x86", "arm64")
ARCHIVE_KINDS = ("tar.gz", "zip")
NATIVE_KIND = {"linux": "tar.gz", "windows": "zip", "macos": "zip"}
PROBE_SUFFIX = {"linux": ".so", "windows": ".dll", "macos": ".dylib"}

SUMS_NAME = "SHA256SUMS"
SUMS_MAX_BYTES = 1024 * 1024
MANIFEST_NAME = "manifest.json"
BUILD_DIR = "build"
INDEX_LOCK = ".index.lock"  # held while the cache's copy of a SHA256SUMS is written
INDEX_WORK = ".tmp-index~"  # the temporary files of that copy
TAG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")
TAG_MAX = 128

DEFAULT_TIMEOUT = 30.0  # seconds a connection may send nothing
MAX_ATTEMPTS = 4  # per file
RETRY_BUDGET = 30.0  # seconds of waiting between attempts, in all
MAX_REDIRECTS = 10
LOCK_TIMEOUT = 900.0  # seconds to wait for another qtmcp installing the same build
CHUNK = 1024 * 1024

MAX_UNPACKED = 2 * 1024**3  # bytes unpacked from one archive, in all
RATIO_GRACE = 1024 * 1024  # bytes unpacked before the ratio limit applies
MAX_RATIO = 100  # bytes unpacked per byte of archive
NAME_PART_MAX = 255  # bytes in one part of a member name
NAME_MAX = 1024  # bytes in a whole member name
TAR_HEADER_MAX = 1024 * 1024  # bytes of tar headers (pax, GNU long names) before one member
INFLATE_INPUT = 256 * 1024  # compressed bytes of a tar.gz read at a time
MAX_ENTRIES = 200_000  # entries in one archive (files, folders, links)
MAX_DOWNLOAD = MAX_UNPACKED  # bytes of one downloaded file
WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [p + d for p in ("COM", "LPT") for d in "123456789\u00b9\u00b2\u00b3"]
)
WINDOWS_BAD_CHARS = frozenset('<>:"|?*') | frozenset(chr(c) for c in range(32))

SWITCH_TRUE = ("1", "true", "yes", "on")
SWITCH_FALSE = ("0", "false", "no", "off")

# Errors and exit statuses ####################################################


class QtmcpError(Exception):
    """A failure reported as one line on stderr; `status` is the exit status."""

    status = 1


class UsageError(QtmcpError):
    """Unknown option, bad or missing Qt version, platform, tag or argument."""

    status = 2


class NoBuildError(QtmcpError):
    """The release has no archive for this Qt version and platform."""

    status = 3


class SourceError(QtmcpError):
    """Network, HTTP, TLS, mirror, malformed SHA256SUMS, file missing offline."""

    status = 4


class IntegrityError(QtmcpError):
    """A digest did not match, or there is none to check against."""

    status = 5


class ArchiveError(QtmcpError):
    """The archive is unreadable or holds something qtmcp refuses."""

    status = 6


class LocalError(QtmcpError):
    """Cache not writable, disk full, path too long, launcher not startable."""

    status = 7


class MissingError(SourceError):
    """No base has the file (the caller may have another way, like --sha256)."""


class NotFoundAtBase(Exception):
    """A base does not have a file (404, 401, 403, no such file): try the next."""


class TransientError(Exception):
    """An attempt failed in a way that another attempt may not (retried)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


EXIT_STATUSES = (
    (0, "success (in run: the launcher's own status is passed on)"),
    (2, "usage error: unknown option, bad or missing Qt version, platform, tag or argument"),
    (3, "no build: the release has no archive for this Qt version and platform"),
    (4, "source error: network, HTTP, TLS, mirror, malformed SHA256SUMS, file missing offline"),
    (5, "integrity error: a digest did not match, or there is none to check against"),
    (6, "bad archive: unreadable, or holds something unsafe (see README)"),
    (7, "local error: cache not writable, disk full, path too long, launcher not startable"),
)

# Versions, platforms and asset names (pure) ##################################


def normalize_qt(text: str) -> str:
    """The build's Qt version for `text`: '6.8.2' -> '6.8', '5.15-patched' stays.

    Raises UsageError for anything that is not major.minor[.patch][-patched].
    """
    base, dash, suffix = text.strip().partition("-")
    parts = base.split(".")
    ok = (
        (not dash or suffix == "patched")
        and len(parts) in (2, 3)
        and all(p.isdigit() and p.isascii() and len(p) <= 4 for p in parts)
    )
    if not ok:
        raise UsageError(
            f"bad Qt version {text!r}: expected MAJOR.MINOR like 6.8, 6.8.2 or 5.15-patched"
        )
    return f"{int(parts[0])}.{int(parts[1])}" + ("-patched" if dash else "")


def check_tag(tag: str) -> str:
    """`tag` itself if it is a valid release tag, else UsageError."""
    if not (
        0 < len(tag) <= TAG_MAX and tag[0].isalnum() and tag[0].isascii() and set(tag) <= TAG_CHARS
    ):
        raise UsageError(
            f"bad release tag {tag!r}: use letters, digits and ._+- starting with a letter or digit"
        )
    return tag


def parse_platform(text: str) -> tuple[str, str]:
    """('windows', 'x86') for 'windows-x86'; UsageError for an unknown one."""
    os_name, _, arch = text.strip().lower().partition("-")
    if os_name not in OS_NAMES or arch not in ARCH_NAMES:
        raise UsageError(
            f"bad platform {text!r}: expected OS-ARCH with OS one of "
            f"{', '.join(OS_NAMES)} and ARCH one of {', '.join(ARCH_NAMES)}"
        )
    return os_name, arch


def platform_name(platform: tuple[str, str]) -> str:
    return f"{platform[0]}-{platform[1]}"


def asset_stem(qt: str, platform: tuple[str, str]) -> str:
    """'qtmcp-qt6.8-linux' (linux x64 has no arch) or 'qtmcp-qt6.8-windows-x64'."""
    os_name, arch = platform
    if (os_name, arch) == ("linux", "x64"):
        return f"qtmcp-qt{qt}-linux"
    return f"qtmcp-qt{qt}-{os_name}-{arch}"


def asset_names(qt: str, platform: tuple[str, str]) -> list[str]:
    """The asset names of a build, the OS's own archive kind first."""
    stem = asset_stem(qt, platform)
    native = NATIVE_KIND[platform[0]]
    return [f"{stem}.{kind}" for kind in (native,) + tuple(k for k in ARCHIVE_KINDS if k != native)]


def parse_asset_name(name: str) -> tuple[str, tuple[str, str], str] | None:
    """(qt, platform, kind) of an asset name, or None if it is not one."""
    kind = next((k for k in ARCHIVE_KINDS if name.endswith("." + k)), None)
    if kind is None or not name.startswith("qtmcp-qt"):
        return None
    words = name[len("qtmcp-qt") : -len(kind) - 1].split("-")
    qt, rest = words[0], words[1:]
    if rest[:1] == ["patched"]:
        qt, rest = qt + "-patched", rest[1:]
    if rest == ["linux"]:
        rest = ["linux", "x64"]
    try:
        if len(rest) != 2 or normalize_qt(qt) != qt:
            return None
        platform = parse_platform("-".join(rest))
    except UsageError:
        return None
    if f"{asset_stem(qt, platform)}.{kind}" != name:
        return None  # not the canonical spelling (case, 'linux-x64')
    return qt, platform, kind


def build_key(qt: str, platform: tuple[str, str]) -> str:
    """The cache's name of a build: 'qt6.8-linux-x64' (always with the CPU)."""
    return f"qt{qt}-{platform_name(platform)}"


def launcher_name(os_name: str) -> str:
    return "qtmcp-launcher.exe" if os_name == "windows" else "qtmcp-launcher"


def is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def parse_sums(data: bytes, where: str) -> dict[str, str]:
    """{asset name: lowercase hex digest} from a SHA256SUMS file (GNU format).

    Raises SourceError (naming `where`) if it is not such a file.
    """
    if len(data) > SUMS_MAX_BYTES:
        raise SourceError(f"{SUMS_NAME} from {where} is over 1 MiB: not a release index")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceError(f"{SUMS_NAME} from {where} is not UTF-8 text: not a release index") from None
    sums: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), 1):
        line = line[:-1] if line.endswith("\r") else line
        if not line.strip():
            continue
        digest, name = line[:64].lower(), line[66:]
        if not (is_sha256(digest) and line[64:66] in ("  ", " *") and name and name == name.strip()):
            raise SourceError(
                f"malformed line {number} in {SUMS_NAME} from {where}: expected '<sha256>  <file name>'"
            )
        if sums.get(name, digest) != digest:
            raise SourceError(f"{SUMS_NAME} from {where} lists {name} twice with different digests")
        sums[name] = digest
    return sums


def choose_asset(sums: dict[str, str], qt: str, platform: tuple[str, str], release: str) -> str:
    """The asset of the build in the release's index; NoBuildError naming the offers."""
    for name in asset_names(qt, platform):
        if name in sums:
            return name
    builds = [b for b in (parse_asset_name(n) for n in sums) if b]
    same_platform = sorted({b[0] for b in builds if b[1] == platform})
    same_qt = sorted({platform_name(b[1]) for b in builds if b[0] == qt})
    offers = []
    if same_platform:
        offers.append(f"for {platform_name(platform)}: Qt {', '.join(same_platform)}")
    if same_qt:
        offers.append(f"for Qt {qt}: {', '.join(same_qt)}")
    offered = "; ".join(offers) if offers else "nothing for this Qt version or platform"
    raise NoBuildError(
        f"release {release} has no build for Qt {qt} on {platform_name(platform)} "
        f"(it offers {offered}); choose another --qt or --release"
    )


def offered_versions(sums: dict[str, str]) -> list[str]:
    return sorted({b[0] for b in (parse_asset_name(n) for n in sums) if b})


def mask_url(url: str) -> str:
    """`url` with any user and password replaced by '***'.

    Everything up to the last '@' before the query is masked, so that a
    password holding '/' is masked too.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    head = rest.split("?", 1)[0].split("#", 1)[0]
    if "@" not in head:
        return url
    return f"{scheme}{sep}***@{rest[head.rindex('@') + 1:]}"


def url_origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of an http(s) URL, the port made explicit."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def base_kind(base: str) -> str:
    """'http' for http(s) URLs, 'local' for file:// URLs and paths."""
    lowered = base.lower()
    if lowered.startswith(("http://", "https://")):
        return "http"
    return "local"


def local_base_path(base: str) -> str:
    """The directory a file:// URL or a plain path names."""
    if base.lower().startswith("file:"):
        from urllib.request import url2pathname
        from urllib.parse import urlsplit

        parts = urlsplit(base)
        path = url2pathname(parts.path)
        if parts.netloc and parts.netloc.lower() != "localhost":
            path = "\\\\" + parts.netloc + path if os.name == "nt" else "//" + parts.netloc + path
        return path
    return os.path.expanduser(base)


def base_file_location(base: str, tag: str, name: str) -> str:
    """Where `name` of release `tag` is under `base`: a URL or a local path."""
    if base_kind(base) == "http":
        from urllib.parse import quote

        return f"{without_login(base).rstrip('/')}/{quote(tag)}/{quote(name)}"
    return os.path.join(local_base_path(base), tag, name)


# Archive member names (pure) #################################################


def member_parts(name: str, is_dir: bool, windows: bool) -> list[str]:
    """The checked parts of an archive member's name ([] is the root folder).

    Raises ArchiveError for a name the contract refuses.
    """
    def refuse(reason: str) -> ArchiveError:
        return ArchiveError(f"unsafe entry {name!r} in archive: {reason}")

    if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
        raise refuse(f"name over {NAME_MAX} bytes")
    if name in ("", "/"):
        raise refuse("empty name")
    if "\\" in name or "\x00" in name:
        raise refuse("backslash or NUL in name")
    if name.startswith("/"):
        raise refuse("absolute path")
    if len(name) >= 2 and name[1] == ":":
        raise refuse("drive letter")
    words = name.split("/")
    if is_dir and len(words) > 1 and words[-1] == "":
        words.pop()  # the trailing slash of a folder
    parts = []
    for part in words:
        if part == "":
            raise refuse("empty part in name")
        if part == ".":
            continue
        if part == "..":
            raise refuse("'..' climbs out of the build")
        if len(part.encode("utf-8", "surrogateescape")) > NAME_PART_MAX:
            raise refuse(f"a part of the name is over {NAME_PART_MAX} bytes")
        if windows:
            stem = part.split(".")[0].rstrip(" ").upper()
            if stem in WINDOWS_RESERVED or set(part) & WINDOWS_BAD_CHARS or part[-1] in ". ":
                raise refuse("a name Windows cannot hold, in a build for Windows")
        parts.append(part)
    if not parts and not is_dir:
        raise refuse("a file or link named '.'")
    return parts


def link_target_parts(link_parts: list[str], target: str) -> list[str]:
    """The parts, from the build's root, that a symbolic link's target names.

    A target must be relative, may start with '..' parts and then only name
    folders and files downwards: so it cannot leave the build even through
    another link. Raises ArchiveError otherwise.
    """
    def refuse(reason: str) -> ArchiveError:
        return ArchiveError(f"unsafe link {'/'.join(link_parts)!r} -> {target!r} in archive: {reason}")

    if not target or target.startswith("/") or "\\" in target or "\x00" in target:
        raise refuse("absolute or malformed target")
    if len(target) >= 2 and target[1] == ":":
        raise refuse("drive letter")
    if len(target.encode("utf-8", "surrogateescape")) > NAME_MAX:
        raise refuse(f"target over {NAME_MAX} bytes")
    ups, names = target_words(target)
    if ".." in names:
        raise refuse("'..' after a name")
    parent = link_parts[:-1]
    if ups > len(parent):
        raise refuse("leads out of the build")
    return parent[: len(parent) - ups] + names


def target_words(target: str) -> tuple[int, list[str]]:
    """(number of leading '..', the names after them) of a link target."""
    words = [w for w in target.split("/") if w not in ("", ".")]
    ups = 0
    while ups < len(words) and words[ups] == "..":
        ups += 1
    return ups, words[ups:]


def collision_key(parts: list[str]) -> str:
    """A name as a case-insensitive, normalization-insensitive file system sees it."""
    import unicodedata

    text = "/".join(parts)
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


# The command line (pure) #####################################################


class Option:
    """One option: its attribute, whether it takes a value, where it belongs."""

    def __init__(self, dest: str, takes_value: bool, commands: tuple[str, ...] = (), env: str = ""):
        self.dest = dest
        self.takes_value = takes_value
        self.commands = commands  # () for every command
        self.env = env


OPTIONS = {
    "--qt": Option("qt", True, env="QTMCP_QT"),
    "--release": Option("release", True, env="QTMCP_RELEASE"),
    "--mirror": Option("mirror", True, env="QTMCP_MIRROR"),
    "--cache-dir": Option("cache_dir", True, env="QTMCP_CACHE_DIR"),
    "--offline": Option("offline", False, env="QTMCP_OFFLINE"),
    "--platform": Option("platform", True, env="QTMCP_PLATFORM"),
    "--refresh": Option("refresh", False),
    "--sha256": Option("sha256", True),
    "--launcher": Option("launcher", True, env="QTMCP_LAUNCHER"),
    "--timeout": Option("timeout", True, env="QTMCP_TIMEOUT"),
    "--quiet": Option("quiet", False, env="QTMCP_QUIET"),
    "--json": Option("json", False, ("list", "cache")),
    "--all": Option("all", False, ("cache",)),
    "--sums": Option("sums", True, ("install",)),
    "--repair": Option("repair", False, ("verify",)),
    "--help": Option("help", False),
    "-h": Option("help", False),
    "--version": Option("version", False),
}
REPEATABLE = ("qt", "mirror", "platform")

HELP = """\
usage: qtmcp [COMMAND] [OPTIONS] [--] [LAUNCHER_ARGS...]

Fetch, verify and start the native QtMcp launcher (an MCP stdio server that
drives Qt applications). In an MCP client's configuration:

    pipx run qtmcp --qt 6.8 -- /path/to/app [APP_ARGS...]

qtmcp reads its options up to the first argument that is not an option; that
argument picks a command if it is one, otherwise it and everything after it go
to the launcher unchanged. '--' ends qtmcp's options.

commands:
  run [--] ARGS...        install the build if needed, start the launcher with ARGS
                          (the default command; exit status is the launcher's)
  fetch                   install the build if needed, print the launcher's path
  list [--json]           the builds the release has, which fits, which are cached
  mirror DEST             copy the release (all builds, or --qt/--platform ones)
                          with its SHA256SUMS into DEST/<tag>/, verified
  install ARCHIVE         install an archive carried in by hand (no connection);
      [--sums FILE]       digest from a SHA256SUMS beside it, --sums or --sha256
  cache dir|list|clean    where the cache is; what it holds (list --json); clean:
      [--json] [--all]    other releases and dead runs' leftovers (--all: everything)
  verify [--repair]       re-hash installed files against their manifests

options (flags win over the environment):
  --qt VERSION        QTMCP_QT         Qt version of the app: 6.8, 6.8.2, 5.15-patched
  --release TAG       QTMCP_RELEASE    release to use (default: v + qtmcp's version)
  --mirror BASE       QTMCP_MIRROR     http(s) URL, file:// URL or directory used
                                       instead of the default (repeat, or separate
                                       by spaces in the variable, to try in order)
  --cache-dir DIR     QTMCP_CACHE_DIR  cache root (now: {cache})
  --offline           QTMCP_OFFLINE    open no network connection
  --platform OS-ARCH  QTMCP_PLATFORM   another machine's build (run: another CPU only)
  --refresh                            re-read SHA256SUMS, reinstall if the build changed
  --sha256 HEX                         the archive's expected SHA-256
  --launcher PATH     QTMCP_LAUNCHER   run this launcher instead of a downloaded one
  --timeout SECONDS   QTMCP_TIMEOUT    give up on a connection silent this long
                                       (default 30); a file is tried at most 4
                                       times, with 30 s of waiting in all
  --quiet             QTMCP_QUIET      only errors on stderr
  --version, --help

environment:
  QTMCP_LOG           a file that also gets qtmcp's messages, with times
  QTMCP_MIRROR_TOKEN  sent as 'Authorization: Bearer' to the mirrors' origins
  QTMCP_DEBUG         show a traceback with errors
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY, SSL_CERT_FILE, SSL_CERT_DIR, NETRC,
  XDG_CACHE_HOME keep their usual meaning. Switches take 1/true/yes/on or
  0/false/no/off.

exit statuses:
{statuses}

docs: https://github.com/ssss2art/QtMcp
"""


class Settings:
    """Everything one invocation was asked to do, from its arguments and environment."""

    def __init__(self) -> None:
        self.command = "run"
        self.qt: list[str] = []
        self.release = ""
        self.mirror: list[str] = []
        self.cache_dir = ""
        self.offline = False
        self.platform: list[str] = []
        self.refresh = False
        self.sha256 = ""
        self.launcher = ""
        self.timeout = DEFAULT_TIMEOUT
        self.quiet = False
        self.json = False
        self.all = False
        self.sums = ""
        self.repair = False
        self.help = False
        self.version = False
        self.positionals: list[str] = []
        self.launcher_args: list[str] = []
        self.log = ""
        self.debug = False
        self.token = ""


def split_command_line(argv: list[str]) -> tuple[str, dict[str, list[str]], list[str], list[str]]:
    """(command, {dest: values}, command arguments, launcher arguments) of `argv`."""
    command = ""
    given: dict[str, list[str]] = {}
    positionals: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":
            return command or "run", given, positionals, argv[index:]
        if arg.startswith("-") and arg != "-":
            name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
            option = OPTIONS.get(name)
            if option is None or (option.commands and (command or "run") not in option.commands):
                where = f" for '{command or 'run'}'" if option else ""
                hint = "put the launcher's own options after '--'; " if (command or "run") == "run" else ""
                raise UsageError(f"unknown option {name}{where}; {hint}see qtmcp --help")
            if option.takes_value and not eq:
                if index == len(argv):
                    raise UsageError(f"option {name} needs a value")
                value, index = argv[index], index + 1
            elif not option.takes_value and eq:
                raise UsageError(f"option {name} takes no value")
            given.setdefault(option.dest, []).append(value)
            continue
        if not command and not positionals and arg in COMMANDS:
            command = arg
        elif (command or "run") == "run":
            return "run", given, positionals, argv[index - 1 :]
        else:
            positionals.append(arg)
    return command or "run", given, positionals, []


def env_value(environ: dict[str, str], name: str) -> str:
    """The variable's value; '' when unset or empty."""
    return environ.get(name, "").strip() if name else ""


def parse_switch(text: str, where: str) -> bool:
    lowered = text.strip().lower()
    if lowered in SWITCH_TRUE:
        return True
    if lowered in SWITCH_FALSE:
        return False
    raise UsageError(f"{where}={text!r} is not a switch value: use 1/true/yes/on or 0/false/no/off")


def read_settings(argv: list[str], environ: dict[str, str]) -> Settings:
    """Settings from the command line, then the environment, then defaults."""
    command, given, positionals, launcher_args = split_command_line(argv)
    settings = Settings()
    settings.command, settings.positionals, settings.launcher_args = command, positionals, launcher_args
    for option in OPTIONS.values():
        values = given.get(option.dest)
        from_env = env_value(environ, option.env)
        if option.takes_value:
            if values is None and from_env:
                values = from_env.split() if option.dest == "mirror" else [from_env]
            if values is not None:
                stored = values if option.dest in REPEATABLE else values[-1]
                setattr(settings, option.dest, stored)
        elif values is not None:
            setattr(settings, option.dest, True)
        elif from_env:
            setattr(settings, option.dest, parse_switch(from_env, option.env))
    settings.log = env_value(environ, "QTMCP_LOG")
    settings.token = env_value(environ, "QTMCP_MIRROR_TOKEN")
    if not all(33 <= ord(c) < 127 for c in settings.token):
        raise UsageError("QTMCP_MIRROR_TOKEN holds spaces or characters an HTTP header cannot carry")
    debug = env_value(environ, "QTMCP_DEBUG")
    settings.debug = parse_switch(debug, "QTMCP_DEBUG") if debug else False
    if isinstance(settings.timeout, str):
        try:
            settings.timeout = float(settings.timeout)
        except ValueError:
            settings.timeout = -1.0
        if not 0 < settings.timeout < 86400:
            raise UsageError("bad --timeout/QTMCP_TIMEOUT: give a number of seconds, like 30")
    if settings.sha256:
        settings.sha256 = settings.sha256.strip().lower()
        if not is_sha256(settings.sha256):
            raise UsageError("bad --sha256: give the archive's SHA-256 as 64 hex digits")
    if settings.release:
        check_tag(settings.release)
    return settings


def default_release() -> str:
    """'v' + this module's version; UsageError for a development version."""
    if ".dev" in __version__ or "+" in __version__:
        raise UsageError(
            f"qtmcp {__version__} is a development version and has no release of its own: "
            "give one with --release TAG or QTMCP_RELEASE"
        )
    return "v" + __version__


# This machine: platform and cache folder #####################################


def machine_platform() -> tuple[str, str]:
    """This machine's OS and the CPU its OS reports (not Python's bitness)."""
    if sys.platform == "win32":
        return "windows", windows_native_arch()
    if sys.platform == "darwin":
        machine = os.uname().machine.lower()
        if machine == "x86_64" and macos_translated():
            machine = "arm64"  # an x86-64 Python under Rosetta on Apple silicon
        return "macos", cpu_name(machine)
    if sys.platform.startswith("linux"):
        return "linux", cpu_name(os.uname().machine.lower())
    raise NoBuildError(f"QtMcp has no builds for {sys.platform}: only Linux, Windows and macOS")


def cpu_name(machine: str) -> str:
    names = {"x86_64": "x64", "amd64": "x64", "i386": "x86", "i486": "x86", "i586": "x86",
             "i686": "x86", "x86": "x86", "aarch64": "arm64", "arm64": "arm64", "armv8l": "arm64"}
    if machine not in names:
        raise NoBuildError(f"QtMcp has no builds for the {machine} CPU (only x64, x86, arm64)")
    return names[machine]


def windows_native_arch() -> str:
    """The Windows CPU, through IsWow64Process2 where it exists (Windows 10+)."""
    import ctypes

    machine = ctypes.c_ushort(0)
    native = ctypes.c_ushort(0)
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    is_wow64_process2 = getattr(kernel32, "IsWow64Process2", None)
    if is_wow64_process2 and is_wow64_process2(
        ctypes.c_void_p(-1), ctypes.byref(machine), ctypes.byref(native)
    ):
        by_image = {0x8664: "x64", 0x14C: "x86", 0xAA64: "arm64"}
        if native.value in by_image:
            return by_image[native.value]
    env = os.environ.get("PROCESSOR_ARCHITEW6432") or os.environ.get("PROCESSOR_ARCHITECTURE", "")
    return cpu_name(env.lower())


def macos_translated() -> bool:
    """True when this process runs under Rosetta 2."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    value = ctypes.c_int(0)
    size = ctypes.c_size_t(ctypes.sizeof(value))
    ok = libc.sysctlbyname(b"sysctl.proc_translated", ctypes.byref(value), ctypes.byref(size), None, 0)
    return ok == 0 and value.value == 1


def check_libc(platform: tuple[str, str]) -> None:
    """NoBuildError on a Linux whose C library is not glibc (musl, ...)."""
    if platform[0] != "linux" or not sys.platform.startswith("linux"):
        return
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):
        glibc = None
    if not glibc:
        raise NoBuildError(
            "this Linux does not use glibc (musl?): QtMcp's Linux builds need glibc; "
            "run qtmcp on a glibc distribution, or give a local build with --launcher"
        )


def default_cache_root(environ: dict[str, str]) -> str:
    """The cache root for this OS: XDG, ~/Library/Caches or %LOCALAPPDATA%."""
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        local = env_value(environ, "LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        return os.path.join(local, "qtmcp", "Cache")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Caches", "qtmcp")
    xdg = env_value(environ, "XDG_CACHE_HOME")
    return os.path.join(xdg if os.path.isabs(xdg) else os.path.join(home, ".cache"), "qtmcp")


# Messages ####################################################################


class Reporter:
    """Writes qtmcp's messages to stderr (and QTMCP_LOG): never to stdout."""

    def __init__(self, quiet: bool = False, log_path: str = ""):
        self.quiet = quiet
        self.log_path = log_path
        self.live = False  # a progress bar is drawn on the current line

    def note(self, message: str) -> None:
        """Progress, notes and warnings: one line, silenced by --quiet."""
        if not self.quiet:
            self.write(f"qtmcp: {message}")
        self.log(message)

    def error(self, message: str) -> None:
        self.write(f"qtmcp: error: {message}")
        self.log("error: " + message)

    def write(self, line: str) -> None:
        self.end_bar()
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass  # stderr closed: the log still has it

    def log(self, message: str) -> None:
        if not self.log_path:
            return
        import time

        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        try:
            with open(self.log_path, "a", encoding="utf-8", errors="replace") as log:
                log.write(f"{stamp} qtmcp[{os.getpid()}] {message}\n")
        except OSError:
            pass  # a log that cannot be written never stops qtmcp

    def wants_bar(self) -> bool:
        try:
            return not self.quiet and sys.stderr.isatty()
        except (AttributeError, ValueError):
            return False

    def bar(self, name: str, done: int, total: int | None) -> None:
        """Redraw a live progress bar (only called when wants_bar())."""
        if total:
            filled = int(30 * done / total)
            text = f"\rqtmcp: {name} [{'#' * filled}{'.' * (30 - filled)}] {human_size(done)}/{human_size(total)}"
        else:
            text = f"\rqtmcp: {name} {human_size(done)}"
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
            self.live = True
        except (OSError, ValueError):
            pass

    def end_bar(self) -> None:
        if self.live:
            self.live = False
            try:
                sys.stderr.write("\n")
            except (OSError, ValueError):
                pass


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


# Files: created new, never through a link; read only when regular ##########


class NotRegularFile(OSError):
    """A path that should be a regular file is a fifo, device, socket or folder."""


def open_new(path: str, mode: int = 0o644) -> BinaryIO:
    """A new file at `path`, open for writing: created exclusively, never through a link.

    Raises FileExistsError if anything is there, a dangling link included, so
    that a planted link or another run's file is never written through.
    """
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))
    return os.fdopen(os.open(path, flags, mode), "wb")


def open_regular(path: str) -> BinaryIO:
    """`path` open for reading if it is a regular file; NotRegularFile otherwise.

    A fifo, device or socket is refused before anything waits on it: it is
    opened without blocking and checked on the open file, not by name.
    """
    if not stat_is_regular(os.stat(path).st_mode):
        raise NotRegularFile(0, "not a regular file (a folder, fifo, device or socket)", path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
                 | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat_is_regular(os.fstat(fd).st_mode):
            raise NotRegularFile(0, "not a regular file (a folder, fifo, device or socket)", path)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def stat_is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


# Getting files: HTTP with retries, local copies ##############################


class MemorySink:
    """Collects a small file (SHA256SUMS) in memory, refusing one over `limit`."""

    def __init__(self, name: str, limit: int):
        self.name = name
        self.limit = limit
        self.data = bytearray()
        self.label = ""  # no progress for small files

    def reset(self) -> None:
        self.data = bytearray()

    def write(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.limit:
            raise SourceError(f"{self.name} is over {human_size(self.limit)}: not a release index")


class FileSink:
    """Streams a download to `path`, hashing it as it goes (flat memory)."""

    def __init__(self, path: str, label: str):
        import hashlib

        self.path = path
        self.label = label
        self.new_hash = hashlib.sha256
        self.hash = hashlib.sha256()
        self.size = 0
        self.file = None

    def reset(self) -> None:
        self.close()
        self.hash = self.new_hash()
        self.size = 0
        try:
            if os.path.exists(self.path):
                os.remove(self.path)
        except OSError as error:
            raise local_failure(error, self.path) from None

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > MAX_DOWNLOAD:
            raise SourceError(f"{self.label or self.path} is over {human_size(MAX_DOWNLOAD)}: refused")
        self.hash.update(chunk)
        try:
            if self.file is None:
                self.file = open(self.path, "wb")
            self.file.write(chunk)
        except OSError as error:  # a full disk is not worth a retry
            raise local_failure(error, self.path) from None

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def digest(self) -> str:
        return self.hash.hexdigest()


class Fetcher:
    """Gets a release's files from a list of bases, in order, as the contract says."""

    def __init__(self, settings: Settings, reporter: Reporter, bases: list[str]):
        self.settings = settings
        self.reporter = reporter
        self.bases = bases
        self.wait_left = RETRY_BUDGET
        self.opener = None
        self.credentials: dict[str, tuple[tuple[str, str, int | None], str] | None] = {}

    # -- one file, every base --------------------------------------------------

    def obtain(self, tag: str, name: str, sink: MemorySink | FileSink, bases: list[str] | None = None) -> str:
        """Copy `name` of release `tag` into `sink` from the first base that has it.

        Returns that base. Raises MissingError when none has it.
        """
        import time

        bases = self.bases if bases is None else bases
        tried: list[str] = []
        refused = False
        for number, base in enumerate(bases, 1):
            last = number == len(bases)
            location = base_file_location(base, tag, name)
            shown = mask_url(location)
            if base_kind(base) == "http" and self.settings.offline:
                self.reporter.note(f"offline: not opening {shown}")
                tried.append(f"{shown} (offline)")
                continue
            attempt = 0
            while True:
                attempt += 1
                sink.reset()
                try:
                    self.copy_once(base, location, sink)
                    return base
                except NotFoundAtBase as missing:
                    refused = refused or "401" in str(missing) or "403" in str(missing)
                    tried.append(f"{shown} ({missing})")
                    if not last:
                        self.reporter.note(f"{name} not at {shown} ({missing}); trying the next source")
                    break
                except TransientError as failure:
                    if not last:
                        self.reporter.note(f"{shown}: {failure}; trying the next source")
                        tried.append(f"{shown} ({failure})")
                        break
                    if attempt >= MAX_ATTEMPTS:
                        raise SourceError(
                            f"could not get {shown} after {attempt} attempts: {failure}; "
                            "check the network or the mirror, then try again"
                        ) from None
                    delay = failure.retry_after if failure.retry_after is not None else 0.5 * 2 ** (attempt - 1)
                    if delay > self.wait_left:
                        when = time.strftime("%H:%M:%S", time.localtime(time.time() + delay))
                        raise SourceError(
                            f"{shown} asks to retry after {delay:.0f} s, longer than qtmcp waits: "
                            f"try again after {when}"
                        ) from None
                    self.reporter.note(
                        f"{shown}: {failure}; retrying in {delay:.1f} s (attempt {attempt + 1} of {MAX_ATTEMPTS})"
                    )
                    time.sleep(delay)
                    self.wait_left -= delay
        hint = ""
        if refused:
            hint = "; credentials for a mirror come from ~/.netrc (or $NETRC) and QTMCP_MIRROR_TOKEN"
        elif self.settings.offline:
            hint = (
                "; offline: bring it with 'qtmcp mirror DEST' on a connected machine and "
                "--mirror DEST here, or 'qtmcp install ARCHIVE'"
            )
        raise MissingError(f"no source has {name} of release {tag}: tried {'; '.join(tried)}{hint}")

    def copy_once(self, base: str, location: str, sink: MemorySink | FileSink) -> None:
        """One attempt: copy `location` into `sink`, or raise why not."""
        if base_kind(base) == "local":
            folder = local_base_path(base)
            if not os.path.isdir(folder):
                looks_like_host = base[:1].isalnum() and ":" in base[2:] and "@" not in base and "://" not in base
                hint = f"; did you mean http://{base}?" if looks_like_host else ""
                raise NotFoundAtBase(f"no such folder {mask_url(folder)}{hint}")
            self.copy_local(location, sink)
        else:
            self.copy_http(base, location, sink)

    def copy_local(self, path: str, sink: MemorySink | FileSink) -> None:
        try:
            source = open(path, "rb")
        except (FileNotFoundError, NotADirectoryError):
            raise NotFoundAtBase("no such file") from None
        except OSError as error:
            raise NotFoundAtBase(error.strerror or str(error)) from None
        with source:
            total = os.fstat(source.fileno()).st_size
            copy_stream(source, sink, self.reporter, mask_url(path), total)

    def copy_http(self, base: str, url: str, sink: MemorySink | FileSink) -> None:
        import http.client

        response = self.open_http(base, url)
        with response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and isinstance(sink, FileSink) and total > MAX_DOWNLOAD:
                raise SourceError(f"{mask_url(url)} is over {human_size(MAX_DOWNLOAD)}: refused")
            try:
                got = copy_stream(response, sink, self.reporter, mask_url(url), total)
            except (OSError, http.client.HTTPException) as error:
                raise TransientError(f"the transfer broke ({describe_error(error)})") from None
            if total is not None and got < total:
                raise TransientError(f"the body was cut short ({got} of {total} bytes)")

    # -- HTTP -------------------------------------------------------------------

    def open_http(self, base: str, url: str):  # type: ignore[no-untyped-def]
        """The response for `url`, following redirects by hand (at most 10).

        Credentials found for `base` go only to `base`'s own origin; https to
        http is refused; errors become NotFoundAtBase, TransientError or
        SourceError.
        """
        import http.client
        import urllib.error
        import urllib.request
        from urllib.parse import urljoin

        credential = self.credential_for(base)
        seen = {url}
        for _ in range(MAX_REDIRECTS + 1):
            request = urllib.request.Request(
                url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
            )
            if credential and url_origin(url) == credential[0]:
                request.add_unredirected_header("Authorization", credential[1])
            try:
                return self.http_opener().open(request, timeout=self.settings.timeout)
            except urllib.error.HTTPError as error:
                location = error.headers.get("Location") if error.code in (301, 302, 303, 307, 308) else None
                if location is None:
                    raise http_failure(error, url) from None
                error.close()
                target = urljoin(url, location)
                scheme = target.partition(":")[0].lower()
                if url.lower().startswith("https:") and scheme != "https":
                    raise SourceError(
                        f"{mask_url(url)} redirects from https to {scheme}: refused (it would drop TLS)"
                    ) from None
                if scheme not in ("http", "https"):
                    raise SourceError(f"{mask_url(url)} redirects to a {scheme} URL: refused") from None
                if target in seen:
                    raise SourceError(f"{mask_url(url)} redirects in a loop: refused") from None
                seen.add(target)
                url = target
            except urllib.error.URLError as error:
                raise connection_failure(error.reason, url, proxy_for(url)) from None
            except (OSError, http.client.HTTPException) as error:
                raise connection_failure(error, url, proxy_for(url)) from None
        raise SourceError(f"{mask_url(url)}: more than {MAX_REDIRECTS} redirects: refused")

    def http_opener(self):  # type: ignore[no-untyped-def]
        """An opener with proxies from the environment, verified TLS, no redirects."""
        if self.opener is None:
            import ssl
            import urllib.request

            context = ssl.create_default_context()
            opener = urllib.request.OpenerDirector()
            for handler in (
                urllib.request.ProxyHandler(),
                urllib.request.UnknownHandler(),
                urllib.request.HTTPHandler(),
                urllib.request.HTTPSHandler(context=context),
                urllib.request.HTTPDefaultErrorHandler(),
                urllib.request.HTTPErrorProcessor(),
            ):
                opener.add_handler(handler)
            self.opener = opener
        return self.opener

    def credential_for(self, base: str) -> tuple[tuple[str, str, int | None], str] | None:
        """(origin, Authorization value) for a mirror base, or None.

        QTMCP_MIRROR_TOKEN wins over ~/.netrc; the default release host never
        gets credentials.
        """
        if base in self.credentials:
            return self.credentials[base]
        origin = url_origin(base)
        found = None
        if base != DEFAULT_BASE and origin != url_origin(DEFAULT_BASE):
            login = url_login(base)
            if self.settings.token:
                found = (origin, "Bearer " + self.settings.token)
            else:
                login = login or netrc_login(origin[1], self.reporter)
                if login:
                    import base64

                    pair = f"{login[0]}:{login[1]}".encode("utf-8")
                    found = (origin, "Basic " + base64.b64encode(pair).decode("ascii"))
        self.credentials[base] = found
        return found


def copy_stream(source, sink: MemorySink | FileSink, reporter: Reporter, shown: str, total: int | None) -> int:  # type: ignore[no-untyped-def]
    """Copy `source` into `sink` chunk by chunk, with progress on stderr."""
    import time

    label = sink.label
    bar = bool(label) and reporter.wants_bar()
    if label and not bar:
        size = f" ({human_size(total)})" if total else ""
        reporter.note(f"downloading {label}{size} from {shown}")
    started = last_drawn = time.monotonic()
    got = 0
    while True:
        chunk = source.read(CHUNK)
        if not chunk:
            break
        sink.write(chunk)
        got += len(chunk)
        if bar and time.monotonic() - last_drawn > 0.1:
            last_drawn = time.monotonic()
            reporter.bar(label, got, total)
    if label:
        reporter.end_bar()
        if total is None or got >= total:
            seconds = time.monotonic() - started
            reporter.note(f"got {label}: {human_size(got)} in {seconds:.1f} s")
    return got


def url_login(url: str) -> tuple[str, str] | None:
    """(user, password) written into an http(s) URL, or None."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.username is None:
        return None
    return unquote(parts.username), unquote(parts.password or "")


def without_login(url: str) -> str:
    """`url` without the user and password it may carry."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    return f"{scheme}{sep}{authority.rpartition('@')[2]}{slash}{path}" if sep else url


def netrc_login(host: str, reporter: Reporter) -> tuple[str, str] | None:
    """(login, password) for `host` from $NETRC or ~/.netrc (else its default entry)."""
    import netrc

    path = env_value(os.environ, "NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    if not os.path.isfile(path):
        return None
    try:
        entry = netrc.netrc(path).authenticators(host)
    except netrc.NetrcParseError as error:
        reporter.note(f"ignoring {path}: it cannot be parsed (line {error.lineno})")
        return None
    except OSError as error:
        reporter.note(f"ignoring {path}: {describe_error(error)}")
        return None
    if not entry:
        return None
    return entry[0] or "", entry[2] or ""


def describe_error(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return text if isinstance(text, str) else str(text)


def http_failure(error, url: str) -> Exception:  # type: ignore[no-untyped-def]
    """What an HTTP error status means for the attempt."""
    code = error.code
    host = url_origin(url)[1]
    reason = f"{code} {error.reason}" if error.reason else str(code)
    if code in (401, 403):
        return NotFoundAtBase(f"{reason}: {host} refused access")
    if code in (404, 410):
        return NotFoundAtBase(reason)
    if code in (408, 429) or code >= 500:
        return TransientError(f"HTTP {reason}", retry_after=parse_retry_after(error.headers.get("Retry-After")))
    return SourceError(f"{mask_url(url)} answered HTTP {reason}")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), 10**7))
    import email.utils
    import time

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return min(max(0.0, when.timestamp() - time.time()), 1e7)


def proxy_for(url: str) -> str:
    """The proxy urllib sends `url` through (from *_PROXY and NO_PROXY), or ''."""
    import urllib.request

    proxy = urllib.request.getproxies().get(url.partition(":")[0].lower(), "")
    if proxy and urllib.request.proxy_bypass(url_origin(url)[1]):
        return ""
    return proxy


def connection_failure(reason: object, url: str, proxy: str = "") -> Exception:
    """What a failed connection means: TLS errors are final, others transient."""
    import socket
    import ssl

    host = url_origin(url)[1]
    if proxy and isinstance(reason, (socket.gaierror, ConnectionRefusedError)):
        host = f"the proxy {mask_url(proxy)} (for {host}; see HTTPS_PROXY, HTTP_PROXY, NO_PROXY)"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return SourceError(
            f"TLS: the certificate of {host} could not be verified ({reason.verify_message}); "
            "if your network uses its own certificate authority, set SSL_CERT_FILE to its PEM bundle"
        )
    if isinstance(reason, ssl.SSLError):
        return SourceError(f"TLS with {host} failed ({reason}); check the proxy or SSL_CERT_FILE")
    if isinstance(reason, socket.gaierror):
        return TransientError(f"cannot resolve {host}")
    if isinstance(reason, ConnectionRefusedError):
        return TransientError(f"{host} refused the connection")
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return TransientError(f"{host} sent nothing for the timeout (--timeout)")
    if isinstance(reason, BaseException):
        return TransientError(f"connection to {host} failed ({describe_error(reason)})")
    return TransientError(f"connection to {host} failed ({reason})")


# Unpacking: every entry checked before it is written #########################


IMPLIED, FOLDER, FILE, LINK = 1, 2, 3, 4  # kinds of names: IMPLIED is a folder only named inside others' names
KINDS = {"dir": FOLDER, "file": FILE, "link": LINK}


class NameTable:
    """The names of an archive's entries as a case- and normalization-insensitive
    file system sees them, with their kinds, in 16 bytes a name.

    A name is kept as two 64-bit BLAKE2 digests keyed with a random key of this
    run (no archive can be made whose names collide in them): that of its
    collision key, with its kind in the 3 low bits, and that of its exact
    spelling; in one open-addressing table, never over half full.
    """

    def __init__(self) -> None:
        import array
        import hashlib

        self.key = os.urandom(16)
        self.blake2b = hashlib.blake2b
        self.slots = array.array("Q", bytes(16 * 1024))  # (key digest | kind, spelling digest); 0: free
        self.used = 0
        self.last: tuple[str, int, int] = ("", 0, 0)  # the key, digest and slot of the last find

    def digest(self, text: str) -> int:
        data = text.encode("utf-8", "surrogateescape")
        return int.from_bytes(self.blake2b(data, digest_size=8, key=self.key).digest(), "little")

    def find(self, key: str) -> int:
        """The slot of collision key `key`: its own, or the free one it would take."""
        if self.last[0] == key:
            return self.last[2]
        digest = self.digest(key) & -8
        slots = self.slots
        mask = len(slots) // 2 - 1
        slot = (digest >> 3) & mask
        while slots[2 * slot] and slots[2 * slot] & -8 != digest:
            slot = (slot + 1) & mask
        self.last = (key, digest, slot)
        return slot

    def get(self, path: str, key: str) -> tuple[int, bool]:
        """(kind, whether spelled `path`) of the name whose collision key is `key`; kind 0: none."""
        slot = self.find(key)
        word = self.slots[2 * slot]
        return word & 7, not word or self.slots[2 * slot + 1] == self.digest(path)

    def put(self, path: str, key: str, kind: int) -> None:
        """Record the name `path` (collision key `key`) as `kind`; an existing name keeps its spelling."""
        slot = self.find(key)
        slots = self.slots
        if not slots[2 * slot]:
            slots[2 * slot + 1] = self.digest(path)
            self.used += 1
        slots[2 * slot] = self.last[1] | kind
        if 4 * self.used > len(slots):
            self.grow()

    def grow(self) -> None:
        import array

        old = self.slots
        self.slots = slots = array.array("Q", bytes(16 * len(old)))
        mask = len(slots) // 2 - 1
        for number in range(0, len(old), 2):
            word = old[number]
            if word:
                slot = (word >> 3) & mask
                while slots[2 * slot]:
                    slot = (slot + 1) & mask
                slots[2 * slot], slots[2 * slot + 1] = word, old[number + 1]
        self.last = ("", 0, 0)


class TreeWriter:
    """Writes an archive's entries under `root`, refusing what the contract refuses.

    It records each file's size and SHA-256 as it writes it, and each folder,
    as lines of the manifest to come in `records` (a binary file; see
    write_manifest), never writes through a link (links are made last, by
    finish()), and keeps count of what was unpacked against the bomb limits.
    Its memory does not grow with the files' sizes, and by 16 bytes a name
    with their number.
    """

    def __init__(self, root: str, windows: bool, records=None):  # type: ignore[no-untyped-def]
        self.root = root
        self.windows = windows
        self.records = records
        self.names = NameTable()
        self.entries = 0  # entries claimed
        self.files = 0  # files written
        self.parent: list[str] = []  # the folder of the last entry (checked and made)
        self.top: str | None = None  # the first part of every name so far; "" once they differ
        self.links: list[tuple[list[str], str, list[str]]] = []  # (parts, target, resolved)
        self.total = 0
        self.packed: CountingReader | None = None  # a tar.gz's compressed bytes read so far
        self.umask = os.umask(0o022)
        os.umask(self.umask)

    def claim(self, name: str, kind: str) -> list[str]:
        """Check a new entry's name against those before it; return its parts.

        The folders it names (the entry itself, for a folder) are made.
        """
        parts = member_parts(name, kind == "dir", self.windows)
        if self.entries >= MAX_ENTRIES:
            raise ArchiveError(f"archive refused: over {MAX_ENTRIES} entries")
        if not parts:
            return parts  # the root folder, as `tar -C dir .` writes it
        path = "/".join(parts)
        new_folder = ""
        for depth in range(len(parts) if parts[:-1] == self.parent else 1, len(parts) + 1):
            spelled = path if depth == len(parts) else "/".join(parts[:depth])
            key = collision_key(parts[:depth])
            seen, same = self.names.get(spelled, key)
            if not same:
                raise ArchiveError(
                    f"unsafe archive: {spelled!r} and an earlier entry differ only in case "
                    "or Unicode normalization"
                )
            if depth < len(parts):
                if seen == LINK:
                    raise ArchiveError(f"unsafe archive: {path!r} would be written through a link")
                if seen == FILE:
                    raise ArchiveError(f"unsafe archive: {path!r} needs a folder where a file is")
                if not seen:
                    self.names.put(spelled, key, IMPLIED)
                    self.record_folder(spelled)
                    new_folder = spelled
            elif seen == IMPLIED and kind == "dir":
                self.names.put(spelled, key, FOLDER)
            elif seen:
                if seen != IMPLIED:
                    raise ArchiveError(f"unsafe archive: two entries named {path!r}")
                raise ArchiveError(f"unsafe archive: {path!r} would replace a dir with a {kind}")
            else:
                self.names.put(spelled, key, KINDS[kind])
                if kind == "dir":
                    self.record_folder(spelled)
                    new_folder = spelled
        self.entries += 1
        if new_folder:
            self.make_dirs(self.path_of(new_folder.split("/")))
        self.parent = parts if kind == "dir" else parts[:-1]
        self.top = parts[0] if self.top in (None, parts[0]) else ""
        return parts

    def kind_of(self, parts: list[str]) -> int:
        """The kind of the entry named exactly `parts` (0: none)."""
        kind, same = self.names.get("/".join(parts), collision_key(parts))
        return kind if same else 0

    def path_of(self, parts: list[str]) -> str:
        return os.path.join(self.root, *parts)

    def record(self, line: str) -> None:
        if self.records is not None:
            try:
                self.records.write(line.encode("utf-8"))
            except OSError as error:
                raise local_failure(error, self.root) from None

    def record_folder(self, path: str) -> None:
        from json.encoder import encode_basestring

        self.record(encode_basestring(path) + "\n")

    def add_dir(self, name: str) -> None:
        self.claim(name, "dir")

    def add_file(self, name: str, mode: int, source) -> None:  # type: ignore[no-untyped-def]
        """Write a regular file from `source` (a reader), hashing it as it goes."""
        self.write_file(self.claim(name, "file"), mode, source)

    def write_file(self, parts: list[str], mode: int, source) -> None:  # type: ignore[no-untyped-def]
        """Write and record the file at `parts` (already claimed), within the limits."""
        import hashlib
        from json.encoder import encode_basestring

        path = self.path_of(parts)
        digest = hashlib.sha256()
        size = 0
        mode = 0o755 if mode & 0o111 else 0o644
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            with os.fdopen(os.open(path, flags, mode), "wb") as out:
                while True:
                    chunk = source.read(CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    self.total += len(chunk)
                    if self.total > MAX_UNPACKED:
                        raise ArchiveError(f"archive refused: it unpacks to over {human_size(MAX_UNPACKED)}")
                    if self.packed and self.total > RATIO_GRACE and self.total > MAX_RATIO * self.packed.count:
                        raise ArchiveError(
                            f"archive refused: a decompression bomb (over {MAX_RATIO} bytes unpacked per byte)"
                        )
                    digest.update(chunk)
                    out.write(chunk)
            if mode & self.umask:
                os.chmod(path, mode)
        except OSError as error:
            raise local_failure(error, path) from None
        self.files += 1
        self.record(f'{{"path": {encode_basestring("/".join(parts))}, "size": {size}, '
                    f'"sha256": "{digest.hexdigest()}"}}\n')

    def add_symlink(self, name: str, target: str) -> None:
        parts = self.claim(name, "link")
        self.links.append((parts, target, link_target_parts(parts, target)))

    def add_hardlink(self, name: str, target: str) -> None:
        """A tar hard link: a copy of an earlier file of the same archive.

        The copy is written like any file, so it counts against the limits.
        """
        target_parts = member_parts(target, False, self.windows)
        if self.kind_of(target_parts) != FILE:
            raise ArchiveError(f"unsafe archive: hard link {name!r} to {target!r}, not an earlier file")
        source_path = self.path_of(target_parts)
        try:
            source = open(source_path, "rb")
            mode = os.fstat(source.fileno()).st_mode
        except OSError as error:
            raise local_failure(error, source_path) from None
        with source:
            self.add_file(name, mode, source)

    def make_dirs(self, path: str) -> None:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as error:
            raise local_failure(error, path) from None

    def finish(self, prefix: list[str]) -> None:
        """Make the links, now that every file and folder is in place.

        Where the OS cannot make a link (Windows without the privilege), the
        target is copied instead, every byte counted against the limits.
        """
        copies = []
        for parts, target, resolved in self.links:
            climbs_to = len(parts) - 1 - target_words(target)[0]  # depth the target climbs to
            if resolved[: len(prefix)] != prefix or climbs_to < len(prefix):
                raise ArchiveError(f"unsafe link {'/'.join(parts)!r} -> {target!r}: leads out of the build")
            is_dir = self.names.get("", collision_key(resolved))[0] in (IMPLIED, FOLDER)
            try:
                os.symlink(target, self.path_of(parts), target_is_directory=is_dir)
            except OSError as error:
                if os.name != "nt":
                    raise local_failure(error, self.path_of(parts)) from None
                copies.append((parts, resolved))
        for parts, resolved in copies:  # Windows without the right to make links
            self.links = [link for link in self.links if link[0] != parts]
            if parts[: len(resolved)] != resolved:  # a link to its own folder cannot be copied
                self.copy_counted(self.path_of(resolved), parts)

    def copy_counted(self, source: str, parts: list[str]) -> None:
        """Copy a file or folder tree of the build to `parts`, as if unpacked there."""
        if os.path.isdir(source):
            self.make_dirs(self.path_of(parts))
            self.names.put("/".join(parts), collision_key(parts), FOLDER)
            self.record_folder("/".join(parts))
            for name in sorted(os.listdir(source)):
                self.copy_counted(os.path.join(source, name), parts + [name])
        elif os.path.isfile(source):
            with open(source, "rb") as data:
                self.write_file(parts, os.fstat(data.fileno()).st_mode, data)

    def top_folder(self, launcher: str) -> list[str]:
        """[] if the launcher is at the root; [folder] if one folder holds everything.

        LocalError if the archive has no launcher.
        """
        if self.kind_of([launcher]) in (FILE, LINK):
            return []
        if self.top and self.kind_of([self.top]) in (IMPLIED, FOLDER) and \
                self.kind_of([self.top, launcher]) in (FILE, LINK):
            return [self.top]
        raise LocalError(f"the archive has no {launcher} at its root or in its one top-level folder")


def file_digest(path: str) -> tuple[int, str]:
    """(size, SHA-256) of a file, read in chunks."""
    import hashlib

    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as source:
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                return size, digest.hexdigest()
            size += len(chunk)
            digest.update(chunk)


class CountingReader:
    """A reader that counts the bytes read through it."""

    def __init__(self, source):  # type: ignore[no-untyped-def]
        self.source = source
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.count += len(data)
        return data


class TarStream:
    """The unpacked bytes of a tar.gz, read once from the start: refuses a bomb as it is read.

    tarfile reads the headers through read(), tell() and a seek() that only
    goes forward; the unpack loop reads each member's data through data(),
    which hands over the inflated chunks without copying them. zlib checks the
    gzip trailers (CRC-32 and length); gzip members may follow one another.
    `limit` is the stream position past which tarfile may not read: the unpack
    loop moves it past each member's data plus TAR_HEADER_MAX, so that no
    header (a pax or GNU long-name record is read whole) can take more memory.
    """

    def __init__(self, raw):  # type: ignore[no-untyped-def]
        import zlib

        self.packed = CountingReader(raw)
        self.new_inflate = lambda: zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip
        self.inflate = self.new_inflate()
        self.chunk = b""  # the inflated bytes being read
        self.at = 0  # how much of them were read
        self.pos = 0  # bytes read from the stream
        self.count = 0  # bytes inflated
        self.limit = TAR_HEADER_MAX
        self.tail = b""  # what the last read() returned, to check where tarfile stopped

    def inflated(self) -> bytes:
        """The next inflated bytes (at most CHUNK), b"" at the end of the archive."""
        while True:
            inflate = self.inflate
            if inflate.eof:  # one gzip member ended: zeros, the end, or another member follow
                rest = inflate.unused_data.lstrip(b"\0")
                while not rest:
                    rest = self.packed.read(INFLATE_INPUT)
                    if not rest:
                        return b""
                    rest = rest.lstrip(b"\0")
                self.inflate = self.new_inflate()
                data = self.inflate.decompress(rest, CHUNK)
            elif inflate.unconsumed_tail:
                data = inflate.decompress(inflate.unconsumed_tail, CHUNK)
            else:
                raw = self.packed.read(INFLATE_INPUT)
                if not raw:
                    raise EOFError("the gzip stream ends before its end marker")
                data = inflate.decompress(raw, CHUNK)
            if data:
                self.count += len(data)
                if self.count > RATIO_GRACE and self.count > MAX_RATIO * self.packed.count:
                    raise ArchiveError(
                        f"archive refused: a decompression bomb (over {MAX_RATIO} bytes unpacked per byte)"
                    )
                if self.count > MAX_UNPACKED + 64 * 1024 * 1024:
                    raise ArchiveError(f"archive refused: it unpacks to over {human_size(MAX_UNPACKED)}")
                return data

    def data(self, size: int) -> bytes:
        """Up to `size` bytes (at least one, b"" at the end): whole chunks where it can."""
        if self.at >= len(self.chunk):
            self.chunk, self.at = self.inflated(), 0
        if self.at == 0 and size >= len(self.chunk):
            piece = self.chunk
        else:
            piece = self.chunk[self.at:self.at + size]
        self.at += len(piece)
        self.pos += len(piece)
        return piece

    def read(self, size: int = -1) -> bytes:
        """`size` bytes for tarfile (fewer only at the end), never past `limit`."""
        size = CHUNK if size < 0 else size
        if self.pos + size > self.limit:
            raise ArchiveError(f"archive refused: a tar header over {human_size(TAR_HEADER_MAX)}")
        pieces = []
        while size > 0:
            piece = self.data(size)
            if not piece:
                break
            pieces.append(piece)
            size -= len(piece)
        self.tail = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        return self.tail

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        """Forward only, within `limit` (tarfile skips the padding after a member's data)."""
        if whence != 0 or offset < self.pos:
            raise OSError("a tar.gz stream cannot seek back")
        if offset > self.limit:
            raise ArchiveError(f"archive refused: a tar header over {human_size(TAR_HEADER_MAX)}")
        while self.pos < offset and self.data(offset - self.pos):
            pass
        return self.pos


class MemberReader:
    """Reads the `size` bytes of one tar member's data from a TarStream."""

    def __init__(self, stream: TarStream, size: int):
        self.stream = stream
        self.left = size

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        data = self.stream.data(min(self.left, CHUNK if size < 0 else size))
        if not data:
            raise EOFError("the tar.gz archive ends inside a member")
        self.left -= len(data)
        return data


def archive_kind(path: str) -> str:
    """'zip' or 'tar.gz' from the file's first bytes; ArchiveError otherwise."""
    with open(path, "rb") as source:
        magic = source.read(4)
    if magic.startswith(b"PK\x03\x04") or magic.startswith(b"PK\x05\x06"):
        return "zip"
    if magic.startswith(b"\x1f\x8b"):
        return "tar.gz"
    raise ArchiveError(f"{os.path.basename(path)} is neither a zip nor a tar.gz archive")


def unpack_archive(path: str, writer: TreeWriter) -> None:
    """Unpack a zip or tar.gz into `writer`; ArchiveError if it is unreadable."""
    import zlib

    kind = archive_kind(path)
    if kind == "zip":
        import zipfile

        unpack, malformed = unpack_zip, zipfile.BadZipFile
    else:
        import tarfile

        unpack, malformed = unpack_tar_gz, tarfile.TarError
    unreadable = (malformed, OSError, EOFError, zlib.error, ValueError, RuntimeError, NotImplementedError)
    try:
        unpack(path, writer)
    except unreadable as error:
        raise ArchiveError(f"cannot read the {kind} archive: {describe_error(error)}") from None


class ZipEntryReader:
    """Reads a stored or deflated zip entry from its raw bytes.

    zipfile stops silently at an entry's declared size; this reader refuses an
    entry whose data runs past it or past the end of its deflate stream, or
    that unpacks to over 100 bytes per byte past the first MiB, and checks its
    size and CRC at the end. Memory stays flat: at most CHUNK bytes
    are inflated at a time.
    """

    def __init__(self, raw, info, data_start: int):  # type: ignore[no-untyped-def]
        import zlib

        raw.seek(data_start)
        self.raw = raw
        self.info = info
        self.left = info.compress_size
        self.inflate = zlib.decompressobj(-15) if info.compress_type == 8 else None
        self.size = 0
        self.crc = 0
        self.crc32 = zlib.crc32

    def read(self, _size: int = -1) -> bytes:
        while True:
            inflate = self.inflate
            if inflate is not None and inflate.eof:
                if self.left or inflate.unconsumed_tail or inflate.unused_data:
                    raise ArchiveError(
                        f"archive refused: {self.info.filename!r} has data after its end"
                    )
                self.check_end()
                return b""
            if inflate is not None and inflate.unconsumed_tail:
                data = inflate.decompress(inflate.unconsumed_tail, CHUNK)
            elif self.left > 0:
                chunk = self.raw.read(min(CHUNK, self.left))
                if not chunk:
                    raise ArchiveError(f"cannot read the zip archive: {self.info.filename!r} is cut short")
                self.left -= len(chunk)
                data = inflate.decompress(chunk, CHUNK) if inflate is not None else chunk
            else:
                self.check_end()
                return b""
            if data:
                self.size += len(data)
                if self.size > self.info.file_size:
                    raise ArchiveError(
                        f"archive refused: {self.info.filename!r} is longer than its declared size"
                    )
                if self.size > RATIO_GRACE and self.size > MAX_RATIO * max(self.info.compress_size, 1):
                    raise ArchiveError(
                        f"archive refused: {self.info.filename!r} is a decompression bomb "
                        f"(over {MAX_RATIO} bytes unpacked per byte)"
                    )
                self.crc = self.crc32(data, self.crc)
                return data

    def check_end(self) -> None:
        complete = self.inflate is None or self.inflate.eof
        if not complete or self.size != self.info.file_size or self.crc != self.info.CRC:
            raise ArchiveError(
                f"cannot read the zip archive: {self.info.filename!r} does not match its size or CRC"
            )


def zip_data_starts(raw, infos: list, end_of_entries: int) -> dict[int, int]:  # type: ignore[no-untyped-def, type-arg]
    """{header offset: data offset} of every entry, checked from the local headers.

    Refuses entries that share or overlap their bytes (one compressed stream
    unpacked many times) and local names that differ from the central ones.
    """
    import struct

    starts: dict[int, int] = {}
    ordered = sorted(infos, key=lambda info: info.header_offset)
    for number, info in enumerate(ordered):
        following = ordered[number + 1].header_offset if number + 1 < len(ordered) else end_of_entries
        raw.seek(info.header_offset)
        header = raw.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise ArchiveError(f"cannot read the zip archive: bad local header for {info.filename!r}")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
        if raw.read(name_length) != info.orig_filename.encode(encoding, "surrogateescape"):
            raise ArchiveError(f"archive refused: the local and central names of {info.filename!r} differ")
        start = info.header_offset + 30 + name_length + extra_length
        if info.header_offset in starts or start + info.compress_size > following:
            raise ArchiveError(f"archive refused: {info.filename!r} overlaps another entry")
        starts[info.header_offset] = start
    return starts


def unpack_zip(path: str, writer: TreeWriter) -> None:
    import stat
    import zipfile

    with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ArchiveError(f"archive refused: over {MAX_ENTRIES} entries")
        if sum(info.file_size for info in infos) > MAX_UNPACKED:
            raise ArchiveError(f"archive refused: it declares over {human_size(MAX_UNPACKED)} unpacked")
        starts = zip_data_starts(raw, infos, getattr(archive, "start_dir", os.path.getsize(path)))
        for info in infos:
            mode = info.external_attr >> 16 if info.create_system == 3 else 0
            kind = stat.S_IFMT(mode)
            if info.flag_bits & 0x1:
                raise ArchiveError(f"archive refused: {info.filename!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ArchiveError(f"cannot read the zip archive: {info.filename!r} is compressed with "
                                   f"method {info.compress_type}; qtmcp reads stored and deflated entries")
            source = ZipEntryReader(raw, info, starts[info.header_offset])
            if info.filename.endswith("/") or kind == stat.S_IFDIR:
                writer.add_dir(info.filename)
            elif kind == stat.S_IFLNK:
                if info.file_size > NAME_MAX:
                    raise ArchiveError(f"unsafe link {info.filename!r}: target over {NAME_MAX} bytes")
                target = b""
                while True:
                    chunk = source.read()
                    if not chunk:
                        break
                    target += chunk
                writer.add_symlink(info.filename, target.decode("utf-8", "surrogateescape"))
            elif kind in (0, stat.S_IFREG):
                writer.add_file(info.filename, mode, source)
            else:
                raise ArchiveError(f"archive refused: {info.filename!r} is not a file, folder or link")


def quick_tar_info():  # type: ignore[no-untyped-def]
    """tarfile.TarInfo whose frombuf() is faster for the common header.

    For a header whose numbers are octal, whose checksum is the unsigned one
    and that is no old GNU sparse header, it sets exactly what tarfile's
    frombuf() sets (its code is the same in Python 3.9 to 3.13); any other
    header, and every error, goes to tarfile's own.
    """
    import struct
    import tarfile

    fields = struct.Struct("100s8s8s8s12s12s8sc100s8x32s32s8s8s155s12x").unpack

    def number(field: bytes) -> int:
        if field[0] in (0o200, 0o377):  # base-256
            raise ValueError(field)
        return int(field.split(b"\0", 1)[0].strip() or b"0", 8)

    def text(field: bytes, encoding: str, errors: str) -> str:
        return field.split(b"\0", 1)[0].decode(encoding, errors)

    class QuickTarInfo(tarfile.TarInfo):
        __slots__ = ()

        @classmethod
        def frombuf(cls, buf, encoding, errors):  # type: ignore[no-untyped-def]
            try:
                if len(buf) != tarfile.BLOCKSIZE or buf[156:157] == tarfile.GNUTYPE_SPARSE:
                    raise ValueError("not a common header")
                (name, mode, uid, gid, size, mtime, chksum, kind, linkname, uname, gname,
                 devmajor, devminor, prefix) = fields(buf)
                chksum = number(chksum)
                if chksum != 256 + sum(buf) - sum(buf[148:156]):
                    raise ValueError("not the unsigned checksum")
                obj = cls()
                obj.name = text(name, encoding, errors)
                obj.mode, obj.uid, obj.gid = number(mode), number(uid), number(gid)
                obj.size, obj.mtime, obj.chksum, obj.type = number(size), number(mtime), chksum, kind
                obj.linkname = text(linkname, encoding, errors)
                obj.uname, obj.gname = text(uname, encoding, errors), text(gname, encoding, errors)
                obj.devmajor, obj.devminor = number(devmajor), number(devminor)
                prefix = text(prefix, encoding, errors)
            except ValueError:
                return super().frombuf(buf, encoding, errors)
            if obj.type == tarfile.AREGTYPE and obj.name.endswith("/"):
                obj.type = tarfile.DIRTYPE
            if obj.isdir():
                obj.name = obj.name.rstrip("/")
            if prefix and obj.type not in tarfile.GNU_TYPES:
                obj.name = prefix + "/" + obj.name
            return obj

    return QuickTarInfo


def unpack_tar_gz(path: str, writer: TreeWriter) -> None:
    import tarfile

    with open(path, "rb") as raw:
        stream = TarStream(raw)
        writer.packed = stream.packed
        archive = tarfile.TarFile(fileobj=stream, mode="r", tarinfo=quick_tar_info())  # type: ignore[arg-type]
        for member in archive:
            archive.members = []  # tarfile keeps every member otherwise
            data_end = member.offset_data + -(-member.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
            stream.limit = data_end + TAR_HEADER_MAX + tarfile.RECORDSIZE
            if member.issparse():
                raise ArchiveError(f"archive refused: {member.name!r} is a sparse file")
            if member.isdir():
                writer.add_dir(member.name)
            elif member.issym():
                writer.add_symlink(member.name, member.linkname)
            elif member.islnk():
                writer.add_hardlink(member.name, member.linkname)
            elif member.isreg():
                if stream.pos != member.offset_data:
                    raise ArchiveError(f"cannot read the tar.gz archive: {member.name!r} is not where its header says")
                writer.add_file(member.name, member.mode, MemberReader(stream, member.size))
            else:
                raise ArchiveError(
                    f"archive refused: {member.name!r} is not a file, folder or link"
                )
        check_tar_end(stream, archive.offset)


def check_tar_end(stream: TarStream, end: int) -> None:
    """After the last member: only zeros to the end, and sound gzip trailers.

    tarfile ends quietly at a damaged header; this makes that an error.
    """
    seen = stream.pos - end
    if seen > len(stream.tail):
        raise ArchiveError("cannot read the tar.gz archive: it ends in a damaged header")
    stream.limit = stream.pos + TAR_HEADER_MAX
    rest = stream.tail[len(stream.tail) - seen:] if seen > 0 else b""
    while True:
        if rest.strip(b"\0"):
            raise ArchiveError("cannot read the tar.gz archive: data after its end, or a damaged header")
        if stream.pos > stream.limit:
            raise ArchiveError(f"archive refused: a tar header over {human_size(TAR_HEADER_MAX)}")
        rest = stream.data(CHUNK)
        if not rest:
            return


# The cache: installs, locks, manifests #######################################


def local_failure(error: OSError, path: str) -> LocalError:
    """A LocalError that names the folder and the remedy for a failed write."""
    import errno

    reason = error.strerror or str(error)
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return LocalError(f"disk full writing {path}: free some space, or set --cache-dir to another disk")
    if error.errno == errno.ENAMETOOLONG or getattr(error, "winerror", None) == 206:
        return LocalError(f"path too long for this file system: {path}; use a shorter --cache-dir")
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return LocalError(
            f"cannot write {path} ({reason}): the cache is not writable; "
            "choose another folder with --cache-dir or QTMCP_CACHE_DIR"
        )
    return LocalError(f"cannot write {path} ({reason}); check the folder, or use --cache-dir")


def cache_root(settings: Settings, environ: dict[str, str]) -> str:
    return os.path.abspath(os.path.expanduser(settings.cache_dir or default_cache_root(environ)))


def release_tag(settings: Settings) -> str:
    return settings.release or default_release()


def install_name(key: str, digest: str) -> str:
    """The folder of one install: the build and the first 16 hex digits of its archive."""
    return f"{key}-{digest[:16]}"


def pointer_path(tag_dir: str, key: str) -> str:
    return os.path.join(tag_dir, key + ".current")


def launcher_path(install: str, os_name: str) -> str:
    return os.path.join(install, BUILD_DIR, launcher_name(os_name))


def is_complete(install: str, os_name: str) -> bool:
    """An install is complete once its manifest exists; usable if its launcher does."""
    return os.path.isfile(os.path.join(install, MANIFEST_NAME)) and os.path.isfile(
        launcher_path(install, os_name)
    )


def install_has(install: str, digest: str, os_name: str) -> bool:
    """True if `install` is complete and its manifest records this archive digest."""
    if not is_complete(install, os_name):
        return False
    try:
        return read_manifest(install).get("sha256") == digest
    except LocalError:
        return False


def read_manifest(install: str) -> dict:  # type: ignore[type-arg]
    import json

    try:
        with open(os.path.join(install, MANIFEST_NAME), encoding="utf-8") as source:
            return json.load(source)
    except (OSError, ValueError) as error:
        raise LocalError(f"cannot read the manifest of {install}: {describe_error(error)}") from None


def pointed_install(tag_dir: str, key: str) -> str:
    try:
        with open(pointer_path(tag_dir, key), encoding="utf-8") as pointer:
            return pointer.read(200).strip()
    except (OSError, ValueError):
        return ""


def cached_launcher(root: str, tag: str, key: str, os_name: str) -> str | None:
    """The launcher of the build's current install, or None (the cached start).

    One small read and two looks: no hashing, no writing, no network.
    """
    tag_dir = os.path.join(root, tag)
    name = pointed_install(tag_dir, key)
    if not name.startswith(key + "-") or os.sep in name or "/" in name:
        return None
    install = os.path.join(tag_dir, name)
    return launcher_path(install, os_name) if is_complete(install, os_name) else None


def make_dirs(path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise local_failure(error, path) from None


def write_atomically(path: str, data: bytes, temp_prefix: str) -> None:
    """Replace `path` with `data` by one rename, so no reader sees half of it.

    The temporary file's name starts with `temp_prefix`, so that the run that
    next holds the same lock can remove it if this one dies.
    """
    import tempfile

    folder = os.path.dirname(path)
    try:
        handle, temp = tempfile.mkstemp(prefix=temp_prefix, dir=folder)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.chmod(temp, 0o644)
            replace_file(temp, path)
        except BaseException:
            remove_path(temp)
            raise
    except OSError as error:
        raise local_failure(error, path) from None


def replace_file(source: str, target: str) -> None:
    """os.replace, retried briefly on Windows (an antivirus may hold the file)."""
    retry_windows(lambda: os.replace(source, target))


def retry_windows(action) -> None:  # type: ignore[no-untyped-def]
    """Run `action`; on Windows retry a PermissionError for up to about 2 s."""
    import time

    for delay in (0.05, 0.1, 0.2, 0.4, 0.5, 0.75, 0):
        try:
            return action()
        except PermissionError:
            if os.name != "nt" or not delay:
                raise
            time.sleep(delay)


def remove_path(path: str) -> None:
    """Remove a file, link or folder tree if it exists (retried on Windows)."""
    import shutil
    import stat

    def make_writable_and_retry(function, failed, _info):  # type: ignore[no-untyped-def]
        os.chmod(failed, stat.S_IWRITE)
        function(failed)

    if os.path.islink(path) or os.path.isfile(path):
        retry_windows(lambda: os.remove(path))
    elif os.path.isdir(path):
        retry_windows(lambda: shutil.rmtree(path, onerror=make_writable_and_retry))


def discard_tree(path: str, tag_dir: str, key: str) -> None:
    """Take an install out of use by one rename, then remove it.

    So a kill half-way leaves a temporary folder of the build (removed under
    its lock later), never a half-removed install that a start could use.
    """
    import tempfile

    if not os.path.exists(path):
        return
    trash = tempfile.mkdtemp(prefix=work_prefix(key) + "trash-", dir=tag_dir)
    retry_windows(lambda: os.rename(path, os.path.join(trash, "old")))
    try:
        remove_path(trash)
    except OSError:
        pass  # a file still in use (Windows): cache clean removes it later


class BuildLock:
    """An exclusive lock on one build's lock file (fcntl on POSIX, msvcrt on Windows).

    The OS releases it when its holder dies, so a crash cannot leave it stuck.
    """

    def __init__(self, path: str, what: str, reporter: Reporter, timeout: float = LOCK_TIMEOUT):
        self.path = path
        self.what = what
        self.reporter = reporter
        self.timeout = timeout
        self.fd = -1

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False if another process holds it."""
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise local_failure(error, self.path) from None
        try:
            if os.name == "nt":
                import msvcrt

                msvcrt.locking(self.fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if not same_file(self.fd, self.path):  # removed by `cache clean` meanwhile
                    os.close(self.fd)
                    self.fd = -1
                    return self.try_acquire()
            return True
        except OSError:
            os.close(self.fd)
            self.fd = -1
            return False

    def __enter__(self) -> BuildLock:
        import time

        deadline = time.monotonic() + self.timeout
        if self.try_acquire():
            return self
        self.reporter.note(f"waiting for another qtmcp that is installing {self.what} (lock {self.path})")
        while time.monotonic() < deadline:
            time.sleep(0.1)
            if self.try_acquire():
                return self
        raise LocalError(
            f"gave up after {self.timeout:.0f} s waiting for the lock {self.path}: another qtmcp "
            "is still installing; try again, or use another --cache-dir"
        )

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def release(self) -> None:
        if self.fd < 0:
            return
        try:
            if os.name == "nt":
                import msvcrt

                os.lseek(self.fd, 0, os.SEEK_SET)
                msvcrt.locking(self.fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass
        os.close(self.fd)  # closing releases an fcntl lock
        self.fd = -1


def same_file(fd: int, path: str) -> bool:
    try:
        held, named = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)


def lock_path(tag_dir: str, key: str) -> str:
    return os.path.join(tag_dir, f".{key}.lock")


def work_prefix(key: str) -> str:
    """Temporary folders of one build's installs start with this (trash too)."""
    return f".tmp-{key}~"


def remove_leftovers(tag_dir: str, prefix: str) -> int:
    """Remove what dead runs left under `prefix` (call with the matching lock held)."""
    removed = 0
    for entry in list_dir(tag_dir):
        if entry.startswith(prefix):
            remove_path(os.path.join(tag_dir, entry))
            removed += 1
    return removed


def list_dir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def write_manifest(path: str, info: dict, records: str, links: list, prefix: list[str]) -> None:  # type: ignore[type-arg]
    """The manifest: where the build came from and every file, link and folder it installed.

    The files and folders are the lines TreeWriter wrote to the file `records`
    as it went, with the one top-level folder `prefix` cut off, copied a line
    at a time: memory does not grow with the build. One entry a line.
    """
    import json
    from json.encoder import encode_basestring_ascii as quoted

    cut = quoted("/".join(prefix) + "/")[1:-1].encode() if prefix else b""

    def records_starting(opening: bytes):  # type: ignore[no-untyped-def]
        """The records of files (`{"path": "`) or folders (`"`) under the prefix, cut."""
        lines.seek(0)
        for line in lines:
            if line.startswith(opening + cut):  # never the top-level folder itself
                yield opening + line[len(opening) + len(cut):].rstrip(b"\n")

    def write_list(items) -> None:  # type: ignore[no-untyped-def]
        separator = b"\n"
        for item in items:
            out.write(separator + item)
            separator = b",\n"

    shown = sorted(({"path": "/".join(parts[len(prefix):]), "target": target} for parts, target, _ in links),
                   key=lambda link: link["path"])
    with open_new(path) as out, open(records, "rb") as lines:
        out.write(json.dumps(dict(info, format=1))[:-1].encode() + b', "files": [')
        write_list(records_starting(b'{"path": "'))
        out.write(b'],\n"links": [')
        write_list(json.dumps(link).encode() for link in shown)
        out.write(b'],\n"dirs": [')
        write_list(records_starting(b'"'))
        out.write(b"]}\n")
        out.flush()
        os.fsync(out.fileno())


def install_tree(work: str, archive: str, final: str, info: dict, os_name: str) -> None:  # type: ignore[type-arg]
    """Unpack `archive` in `work`, write its manifest, move it to `final` by one rename."""
    import time

    unpacked = os.path.join(work, "unpack")
    staged = os.path.join(work, "install")
    records = os.path.join(work, "records")
    make_dirs(unpacked)
    make_dirs(staged)
    try:
        with open_new(records) as listing:
            writer = TreeWriter(unpacked, windows=os_name == "windows" or os.name == "nt", records=listing)
            unpack_archive(archive, writer)
            prefix = writer.top_folder(launcher_name(os_name))
            writer.finish(prefix)
    except OSError as error:  # the records' own file (the rest is checked where it is written)
        raise local_failure(error, records) from None
    info = dict(info, launcher=f"{BUILD_DIR}/{launcher_name(os_name)}",
                installed=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    try:
        os.rename(os.path.join(unpacked, *prefix), os.path.join(staged, BUILD_DIR))
        write_manifest(os.path.join(staged, MANIFEST_NAME), info, records, writer.links, prefix)
    except OSError as error:
        raise local_failure(error, staged) from None
    if os.path.exists(final):  # an install whose launcher went missing, or a repair
        discard_tree(final, os.path.dirname(final), info["build"])
    try:
        retry_windows(lambda: os.rename(staged, final))
    except OSError as error:
        raise local_failure(error, final) from None


# Releases: the index, the archive, the install ###############################


class Index:
    """A release's SHA256SUMS, verified against its pin if it has one."""

    def __init__(self, data: bytes, sums: dict[str, str], base: str):
        self.data = data
        self.sums = sums
        self.base = base


def valid_http_base(base: str) -> bool:
    """True if urllib reads the same host and port from `base` as qtmcp does."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(base)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        return False
    authority = base.partition("://")[2].partition("/")[0]
    return bool(parts.hostname) and parts.netloc == authority


def mirror_bases(settings: Settings) -> list[str]:
    """The bases to try, in order: the mirrors given, else the default release URL."""
    bases: list[str] = []
    for base in settings.mirror:
        scheme = base.partition("://")[0].lower() if "://" in base else ""
        if not base or scheme not in ("", "http", "https", "file") or (
                scheme.startswith("http") and not valid_http_base(base)):
            raise UsageError(f"bad mirror {mask_url(base)!r}: give an http(s):// or file:// URL, or a directory")
        if base not in bases:
            bases.append(base)
    return bases or [DEFAULT_BASE]


def read_index(fetcher: Fetcher, tag: str, bases: list[str] | None = None) -> Index:
    """The release's index from the first base that has it (MissingError if none).

    A pinned release's SHA256SUMS must match its pin (IntegrityError, at once).
    """
    import hashlib

    sink = MemorySink(SUMS_NAME, SUMS_MAX_BYTES)
    try:
        base = fetcher.obtain(tag, SUMS_NAME, sink, bases)
    except MissingError as missing:
        if fetcher.settings.offline:
            raise
        raise MissingError(f"{missing}; check the release tag (tags look like v0.3.0) and the mirror") from None
    data = bytes(sink.data)
    where = mask_url(base_file_location(base, tag, SUMS_NAME))
    actual = hashlib.sha256(data).hexdigest()
    pin = RELEASE_PINS.get(tag)
    if pin and actual != pin:
        raise IntegrityError(
            f"{SUMS_NAME} of release {tag} from {where} does not match the release's pin: "
            f"expected SHA-256 {pin}, got {actual}; the source is not the published release"
        )
    if not pin:
        fetcher.reporter.note(
            f"release {tag} is not pinned in this qtmcp: trusting its {SUMS_NAME} from {where}"
        )
    return Index(data, parse_sums(data, where), base)


def save_index(root: str, tag: str, index: Index, reporter: Reporter) -> None:
    """Keep the verified index in the cache (for `list` offline and for messages)."""
    tag_dir = os.path.join(root, tag)
    path = os.path.join(tag_dir, SUMS_NAME)
    try:
        with open(path, "rb") as cached:
            if cached.read(SUMS_MAX_BYTES + 1) == index.data:
                return
    except OSError:
        pass
    make_dirs(tag_dir)
    with BuildLock(os.path.join(tag_dir, INDEX_LOCK), f"the {SUMS_NAME} of {tag}", reporter):
        remove_leftovers(tag_dir, INDEX_WORK)
        write_atomically(path, index.data, INDEX_WORK)


def cached_index(root: str, tag: str) -> dict[str, str] | None:
    try:
        with open(os.path.join(root, tag, SUMS_NAME), "rb") as cached:
            return parse_sums(cached.read(SUMS_MAX_BYTES + 1), "the cache")
    except (OSError, SourceError):
        return None


def fetch_verified(fetcher: Fetcher, tag: str, name: str, digest: str, dest: str, bases: list[str]) -> str:
    """Download `name` into `dest` and check its digest; return its source.

    A mismatch removes the file and raises IntegrityError at once.
    """
    sink = FileSink(dest, name)
    try:
        base = fetcher.obtain(tag, name, sink, bases)
        if sink.file is None:  # an empty file: nothing was written
            sink.file = open(dest, "wb")
    except OSError as error:
        raise local_failure(error, dest) from None
    finally:
        sink.close()
    source = mask_url(base_file_location(base, tag, name))
    actual = sink.digest()
    if actual != digest:
        remove_path(dest)
        raise IntegrityError(
            f"{name} from {source} has SHA-256 {actual}, expected {digest}: "
            "the file was removed and nothing was installed"
        )
    return source


class Acquired:
    """The archive of a build: its asset name, digest and where it came from."""

    def __init__(self, asset: str, digest: str, source: str):
        self.asset = asset
        self.digest = digest
        self.source = source


def acquire_archive(fetcher: Fetcher, settings: Settings, tag: str, qt: str,
                    platform: tuple[str, str], dest: str, installed) -> Acquired:  # type: ignore[no-untyped-def]
    """Find the build in the release's index and download it, verified, into `dest`.

    `installed(digest)` tells whether that archive is installed already: then
    nothing is downloaded (Acquired.source is ""). For an unpinned release the
    archive comes from the base whose SHA256SUMS vouches for it.
    """
    bases = fetcher.bases
    pinned = tag in RELEASE_PINS
    start = 0
    while True:
        try:
            index = read_index(fetcher, tag, bases[start:])
        except MissingError:
            if settings.sha256:
                return acquire_by_digest(fetcher, tag, qt, platform, dest, settings.sha256)
            raise
        save_index(cache_root(settings, os.environ), tag, index, fetcher.reporter)
        asset = choose_asset(index.sums, qt, platform, tag)
        digest = index.sums[asset]
        if settings.sha256 and settings.sha256 != digest:
            raise IntegrityError(
                f"--sha256 {settings.sha256} does not match {asset}'s {digest} in {SUMS_NAME} "
                f"from {mask_url(base_file_location(index.base, tag, SUMS_NAME))}"
            )
        if installed(digest):
            return Acquired(asset, digest, "")
        start = bases.index(index.base) + 1
        try:
            archive_bases = bases if pinned else [index.base]
            return Acquired(asset, digest, fetch_verified(fetcher, tag, asset, digest, dest, archive_bases))
        except MissingError:
            if pinned or start >= len(bases):
                raise
            fetcher.reporter.note(f"trying the next source for both {SUMS_NAME} and {asset}")


def acquire_by_digest(fetcher: Fetcher, tag: str, qt: str, platform: tuple[str, str],
                      dest: str, digest: str) -> Acquired:
    """With --sha256 and no SHA256SUMS anywhere: the build's archive of that digest."""
    names = asset_names(qt, platform)
    fetcher.reporter.note(f"no {SUMS_NAME} for release {tag}: checking the archive against --sha256")
    failure: MissingError | None = None
    for name in names:
        try:
            return Acquired(name, digest, fetch_verified(fetcher, tag, name, digest, dest, fetcher.bases))
        except MissingError as missing:
            failure = failure or missing
    raise failure or MissingError(f"no source has release {tag}")


def install_with(settings: Settings, reporter: Reporter, qt: str, platform: tuple[str, str],
                 acquire, reuse: bool = True) -> str:  # type: ignore[no-untyped-def]
    """Install a build all-or-nothing, under its lock; return its launcher.

    `acquire(dest, installed)` puts the verified archive at `dest` and returns
    an Acquired (with source "" when `installed(digest)` says it is there).
    With `reuse`, an install that another qtmcp finished meanwhile is used and
    the build's pointer is moved to the install; a repair (no `reuse`) replaces
    the install and leaves the pointer as it is.
    """
    import tempfile

    root = cache_root(settings, os.environ)
    tag = release_tag(settings)
    key = build_key(qt, platform)
    tag_dir = os.path.join(root, tag)
    make_dirs(tag_dir)
    with BuildLock(lock_path(tag_dir, key), f"{key} of {tag}", reporter):
        if reuse and not settings.refresh and not settings.sha256:
            found = cached_launcher(root, tag, key, platform[0])
            if found:
                return found
        remove_leftovers(tag_dir, work_prefix(key))
        try:
            work = tempfile.mkdtemp(prefix=work_prefix(key), dir=tag_dir)
        except OSError as error:
            raise local_failure(error, tag_dir) from None
        try:
            def installed(digest: str) -> bool:
                return reuse and install_has(os.path.join(tag_dir, install_name(key, digest)), digest, platform[0])

            archive = os.path.join(work, "archive")
            got = acquire(archive, installed)
            final = os.path.join(tag_dir, install_name(key, got.digest))
            if got.source:
                info = {"release": tag, "build": key, "asset": got.asset, "sha256": got.digest,
                        "source": got.source}
                install_tree(work, archive, final, info, platform[0])
                reporter.note(f"installed {got.asset} into {final}")
            if reuse:
                write_atomically(pointer_path(tag_dir, key), (os.path.basename(final) + "\n").encode(),
                                 work_prefix(key) + "pointer-")
        finally:
            remove_path(work)
    return launcher_path(final, platform[0])


def install_build(settings: Settings, reporter: Reporter, qt: str, platform: tuple[str, str]) -> str:
    """Install the build from the release's sources; return its launcher."""
    tag = release_tag(settings)

    def acquire(dest: str, installed) -> Acquired:  # type: ignore[no-untyped-def]
        if settings.sha256 and installed(settings.sha256):  # pinned by hand, already here
            return Acquired(asset_names(qt, platform)[0], settings.sha256, "")
        fetcher = Fetcher(settings, reporter, mirror_bases(settings))
        return acquire_archive(fetcher, settings, tag, qt, platform, dest, installed)

    return install_with(settings, reporter, qt, platform, acquire)


def ensure_build(settings: Settings, reporter: Reporter, qt: str, platform: tuple[str, str]) -> str:
    """The launcher of the build: from the cache if it is there, else installed now.

    With --sha256 only the install of that archive will do.
    """
    root, tag, key = cache_root(settings, os.environ), release_tag(settings), build_key(qt, platform)
    if settings.sha256:
        install = os.path.join(root, tag, install_name(key, settings.sha256))
        if install_has(install, settings.sha256, platform[0]):
            return launcher_path(install, platform[0])
    elif not settings.refresh:
        found = cached_launcher(root, tag, key, platform[0])
        if found:
            return found
    return install_build(settings, reporter, qt, platform)


# Starting the launcher #######################################################


def start_launcher(path: str, args: list[str], reporter: Reporter) -> int:
    """Replace qtmcp with the launcher (POSIX) or run it as a tied child (Windows).

    The launcher gets `args`, qtmcp's environment, current directory and
    standard streams. On POSIX this does not return.
    """
    if not os.path.isfile(path):
        raise LocalError(f"the launcher {path} is missing: check --launcher, or run 'qtmcp verify --repair'")
    reporter.end_bar()
    try:
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    if os.name == "nt":
        return run_child(path, args)
    try:  # the C module, loaded at every start: `signal` would import 12 more
        import _signal as signals
    except ImportError:  # an interpreter without it
        import signal as signals  # type: ignore[no-redef]

    signals.signal(signals.SIGPIPE, signals.SIG_DFL)  # Python ignores it; the launcher must not
    try:
        os.execv(path, [path] + args)
    except OSError as error:
        signals.signal(signals.SIGPIPE, signals.SIG_IGN)
        raise launch_failure(path, error) from None
    return 0  # not reached


def launch_failure(path: str, error: OSError) -> LocalError:
    import errno

    if error.errno == errno.ENOEXEC or getattr(error, "winerror", None) in (193, 216):
        reason = "it is not a program this system can run (built for another CPU or OS?)"
    elif error.errno in (errno.EACCES, errno.EPERM):
        reason = "it is not executable (permission denied)"
    elif error.errno == errno.ENOENT:
        reason = "it, or the interpreter it names, is missing"
    else:
        reason = error.strerror or str(error)
    return LocalError(f"cannot start the launcher {path}: {reason}")


def run_child(path: str, args: list[str]) -> int:
    """Windows: run the launcher with our standard handles, tied to our life.

    Ctrl-C reaches the child (same console) while qtmcp ignores it and keeps
    waiting; the exit status is the child's, as the signed 32-bit value.
    """
    import signal
    import subprocess

    kill_children_on_exit()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    streams = [fd if fd_is_open(fd) else None for fd in (0, 1, 2)]
    try:
        child = subprocess.Popen([path] + args, stdin=streams[0], stdout=streams[1], stderr=streams[2])
    except OSError as error:
        raise launch_failure(path, error) from None
    status = child.wait()
    return status - 2**32 if status >= 2**31 else status


def fd_is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def kill_children_on_exit() -> None:
    """Windows: put qtmcp in a job object that kills its processes when qtmcp ends.

    The child inherits the job, so it cannot outlive qtmcp, however qtmcp dies.
    """
    import ctypes
    from ctypes import wintypes

    class BasicLimits(ctypes.Structure):
        _fields_ = [
            ("PerProcessUserTimeLimit", ctypes.c_int64),
            ("PerJobUserTimeLimit", ctypes.c_int64),
            ("LimitFlags", wintypes.DWORD),
            ("MinimumWorkingSetSize", ctypes.c_size_t),
            ("MaximumWorkingSetSize", ctypes.c_size_t),
            ("ActiveProcessLimit", wintypes.DWORD),
            ("Affinity", ctypes.c_size_t),
            ("PriorityClass", wintypes.DWORD),
            ("SchedulingClass", wintypes.DWORD),
        ]

    class IoCounters(ctypes.Structure):
        _fields_ = [(name, ctypes.c_uint64) for name in (
            "ReadOperationCount", "WriteOperationCount", "OtherOperationCount",
            "ReadTransferCount", "WriteTransferCount", "OtherTransferCount")]

    class ExtendedLimits(ctypes.Structure):
        _fields_ = [
            ("BasicLimitInformation", BasicLimits),
            ("IoInfo", IoCounters),
            ("ProcessMemoryLimit", ctypes.c_size_t),
            ("JobMemoryLimit", ctypes.c_size_t),
            ("PeakProcessMemoryUsed", ctypes.c_size_t),
            ("PeakJobMemoryUsed", ctypes.c_size_t),
        ]

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    kernel32.CreateJobObjectW.restype = wintypes.HANDLE
    kernel32.GetCurrentProcess.restype = wintypes.HANDLE
    job = kernel32.CreateJobObjectW(None, None)
    if not job:
        return
    limits = ExtendedLimits()
    limits.BasicLimitInformation.LimitFlags = 0x2000  # JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
    job_object_extended_limit_information = 9
    kernel32.SetInformationJobObject(
        wintypes.HANDLE(job), job_object_extended_limit_information, ctypes.byref(limits), ctypes.sizeof(limits)
    )
    # The job's handle stays open until qtmcp exits; then Windows kills the job.
    kernel32.AssignProcessToJobObject(wintypes.HANDLE(job), wintypes.HANDLE(kernel32.GetCurrentProcess()))


# Commands ####################################################################


def chosen_platform(settings: Settings, for_run: bool) -> tuple[str, str]:
    """The build's platform: this machine's, or --platform (run: same OS only)."""
    if settings.platform:
        platform = parse_platform(settings.platform[-1])
        if for_run:
            here = machine_platform()
            if platform[0] != here[0]:
                raise UsageError(
                    f"--platform {platform_name(platform)} cannot run on {here[0]}: "
                    "for run, --platform only picks another CPU of this OS (use fetch or mirror)"
                )
    else:
        platform = machine_platform()
    check_libc(platform)
    return platform


def chosen_qt(settings: Settings, reporter: Reporter) -> str:
    """The --qt version; without one, UsageError naming what the release offers."""
    if settings.qt:
        return normalize_qt(settings.qt[-1])
    tag = release_tag(settings)
    sums = cached_index(cache_root(settings, os.environ), tag)
    if sums is None:
        try:
            quiet = Reporter(quiet=True, log_path=reporter.log_path)
            sums = read_index(Fetcher(settings, quiet, mirror_bases(settings)), tag).sums
        except QtmcpError:
            sums = None
    offered = f" (release {tag} offers Qt {', '.join(offered_versions(sums))})" if sums else ""
    raise UsageError(f"which Qt version does the application use? give --qt VERSION or QTMCP_QT{offered}")


def no_arguments(settings: Settings, count: int = 0, what: str = "") -> list[str]:
    """The command's own arguments, checked to be exactly `count` of them."""
    if len(settings.positionals) != count:
        if count and not settings.positionals:
            raise UsageError(f"'{settings.command}' needs {what}")
        extra = settings.positionals[count:]
        raise UsageError(f"'{settings.command}' takes {what or 'no arguments'}, not {' '.join(extra)!r}")
    return settings.positionals


def command_run(settings: Settings, reporter: Reporter) -> int:
    try:
        path = launcher_for(settings, reporter, for_run=True)
    except QtmcpError as error:
        word = settings.launcher_args[0] if settings.launcher_args else ""
        if word and not os.path.exists(word):
            import difflib

            close = difflib.get_close_matches(word, COMMANDS, 1, 0.75)
            if close:
                error.args = (f"{error} (the launcher would get {word!r}: did you mean 'qtmcp {close[0]}'?)",)
        raise
    return start_launcher(path, settings.launcher_args, reporter)


def command_fetch(settings: Settings, reporter: Reporter) -> int:
    no_arguments(settings)
    print(launcher_for(settings, reporter, for_run=False))
    return 0


def launcher_for(settings: Settings, reporter: Reporter, for_run: bool) -> str:
    if settings.launcher:
        path = os.path.abspath(os.path.expanduser(settings.launcher))
        if not os.path.isfile(path):
            raise LocalError(f"no launcher at {path} (from --launcher or QTMCP_LAUNCHER): check the path")
        return path
    platform = chosen_platform(settings, for_run)
    qt = chosen_qt(settings, reporter)
    return ensure_build(settings, reporter, qt, platform)


def command_list(settings: Settings, reporter: Reporter) -> int:
    no_arguments(settings)
    tag = release_tag(settings)
    root = cache_root(settings, os.environ)
    source = ""
    try:
        index = read_index(Fetcher(settings, reporter, mirror_bases(settings)), tag)
        save_index(root, tag, index, reporter)
        sums, source = index.sums, mask_url(index.base)
    except MissingError:
        cached = cached_index(root, tag)
        if cached is None:
            raise
        reporter.note(f"no source answered: listing the {SUMS_NAME} of {tag} kept in the cache")
        sums, source = cached, root
    try:
        here: tuple[str, str] | None = chosen_platform(settings, for_run=False)
    except NoBuildError:
        here = None
    qts = [normalize_qt(q) for q in settings.qt]
    filters = [parse_platform(p) for p in settings.platform]
    builds = []
    for name in sorted(sums):
        parsed = parse_asset_name(name)
        if not parsed or (qts and parsed[0] not in qts) or (filters and parsed[1] not in filters):
            continue
        qt, platform, kind = parsed
        key = build_key(qt, platform)
        fits = platform == here and next(n for n in asset_names(qt, platform) if n in sums) == name
        install = os.path.join(root, tag, install_name(key, sums[name]))
        builds.append({"asset": name, "qt": qt, "platform": platform_name(platform), "os": platform[0],
                       "arch": platform[1], "kind": kind, "sha256": sums[name], "fits": fits,
                       "cached": is_complete(install, platform[0])})
    if settings.json:
        import json

        print(json.dumps({"release": tag, "source": source, "platform": platform_name(here) if here else None,
                          "qt": qts, "builds": builds}, indent=2))
        return 0
    print(f"release {tag} from {source}" + (f" (this machine: {platform_name(here)})" if here else ""))
    print(f"{'ASSET':44} {'QT':14} {'PLATFORM':14} FITS CACHED")
    for build in builds:
        print(f"{build['asset']:44} {build['qt']:14} {build['platform']:14} "
              f"{'yes' if build['fits'] else '-':4} {'yes' if build['cached'] else '-'}")
    return 0


def command_mirror(settings: Settings, reporter: Reporter) -> int:
    """Copy the release, verified, into DEST/<tag>/, picking up where a run stopped.

    For an unpinned release the archives come from the base whose SHA256SUMS
    vouches for them; when that base lacks one, the next base's pair is used.
    """
    (dest,) = no_arguments(settings, 1, "a destination folder: qtmcp mirror DEST")
    tag = release_tag(settings)
    fetcher = Fetcher(settings, reporter, mirror_bases(settings))
    out_dir = os.path.join(os.path.abspath(dest), tag)
    pinned = tag in RELEASE_PINS
    copied = kept = size = start = 0
    while True:
        index = read_index(fetcher, tag, fetcher.bases[start:])
        chosen = chosen_assets(settings, index.sums, tag)
        make_dirs(out_dir)
        start = fetcher.bases.index(index.base) + 1
        try:
            for name in chosen:
                path = os.path.join(out_dir, name)
                if os.path.isfile(path) and file_digest(path)[1] == index.sums[name]:
                    kept += 1
                    continue
                if os.path.exists(path):
                    reporter.note(f"replacing {path}: its digest does not match {SUMS_NAME}")
                archive_bases = fetcher.bases if pinned else [index.base]
                fetch_verified(fetcher, tag, name, index.sums[name], path + ".part", archive_bases)
                replace_file(path + ".part", path)
                copied += 1
                size += os.path.getsize(path)
            break
        except MissingError:
            if pinned or start >= len(fetcher.bases):
                raise
            reporter.note(f"trying the next source for both {SUMS_NAME} and the archives")
        except OSError as error:
            raise local_failure(error, out_dir) from None
    sums_path = os.path.join(out_dir, SUMS_NAME)
    try:
        with open(sums_path + ".part", "wb") as out:
            out.write(index.data)
        replace_file(sums_path + ".part", sums_path)
    except OSError as error:
        raise local_failure(error, sums_path) from None
    print(f"mirrored release {tag} into {out_dir}: {copied} archive(s) copied ({human_size(size)}), "
          f"{kept} already there and verified, {SUMS_NAME} "
          + ("matching its pin" if pinned else "copied as served (release not pinned)"))
    print(f"use it with: --mirror {os.path.abspath(dest)} (or serve {os.path.abspath(dest)} over HTTP)")
    return 0


def chosen_assets(settings: Settings, sums: dict[str, str], tag: str) -> list[str]:
    """The release's assets that --qt and --platform (each repeatable) choose."""
    qts = [normalize_qt(q) for q in settings.qt]
    filters = [parse_platform(p) for p in settings.platform]
    chosen = []
    for name in sorted(sums):
        parsed = parse_asset_name(name)
        if parsed and (not qts or parsed[0] in qts) and (not filters or parsed[1] in filters):
            chosen.append(name)
    if not chosen:
        raise NoBuildError(f"release {tag} has no build for the chosen --qt/--platform "
                           f"(it offers Qt {', '.join(offered_versions(sums))})")
    return chosen


def command_install(settings: Settings, reporter: Reporter) -> int:
    """Install an archive carried in by hand: no connection is opened."""
    (archive,) = no_arguments(settings, 1, "an archive: qtmcp install ARCHIVE")
    if not os.path.isfile(archive):
        raise UsageError(f"no archive at {archive}")
    tag = release_tag(settings)
    name = os.path.basename(archive)
    parsed = parse_asset_name(name)
    if not parsed and not settings.qt:
        raise UsageError(f"cannot tell the build from the file name {name}: give --qt (and --platform)")
    qt = normalize_qt(settings.qt[-1]) if settings.qt else parsed[0]  # type: ignore[index]
    if settings.platform:
        platform = parse_platform(settings.platform[-1])
    else:
        platform = parsed[1] if parsed else machine_platform()
    asset = name if parsed and parsed[:2] == (qt, platform) else f"{asset_stem(qt, platform)}.{archive_kind(archive)}"
    digest = expected_digest(settings, tag, archive, asset, qt, platform)

    def acquire(dest: str, installed) -> Acquired:  # type: ignore[no-untyped-def]
        if installed(digest):
            return Acquired(asset, digest, "")
        sink = FileSink(dest, "")
        try:
            sink.reset()
            with open(archive, "rb") as source:
                copy_stream(source, sink, reporter, archive, None)
        finally:
            sink.close()
        if sink.digest() != digest:
            raise IntegrityError(f"{archive} has SHA-256 {sink.digest()}, expected {digest}: nothing was "
                                 "installed; check the digest, or bring an undamaged copy of the file")
        return Acquired(asset, digest, "file://" + os.path.abspath(archive).replace(os.sep, "/"))

    print(install_with(settings, reporter, qt, platform, acquire))
    return 0


def expected_digest(settings: Settings, tag: str, archive: str, asset: str, qt: str,
                    platform: tuple[str, str]) -> str:
    """The digest an archive carried in must have: --sha256, --sums or a SHA256SUMS beside it."""
    import hashlib

    sums_path = settings.sums or os.path.join(os.path.dirname(os.path.abspath(archive)), SUMS_NAME)
    listed = ""
    if settings.sums or os.path.isfile(sums_path):
        try:
            with open(sums_path, "rb") as source:
                data = source.read(SUMS_MAX_BYTES + 1)
        except OSError as error:
            raise UsageError(f"cannot read {sums_path}: {describe_error(error)}") from None
        pin = RELEASE_PINS.get(tag)
        actual = hashlib.sha256(data).hexdigest()
        if pin and actual != pin:
            raise IntegrityError(f"{sums_path} does not match the pin of release {tag}: "
                                 f"expected SHA-256 {pin}, got {actual}")
        sums = parse_sums(data, sums_path)
        entry = next((n for n in [asset] + asset_names(qt, platform) if n in sums), None)
        if entry is None:
            raise NoBuildError(f"{sums_path} does not list {asset}: is it the right release's SHA256SUMS?")
        listed = sums[entry]
    if settings.sha256 and listed and settings.sha256 != listed:
        raise IntegrityError(f"--sha256 {settings.sha256} disagrees with {sums_path}, which lists {listed}")
    if not (settings.sha256 or listed):
        raise IntegrityError(
            f"nothing to check {archive} against: put the release's {SUMS_NAME} beside it, "
            "or give --sums FILE or --sha256 HEX"
        )
    return settings.sha256 or listed


def find_installs(root: str) -> list[tuple[str, str, str]]:
    """(tag, install folder name, path) of every complete install in the cache."""
    found = []
    for tag in list_dir(root):
        tag_dir = os.path.join(root, tag)
        if tag.startswith(".") or not os.path.isdir(tag_dir):
            continue
        for entry in list_dir(tag_dir):
            path = os.path.join(tag_dir, entry)
            if not entry.startswith(".") and os.path.isfile(os.path.join(path, MANIFEST_NAME)):
                found.append((tag, entry, path))
    return found


def tree_size(path: str) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def command_cache(settings: Settings, reporter: Reporter) -> int:
    (action,) = no_arguments(settings, 1, "one of: dir, list, clean")
    root = cache_root(settings, os.environ)
    if action == "dir":
        print(root)
        return 0
    if action == "list":
        rows = []
        for tag, name, path in find_installs(root):
            manifest = read_manifest(path)
            key = str(manifest.get("build", ""))
            rows.append({"release": tag, "build": key, "asset": manifest.get("asset"), "path": path,
                         "sha256": manifest.get("sha256"), "source": manifest.get("source"),
                         "installed": manifest.get("installed"), "size": tree_size(path),
                         "current": pointed_install(os.path.join(root, tag), key) == name})
        if settings.json:
            import json

            print(json.dumps({"cache": root, "installs": rows}, indent=2))
        else:
            print(f"cache {root}: {len(rows)} install(s)")
            for row in rows:
                mark = "*" if row["current"] else " "
                print(f"{mark} {row['release']:14} {row['build']:28} {human_size(row['size']):>10}  {row['path']}")
        return 0
    if action == "clean":
        return clean_cache(settings, reporter, root)
    raise UsageError(f"unknown cache action {action!r}: use dir, list or clean")


def build_keys_in(tag_dir: str) -> set[str]:
    """The builds that have anything in a release's folder (installs, locks, leftovers)."""
    keys = set()
    for entry in list_dir(tag_dir):
        if entry.endswith(".current"):
            keys.add(entry[: -len(".current")])
        elif entry.startswith(".") and entry.endswith(".lock"):
            keys.add(entry[1: -len(".lock")])
        elif entry.startswith(".tmp-") and "~" in entry:
            keys.add(entry[len(".tmp-"): entry.index("~")])
        elif len(entry) > 17 and entry[-17] == "-":
            keys.add(entry[:-17])
    return {key for key in keys if key.startswith("qt")}


def clean_cache(settings: Settings, reporter: Reporter, root: str) -> int:
    """Remove other releases' installs and dead runs' leftovers (--all: everything).

    A build that another qtmcp is installing (its lock is held) is left alone.
    """
    current = "" if settings.all else settings.release
    if not settings.all and not current:
        try:
            current = default_release()
        except UsageError:
            raise UsageError("which release is current? give --release TAG (or use 'cache clean --all')") from None
    removed = busy = 0
    freed = 0
    for tag in list_dir(root):
        tag_dir = os.path.join(root, tag)
        if not os.path.isdir(tag_dir) or tag.startswith("."):
            continue
        keep_release = tag == current
        for key in sorted(build_keys_in(tag_dir)):
            lock = BuildLock(lock_path(tag_dir, key), f"{key} of {tag}", reporter)
            if not lock.try_acquire():
                reporter.note(f"leaving {key} of {tag} alone: another qtmcp is installing it")
                busy += 1
                continue
            try:
                keep = pointed_install(tag_dir, key) if keep_release else ""
                if not keep_release:
                    remove_path(pointer_path(tag_dir, key))
                for entry in list_dir(tag_dir):
                    path = os.path.join(tag_dir, entry)
                    ours = entry.startswith(work_prefix(key)) or (
                        entry.startswith(key + "-") and len(entry) == len(key) + 17)
                    if ours and entry != keep:
                        freed += tree_size(path)
                        discard_tree(path, tag_dir, key)
                        removed += 1
                if not keep_release:
                    try:  # while we hold it: a waiter then finds it gone and takes a new one
                        os.remove(lock_path(tag_dir, key))
                    except OSError:
                        pass  # Windows: a held file cannot be removed; it stays, empty
            finally:
                lock.release()
        index_lock = BuildLock(os.path.join(tag_dir, INDEX_LOCK), f"the {SUMS_NAME} of {tag}", reporter)
        if index_lock.try_acquire():
            try:
                removed += remove_leftovers(tag_dir, INDEX_WORK)
                if not keep_release and not busy:
                    remove_path(os.path.join(tag_dir, SUMS_NAME))
                    try:
                        os.remove(os.path.join(tag_dir, INDEX_LOCK))
                    except OSError:
                        pass
            finally:
                index_lock.release()
        if not keep_release and not list_dir(tag_dir):
            try:
                os.rmdir(tag_dir)
            except OSError:
                pass
    kept = "" if settings.all else f"; kept release {current}"
    print(f"removed {removed} install(s) and leftover(s), {human_size(freed)} freed from {root}{kept}"
          + (f"; {busy} build(s) in use left alone" if busy else ""))
    return 0


def verify_install(install: str, manifest: dict) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    """(what, path) for each file of an install that changed, went missing or appeared."""
    build = os.path.join(install, BUILD_DIR)
    files = {entry["path"]: (entry["size"], entry["sha256"]) for entry in manifest.get("files", [])}
    links = {entry["path"]: entry["target"] for entry in manifest.get("links", [])}
    dirs = set(manifest.get("dirs", []))
    problems = []
    seen = set()
    for folder, subfolders, names in os.walk(build):
        relative = os.path.relpath(folder, build).replace(os.sep, "/")
        prefix = "" if relative == "." else relative + "/"
        for name in sorted(subfolders + names):
            path = os.path.join(folder, name)
            entry = prefix + name
            if os.path.islink(path):
                seen.add(entry)
                if entry not in links:
                    problems.append(("added", entry))
                elif os.readlink(path) != links[entry]:
                    problems.append(("changed", entry))
            elif os.path.isdir(path):
                if entry not in dirs:
                    problems.append(("added", entry + "/"))
            else:
                seen.add(entry)
                if entry not in files:
                    problems.append(("added", entry))
                elif file_digest(path) != tuple(files[entry]):
                    problems.append(("changed", entry))
    problems += [("missing", entry) for entry in sorted(set(files) | set(links)) if entry not in seen]
    return problems


def command_verify(settings: Settings, reporter: Reporter) -> int:
    """Re-hash every install against its manifest; --repair reinstalls what differs."""
    no_arguments(settings)
    root = cache_root(settings, os.environ)
    installs = find_installs(root)
    damaged = []
    for tag, name, path in installs:
        manifest = read_manifest(path)
        problems = verify_install(path, manifest)
        for what, entry in problems:
            print(f"{what}: {os.path.join(path, BUILD_DIR, *entry.rstrip('/').split('/'))}")
        if problems:
            damaged.append((tag, path, manifest))
    print(f"verified {len(installs)} install(s) in {root}: "
          + (f"{len(damaged)} differ from their manifests" if damaged else "all match their manifests"))
    if not damaged:
        return 0
    if not settings.repair:
        reporter.note("'qtmcp verify --repair' reinstalls them from their sources")
        return IntegrityError.status
    for tag, path, manifest in damaged:
        repair_install(settings, reporter, tag, manifest)
        print(f"repaired: {path}")
    return 0


def repair_install(settings: Settings, reporter: Reporter, tag: str, manifest: dict) -> None:  # type: ignore[type-arg]
    """Reinstall a damaged install, checked against its recorded digest.

    From --mirror/QTMCP_MIRROR if given, else from where it came (then the
    default release host).
    """
    parsed = parse_asset_name(str(manifest.get("asset", "")))
    digest = str(manifest.get("sha256", ""))
    if not parsed or not is_sha256(digest):
        raise LocalError(f"cannot repair {manifest.get('build')} of {tag}: its manifest is damaged; "
                         "remove it with 'qtmcp cache clean --all' and run again")
    settings.release = tag
    qt, platform, _ = parsed

    name = str(manifest["asset"])
    recorded = str(manifest.get("source", ""))
    suffix = f"/{tag}/{name}"
    bases = mirror_bases(settings)
    if not settings.mirror and recorded.endswith(suffix) and "***@" not in recorded:
        bases = [recorded[: -len(suffix)]] + [base for base in bases if base != recorded[: -len(suffix)]]

    def acquire(dest: str, installed) -> Acquired:  # type: ignore[no-untyped-def]
        fetcher = Fetcher(settings, reporter, bases)
        for base in bases:
            if base not in settings.mirror:
                fetcher.credentials[base] = None  # credentials go only to configured mirrors
        return Acquired(name, digest, fetch_verified(fetcher, tag, name, digest, dest, bases))

    install_with(settings, reporter, qt, platform, acquire, reuse=False)


# main ########################################################################

COMMAND_FUNCTIONS = {
    "run": command_run,
    "fetch": command_fetch,
    "list": command_list,
    "mirror": command_mirror,
    "install": command_install,
    "cache": command_cache,
    "verify": command_verify,
}


def help_text(environ: dict[str, str]) -> str:
    statuses = "\n".join(f"  {status}  {meaning}" for status, meaning in EXIT_STATUSES)
    return HELP.format(cache=default_cache_root(environ), statuses=statuses)


def main(argv: list[str] | None = None) -> int:
    """Run qtmcp with `argv` (default: sys.argv[1:]); return the exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    environ = os.environ
    reporter = Reporter(log_path=env_value(environ, "QTMCP_LOG"))
    debug = env_value(environ, "QTMCP_DEBUG").lower() in SWITCH_TRUE
    try:
        settings = read_settings(args, environ)
        reporter = Reporter(settings.quiet, settings.log)
        if settings.help:
            print(help_text(environ), end="")
            return 0
        if settings.version:
            print(f"qtmcp {__version__}")
            return 0
        return COMMAND_FUNCTIONS[settings.command](settings, reporter)
    except QtmcpError as error:
        failure: BaseException = error
        message, status = str(error), error.status
    except KeyboardInterrupt as error:
        failure, message, status = error, "interrupted", 130
    except OSError as error:
        failure = error
        message, status = f"{describe_error(error)}: {getattr(error, 'filename', '') or ''}".rstrip(": "), 7
    except Exception as error:  # a bug: still one line, and how to report it
        failure, status = error, 1
        message = (f"unexpected {type(error).__name__}: {error}; set QTMCP_DEBUG=1 for a traceback "
                   f"and report it at {PROJECT_URL}/issues")
    if debug:
        import traceback

        traceback.print_exception(type(failure), failure, failure.__traceback__)
    reporter.error(message)
    return status


if __name__ == "__main__":
    sys.modules.setdefault("qtmcp", sys.modules["__main__"])
    sys.exit(main())
