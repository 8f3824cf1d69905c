"""Fetch, verify and start the native QtMcp launcher: an MCP server for Qt apps.

QtMcp lets an AI assistant inspect and drive a Qt desktop application: a native
launcher injects a probe library into the application and speaks the Model
Context Protocol (MCP) over stdio. This module is the Python side. Put it into
an MCP client's configuration as the server command:

    pipx run qtmcp -- /path/to/app [APP_ARGS...]

and it picks the native build for the application's Qt version and CPU (read
from its files without running it, or given with --qt), fetches it from
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
    import tarfile
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from typing import Any, BinaryIO, Literal, TypeVar

    T = TypeVar("T")

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

COMMANDS = ("run", "fetch", "list", "mirror", "install", "cache", "verify", "detect", "setup", "doctor",
            "help")
APP_COMMANDS = ("run", "fetch", "detect")  # the first other argument is the application: the rest follows it
OLD_COMMANDS = {  # qtmcp 0.2's commands (an earlier server on the same PyPI name), and what replaced them
    "serve": "now qtmcp starts the native launcher itself: qtmcp -- /path/to/app "
             "(or qtmcp --qt 6.8 -- /path/to/app; see 'Upgrading from qtmcp 0.2' in the README)",
    "download-tools": "now: qtmcp fetch --qt 6.8 (see 'Upgrading from qtmcp 0.2' in the README)",
}
OS_NAMES = ("linux", "windows", "macos")
ARCH_NAMES = ("x64", "x86", "arm64")
ARCHIVE_KINDS = ("tar.gz", "zip")
NATIVE_KIND = {"linux": "tar.gz", "windows": "zip", "macos": "zip"}

SUMS_NAME = "SHA256SUMS"
SUMS_MAX_BYTES = 1024 * 1024
MANIFEST_NAME = "manifest.json"
MANIFEST_MAX = 256 * 1024 * 1024  # bytes of a manifest read back (200,000 entries fit)
BUILD_DIR = "build"
INDEX_LOCK = ".index.lock"  # held while the cache's copy of a SHA256SUMS is written
INDEX_WORK = ".tmp-index~"  # the temporary files of that copy
MIRROR_LOCK = ".qtmcp-mirror.lock"  # held in DEST/<tag>/ while `mirror` works there
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

# Reading applications (--qt auto): every read of a program is bounded
APP_READ_MAX = 4 * 1024 * 1024  # bytes read of one program or library, whatever its headers claim
APP_SEARCH_MAX = 128  # places looked at for one library; entries read of one search path
BUILD_STRING_CHUNK = 256 * 1024  # bytes read at a time looking for QtCore's build string
LD_CACHE_MAX = 4 * 1024 * 1024  # a bigger /etc/ld.so.cache is not read
PLIST_MAX = 1024 * 1024  # a bigger Info.plist is not read
CONFIG_MAX = 64 * 1024 * 1024  # bytes of a client's configuration (~/.claude.json keeps history)
ELF_MAX_SEGMENTS = 512
ELF_MAX_SECTIONS = 4096
ELF_MAX_DYNAMIC = 8192  # dynamic section entries
ELF_MAX_VERSIONS = 1024  # version needs or definitions
ELF_NAME_MAX = 64 * 1024  # bytes of one name in the dynamic string table (an rpath may be long)
PE_MAX_SECTIONS = 96  # the most Windows loads
PE_MAX_IMPORTS = 1024
PE_MAX_RESOURCES = 4096  # entries of one resource directory
MACHO_MAX_SLICES = 32
MACHO_MAX_COMMANDS = 2 * 1024 * 1024  # bytes of load commands
ELF_MACHINES = {3: "x86", 62: "x64", 183: "arm64", 40: "arm", 243: "riscv", 8: "mips", 20: "ppc",
                21: "ppc64", 22: "s390x", 258: "loongarch64"}
ELF_PLATFORMS = {3: "i686", 62: "x86_64", 183: "aarch64"}  # what ld.so's $PLATFORM stands for
ELF_TRIPLETS = {3: "i386-linux-gnu", 62: "x86_64-linux-gnu", 183: "aarch64-linux-gnu", 40: "arm-linux-gnueabihf"}
PE_MACHINES = {0x14C: "x86", 0x8664: "x64", 0xAA64: "arm64", 0x1C4: "arm"}
MACHO_CPUS = {7: "x86", 0x01000007: "x64", 0x0100000C: "arm64", 0x0200000C: "arm64_32", 12: "arm", 18: "ppc",
              0x01000012: "ppc64"}
MACHO_MAGICS = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
FAT_MAGICS = (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf")  # universal: fat, fat64
LC_ID_DYLIB, LC_RPATH = 0xD, 0x8000001C
MACHO_DYLIB_COMMANDS = (0xC, 0x80000018, 0x8000001F, 0x20, 0x80000023)  # load, weak, reexport, lazy, upward
FORMAT_NAMES = {"elf": "ELF", "pe": "PE", "macho": "Mach-O"}

# Errors and exit statuses ####################################################


class QtmcpError(Exception):
    """A failure reported as one line on stderr; `status` is the exit status.

    Each kind's `title` and docstring are its line under "exit statuses" in --help.
    """

    status = 1
    title = "unexpected error"


class UsageError(QtmcpError):
    """Unknown option, bad or missing Qt version, platform, tag or argument."""

    status = 2
    title = "usage error"


class NoBuildError(QtmcpError):
    """The release has no archive for this Qt version and platform."""

    status = 3
    title = "no build"


class SourceError(QtmcpError):
    """Network, HTTP, TLS, mirror, malformed SHA256SUMS, file missing offline."""

    status = 4
    title = "source error"


class IntegrityError(QtmcpError):
    """A digest did not match, or there is none to check against."""

    status = 5
    title = "integrity error"


class ArchiveError(QtmcpError):
    """Unreadable, or holds something unsafe (see README)."""

    status = 6
    title = "bad archive"


class LocalError(QtmcpError):
    """Cache not writable, disk full, path too long, launcher not startable."""

    status = 7
    title = "local error"


class MissingError(SourceError):
    """No base has the file (the caller may have another way, like --sha256)."""


class NotFoundAtBase(Exception):
    """A base does not have a file (404, 401, 403, no such file): try the next.

    `refused` is True where the base refused access (401, 403), so that the
    message can say where credentials come from.
    """

    def __init__(self, message: str, refused: bool = False):
        super().__init__(message)
        self.refused = refused


class TransientError(Exception):
    """An attempt failed in a way that another attempt may not (retried)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


ERROR_KINDS = (UsageError, NoBuildError, SourceError, IntegrityError, ArchiveError, LocalError)

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


def listed_names(qt: str, platform: tuple[str, str]) -> list[str]:
    """The names a release's index may list a build under, in order of preference:
    asset_names(), then for Windows x64 the name releases up to v0.2.x gave it
    ('qtmcp-qt6.8-windows.zip'), used where no newer name is listed."""
    names = asset_names(qt, platform)
    return names + [legacy_windows_name(qt)] if platform == ("windows", "x64") else names


def legacy_windows_name(qt: str) -> str:
    return f"qtmcp-qt{qt}-windows.zip"


def parse_asset_name(name: str) -> tuple[str, tuple[str, str], str] | None:
    """(qt, platform, kind) of an asset name, or None if it is not one."""
    kind = next((k for k in ARCHIVE_KINDS if name.endswith("." + k)), None)
    if kind is None or not name.startswith("qtmcp-qt"):
        return None
    words = name[len("qtmcp-qt") : -len(kind) - 1].split("-")
    qt, rest = words[0], words[1:]
    if rest[:1] == ["patched"]:
        qt, rest = qt + "-patched", rest[1:]
    if rest in (["linux"], ["windows"]):
        rest = rest + ["x64"]
    try:
        if len(rest) != 2 or normalize_qt(qt) != qt:
            return None
        platform = parse_platform("-".join(rest))
    except UsageError:
        return None
    if name not in (f"{asset_stem(qt, platform)}.{kind}", legacy_windows_name(qt)):
        return None  # not a canonical spelling (case, 'linux-x64')
    return qt, platform, kind


def build_key(qt: str, platform: tuple[str, str]) -> str:
    """The cache's name of a build: 'qt6.8-linux-x64' (always with the CPU)."""
    return f"qt{qt}-{platform_name(platform)}"


def is_build_key(key: str) -> bool:
    """True for a name build_key() gives: 'qt6.8-linux-x64', 'qt5.15-patched-windows-x86'."""
    words = key[2:].split("-") if key.startswith("qt") else []
    if len(words) == 4 and words[1] == "patched":
        words = [words[0] + "-patched"] + words[2:]
    if len(words) != 3:
        return False
    try:
        return build_key(normalize_qt(words[0]), parse_platform(f"{words[1]}-{words[2]}")) == key
    except UsageError:
        return False


def cache_entry(entry: str) -> tuple[str, str] | None:
    """(build key, kind) of a name qtmcp gives in a release's cache folder, or None.

    Kinds: 'install' (<key>-<16 hex>), 'pointer' (<key>.current), 'lock'
    (.<key>.lock), 'work' (.tmp-<key>~..., temporary folders and files).
    """
    if entry.startswith(".tmp-") and "~" in entry:
        key, kind = entry[len(".tmp-"): entry.index("~")], "work"
    elif entry.startswith(".") and entry.endswith(".lock"):
        key, kind = entry[1: -len(".lock")], "lock"
    elif entry.endswith(".current"):
        key, kind = entry[: -len(".current")], "pointer"
    else:
        key, _, digest = entry.rpartition("-")
        kind = "install" if len(digest) == 16 and is_hex(digest) else ""
    return (key, kind) if kind and is_build_key(key) else None


def launcher_name(os_name: str) -> str:
    return "qtmcp-launcher.exe" if os_name == "windows" else "qtmcp-launcher"


def is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdef" for c in text)


def is_sha256(text: str) -> bool:
    return len(text) == 64 and is_hex(text)


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
        line = line.removesuffix("\r")
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


def manifest_problem(manifest: object) -> str:
    """What is wrong with a manifest's shape ('' if nothing): what verify and start rely on."""
    if not isinstance(manifest, dict):
        return "not a JSON object"
    for key in ("release", "build", "asset", "sha256"):
        if not isinstance(manifest.get(key), str):
            return f"no {key!r}"
    lists = {"files": ("path", "size", "sha256"), "links": ("path", "target"), "dirs": ()}
    for key, fields in lists.items():
        entries = manifest.get(key, [])
        if not isinstance(entries, list):
            return f"{key!r} is not a list"
        for entry in entries:
            if not fields:
                if not isinstance(entry, str):
                    return f"an entry of {key!r} is not a name"
            elif not isinstance(entry, dict) or not all(isinstance(entry.get(f), int if f == "size" else str)
                                                        for f in fields):
                return f"an entry of {key!r} is not {'/'.join(fields)}"
    return ""


def choose_asset(sums: dict[str, str], qt: str, platform: tuple[str, str], release: str) -> str:
    """The asset of the build in the release's index; NoBuildError naming the offers."""
    for name in listed_names(qt, platform):
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
    patched = qt + "-patched"
    hint = (f"it has Qt {patched} (a patched build, asked for by name): did you mean --qt {patched}? "
            "Otherwise choose" if patched in same_platform else "choose")
    raise NoBuildError(
        f"release {release} has no build for Qt {qt} on {platform_name(platform)} "
        f"(it offers {offered}); {hint} another --qt or --release"
    )


def filtered_assets(sums: Mapping[str, str], qts: list[str], platforms: list[tuple[str, str]]) -> list[str]:
    """The asset names in `sums`, sorted, of those Qt versions and platforms (all where a list is empty)."""
    chosen = []
    for name in sorted(sums):
        parsed = parse_asset_name(name)
        if parsed and (not qts or parsed[0] in qts) and (not platforms or parsed[1] in platforms):
            chosen.append(name)
    return chosen


def offered_versions(sums: dict[str, str]) -> list[str]:
    return sorted({b[0] for b in (parse_asset_name(n) for n in sums) if b})


def split_login(url: str) -> tuple[str, str, str]:
    """(scheme and '://', user and password, the rest) of an http(s) URL or of a
    proxy's [scheme://][user:password@]host:port; the login '' where there is none.

    The login runs to the last '@', so that a password is found whatever it
    holds ('/', '?', '#', '@'): safe for what is shown or written, not for
    reaching the host (see without_login).
    """
    scheme, sep, rest = url.partition("://")
    if not sep or not is_scheme(scheme):  # 'alice:pa://ss@proxy:3128' has no scheme
        scheme, sep, rest = "", "", url
    login, _, after = rest.rpartition("@")
    return f"{scheme}{sep}", login, after


def is_scheme(text: str) -> bool:
    """True if `text` can be a URL's scheme (RFC 3986: a letter, then letters, digits, '+-.')."""
    return text[:1].isascii() and text[:1].isalpha() and all(
        c.isascii() and (c.isalnum() or c in "+-.") for c in text)


def has_login(url: str) -> bool:
    """True if an http(s) URL or a proxy value carries a user or password ('@')."""
    return "@" in url


def mask_proxy(proxy: str) -> str:
    """A proxy value (with or without a scheme) with its user and password shown as '***'.

    Without an '@', a 'user:secret' where the host and port would be (a value
    cut short, as QTMCP_MIRROR is at a space) is masked too: a port is digits.
    """
    prefix, _, rest = split_login(proxy)
    if has_login(proxy):
        return f"{prefix}***@{rest}"
    end = min([rest.index(c) for c in "/?#" if c in rest] + [len(rest)])
    authority = rest[:end]
    if ":" in authority and "]" not in authority and not authority.rpartition(":")[2].isdigit():
        return f"{prefix}***{rest[end:]}"
    return proxy


def mask_url(url: str) -> str:
    """`url` with any user and password replaced by '***'; local paths as they are.

    A plain path or a file:// URL carries no credentials: an '@' in it is shown.
    """
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() == "file":
        return url
    return mask_proxy(url)


def strip_login(url: str) -> str:
    """A URL or proxy value without the user and password it carries (up to its last '@')."""
    prefix, _, rest = split_login(url)
    return prefix + rest


def url_login(url: str) -> tuple[str, str] | None:
    """(user, password) written into an http(s) URL, or None."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.username is None:
        return None
    return unquote(parts.username), unquote(parts.password or "")


def without_login(url: str) -> str:
    """`url` without the user and password urllib finds in it (before its first '/'):
    the URL qtmcp asks for, where strip_login gives the one it may show or write."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    return f"{scheme}{sep}{authority.rpartition('@')[2]}{slash}{path}" if sep else url


def printable(text: str) -> str:
    """`text` with control characters escaped (\\n, \\x1b, \\u202e), for one line of output.

    Everything shown that may come from outside (names in SHA256SUMS and
    archives, reason phrases, paths) passes through here on its way out.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else ascii(c)[1:-1] for c in text)


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


def valid_http_base(base: str) -> bool:
    """True if `base` is an http(s) URL urllib reads as qtmcp does: printable ASCII,
    a host IDNA can encode, a port in range, the same authority both ways."""
    from urllib.parse import urlsplit

    if not all(33 <= ord(c) < 127 for c in base):
        return False
    try:
        parts = urlsplit(base)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
        (parts.hostname or "").encode("idna")
    except (ValueError, UnicodeError):
        return False
    authority = base.partition("://")[2].partition("/")[0]
    return bool(parts.hostname) and parts.netloc == authority


def redirect_target(url: str, location: str) -> str:
    """The absolute URL a redirect from `url` leads to; SourceError if it is
    malformed, carries a user, leaves http(s) or drops TLS."""
    from urllib.parse import urljoin, urlsplit

    shown = mask_url(url)
    target = ""
    if location and all(33 <= ord(c) < 127 for c in location):
        try:
            target = urljoin(url, location)
        except ValueError:  # a bad IPv6 literal
            target = ""
    if not valid_http_base(target) or urlsplit(target).username is not None:
        scheme = target.partition(":")[0].lower() if target else ""
        if target and scheme not in ("http", "https"):
            raise SourceError(f"{shown} redirects to a {printable(scheme[:20])} URL: refused")
        raise SourceError(f"{shown} redirects to a malformed location {location[:200]!r}: refused")
    if url.lower().startswith("https:") and not target.lower().startswith("https:"):
        raise SourceError(f"{shown} redirects from https to http: refused (it would drop TLS)")
    return target


def content_length(values: list[str] | None, url: str) -> int | None:
    """The body's length from Content-Length headers; SourceError if malformed or in conflict."""
    if not values:
        return None
    found = {value.strip() for value in values}
    length = found.pop()
    if found or not (length.isascii() and length.isdigit() and len(length) <= 18):
        raise SourceError(f"{mask_url(url)} sent a malformed Content-Length {values[0][:40]!r}")
    return int(length)


def retry_delay(attempt: int, retry_after: float | None) -> float | None:
    """Seconds to wait before attempt `attempt` + 1, or None when no attempt is left.

    Backoff 0.5, 1, 2 s, unless the server's Retry-After asks for another.
    """
    if attempt >= MAX_ATTEMPTS:
        return None
    return retry_after if retry_after is not None else 0.5 * 2 ** (attempt - 1)


def base_kind(base: str) -> str:
    """'http' for http(s) URLs, 'local' for file:// URLs and paths."""
    lowered = base.lower()
    if lowered.startswith(("http://", "https://")):
        return "http"
    return "local"


def local_base_path(base: str) -> str:
    """The directory a file:// URL or a plain path names."""
    if base.lower().startswith("file:"):
        from urllib.parse import urlsplit
        from urllib.request import url2pathname

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


# Reading programs: ELF, PE, Mach-O (pure) ####################################
#
# Headers only: every read goes through a ProgramBytes, which reads at most
# APP_READ_MAX bytes of one file in all, whatever its headers claim. A header
# that does not hold together is BadProgram, never another exception. The
# parsers take a ProgramBytes and return plain data; finding the files is the
# work of "Applications" below.


class BadProgram(Exception):
    """A file that is not a program qtmcp can read, or whose headers do not hold together."""


class ProgramBytes:
    """Reads of one file (an open binary file, or bytes) at given offsets, bounded in all."""

    def __init__(self, source: BinaryIO | bytes, size: int | None = None, budget: int = APP_READ_MAX):
        self.source = source
        self.size = len(source) if isinstance(source, (bytes, bytearray)) else int(size or 0)
        self.budget = budget
        self.used = 0

    def read(self, offset: int, length: int) -> bytes:
        """Exactly `length` bytes at `offset`; BadProgram past the end or the budget."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise BadProgram(f"a header points past the end of the file (at {offset} of {self.size} bytes)")
        if self.used + length > self.budget:
            raise BadProgram(f"its headers would need more than {self.budget // 1024 // 1024} MiB to be read")
        self.used += length
        if isinstance(self.source, (bytes, bytearray)):
            return bytes(self.source[offset : offset + length])
        self.source.seek(offset)
        data = self.source.read(length)
        if len(data) != length:
            raise BadProgram("the file is shorter than it was a moment ago")
        return data

    def clipped(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes at `offset`, fewer where the file ends first."""
        return self.read(offset, max(0, min(length, self.size - offset))) if 0 <= offset <= self.size else b""

    def cstring(self, offset: int, limit: int = 4096) -> str:
        """The NUL-terminated string at `offset` (at most `limit` bytes), as text."""
        chunk = self.clipped(offset, min(limit, 256))
        end = chunk.find(b"\0")
        if end < 0 and limit > len(chunk):
            chunk += self.clipped(offset + len(chunk), limit - len(chunk))
            end = chunk.find(b"\0")
        if end < 0:
            raise BadProgram(f"a name at {offset} has no end")
        return chunk[:end].decode("utf-8", "surrogateescape")


BYTE_ORDERS: dict[str, Literal["little", "big"]] = {"<": "little", ">": "big", "=": sys.byteorder}
INT_SIZES = {"B": 1, "H": 2, "I": 4, "Q": 8, "b": 1, "h": 2, "i": 4, "q": 8}


def unpack(layout: str, data: bytes, offset: int = 0) -> tuple[Any, ...]:
    """struct.unpack_from for the layouts the readers use ('<HHI', '>iiQ', '<8sI', '=I'),
    BadProgram where `data` is too short. (Not struct itself: it is an extension
    module, and loading it would cost a cached start more than the reading does.)"""
    order = BYTE_ORDERS[layout[0]]
    values: list[Any] = []
    count = ""
    for code in layout[1:]:
        if code.isdigit():
            count += code
            continue
        size = int(count or 1) * (1 if code in "sx" else INT_SIZES[code])
        if offset + size > len(data):
            raise BadProgram("a header is cut short")
        if code == "s":
            values.append(bytes(data[offset : offset + size]))
        elif code != "x":
            step = INT_SIZES[code]
            values += [int.from_bytes(data[at : at + step], order, signed=code.islower())
                       for at in range(offset, offset + size, step)]
        offset += size
        count = ""
    return tuple(values)


def layout_size(layout: str) -> int:
    """The number of bytes `layout` (as unpack reads it) takes."""
    size, count = 0, ""
    for code in layout[1:]:
        if code.isdigit():
            count += code
            continue
        size += int(count or 1) * (1 if code in "sx" else INT_SIZES[code])
        count = ""
    return size

def program_format(head: bytes) -> str | None:
    """'elf', 'pe' or 'macho' from a file's first bytes; None for anything else."""
    if head[:4] == b"\x7fELF":
        return "elf"
    if head[:2] == b"MZ":
        return "pe"
    if head[:4] in MACHO_MAGICS or head[:4] in FAT_MAGICS:
        return "macho"
    return None


def qt_version_in_name(name: str) -> str | None:
    """'6.8.2' from 'libQt6Core.so.6.8.2' or 'libQt6Core.6.8.2.dylib'; None without one."""
    if not name.startswith("libQt"):
        return None
    major, _, rest = name[5:].partition("Core.")
    if not major.isdigit():
        return None
    if rest.startswith("so."):
        parts = rest[3:].split(".")
    elif rest.endswith(".dylib"):
        parts = rest[: -len(".dylib")].split(".")
    else:
        return None
    if not (2 <= len(parts) <= 3 and all(p.isdigit() and len(p) <= 4 for p in parts)) or parts[0] != major:
        return None
    return ".".join(str(int(p)) for p in parts)


def qt_build_string(data: bytes) -> tuple[str, bool] | None:
    """(version, debug) from QtCore's build string 'Qt 6.8.2 (... release build; ...)' in `data`."""
    at = data.find(b"Qt ")
    while at >= 0:
        end = data.find(b" (", at + 3, at + 20)
        parts = data[at + 3 : end].split(b".") if end > 0 else []
        if len(parts) == 3 and all(p.isdigit() and len(p) <= 4 for p in parts):
            tail = data[end : end + 200]
            return ".".join(str(int(p)) for p in parts), b" debug build" in tail.partition(b"\0")[0]
        at = data.find(b"Qt ", at + 3)
    return None


def highest_qt_version(names: list[str]) -> str | None:
    """'6.7' from version names like 'Qt_6', 'Qt_6.5', 'Qt_6.7', 'Qt_6_PRIVATE_API'."""
    found = []
    for name in names:
        major, dot, minor = name[3:].partition(".")
        if name.startswith("Qt_") and dot and major.isdigit() and minor.isdigit() and len(minor) <= 4:
            found.append((int(major), int(minor)))
    return "{}.{}".format(*max(found)) if found else None


# ELF ----------------------------------------------------------------------------------------


class Elf:
    """What qtmcp reads from an ELF file's headers (see read_elf)."""

    def __init__(self, bits: int, order: str, kind: int, machine: int):
        self.bits = bits  # 32 or 64
        self.order = order  # '<' little or '>' big endian
        self.kind = kind  # e_type: 2 a program, 3 a shared object or a PIE
        self.machine = machine  # e_machine
        self.segments: list[tuple[int, int, int, int]] = []  # (p_type, p_offset, p_vaddr, p_filesz)
        self.sections: list[tuple[int, int, int, int, int, int]] = []  # (name, type, flags, addr, offset, size)
        self.section_names = -1  # e_shstrndx
        self.dynamic = False  # it has a dynamic section
        self.needed: list[str] = []
        self.rpath: str | None = None
        self.runpath: str | None = None
        self.soname = ""
        self.version_needs: dict[str, list[str]] = {}  # library -> the version names needed from it
        self.version_defs: list[str] = []  # the versions it defines (a library)

    @property
    def arch(self) -> str:
        if self.machine == 62 and self.bits == 32:
            return "x32"
        return ELF_MACHINES.get(self.machine, f"elf-machine-{self.machine}")


def read_elf(data: ProgramBytes) -> Elf:
    """The ELF file's machine, needed libraries, rpath, runpath and symbol versions."""
    ident = data.read(0, 16)
    if ident[:4] != b"\x7fELF":
        raise BadProgram("not an ELF file")
    if ident[4] not in (1, 2) or ident[5] not in (1, 2):
        raise BadProgram("an ELF file of an unknown class or byte order")
    bits, order = (32, 64)[ident[4] - 1], "<>"[ident[5] - 1]
    wide = bits == 64
    layout = order + ("HHIQQQIHHHHHH" if wide else "HHIIIIIHHHHHH")
    (kind, machine, _version, _entry, phoff, shoff, _flags, _ehsize, phentsize, phnum,
     shentsize, shnum, shstrndx) = unpack(layout, data.read(16, layout_size(layout)))
    if kind not in (2, 3):
        raise BadProgram("an ELF file that is neither a program nor a shared library (an object file?)")
    elf = Elf(bits, order, kind, machine)
    entry_size = 56 if wide else 32
    if phnum:
        if phentsize < entry_size or phnum > ELF_MAX_SEGMENTS:
            raise BadProgram(f"its program header table is malformed ({phnum} entries of {phentsize} bytes)")
        table = data.read(phoff, phnum * phentsize)
        for index in range(phnum):
            if wide:
                p_type, _f, p_offset, p_vaddr, _p, p_filesz = unpack(order + "IIQQQQ", table, index * phentsize)
            else:
                p_type, p_offset, p_vaddr, _p, p_filesz = unpack(order + "IIIII", table, index * phentsize)
            elf.segments.append((p_type, p_offset, p_vaddr, p_filesz))
    if shoff and shnum:
        section_size = 64 if wide else 40
        if shentsize < section_size or shnum > ELF_MAX_SECTIONS:
            raise BadProgram(f"its section header table is malformed ({shnum} entries of {shentsize} bytes)")
        table = data.read(shoff, shnum * shentsize)
        for index in range(shnum):
            if wide:
                name, s_type, flags, addr, offset, size = unpack(order + "IIQQQQ", table, index * shentsize)
            else:
                name, s_type, flags, addr, offset, size = unpack(order + "IIIIII", table, index * shentsize)
            elf.sections.append((name, s_type, flags, addr, offset, size))
        elf.section_names = shstrndx
    read_elf_dynamic(data, elf)
    return elf


def elf_offset(elf: Elf, address: int) -> int:
    """The file offset of a virtual address (through PT_LOAD, else the allocated sections)."""
    loads = [s for s in elf.segments if s[0] == 1]
    for _type, offset, vaddr, filesz in loads:
        if vaddr <= address < vaddr + filesz:
            return offset + address - vaddr
    if not loads:
        for _name, s_type, flags, addr, offset, size in elf.sections:
            if flags & 2 and s_type != 8 and addr <= address < addr + size:  # SHF_ALLOC, not NOBITS
                return offset + address - addr
    raise BadProgram(f"an address in its dynamic section ({address:#x}) is not in the file")


def read_elf_dynamic(data: ProgramBytes, elf: Elf) -> None:
    """Fill in `elf` from PT_DYNAMIC (else the .dynamic section): needed, rpath, versions."""
    where = next(((s[1], s[3]) for s in elf.segments if s[0] == 2), None)  # PT_DYNAMIC
    if where is None:
        where = next(((s[4], s[5]) for s in elf.sections if s[1] == 6), None)  # SHT_DYNAMIC
    if where is None:
        return
    elf.dynamic = True
    entry = 16 if elf.bits == 64 else 8
    count = min(where[1] // entry, ELF_MAX_DYNAMIC)
    table = data.read(where[0], count * entry)
    layout = elf.order + ("qQ" if elf.bits == 64 else "iI")
    tags: dict[int, list[int]] = {}
    for at in range(0, len(table), entry):
        tag, value = unpack(layout, table, at)
        if tag == 0:  # DT_NULL
            break
        tags.setdefault(tag, []).append(value)
    if 5 not in tags:  # no DT_STRTAB: no names to read
        if 1 in tags:
            raise BadProgram("its dynamic section names libraries but has no string table")
        return
    strtab = elf_offset(elf, tags[5][0])
    strsz = tags.get(10, [data.size - strtab])[0]

    def name(index: int) -> str:
        if not 0 <= index < strsz:
            raise BadProgram(f"a name in its dynamic section is outside its string table ({index})")
        return data.cstring(strtab + index, min(ELF_NAME_MAX, strsz - index))

    elf.needed = [name(v) for v in tags.get(1, [])]
    elf.soname = name(tags[14][0]) if 14 in tags else ""
    elf.rpath = name(tags[15][0]) if 15 in tags else None
    elf.runpath = name(tags[29][0]) if 29 in tags else None
    if 0x6FFFFFFE in tags:  # DT_VERNEED
        elf.version_needs = elf_version_needs(data, elf, elf_offset(elf, tags[0x6FFFFFFE][0]),
                                              tags.get(0x6FFFFFFF, [ELF_MAX_VERSIONS])[0], name)
    if 0x6FFFFFFC in tags:  # DT_VERDEF
        elf.version_defs = elf_version_defs(data, elf, elf_offset(elf, tags[0x6FFFFFFC][0]),
                                            tags.get(0x6FFFFFFD, [ELF_MAX_VERSIONS])[0], name)


def elf_version_needs(data: ProgramBytes, elf: Elf, offset: int, count: int,
                      name: Callable[[int], str]) -> dict[str, list[str]]:
    """{library: [version names]} from .gnu.version_r (Elf_Verneed and Elf_Vernaux chains)."""
    needs: dict[str, list[str]] = {}
    seen: set[int] = set()
    for _ in range(min(count, ELF_MAX_VERSIONS)):
        if offset in seen:
            raise BadProgram("its version needs run in a loop")
        seen.add(offset)
        _version, aux_count, file_name, aux, following = unpack(elf.order + "HHIII", data.read(offset, 16))
        names = []
        at = offset + aux
        for _ in range(min(aux_count, ELF_MAX_VERSIONS)):
            if at in seen:
                raise BadProgram("its version needs run in a loop")
            seen.add(at)
            _hash, _flags, _other, version_name, aux_next = unpack(elf.order + "IHHII", data.read(at, 16))
            names.append(name(version_name))
            if not aux_next:
                break
            at += aux_next
        needs[name(file_name)] = names
        if not following:
            break
        offset += following
    return needs


def elf_version_defs(data: ProgramBytes, elf: Elf, offset: int, count: int,
                     name: Callable[[int], str]) -> list[str]:
    """The version names a library defines, from .gnu.version_d (Elf_Verdef chain)."""
    defs: list[str] = []
    seen: set[int] = set()
    for _ in range(min(count, ELF_MAX_VERSIONS)):
        if offset in seen:
            raise BadProgram("its version definitions run in a loop")
        seen.add(offset)
        _version, _flags, _index, aux_count, _hash, aux, following = unpack(
            elf.order + "HHHHIII", data.read(offset, 20))
        if aux_count:
            (version_name,) = unpack(elf.order + "I", data.read(offset + aux, 4))
            defs.append(name(version_name))
        if not following:
            break
        offset += following
    return defs


def elf_section_named(data: ProgramBytes, elf: Elf, wanted: str) -> tuple[int, int] | None:
    """(offset, size) of the section called `wanted` (like '.rodata'), or None."""
    if not 0 <= elf.section_names < len(elf.sections):
        return None
    names_offset, names_size = elf.sections[elf.section_names][4:6]
    for name, s_type, _flags, _addr, offset, size in elf.sections:
        if s_type != 8 and 0 <= name < names_size and data.cstring(names_offset + name, 64) == wanted:
            return offset, size
    return None


def elf_qtcore_name(needed: list[str]) -> str | None:
    """The needed entry that is QtCore: 'libQt6Core.so.6' (or a path ending in one)."""
    for entry in needed:
        base = entry.rpartition("/")[2]
        major, _, rest = base[5:].partition("Core.so")
        if base.startswith("libQt") and major.isdigit() and (not rest or rest[0] == "."):
            return entry
    return None


def elf_header_fits(head: bytes, elf: Elf) -> bool:
    """True if an ELF header (its first 20 bytes) is of the same class, byte order and machine."""
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[4] != (1 if elf.bits == 32 else 2) \
            or head[5] != (1 if elf.order == "<" else 2):
        return False
    return bool(unpack(elf.order + "H", head, 18)[0] == elf.machine)


# PE -----------------------------------------------------------------------------------------


class Pe:
    """What qtmcp reads from a PE file's headers (see read_pe)."""

    def __init__(self, machine: int, dll: bool):
        self.machine = machine
        self.dll = dll
        self.directories: list[tuple[int, int]] = []  # (RVA, size) of each data directory
        self.sections: list[tuple[bytes, int, int, int, int]] = []  # (name, vaddr, vsize, raw offset, raw size)

    @property
    def arch(self) -> str:
        return PE_MACHINES.get(self.machine, f"pe-machine-{self.machine:#x}")


def read_pe(data: ProgramBytes) -> Pe:
    """The PE file's machine, data directories and sections (PE32 and PE32+)."""
    head = data.read(0, 64)
    if head[:2] != b"MZ":
        raise BadProgram("not a PE file")
    (pe_at,) = unpack("<I", head, 0x3C)
    if data.clipped(pe_at, 4) != b"PE\0\0":
        raise BadProgram("an MZ file without a PE header (a DOS program?)")
    machine, section_count, _time, _symbols, _count, optional_size, flags = unpack(
        "<HHIIIHH", data.read(pe_at + 4, 20))
    pe = Pe(machine, bool(flags & 0x2000))
    optional = pe_at + 24
    (magic,) = unpack("<H", data.read(optional, 2))
    directories_at = {0x10B: 96, 0x20B: 112}.get(magic)
    if directories_at is None or optional_size < directories_at:
        raise BadProgram(f"its optional header is not PE32 or PE32+ (magic {magic:#x}, {optional_size} bytes)")
    (count,) = unpack("<I", data.read(optional + directories_at - 4, 4))
    count = min(count, 16, (optional_size - directories_at) // 8)
    raw = data.read(optional + directories_at, 8 * count)
    pe.directories = [unpack("<II", raw, 8 * i) for i in range(count)]
    if section_count > PE_MAX_SECTIONS:
        raise BadProgram(f"it claims {section_count} sections")
    table = data.read(optional + optional_size, 40 * section_count)
    for index in range(section_count):
        name, vsize, vaddr, raw_size, raw_offset = unpack("<8sIIII", table, 40 * index)
        pe.sections.append((name.rstrip(b"\0"), vaddr, vsize, raw_offset, raw_size))
    return pe


def pe_offset(pe: Pe, rva: int) -> int:
    """The file offset of a relative virtual address."""
    for _name, vaddr, vsize, raw_offset, raw_size in pe.sections:
        if vaddr <= rva < vaddr + max(vsize, raw_size) and rva - vaddr < raw_size:
            return raw_offset + rva - vaddr
    raise BadProgram(f"an address in its headers ({rva:#x}) is not in any section")


def pe_imports(data: ProgramBytes, pe: Pe) -> list[str]:
    """The names of the DLLs the PE file imports (its import directory)."""
    if len(pe.directories) < 2 or not pe.directories[1][0]:
        return []
    at = pe_offset(pe, pe.directories[1][0])
    names: list[str] = []
    for index in range(PE_MAX_IMPORTS):
        descriptor = data.read(at + 20 * index, 20)
        if descriptor == bytes(20):
            return names
        (name_rva,) = unpack("<I", descriptor, 12)
        names.append(data.cstring(pe_offset(pe, name_rva), 512))
    raise BadProgram(f"its import directory has more than {PE_MAX_IMPORTS} entries")


def pe_file_version(data: ProgramBytes, pe: Pe) -> tuple[str, bool] | None:
    """(version, debug) from the VS_FIXEDFILEINFO of the PE file's VERSIONINFO resource."""
    if len(pe.directories) < 3 or not pe.directories[2][0]:
        return None
    base = pe_offset(pe, pe.directories[2][0])

    def entries(offset: int) -> list[tuple[int, int]]:
        named, ids = unpack("<HH", data.read(base + offset + 12, 4))
        if named + ids > PE_MAX_RESOURCES:
            raise BadProgram(f"a resource directory claims {named + ids} entries")
        raw = data.read(base + offset + 16, 8 * (named + ids))
        return [unpack("<II", raw, 8 * i) for i in range(named + ids)]

    target = next((t for n, t in entries(0) if n == 16 and t & 0x80000000), None)  # RT_VERSION
    for _level in range(2):  # the name, then the language
        if target is None:
            return None
        target = next((t for _n, t in entries(target & 0x7FFFFFFF)), None)
    if target is None or target & 0x80000000:
        return None
    rva, size = unpack("<II", data.read(base + target, 8))
    blob = data.read(pe_offset(pe, rva), min(size, 64 * 1024))
    key = "VS_VERSION_INFO\0".encode("utf-16-le")
    at = 40 if blob[6 : 6 + len(key)] == key else blob.find(b"\xbd\x04\xef\xfe")
    if at < 0 or blob[at : at + 4] != b"\xbd\x04\xef\xfe" or len(blob) < at + 52:
        return None
    high, low = unpack("<II", blob, at + 8)
    mask, flags = unpack("<II", blob, at + 24)
    return f"{high >> 16}.{high & 0xFFFF}.{low >> 16}", bool(mask & flags & 1)  # VS_FF_DEBUG


def pe_qtcore_name(imports: list[str]) -> tuple[str, bool] | None:
    """(DLL name, debug) of the QtCore the PE file imports: Qt6Core.dll, Qt6Cored.dll (debug)."""
    for name in imports:
        lower = name.lower()
        major, _, rest = lower[2:].partition("core")
        if lower.startswith("qt") and major.isdigit() and rest in (".dll", "d.dll"):
            return name, rest == "d.dll"
    return None


# Mach-O -------------------------------------------------------------------------------------


class MachO:
    """What qtmcp reads from one Mach-O image's load commands (see read_macho)."""

    def __init__(self, cpu: int, kind: int):
        self.cpu = cpu
        self.kind = kind  # filetype: 2 a program, 6 a dylib
        self.dylibs: list[tuple[int, str, int]] = []  # (load command, install name, current version)
        self.rpaths: list[str] = []
        self.id_dylib: tuple[str, int] | None = None  # (install name, current version) of a dylib

    @property
    def arch(self) -> str:
        return MACHO_CPUS.get(self.cpu, f"macho-cpu-{self.cpu:#x}")


def macho_slices(data: ProgramBytes) -> list[tuple[str, int]]:
    """(CPU name, offset) of each image: one for a thin file, each slice of a universal one."""
    magic = data.read(0, 4)
    if magic not in FAT_MAGICS:
        if magic not in MACHO_MAGICS:
            raise BadProgram("not a Mach-O file")
        (cpu,) = unpack((">" if magic[0] == 0xFE else "<") + "I", data.read(4, 4))
        return [(MACHO_CPUS.get(cpu, f"macho-cpu-{cpu:#x}"), 0)]
    wide = magic == b"\xca\xfe\xba\xbf"
    (count,) = unpack(">I", data.read(4, 4))
    if not 0 < count <= MACHO_MAX_SLICES:
        raise BadProgram(f"its universal header claims {count} slices")
    size = 32 if wide else 20
    raw = data.read(8, count * size)
    slices = []
    for index in range(count):
        cpu, _sub, offset = unpack(">iiQ" if wide else ">iiI", raw, index * size)
        slices.append((MACHO_CPUS.get(cpu & 0xFFFFFFFF, f"macho-cpu-{cpu & 0xFFFFFFFF:#x}"), offset))
    return slices


def read_macho(data: ProgramBytes, offset: int) -> MachO:
    """The Mach-O image at `offset`: CPU, file type, dylibs it loads, rpaths, its own id."""
    magic = data.read(offset, 4)
    if magic not in MACHO_MAGICS:
        raise BadProgram("not a Mach-O image" + (" (a slice points elsewhere)" if offset else ""))
    order = ">" if magic[0] == 0xFE else "<"
    wide = magic in (b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe")
    _magic, cpu, _sub, kind, count, size, _flags = unpack(order + "IIiIIII", data.read(offset, 28))
    if size > MACHO_MAX_COMMANDS or count > size // 8:
        raise BadProgram(f"it claims {count} load commands in {size} bytes")
    image = MachO(cpu, kind)
    raw = data.read(offset + (32 if wide else 28), size)
    at = 0
    for _ in range(count):
        if at + 8 > size:
            raise BadProgram("a load command runs past the header")
        command, length = unpack(order + "II", raw, at)
        if length < 8 or at + length > size:
            raise BadProgram(f"a load command has a bad size ({length})")
        body = raw[at : at + length]
        if command in MACHO_DYLIB_COMMANDS or command == LC_ID_DYLIB:
            if length < 24:
                raise BadProgram("a dylib load command is too short")
            name_at, _time, current, _compatible = unpack(order + "IIII", body, 8)
            name = macho_string(body, name_at)
            if command == LC_ID_DYLIB:
                image.id_dylib = (name, current)
            else:
                image.dylibs.append((command, name, current))
        elif command == LC_RPATH:
            if length < 12:
                raise BadProgram("an LC_RPATH command is too short")
            image.rpaths.append(macho_string(body, unpack(order + "I", body, 8)[0]))
        at += length
    return image


def macho_string(command: bytes, offset: int) -> str:
    """The string a load command holds at `offset` (an lc_str)."""
    if not 12 <= offset < len(command):
        raise BadProgram("a load command's name points outside it")
    return command[offset:].partition(b"\0")[0].decode("utf-8", "surrogateescape")


def macho_version(value: int) -> str:
    """'6.8.2' from a Mach-O version number (xxxx.yy.zz in 16.8.8 bits)."""
    return f"{value >> 16}.{(value >> 8) & 0xFF}.{value & 0xFF}"


def macho_qtcore(image: MachO) -> tuple[str, int, bool] | None:
    """(install name, current version, debug) of the QtCore the image loads."""
    for _command, name, current in image.dylibs:
        parent, _, base = name.rpartition("/")
        if "QtCore.framework" in parent.split("/") and base in ("QtCore", "QtCore_debug"):
            return name, current, base.endswith("_debug")
        major, _, rest = base[5:].partition("Core")
        if base.startswith("libQt") and major.isdigit() and rest.endswith(".dylib") and (
                rest in (".dylib", "_debug.dylib")
                or (rest.startswith(".") and rest[1:-6].replace(".", "").isdigit())):
            return name, current, rest == "_debug.dylib"
    return None


# The loader cache (/etc/ld.so.cache) --------------------------------------------------------


def ld_cache_paths(data: bytes, name: str) -> list[str]:
    """The paths /etc/ld.so.cache lists for the library `name`, in its order.

    Reads glibc's new format ('glibc-ld.so.cache1.1', alone or after the old
    one) and the old one ('ld.so-1.7.0'). Anything malformed lists nothing.
    """
    new_magic, old_magic = b"glibc-ld.so.cache1.1", b"ld.so-1.7.0"
    if data.startswith(new_magic):
        base = 0
    elif data.startswith(old_magic) and len(data) >= 16:
        (count,) = unpack("=I", data, 12)
        old_end = 16 + 12 * count
        if old_end > len(data):
            return []
        base = (old_end + 7) & ~7
        if data[base : base + len(new_magic)] != new_magic:
            return ld_cache_entries(data, name, "=", 16, 12, count, old_end)
    else:
        return []
    if len(data) < base + 48:
        return []
    order = {2: "<", 3: ">"}.get(data[base + 28], "=")
    (count,) = unpack(order + "I", data, base + 20)
    return ld_cache_entries(data, name, order, base + 48, 24, count, base)


def ld_cache_entries(data: bytes, name: str, order: str, start: int, size: int, count: int,
                     strings: int) -> list[str]:
    """The values of the cache entries (at `start`, `size` bytes each) whose key is `name`."""
    count = min(count, max(0, (len(data) - start) // size))
    end = start + count * size
    target = name.encode("utf-8", "surrogateescape") + b"\0"
    keys: set[int] = set()
    at = data.find(target, strings)
    while at >= 0 and len(keys) < 64:
        keys.add(at - strings)
        at = data.find(target, at + 1)
    paths: list[tuple[int, bytes]] = []
    for key in sorted(keys):
        packed = key.to_bytes(4, BYTE_ORDERS[order])
        at = data.find(packed, start + 4, end)
        while at >= 0 and len(paths) < 64:
            if (at - start) % size == 4:
                (value,) = unpack(order + "I", data, at + 4)
                if 0 <= strings + value < len(data):
                    paths.append((at, data[strings + value :].partition(b"\0")[0]))
            at = data.find(packed, at + 1, end)
    return [p.decode("utf-8", "surrogateescape") for _at, p in sorted(paths) if p.startswith(b"/")]


# The application and the build it needs -------------------------------------------------------


class AppInfo:
    """What qtmcp read from an application, without running it (see read_app)."""

    def __init__(self, app: str, fmt: str, platform: tuple[str, str], qt: str, qtcore: str | None,
                 source: str, debug: bool, wanted: str = "", method: str = ""):
        self.app = app  # the program read: absolute, links followed
        self.format = fmt  # 'elf', 'pe' or 'macho'
        self.platform = platform  # the program's OS and CPU: ('linux', 'x64')
        self.qt = qt  # the Qt version found: '6.8.2' (or '6.8' where only that is known)
        self.qtcore = qtcore  # the QtCore library's real file, or None where it was not found
        self.source = source  # 'library' or 'program': where the version was read
        self.debug = debug  # a debug Qt
        self.wanted = wanted  # the QtCore the program asks for: 'libQt6Core.so.6', ...
        self.method = method  # how the version was read: 'file name', 'build string', ...

    def as_json(self) -> dict[str, object]:
        return {"app": self.app, "format": self.format, "platform": platform_name(self.platform),
                "qt": self.qt, "qtcore": self.qtcore, "from": self.source, "debug": self.debug}


def qt_major_minor(version: str) -> tuple[int, int]:
    """(6, 8) from '6.8.2', '6.8' or '5.15-patched'."""
    parts = version.partition("-")[0].split(".")
    return int(parts[0]), int(parts[1])


def build_for_app(sums: dict[str, str], info: AppInfo, platform: tuple[str, str]) -> str | None:
    """The Qt version of the release's build that loads into the application, or None.

    Qt keeps binary compatibility within a major version, so the build is the
    application's own minor, else the highest lower minor of its major that the
    release has for `platform`. Never a -patched build (that one is asked for
    with --qt).
    """
    major, minor = qt_major_minor(info.qt)
    best = -1
    for name in sums:
        build = parse_asset_name(name)
        if build and build[1] == platform and not build[0].endswith("-patched"):
            build_major, build_minor = qt_major_minor(build[0])
            if build_major == major and best < build_minor <= minor:
                best = build_minor
    return f"{major}.{best}" if best >= 0 else None


def build_reason(sums: dict[str, str], info: AppInfo, platform: tuple[str, str], build: str | None) -> str:
    """Why `build` (from build_for_app) is the one: 'no 6.7 build; the 6.5 build loads into Qt 6.7'."""
    major, minor = qt_major_minor(info.qt)
    if build == f"{major}.{minor}":
        return f"the release has a Qt {build} build"
    if build:
        return f"no {major}.{minor} build; the {build} build loads into Qt {major}.{minor}"
    offered = sorted({b[0] for b in (parse_asset_name(n) for n in sums) if b and b[1] == platform},
                     key=lambda q: (qt_major_minor(q), q))
    offers = f"Qt {', '.join(offered)}" if offered else "nothing"
    return (f"no Qt {major} build at or below {major}.{minor} for {platform_name(platform)} "
            f"(it offers {offers} there; a probe built for a higher minor does not load into Qt {major}.{minor})")


def app_mismatch(qt: str, info: AppInfo) -> str:
    """Why the build for --qt `qt` cannot load into the application, or '' if it can."""
    major, minor = qt_major_minor(qt)
    app_major, app_minor = qt_major_minor(info.qt)
    if major != app_major:
        return f"the Qt {qt} build cannot load into Qt {app_major}"
    if minor > app_minor:
        return f"the Qt {qt} build cannot load into the older Qt {app_major}.{app_minor}"
    return ""


# Archive member names (pure) #################################################


def valid_utf8(text: str) -> bool:
    """False for text holding bytes that were not UTF-8 (decoded as surrogates)."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


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
    if not valid_utf8(name):
        raise refuse("a name that is not valid UTF-8")
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


class ArchiveNames:
    """The names of an archive's entries so far, checked as each arrives (pure: no disk).

    Refuses what would collide (by case or Unicode normalization), write
    through a link, put a folder where a file is, or name one thing twice;
    knows each name's kind, and the one top-level folder if there is one.
    Its memory grows by about 16 bytes a name (NameTable).
    """

    def __init__(self, windows: bool) -> None:
        self.windows = windows
        self.names = NameTable()
        self.entries = 0  # entries claimed
        self.parent: list[str] = []  # the folder of the last entry (checked)
        self.top: str | None = None  # the first part of every name so far; "" once they differ

    def claim(self, name: str, kind: str) -> tuple[list[str], list[str]]:
        """(parts, the folders it brings that were not there before, outermost first)."""
        parts = member_parts(name, kind == "dir", self.windows)
        if self.entries >= MAX_ENTRIES:
            raise ArchiveError(f"archive refused: over {MAX_ENTRIES} entries")
        if not parts:
            return parts, []  # the root folder, as `tar -C dir .` writes it
        path = "/".join(parts)
        new_folders = []
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
                    new_folders.append(spelled)
            elif seen == IMPLIED and kind == "dir":
                self.names.put(spelled, key, FOLDER)
            elif seen:
                if seen != IMPLIED:
                    raise ArchiveError(f"unsafe archive: two entries named {path!r}")
                raise ArchiveError(f"unsafe archive: {path!r} would replace a dir with a {kind}")
            else:
                self.names.put(spelled, key, KINDS[kind])
                if kind == "dir":
                    new_folders.append(spelled)
        self.entries += 1
        self.parent = parts if kind == "dir" else parts[:-1]
        self.top = parts[0] if self.top in (None, parts[0]) else ""
        return parts, new_folders

    def kind_of(self, parts: list[str]) -> int:
        """The kind of the entry named exactly `parts` (0: none)."""
        kind, same = self.names.get("/".join(parts), collision_key(parts))
        return kind if same else 0

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


# MCP clients: entries, configuration files, one-line forms (pure) ############

CLIENTS = ("claude-desktop", "claude-code", "vscode", "cursor", "windsurf", "json")
CLIENT_TITLES = {"claude-desktop": "Claude Desktop", "claude-code": "Claude Code", "vscode": "VS Code",
                 "cursor": "Cursor", "windsurf": "Windsurf", "json": "JSON"}
CLIENT_SCOPES = {"claude-desktop": ("user",), "claude-code": ("user", "project"), "vscode": ("user", "project"),
                 "cursor": ("user", "project"), "windsurf": ("user",), "json": ()}
VIA_FORMS = ("installed", "python", "pipx", "uvx")
# Variables an entry carries in its `env` when they are set now (a client starts
# its servers with a minimal environment), besides the QTMCP_* ones.
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY")
CA_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR")
CARRIED_VARIABLES = PROXY_VARIABLES + CA_VARIABLES + (
    "NETRC", "XDG_CACHE_HOME", "DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "QT_QPA_PLATFORM")
PATH_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "NETRC", "XDG_CACHE_HOME", "QTMCP_CACHE_DIR",
                  "QTMCP_LAUNCHER", "QTMCP_LOG")
# The options of setup that the entry carries, in the order it writes them.
CARRIED_OPTIONS = ("--qt", "--release", "--mirror", "--cache-dir", "--offline", "--platform",
                   "--launcher", "--timeout")
CURSOR_LINK = "cursor://anysphere.cursor-deeplink/mcp/install"
# `--via python`: import this module from its folder (from cached bytecode) and run it.
PYTHON_BOOT = "import sys; sys.path.insert(0, {folder!r}); import qtmcp; sys.exit(qtmcp.main())"


def config_servers_key(client: str) -> str:
    """The object a client's configuration file keeps its servers in."""
    return "servers" if client == "vscode" else "mcpServers"


def client_entry(client: str, command: str, args: list[str], env: dict[str, str]) -> dict:  # type: ignore[type-arg]
    """One server entry in the client's own format (VS Code and Claude Code say "type")."""
    entry: dict = {"type": "stdio"} if client in ("vscode", "claude-code") else {}  # type: ignore[type-arg]
    entry["command"] = command
    entry["args"] = list(args)
    if env:
        entry["env"] = dict(env)
    return entry


def env_value(environ: Mapping[str, str], name: str) -> str:
    """The variable's value; '' when unset or empty."""
    return environ.get(name, "").strip() if name else ""


def home_folder(environ: Mapping[str, str], os_name: str) -> str:
    """The user's home: USERPROFILE on Windows, HOME elsewhere (then the OS's idea of it)."""
    name = "USERPROFILE" if os_name == "windows" else "HOME"
    return env_value(environ, name) or env_value(environ, "HOME") or os.path.expanduser("~")


def user_settings_folder(environ: Mapping[str, str], os_name: str) -> str:
    """Where desktop apps keep user settings: %APPDATA%, ~/Library/Application Support, XDG."""
    home = home_folder(environ, os_name)
    if os_name == "windows":
        return env_value(environ, "APPDATA") or os.path.join(home, "AppData", "Roaming")
    if os_name == "macos":
        return os.path.join(home, "Library", "Application Support")
    xdg = env_value(environ, "XDG_CONFIG_HOME")
    return xdg if os.path.isabs(xdg) else os.path.join(home, ".config")


def client_config_path(client: str, scope: str, environ: Mapping[str, str], os_name: str, cwd: str) -> str:
    """The configuration file a client reads for `scope` ('user' or 'project') on `os_name`.

    Claude Desktop: <settings>/Claude/claude_desktop_config.json (Linux: unofficial builds).
    Claude Code: .mcp.json in the project; ~/.claude.json for the user (written by `claude`).
    VS Code: .vscode/mcp.json in the project; <settings>/Code/User/mcp.json for the user.
    Cursor: .cursor/mcp.json in the project; ~/.cursor/mcp.json for the user.
    Windsurf: ~/.codeium/windsurf/mcp_config.json.
    <settings> is %APPDATA%, ~/Library/Application Support or $XDG_CONFIG_HOME (~/.config).
    """
    if scope == "project":
        return os.path.join(cwd, *{"claude-code": [".mcp.json"], "vscode": [".vscode", "mcp.json"],
                                   "cursor": [".cursor", "mcp.json"]}[client])
    home = home_folder(environ, os_name)
    if client == "claude-desktop":
        return os.path.join(user_settings_folder(environ, os_name), "Claude", "claude_desktop_config.json")
    if client == "vscode":
        return os.path.join(user_settings_folder(environ, os_name), "Code", "User", "mcp.json")
    if client == "cursor":
        return os.path.join(home, ".cursor", "mcp.json")
    if client == "windsurf":
        return os.path.join(home, ".codeium", "windsurf", "mcp_config.json")
    return os.path.join(home, ".claude.json")


def desktop_path(os_name: str, environ: Mapping[str, str]) -> str:
    """The PATH an app started from the desktop gets (not the shell's)."""
    if os_name == "windows":
        root = env_value(environ, "SystemRoot") or env_value(environ, "SYSTEMROOT") or "C:\\Windows"
        return ";".join([root + "\\system32", root, root + "\\System32\\Wbem",
                         root + "\\System32\\WindowsPowerShell\\v1.0\\"])
    if os_name == "macos":
        return "/usr/bin:/bin:/usr/sbin:/sbin"  # launchd's default
    return "/usr/bin:/bin"


def strip_json_comments(text: str) -> str:
    """JSON text with // and /* */ comments and trailing commas taken out, strings kept.

    What VS Code and other editors allow in their JSON ("JSON with comments").
    """
    out: list[str] = []
    comma = -1  # index in `out` of a comma that may turn out to be trailing
    index, end = 0, len(text)
    while index < end:
        char = text[index]
        if char == '"':
            close = index + 1
            while close < end and text[close] != '"':
                close += 2 if text[close] == "\\" else 1
            out.append(text[index : close + 1])
            index, comma = close + 1, -1
            continue
        if text.startswith("//", index):
            newline = text.find("\n", index)
            index = end if newline < 0 else newline
            continue
        if text.startswith("/*", index):
            close = text.find("*/", index + 2)
            index = end if close < 0 else close + 2
            out.append(" ")
            continue
        if char in "}]" and comma >= 0:
            out[comma] = " "
        if char == ",":
            comma = len(out)
        elif not char.isspace():
            comma = -1
        out.append(char)
        index += 1
    return "".join(out)


def json_indent(text: str) -> str | int:
    """The indentation a JSON file uses (its first indented line), else 2."""
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and line != stripped:
            indent = line[: len(line) - len(stripped)]
            return indent if "\t" in indent else len(indent)
    return 2


def shell_words(words: list[str], os_name: str) -> str:
    """`words` as one command line to paste into this OS's shell."""
    if os_name == "windows":
        import subprocess

        return subprocess.list2cmdline(words)
    import shlex

    return " ".join(shlex.quote(word) for word in words)


def claude_add_json_words(name: str, entry: dict, scope: str) -> list[str]:  # type: ignore[type-arg]
    """`claude mcp add-json NAME JSON [--scope S]`: Claude Code's own way to add an entry."""
    import json

    words = ["claude", "mcp", "add-json", name, json.dumps(entry, ensure_ascii=False)]
    return words + (["--scope", scope] if scope else [])


def vscode_add_mcp_words(name: str, entry: dict) -> list[str]:  # type: ignore[type-arg]
    """`code --add-mcp JSON`: VS Code's command line adds a user entry."""
    import json

    return ["code", "--add-mcp", json.dumps(dict({"name": name}, **entry), ensure_ascii=False)]


def cursor_install_link(name: str, entry: dict) -> str:  # type: ignore[type-arg]
    """Cursor's install link: the entry's JSON, base64-encoded, in a cursor:// URL."""
    import base64
    import json
    from urllib.parse import quote

    config = base64.b64encode(json.dumps(entry, ensure_ascii=False).encode("utf-8")).decode("ascii")
    return f"{CURSOR_LINK}?name={quote(name, safe='')}&config={quote(config, safe='')}"


def starts_qtmcp(entry: object) -> bool:
    """True if a client's server entry starts qtmcp (any form setup writes, or by hand)."""
    if not isinstance(entry, dict):
        return False
    command = entry.get("command")
    args = entry.get("args")
    words = [command] + (args if isinstance(args, list) else [])
    for word in words:
        if not isinstance(word, str):
            continue
        base = word.replace("\\", "/").rsplit("/", 1)[-1].lower()
        if (base in ("qtmcp", "qtmcp.exe", "qtmcp.py") or base.startswith(("qtmcp==", "qtmcp@"))
                or "import qtmcp" in word):
            return True
    return False


def entry_app(args: list[str]) -> str | None:
    """The APP of an entry's arguments: the first after '--' (None without one)."""
    if "--" in args:
        rest = args[args.index("--") + 1 :]
        return rest[0] if rest and isinstance(rest[0], str) else None
    return None


def one_line(text: str) -> str:
    """`text` with control characters escaped, for a one-line report."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)



def config_entries(data: dict) -> list[tuple[str, str, object]]:  # type: ignore[type-arg]
    """(where, name, entry) of each server in a client's configuration: its "mcpServers" or
    "servers", and in Claude Code's ~/.claude.json each project's "mcpServers" too."""
    found: list[tuple[str, str, object]] = []
    for key in ("mcpServers", "servers"):
        servers = data.get(key)
        if isinstance(servers, dict):
            found += [("", str(name), entry) for name, entry in servers.items()]
    projects = data.get("projects")
    if isinstance(projects, dict):
        for project, kept in projects.items():
            servers = kept.get("mcpServers") if isinstance(kept, dict) else None
            if isinstance(servers, dict):
                found += [(f" (project {project})", str(name), entry) for name, entry in servers.items()]
    return found


def boot_folder(word: str) -> str:
    """The folder a `--via python` entry imports qtmcp from ('' for any other argument)."""
    import ast

    head, tail = PYTHON_BOOT.split("{folder!r}")
    if not (word.startswith(head) and word.endswith(tail)):
        return ""
    try:
        folder = ast.literal_eval(word[len(head) : len(word) - len(tail)])
    except (ValueError, SyntaxError):
        return ""
    return folder if isinstance(folder, str) else ""


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


def default_cache_root(environ: Mapping[str, str]) -> str:
    """The cache root for this OS: XDG, ~/Library/Caches or %LOCALAPPDATA%."""
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        local = env_value(environ, "LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        return os.path.join(local, "qtmcp", "Cache")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Caches", "qtmcp")
    xdg = env_value(environ, "XDG_CACHE_HOME")
    return os.path.join(xdg if os.path.isabs(xdg) else os.path.join(home, ".cache"), "qtmcp")


# Applications: the program, its QtCore and its Qt version ####################
#
# Where the system's loader would find an application's QtCore (ld.so, the
# Windows loader, dyld), read from headers and a few file lookups; nothing is
# run. The parsing is in "Reading programs" above.


def find_app(args: list[str]) -> str | None:
    """The first argument naming an existing ELF, PE or Mach-O file or a macOS .app folder, absolute."""
    for arg in args:
        spellings = [arg] if arg and "\0" not in arg else []
        if spellings and sys.platform == "win32" and not arg.lower().endswith(".exe"):
            spellings.append(arg + ".exe")  # as Windows starts 'editor' for editor.exe
        for path in spellings:
            if is_app_path(path):
                return os.path.abspath(path)
    return None


def is_app_path(path: str) -> bool:
    """True for a regular file that starts like a program, or a .app folder."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    if stat.S_ISDIR(mode):
        return is_app_bundle(path)
    if not stat.S_ISREG(mode):
        return False
    try:
        with open_regular(path) as source:
            return program_format(source.read(4)) is not None
    except (OSError, ValueError):
        return False


def is_app_bundle(path: str) -> bool:
    return path.rstrip("/\\").lower().endswith(".app") and os.path.isdir(os.path.join(path, "Contents"))


def bundle_program(bundle: str) -> str:
    """The program of a macOS .app: Contents/MacOS/<CFBundleExecutable of Contents/Info.plist>."""
    contents = os.path.join(bundle, "Contents")
    name = None
    try:
        with open_regular(os.path.join(contents, "Info.plist")) as source:
            raw = source.read(PLIST_MAX + 1)
    except FileNotFoundError:
        raw = None
    if raw is not None:
        import plistlib

        if len(raw) > PLIST_MAX:
            raise BadProgram("its Contents/Info.plist is over 1 MiB")
        try:
            info = plistlib.loads(raw)
        except Exception:  # noqa: BLE001 (plistlib raises many kinds for a damaged file: all mean the same here)
            raise BadProgram("its Contents/Info.plist is not a property list") from None
        name = info.get("CFBundleExecutable") if isinstance(info, dict) else None
        if name is not None and (not isinstance(name, str) or name in ("", ".", "..") or "/" in name
                                 or "\\" in name or "\0" in name):
            raise BadProgram("its CFBundleExecutable is not a file name")
    if name is None:
        name = os.path.basename(bundle.rstrip("/\\"))[:-4]
    program = os.path.join(contents, "MacOS", name)
    if not os.path.isfile(program):
        raise BadProgram(f"it has no program Contents/MacOS/{printable(name)}")
    return program


def read_app(path: str, environ: Mapping[str, str], arch: str | None = None, root: str = os.sep) -> AppInfo:
    """What the application at `path` needs: its format, CPU, QtCore and Qt version.

    `path` is a program or a .app folder. Reads headers only, and at most a
    few MiB of any file. `arch` picks the slice of a universal Mach-O
    (default: this machine's CPU, else the first slice). `root` is where the
    loader cache and the default library folders are (tests give another).
    Raises UsageError (status 2): "cannot read the Qt version of APP: ...; give --qt".
    """
    try:
        return app_info(os.path.abspath(path), environ, arch, root)
    except BadProgram as bad:
        reason = str(bad)
    except NotRegularFile:
        reason = "it is a folder, fifo, device or socket, not a program"
    except (OSError, ValueError) as error:
        reason = describe_error(error)
    raise UsageError(f"cannot read the Qt version of {printable(path)}: {reason}; give --qt")


def app_info(path: str, environ: Mapping[str, str], arch: str | None, root: str) -> AppInfo:
    if os.path.isdir(path):
        if not is_app_bundle(path):
            raise BadProgram("it is a folder, not a program or a macOS .app")
        path = bundle_program(path)
    program = os.path.realpath(path)
    source, data = open_program(program)
    try:
        head = data.clipped(0, 4)
        fmt = program_format(head)
        if fmt == "elf":
            return elf_app(program, data, environ, root)
        if fmt == "pe":
            return pe_app(program, data, environ)
        if fmt == "macho":
            return macho_app(program, data, environ, arch or this_cpu())
    finally:
        source.close()
    if head[:2] == b"#!":
        raise BadProgram("it is a script, not a program: name the program it starts")
    raise BadProgram("it is not an ELF, PE or Mach-O program")


def open_program(path: str) -> tuple[BinaryIO, ProgramBytes]:
    """The open file and bounded reads of it (NotRegularFile for a fifo, device, folder)."""
    source = open_regular(path)
    return source, ProgramBytes(source, os.fstat(source.fileno()).st_size)


def this_cpu() -> str | None:
    try:
        return machine_platform()[1]
    except QtmcpError:
        return None


def this_os() -> str:
    """This machine's OS as the builds name it ('linux', 'windows', 'macos')."""
    if sys.platform == "win32":
        return "windows"
    return "macos" if sys.platform == "darwin" else sys.platform.rstrip("0123456789")


def scan_build_string(data: ProgramBytes, offset: int, size: int) -> tuple[str, bool] | None:
    """QtCore's build string ('Qt 6.8.2 (...)') in data[offset:offset+size], read in chunks
    while the read budget lasts."""
    end = min(offset + size, data.size)
    overlap = 256
    while offset < end:
        length = min(BUILD_STRING_CHUNK, end - offset, data.budget - data.used)
        if length <= 0:
            return None
        found = qt_build_string(data.read(offset, length))
        if found or offset + length >= end:
            return found
        offset += max(1, length - overlap)
    return None


def rooted(root: str, path: str) -> str:
    """A system path (like /etc/ld.so.cache) under `root`."""
    return path if root in ("", os.sep) else os.path.join(root, path.lstrip("/"))


def first_library(candidates: Iterable[str], fits: Callable[[str], bool]) -> str | None:
    """The real file of the first candidate path for which `fits(path)`; at most APP_SEARCH_MAX looks."""
    for count, path in enumerate(candidates):
        if count >= APP_SEARCH_MAX:
            return None
        try:
            if fits(path):
                return os.path.realpath(path)
        except (OSError, ValueError, BadProgram):
            continue
    return None


def path_list(value: str, separators: str) -> list[str]:
    """The entries of a search path; an empty entry is the current folder, as loaders read it."""
    for separator in separators[1:]:
        value = value.replace(separator, separators[0])
    return value.split(separators[0])[:APP_SEARCH_MAX]


# Linux: ld.so's search ------------------------------------------------------------------------


def elf_app(program: str, data: ProgramBytes, environ: Mapping[str, str], root: str) -> AppInfo:
    elf = read_elf(data)
    platform = ("linux", elf.arch)
    if not elf.dynamic:
        raise BadProgram("it is a static program: it loads no libraries, so no QtCore (a static Qt?)")
    wanted = elf_qtcore_name(elf.needed)
    if wanted is None:
        raise BadProgram("it does not load libQt<N>Core.so.<N> (a static Qt, an AppImage, or not a Qt program)")
    found = find_elf_library(program, elf, wanted, environ, root)
    if found:
        got = elf_library_version(found)
        if got:
            return AppInfo(program, "elf", platform, got[0], found, "library", got[1], wanted, got[2])
    linked = highest_qt_version(elf.version_needs.get(wanted.rpartition("/")[2], []))
    if linked:
        return AppInfo(program, "elf", platform, linked, found, "program", False, wanted, "linked against")
    where = "its version cannot be read" if found else "it is not where the loader would look for it"
    raise BadProgram(f"{printable(wanted)}: {where}, and the program does not say which Qt minor "
                     "it was linked against")


def find_elf_library(program: str, elf: Elf, wanted: str, environ: Mapping[str, str], root: str) -> str | None:
    """The library ld.so would load for the needed entry `wanted`, links followed, or None."""
    return first_library(elf_library_candidates(program, elf, wanted, environ, root),
                         lambda path: elf_library_fits(path, elf))


def elf_library_candidates(program: str, elf: Elf, wanted: str, environ: Mapping[str, str],
                           root: str) -> Iterator[str]:
    """The paths ld.so tries, in its order: DT_RPATH (without DT_RUNPATH),
    LD_LIBRARY_PATH, DT_RUNPATH, /etc/ld.so.cache, the default folders."""
    if "/" in wanted:  # a path: used as it is (relative to the current folder)
        yield wanted
        return
    origin = os.path.dirname(program)
    if elf.rpath is not None and elf.runpath is None:
        for entry in path_list(elf.rpath, ":"):
            for folder in expand_rpath(entry, origin, elf, root):
                yield os.path.join(folder, wanted)
    for folder in path_list(environ.get("LD_LIBRARY_PATH", ""), ":;") if environ.get("LD_LIBRARY_PATH") else []:
        yield os.path.join(folder, wanted)
    if elf.runpath is not None:
        for entry in path_list(elf.runpath, ":"):
            for folder in expand_rpath(entry, origin, elf, root):
                yield os.path.join(folder, wanted)
    for path in ld_cache_paths(read_ld_cache(root), wanted):
        yield rooted(root, path)
    for folder in elf_default_folders(elf, root):
        yield os.path.join(folder, wanted)


def expand_rpath(entry: str, origin: str, elf: Elf, root: str) -> list[str]:
    """An rpath entry with $ORIGIN, $LIB and $PLATFORM (or ${...}) expanded as ld.so does."""
    for name in ("ORIGIN", "LIB", "PLATFORM"):
        entry = entry.replace(f"${{{name}}}", "$" + name)
    entry = entry.replace("$ORIGIN", origin).replace("$PLATFORM", ELF_PLATFORMS.get(elf.machine, ""))
    if "$LIB" not in entry:
        return [entry]
    return [entry.replace("$LIB", lib) for lib in elf_lib_names(elf, root)]


def elf_lib_names(elf: Elf, root: str) -> list[str]:
    """What $LIB may stand for (distributions build ld.so with one of these)."""
    triplet = ELF_TRIPLETS.get(elf.machine)
    names = [f"lib/{triplet}"] if triplet and os.path.isdir(rooted(root, f"/usr/lib/{triplet}")) else []
    return names + (["lib64", "lib"] if elf.bits == 64 else ["lib"])


def elf_default_folders(elf: Elf, root: str) -> list[str]:
    triplet = ELF_TRIPLETS.get(elf.machine)
    folders = [f"/lib/{triplet}", f"/usr/lib/{triplet}"] if triplet else []
    folders += ["/lib64", "/usr/lib64"] if elf.bits == 64 else []
    return [rooted(root, folder) for folder in folders + ["/lib", "/usr/lib"]]


def read_ld_cache(root: str) -> bytes:
    """The bytes of /etc/ld.so.cache (nothing where it is missing, unreadable or too big)."""
    try:
        with open_regular(rooted(root, "/etc/ld.so.cache")) as source:
            data = source.read(LD_CACHE_MAX + 1)
    except (OSError, ValueError):
        return b""
    return data if len(data) <= LD_CACHE_MAX else b""


def elf_library_fits(path: str, elf: Elf) -> bool:
    """True if `path` is an ELF file that ld.so would load for `elf` (same class and machine)."""
    with open_regular(path) as source:
        return elf_header_fits(source.read(20), elf)


def elf_library_version(path: str) -> tuple[str, bool, str] | None:
    """(version, debug, how) of an ELF QtCore: its real file name, its build
    string, else its highest Qt_<N>.<M> version definition."""
    named = qt_version_in_name(os.path.basename(path))
    if named:
        return named, False, "file name"
    try:
        source, data = open_program(path)
    except OSError:
        return None
    try:
        library = read_elf(data)
        region = elf_section_named(data, library, ".rodata") or (0, data.size)
        built = scan_build_string(data, *region)
        if built:
            return built[0], built[1], "build string"
        defined = highest_qt_version(library.version_defs)
        return (defined, False, "version definitions") if defined else None
    except BadProgram:
        return None
    finally:
        source.close()


# Windows: the program's folder, then PATH -------------------------------------------------------


def pe_app(program: str, data: ProgramBytes, environ: Mapping[str, str]) -> AppInfo:
    pe = read_pe(data)
    platform = ("windows", pe.arch)
    imported = pe_qtcore_name(pe_imports(data, pe))
    if imported is None:
        raise BadProgram("it does not import Qt<N>Core.dll (a static Qt, or not a Qt program)")
    wanted, debug = imported
    found = find_pe_library(program, pe, wanted, environ)
    got = pe_library_version(found) if found else None
    if got:
        return AppInfo(program, "pe", platform, got[0], found, "library", debug or got[1], wanted, got[2])
    where = "its version cannot be read" if found else "it is not in the program's folder or on PATH"
    raise BadProgram(f"{printable(wanted)}: {where} (a Windows program does not record the Qt version "
                     "it was linked against)")


def find_pe_library(program: str, pe: Pe, wanted: str, environ: Mapping[str, str]) -> str | None:
    """The DLL Windows would load for `wanted`: from the program's folder, then PATH."""
    folder = os.path.dirname(program)
    path = environ.get("PATH") or environ.get("Path") or ""
    candidates = [os.path.join(folder, wanted)]
    if not os.path.exists(candidates[0]):  # Windows names are not case-sensitive
        lower = wanted.lower()
        candidates += [os.path.join(folder, n) for n in list_dir(folder) if n.lower() == lower][:1]
    candidates += [os.path.join(entry.strip('"'), wanted) for entry in path_list(path, os.pathsep) if entry]
    return first_library(candidates, lambda candidate: pe_library_fits(candidate, pe))


def pe_library_fits(path: str, pe: Pe) -> bool:
    source, data = open_program(path)
    try:
        return read_pe(data).machine == pe.machine
    finally:
        source.close()


def pe_library_version(path: str) -> tuple[str, bool, str] | None:
    """(version, debug, how) of a QtCore DLL: its VERSIONINFO, else its build string."""
    try:
        source, data = open_program(path)
    except OSError:
        return None
    try:
        library = read_pe(data)
        version = pe_file_version(data, library)
        if version:
            return version[0], version[1], "VERSIONINFO"
        region = next(((s[3], s[4]) for s in library.sections if s[0] == b".rdata"), (0, data.size))
        built = scan_build_string(data, *region)
        return (built[0], built[1], "build string") if built else None
    except BadProgram:
        return None
    finally:
        source.close()


# macOS: @rpath, @executable_path, @loader_path, frameworks ----------------------------------------


def macho_app(program: str, data: ProgramBytes, environ: Mapping[str, str], arch: str | None) -> AppInfo:
    slices = macho_slices(data)
    _, offset = next((s for s in slices if s[0] == arch), slices[0])
    image = read_macho(data, offset)
    platform = ("macos", image.arch)
    loaded = macho_qtcore(image)
    if loaded is None:
        raise BadProgram("it does not load QtCore.framework or libQt<N>Core.dylib "
                         "(a static Qt, or not a Qt program)")
    wanted, linked, debug = loaded
    found = find_macho_library(program, image, wanted, environ)
    got = macho_library_version(found, image.arch) if found else None
    if got:
        return AppInfo(program, "macho", platform, got[0], found, "library", debug, wanted, got[1])
    if linked:
        return AppInfo(program, "macho", platform, macho_version(linked), found, "program", debug, wanted,
                       "linked against")
    where = "its version cannot be read" if found else "it is not where dyld would look for it"
    raise BadProgram(f"{printable(wanted)}: {where}, and the program does not record the version "
                     "it was linked against")


def find_macho_library(program: str, image: MachO, wanted: str, environ: Mapping[str, str]) -> str | None:
    """The library dyld would load for the install name `wanted`, links followed, or None."""
    return first_library(macho_library_candidates(program, image, wanted, environ),
                         lambda path: macho_library_fits(path, image.arch))


def macho_library_candidates(program: str, image: MachO, wanted: str,
                             environ: Mapping[str, str]) -> Iterator[str]:
    """The paths dyld tries: DYLD_FRAMEWORK_PATH and DYLD_LIBRARY_PATH, the
    install name (@rpath through each LC_RPATH, @executable_path, @loader_path),
    then the fallback folders."""
    folder = os.path.dirname(program)
    leaf = wanted.rpartition("/")[2]
    at = wanted.find("QtCore.framework/")
    framework = wanted[at:] if at == 0 or (at > 0 and wanted[at - 1] == "/") else ""
    if framework:
        for entry in path_list(environ.get("DYLD_FRAMEWORK_PATH", ""), ":"):
            if entry:
                yield os.path.join(entry, framework)
    for entry in path_list(environ.get("DYLD_LIBRARY_PATH", ""), ":"):
        if entry:
            yield os.path.join(entry, leaf)

    def expanded(path: str) -> str:
        for token in ("@executable_path/", "@loader_path/"):  # the program loads QtCore itself
            if path.startswith(token):
                return os.path.join(folder, path[len(token):])
        return path

    if wanted.startswith("@rpath/"):
        for rpath in image.rpaths[:APP_SEARCH_MAX]:
            yield os.path.join(expanded(rpath.rstrip("/") + "/"), wanted[len("@rpath/"):])
    elif not wanted.startswith("@"):
        yield wanted
    else:
        yield expanded(wanted)
    home = environ.get("HOME", "")
    if framework:
        fallback = environ.get("DYLD_FALLBACK_FRAMEWORK_PATH") or ":".join(
            ([home + "/Library/Frameworks"] if home else []) + ["/Library/Frameworks", "/System/Library/Frameworks"])
        for entry in path_list(fallback, ":"):
            if entry:
                yield os.path.join(entry, framework)
    fallback = environ.get("DYLD_FALLBACK_LIBRARY_PATH") or "/usr/local/lib:/usr/lib"
    for entry in path_list(fallback, ":"):
        if entry:
            yield os.path.join(entry, leaf)


def macho_library_fits(path: str, arch: str) -> bool:
    """True if `path` is a Mach-O file with an image for the `arch` CPU."""
    source, data = open_program(path)
    try:
        return program_format(data.clipped(0, 4)) == "macho" and any(s[0] == arch for s in macho_slices(data))
    finally:
        source.close()


def macho_library_version(path: str, arch: str) -> tuple[str, str] | None:
    """(version, how) of a QtCore dylib: its file name, else its LC_ID_DYLIB's current version."""
    named = qt_version_in_name(os.path.basename(path))
    if named:
        return named, "file name"
    try:
        source, data = open_program(path)
    except OSError:
        return None
    try:
        offset = next(s[1] for s in macho_slices(data) if s[0] == arch)
        own = read_macho(data, offset).id_dylib
        return (macho_version(own[1]), "LC_ID_DYLIB") if own and own[1] else None
    except (BadProgram, StopIteration):
        return None
    finally:
        source.close()


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
            sys.stderr.write(printable(line) + "\n")
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass  # stderr closed: the log still has it

    def log(self, message: str) -> None:
        """Append one line to QTMCP_LOG; a log that cannot be written never stops qtmcp.

        The log is opened without following a link and without waiting: a
        link, fifo or device planted there is not written to.
        """
        if not self.log_path:
            return
        import time

        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        line = f"{stamp} qtmcp[{os.getpid()}] {printable(message)}\n".encode("utf-8", "backslashreplace")
        flags = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            fd = os.open(self.log_path, flags, 0o600)
            try:
                if stat_is_regular(os.fstat(fd).st_mode):
                    os.write(fd, line)
            finally:
                os.close(fd)
        except OSError:
            pass

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


def shown_args(args: list[str]) -> str:
    """Arguments as one line for the log: URLs masked, odd ones quoted."""
    safe = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=@%+,")
    shown = [mask_url(arg) for arg in args]
    return " ".join(arg if arg and set(arg) <= safe else repr(arg) for arg in shown)


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def say(line: str) -> None:
    """One line of a command's report on stdout, control characters escaped."""
    print(printable(line))


# Files: created new, never through a link; read only when regular ##########


class NotRegularFile(OSError):
    """A path that should be a regular file is a fifo, device, socket or folder."""


def chunks(source: Any) -> Iterator[bytes]:
    """The bytes a reader gives, in pieces of at most CHUNK, to its end: every copy
    and digest reads this way, so memory stays flat whatever the file's size."""
    while True:
        chunk = source.read(CHUNK)
        if not chunk:
            return
        yield chunk


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


def make_dirs(path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise local_failure(error, path) from None


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
    """Streams a download to `path`, hashing it as it goes (flat memory).

    The file is created new at the first write (never through a link, never
    over another run's file) and emptied, not removed, before another attempt.
    """

    def __init__(self, path: str, label: str):
        import hashlib

        self.path = path
        self.label = label
        self.new_hash = hashlib.sha256
        self.hash = hashlib.sha256()
        self.size = 0
        self.file: BinaryIO | None = None

    def reset(self) -> None:
        self.hash = self.new_hash()
        self.size = 0
        if self.file is not None:
            try:
                self.file.seek(0)
                self.file.truncate()
            except OSError as error:
                raise local_failure(error, self.path) from None

    def open(self) -> BinaryIO:
        if self.file is None:
            try:
                self.file = open_new(self.path, 0o644)
            except OSError as error:
                raise local_failure(error, self.path) from None
        return self.file

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > MAX_DOWNLOAD:
            raise SourceError(f"{self.label or self.path} is over {human_size(MAX_DOWNLOAD)}: refused")
        self.hash.update(chunk)
        try:
            self.open().write(chunk)
        except OSError as error:  # a full disk is not worth a retry
            raise local_failure(error, self.path) from None

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def digest(self) -> str:
        return self.hash.hexdigest()


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
    except (UnicodeError, ValueError):
        reporter.note(f"ignoring {path}: it is not UTF-8 text")
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
    reason = printable(f"{code} {error.reason}"[:200] if error.reason else str(code))
    if code in (401, 403):
        return NotFoundAtBase(f"{reason}: {host} refused access", refused=True)
    if code in (404, 410):
        return NotFoundAtBase(reason)
    if code == 407:
        return proxy_refusal(proxy_for(url), url)
    if code in (408, 429) or code >= 500:
        return TransientError(f"HTTP {reason}", retry_after=parse_retry_after(error.headers.get("Retry-After")))
    return SourceError(f"{mask_url(url)} answered HTTP {reason}")


def proxy_refusal(proxy: str, url: str) -> SourceError:
    """A 407: the proxy wants other credentials (not retried)."""
    variable = proxy_variable(url)
    if not proxy:
        return SourceError(f"{mask_url(url)} answered 407 Proxy Authentication Required, and no proxy is set "
                           "for it: set HTTPS_PROXY/HTTP_PROXY to the proxy that asks, with user:password@")
    where = f"the proxy {mask_proxy(proxy)}"
    source = f" (from {variable})" if variable else ""
    fix = (f"fix the user and password in {variable or 'the proxy variable'}" if has_login(proxy)
           else f"put user:password@ into {variable or 'HTTPS_PROXY/HTTP_PROXY'}")
    return SourceError(f"{where}{source} refused qtmcp's credentials for {url_origin(url)[1]} "
                       f"(407 Proxy Authentication Required): {fix}")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for (delta seconds or an HTTP date); None if malformed."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(min(int(value[:12]), 10**7))
    import email.utils
    import time

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    try:
        return min(max(0.0, when.timestamp() - time.time()), 1e7)
    except (ValueError, OverflowError, OSError):
        return None


def proxy_for(url: str) -> str:
    """The proxy urllib sends `url` through (from *_PROXY and NO_PROXY), or ''."""
    import urllib.request

    proxy = urllib.request.getproxies().get(url.partition(":")[0].lower(), "")
    if proxy and urllib.request.proxy_bypass(url_origin(url)[1]):
        return ""
    return proxy


def proxy_variable(url: str) -> str:
    """The name of the variable the proxy for `url` comes from ('https_proxy', ...), or ''."""
    scheme = url.partition(":")[0].lower()
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY"):
        if os.environ.get(name):
            return name
    return ""


def check_proxies() -> None:
    """UsageError for a proxy variable urllib cannot use (a bad port, host or character)."""
    import urllib.request

    for scheme, proxy in urllib.request.getproxies().items():
        if scheme not in ("http", "https"):
            continue
        url = proxy if "://" in proxy else "http://" + proxy
        head, _, after = proxy.partition(":")
        no_authority = "/" not in head and after.startswith("/") and not after.startswith("//")  # 'http:/h'
        if no_authority or not valid_http_base(url):
            variable = proxy_variable(scheme + ":") or f"{scheme}_proxy"
            raise UsageError(f"{variable}={mask_proxy(proxy)!r} is not a proxy URL qtmcp can use "
                             "(bad host, port or character): fix it or unset it")


def connection_failure(reason: object, url: str, proxy: str = "") -> Exception:
    """What a failed connection means: TLS errors and proxy refusals are final, others transient."""
    import socket
    import ssl

    host = url_origin(url)[1]
    tunnel = str(reason) if isinstance(reason, OSError) and not reason.errno else ""
    if tunnel.startswith("Tunnel connection failed: "):  # http.client's words for a refused CONNECT
        code = tunnel.split()[3] if len(tunnel.split()) > 3 else ""
        if code == "407":
            return proxy_refusal(proxy, url)
        if not code.startswith("5"):
            return SourceError(f"the proxy {mask_proxy(proxy)} refused to connect to {host} "
                               f"({printable(tunnel[26:80])}); check NO_PROXY and the proxy's rules")
    if proxy and isinstance(reason, (socket.gaierror, ConnectionRefusedError)):
        host = f"the proxy {mask_proxy(proxy)} (for {host}; see HTTPS_PROXY, HTTP_PROXY, NO_PROXY)"
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


class HeaderClock:
    """A socket's file while a status line and headers arrive: the reads share one deadline."""

    def __init__(self, raw: Any, sock: Any, timeout: float | None) -> None:
        import time

        self.raw, self.sock = raw, sock
        self.deadline = time.monotonic() + (timeout if timeout else DEFAULT_TIMEOUT)

    def readline(self, limit: int = -1) -> bytes:
        """One line, each receive bounded by what is left of the deadline (a line
        that arrives a byte at a time is given up too)."""
        import socket
        import time

        line = b""
        while not line.endswith(b"\n") and (limit < 0 or len(line) < limit):
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("the status line and headers did not all arrive in time")
            self.sock.settimeout(left)
            data = self.raw.peek(1)  # at most one receive
            if not data:
                break
            end = data.find(b"\n")
            take = len(data) if end < 0 else end + 1
            line += self.raw.read(take if limit < 0 else min(take, limit - len(line)))
        return line

    def close(self) -> None:
        self.raw.close()


def clocked_response() -> Any:
    """http.client's HTTPResponse whose status line and headers are read against a HeaderClock."""
    import http.client

    class Response(http.client.HTTPResponse):
        def __init__(self, sock, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(sock, *args, **kwargs)
            self.clock_sock = sock

        def begin(self) -> None:
            sock, raw = self.clock_sock, self.fp
            timeout = sock.gettimeout()
            self.fp = HeaderClock(raw, sock, timeout)  # type: ignore[assignment]
            try:
                super().begin()
            finally:
                if self.fp is not None:
                    self.fp = raw
                try:
                    sock.settimeout(timeout)
                except OSError:
                    pass

    return Response


def new_opener(https: bool) -> Any:
    """A urllib opener: proxies from the environment, no redirects, a deadline on headers.

    For https it verifies TLS with the default context (SSL_CERT_FILE and
    SSL_CERT_DIR apply). A response whose status line and headers have not
    all arrived within the connection's timeout is a stall, so that a server
    sending endless '100 Continue' or one header line a minute is given up.
    """
    import http.client
    import urllib.request

    check_proxies()
    response = clocked_response()

    class Connection(http.client.HTTPConnection):
        response_class = response

    class Handler(urllib.request.HTTPHandler):
        def http_open(self, req):  # type: ignore[no-untyped-def]
            return self.do_open(Connection, req)

    handlers = [urllib.request.ProxyHandler(), urllib.request.UnknownHandler(), Handler(),
                urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()]
    if https:
        import ssl

        class SecureConnection(http.client.HTTPSConnection):
            response_class = response

        class SecureHandler(urllib.request.HTTPSHandler):
            def __init__(self, context: ssl.SSLContext):
                super().__init__(context=context)
                self.tls = context

            def https_open(self, req):  # type: ignore[no-untyped-def]
                return self.do_open(SecureConnection, req, context=self.tls)

        handlers.append(SecureHandler(ssl.create_default_context()))
    opener = urllib.request.OpenerDirector()
    for handler in handlers:
        opener.add_handler(handler)
    return opener


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
    for chunk in chunks(source):
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


def copy_local(path: str, sink: MemorySink | FileSink, reporter: Reporter) -> None:
    """Copy a directory mirror's file into `sink`: a regular file, or NotFoundAtBase or SourceError."""
    try:
        source = open_regular(path)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFoundAtBase("no such file") from None
    except NotRegularFile:
        raise SourceError(f"{path} is not a regular file (a folder, fifo or device): "
                          "fix the mirror folder") from None
    except OSError as error:
        raise NotFoundAtBase(error.strerror or str(error)) from None
    with source:
        total = os.fstat(source.fileno()).st_size
        try:
            copy_stream(source, sink, reporter, path, total)
        except OSError as error:
            raise SourceError(f"cannot read {path}: {describe_error(error)}") from None


class HttpTransport:
    """One attempt at an http(s) file: openers made once, credentials only for their mirror's origin."""

    def __init__(self, reporter: Reporter, token: str = "", no_credentials: Iterable[str] = ()):
        self.reporter = reporter
        self.token = token  # QTMCP_MIRROR_TOKEN
        self.openers: dict[str, Any] = {}
        self.credentials: dict[str, tuple[tuple[str, str, int | None], str] | None] = {
            base: None for base in no_credentials}

    def copy(self, base: str, url: str, sink: MemorySink | FileSink, timeout: float) -> None:
        """Copy `url` into `sink`, refusing a body over MAX_DOWNLOAD or cut short."""
        import http.client

        response = self.open(base, url, timeout)
        with response:
            total = content_length(response.headers.get_all("Content-Length"), url)
            if total is not None and isinstance(sink, FileSink) and total > MAX_DOWNLOAD:
                raise SourceError(f"{mask_url(url)} is over {human_size(MAX_DOWNLOAD)}: refused")
            try:
                got = copy_stream(response, sink, self.reporter, mask_url(url), total)
            except (OSError, http.client.IncompleteRead) as error:
                raise TransientError(f"the transfer broke ({describe_error(error)})") from None
            except (ValueError, OverflowError, http.client.HTTPException) as error:
                raise SourceError(f"{mask_url(url)} sent a malformed body ({describe_error(error)})") from None
            if total is not None and got < total:
                raise TransientError(f"the body was cut short ({got} of {total} bytes)")

    def open(self, base: str, url: str, timeout: float) -> Any:
        """The response for `url`, following redirects by hand (at most 10).

        Credentials found for `base` go only to `base`'s own origin; https to
        http is refused; errors become NotFoundAtBase, TransientError or
        SourceError.
        """
        import http.client
        import urllib.error
        import urllib.request

        credential = self.credential_for(base)
        seen = {url}
        for _ in range(MAX_REDIRECTS + 1):
            request = urllib.request.Request(
                url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
            )
            if credential and url_origin(url) == credential[0]:
                request.add_unredirected_header("Authorization", credential[1])
            try:
                return self.opener(url).open(request, timeout=timeout)
            except urllib.error.HTTPError as error:
                location = error.headers.get("Location") if error.code in (301, 302, 303, 307, 308) else None
                if location is None:
                    raise http_failure(error, url) from None
                error.close()
                target = redirect_target(url, location)
                if target in seen:
                    raise SourceError(f"{mask_url(url)} redirects in a loop: refused") from None
                seen.add(target)
                url = target
            except urllib.error.URLError as error:
                raise connection_failure(error.reason, url, proxy_for(url)) from None
            except (OSError, http.client.HTTPException) as error:
                raise connection_failure(error, url, proxy_for(url)) from None
            except (ValueError, UnicodeError, OverflowError) as error:  # urllib's and http.client's words for bad input
                detail = describe_error(error)  # urllib's words may quote a proxy value whole
                detail = "a URL or proxy value urllib cannot read" if "@" in detail or "//" in detail else detail
                raise SourceError(f"{mask_url(url)}: malformed URL or answer ({printable(detail)})") from None
        raise SourceError(f"{mask_url(url)}: more than {MAX_REDIRECTS} redirects: refused")

    def opener(self, url: str) -> Any:
        """An opener with proxies from the environment, no redirects, and (for
        https) verified TLS; the TLS context is only made where it is needed."""
        kind = "https" if url.lower().startswith("https:") else "http"
        if kind not in self.openers:
            self.openers[kind] = new_opener(kind == "https")
        return self.openers[kind]

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
            if self.token:
                found = (origin, "Bearer " + self.token)
            else:
                login = login or netrc_login(origin[1], self.reporter)
                if login:
                    import base64

                    pair = f"{login[0]}:{login[1]}".encode()
                    found = (origin, "Basic " + base64.b64encode(pair).decode("ascii"))
        self.credentials[base] = found
        return found


class Fetcher:
    """Gets a release's files from a list of bases, in order, as the contract says: which
    base next, how often and how long to retry; the copying is copy_local's and HttpTransport's."""

    def __init__(self, bases: list[str], reporter: Reporter, offline: bool = False,
                 timeout: float = DEFAULT_TIMEOUT, token: str = "", no_credentials: Iterable[str] = ()):
        self.bases = bases
        self.reporter = reporter
        self.offline = offline
        self.timeout = timeout
        self.wait_left = RETRY_BUDGET
        self.http = HttpTransport(reporter, token, no_credentials)

    # -- one file, every base --------------------------------------------------

    def obtain(self, tag: str, name: str, sink: MemorySink | FileSink, bases: list[str] | None = None) -> str:
        """Copy `name` of release `tag` into `sink` from the first base that has it.

        Returns that base. Raises MissingError when none has it.
        """
        bases = self.bases if bases is None else bases
        tried: list[str] = []
        refused = False
        for number, base in enumerate(bases, 1):
            location = base_file_location(base, tag, name)
            shown = mask_url(location)
            if base_kind(base) == "http" and self.offline:
                self.reporter.note(f"offline: not opening {shown}")
                tried.append(f"{shown} (offline)")
                continue
            try:
                self.copy_with_retries(base, location, sink, last=number == len(bases))
                return base
            except NotFoundAtBase as missing:
                refused = refused or missing.refused
                tried.append(f"{shown} ({missing})")
                if number < len(bases):
                    self.reporter.note(f"{name} not at {shown} ({missing}); trying the next source")
            except TransientError as failure:  # only from a base that is not the last
                self.reporter.note(f"{shown}: {failure}; trying the next source")
                tried.append(f"{shown} ({failure})")
        hint = ""
        if refused:
            hint = "; credentials for a mirror come from ~/.netrc (or $NETRC) and QTMCP_MIRROR_TOKEN"
        elif self.offline:
            hint = (
                "; offline: bring it with 'qtmcp mirror DEST' on a connected machine and "
                "--mirror DEST here, or 'qtmcp install ARCHIVE'"
            )
        raise MissingError(f"no source has {name} of release {tag}: tried {'; '.join(tried)}{hint}")

    def copy_with_retries(self, base: str, location: str, sink: MemorySink | FileSink, last: bool) -> None:
        """Copy `location` into `sink`, retrying transient failures on the last base.

        Waiting between attempts and the time of attempts that failed both
        count against one budget (RETRY_BUDGET), so a silent source fails
        within --timeout + RETRY_BUDGET seconds.
        """
        import time

        shown = mask_url(location)
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            sink.reset()
            began = time.monotonic()
            try:
                self.copy_once(base, location, sink, self.attempt_timeout(attempt))
                return
            except TransientError as failure:
                if attempt > 1:
                    self.wait_left -= time.monotonic() - began
                if not last:
                    raise
                waited = time.monotonic() - started
                delay = retry_delay(attempt, failure.retry_after)
                if delay is not None and delay > self.wait_left and failure.retry_after is not None:
                    when = time.strftime("%H:%M:%S", time.localtime(time.time() + delay))
                    raise SourceError(
                        f"{shown} asks to retry after {delay:.0f} s, longer than qtmcp waits: "
                        f"try again after {when}"
                    ) from None
                if delay is None or self.wait_left <= delay:
                    attempts = f"{attempt} attempt{'s' if attempt > 1 else ''}"
                    raise SourceError(
                        f"could not get {shown} after {attempts} and {waited:.0f} s in all: {failure}; "
                        "check the network, the proxy or the mirror, raise --timeout for a slow one, "
                        "or give another --mirror"
                    ) from None
                self.reporter.note(
                    f"{shown}: {failure}; retrying in {delay:.1f} s (attempt {attempt + 1} of {MAX_ATTEMPTS})"
                )
                time.sleep(delay)
                self.wait_left -= delay

    def attempt_timeout(self, attempt: int) -> float:
        """The silence an attempt may meet: --timeout, cut to what is left of the budget on a retry."""
        if attempt == 1:
            return self.timeout
        return max(0.5, min(self.timeout, self.wait_left))

    def copy_once(self, base: str, location: str, sink: MemorySink | FileSink, timeout: float) -> None:
        """One attempt: copy `location` into `sink`, or raise why not."""
        if base_kind(base) == "local":
            folder = local_base_path(base)
            if not os.path.isdir(folder):
                looks_like_host = base[:1].isalnum() and ":" in base[2:] and "@" not in base and "://" not in base
                hint = f"; did you mean http://{base}?" if looks_like_host else ""
                raise NotFoundAtBase(f"no such folder {folder}{hint}")
            copy_local(location, sink, self.reporter)
        else:
            self.http.copy(base, location, sink, timeout)


# Unpacking: every entry checked before it is written #########################


class UnpackBudget:
    """The bytes an archive has unpacked, against MAX_UNPACKED and (for a stream whose
    compressed bytes are counted) MAX_RATIO."""

    def __init__(self) -> None:
        self.total = 0
        self.packed: CountingReader | None = None  # a tar.gz's compressed bytes read so far

    def take(self, size: int) -> None:
        self.total += size
        if self.total > MAX_UNPACKED:
            raise ArchiveError(f"archive refused: it unpacks to over {human_size(MAX_UNPACKED)}")
        if self.packed and self.total > RATIO_GRACE and self.total > MAX_RATIO * self.packed.count:
            raise ArchiveError(f"archive refused: a decompression bomb (over {MAX_RATIO} bytes unpacked per byte)")


class TreeWriter:
    """Writes an archive's entries under `root`, once ArchiveNames has let them in.

    It records each file's size and SHA-256 as it writes it, and each folder,
    as lines of the manifest to come in `records` (a binary file; see
    write_manifest), never writes through a link (links are made last, by
    finish()), and counts what was unpacked against an UnpackBudget. Its
    memory does not grow with the files' sizes.
    """

    def __init__(self, root: str, windows: bool, records: BinaryIO | None = None):
        self.root = root
        self.windows = windows
        self.records = records
        self.names = ArchiveNames(windows)
        self.budget = UnpackBudget()
        self.files = 0  # files written
        self.links: list[tuple[list[str], str, list[str]]] = []  # (parts, target, resolved)
        self.umask = os.umask(0o022)
        os.umask(self.umask)

    def claim(self, name: str, kind: str) -> list[str]:
        """Let a new entry in (ArchiveNames.claim); make and record the folders it brings."""
        parts, new_folders = self.names.claim(name, kind)
        for folder in new_folders:
            self.record_folder(folder)
        if new_folders:
            make_dirs(self.path_of(new_folders[-1].split("/")))
        return parts

    def kind_of(self, parts: list[str]) -> int:
        return self.names.kind_of(parts)

    def top_folder(self, launcher: str) -> list[str]:
        return self.names.top_folder(launcher)

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
                for chunk in chunks(source):
                    size += len(chunk)
                    self.budget.take(len(chunk))
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
            source = open(source_path, "rb")  # noqa: SIM115 (closed by the with below)
            mode = os.fstat(source.fileno()).st_mode
        except OSError as error:
            raise local_failure(error, source_path) from None
        with source:
            self.add_file(name, mode, source)

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
            is_dir = self.names.names.get("", collision_key(resolved))[0] in (IMPLIED, FOLDER)
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
            make_dirs(self.path_of(parts))
            self.names.names.put("/".join(parts), collision_key(parts), FOLDER)
            self.record_folder("/".join(parts))
            for name in sorted(os.listdir(source)):
                self.copy_counted(os.path.join(source, name), parts + [name])
        elif os.path.isfile(source):
            with open(source, "rb") as data:
                self.write_file(parts, os.fstat(data.fileno()).st_mode, data)



def file_digest(path: str) -> tuple[int, str]:
    """(size, SHA-256) of a file, read in chunks."""
    import hashlib

    digest = hashlib.sha256()
    size = 0
    with open_regular(path) as source:
        for chunk in chunks(source):
            size += len(chunk)
            digest.update(chunk)
    return size, digest.hexdigest()


class CountingReader:
    """A reader that counts the bytes read through it."""

    def __init__(self, source: BinaryIO) -> None:
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

    def __init__(self, raw: BinaryIO) -> None:
        self.packed = CountingReader(raw)
        self.inflate = self.new_inflate()
        self.chunk = b""  # the inflated bytes being read
        self.at = 0  # how much of them were read
        self.pos = 0  # bytes read from the stream
        self.count = 0  # bytes inflated
        self.limit = TAR_HEADER_MAX
        self.tail = b""  # what the last read() returned, to check where tarfile stopped

    @staticmethod
    def new_inflate() -> Any:  # a zlib decompressobj for one gzip member
        import zlib

        return zlib.decompressobj(16 + zlib.MAX_WBITS)

    def inflated(self) -> bytes:
        """The next inflated bytes (at most CHUNK), b"" at the end of the archive."""
        data: bytes
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
    if magic.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if magic.startswith(b"\x1f\x8b"):
        return "tar.gz"
    raise ArchiveError(f"{os.path.basename(path)} is neither a zip nor a tar.gz archive")


def unpack_archive(path: str, writer: TreeWriter) -> None:
    """Unpack a zip or tar.gz into `writer`; ArchiveError if it is unreadable."""
    import zlib

    kind = archive_kind(path)
    malformed: tuple[type[Exception], ...]
    if kind == "zip":
        import zipfile

        # zipfile's words for a damaged or encrypted entry, a method it lacks, a name flagged UTF-8 that is not
        unpack, malformed = unpack_zip, (zipfile.BadZipFile, RuntimeError, NotImplementedError, UnicodeDecodeError)
    else:
        import tarfile

        unpack, malformed = unpack_tar_gz, (tarfile.TarError,)
    unreadable = (*malformed, OSError, EOFError, zlib.error)
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


def quick_tar_info() -> type[tarfile.TarInfo]:
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
        writer.budget.packed = stream.packed
        archive = tarfile.TarFile(fileobj=stream, mode="r", tarinfo=quick_tar_info())  # type: ignore[arg-type]
        for member in archive:
            archive.members = []  # type: ignore[attr-defined]  # tarfile keeps every member otherwise
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
    if error.errno in (errno.EEXIST, errno.ELOOP) or isinstance(error, NotRegularFile):
        return LocalError(
            f"cannot write {path}: a link or file that qtmcp did not make is in the way "
            "(qtmcp never writes through one); remove it, or use another folder (--cache-dir)"
        )
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return LocalError(
            f"cannot write {path} ({reason}): the cache is not writable; "
            "choose another folder with --cache-dir or QTMCP_CACHE_DIR"
        )
    return LocalError(f"cannot write {path} ({reason}); check the folder, or use --cache-dir")


def install_name(key: str, digest: str) -> str:
    """The folder of one install: the build and the first 16 hex digits of its archive
    (cache_entry() reads these names back)."""
    return f"{key}-{digest[:16]}"


def pointer_path(tag_dir: str, key: str) -> str:
    return os.path.join(tag_dir, key + ".current")


def launcher_path(install: str, os_name: str) -> str:
    return os.path.join(install, BUILD_DIR, launcher_name(os_name))


def is_complete(install: str, os_name: str) -> bool:
    """True if the install has its manifest and its launcher. An install is renamed into
    place whole, so a folder without them is damaged (or not qtmcp's), never half-made."""
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


class DamagedInstall(LocalError):
    """An install whose manifest cannot be read or has the wrong shape."""


def read_manifest(install: str) -> dict:  # type: ignore[type-arg]
    """The install's manifest, checked to have the shape qtmcp writes; DamagedInstall if not."""
    import json

    path = os.path.join(install, MANIFEST_NAME)
    try:
        with open_regular(path) as source:
            manifest = json.loads(source.read(MANIFEST_MAX + 1).decode("utf-8"))
    except (OSError, ValueError) as error:
        raise DamagedInstall(f"cannot read the manifest of {install}: {describe_error(error)}") from None
    except RecursionError:
        raise DamagedInstall(f"cannot read the manifest of {install}: it nests too deep") from None
    problem = manifest_problem(manifest)
    if problem:
        raise DamagedInstall(f"the manifest of {install} is damaged: {problem}")
    return manifest  # type: ignore[no-any-return]


def pointed_install(tag_dir: str, key: str) -> str:
    """The install folder name the build's pointer names, or ''; LocalError for a fifo or device there."""
    path = pointer_path(tag_dir, key)
    try:
        with open_regular(path) as pointer:
            return pointer.read(200).decode("utf-8").strip()
    except NotRegularFile:
        raise LocalError(f"{path} is not a regular file (a fifo or device someone put there): "
                         "remove it, and qtmcp writes a new one") from None
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


def replace_with(path: str, data: bytes, temp_prefix: str, temp_suffix: str = "", mode: int = 0o644) -> None:
    """Replace `path` with `data` (mode `mode`, exactly) by one rename, so no reader sees half of it.

    The temporary file's name starts with `temp_prefix` (and ends with
    `temp_suffix`) and is created exclusively beside `path`, so that no other
    run writes it and the run that next holds the same lock can remove it if
    this one dies. It reaches the disk before the rename. A link at `path` is
    replaced, never written through. OSError as it comes.
    """
    import tempfile

    handle, temp = tempfile.mkstemp(prefix=temp_prefix, suffix=temp_suffix, dir=os.path.dirname(path))
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        replace_file(temp, path)
    except BaseException:
        remove_quietly(temp)
        raise


def write_atomically(path: str, data: bytes, temp_prefix: str, temp_suffix: str = "") -> None:
    """replace_with for a file of the cache or DEST: a failure is a LocalError."""
    try:
        replace_with(path, data, temp_prefix, temp_suffix)
    except OSError as error:
        raise local_failure(error, path) from None


def replace_file(source: str, target: str) -> None:
    """os.replace, retried briefly on Windows (an antivirus may hold the file)."""
    retry_windows(lambda: os.replace(source, target))


def retry_windows(action: Callable[[], object]) -> None:
    """Run `action`; on Windows retry a PermissionError for up to about 2 s."""
    import time

    for delay in (0.05, 0.1, 0.2, 0.4, 0.5, 0.75, 0):
        try:
            action()
            return
        except PermissionError:
            if os.name != "nt" or not delay:
                raise
            time.sleep(delay)


def remove_path(path: str) -> None:
    """Remove a file, link or folder tree if it exists (retried on Windows).

    Never through a link: shutil.rmtree walks by open folders and refuses a
    link swapped in (POSIX), so what a link planted in the tree points to is
    left as it is. On POSIX nothing is made writable to retry: what will not
    go is an OSError for the caller. On Windows a read-only file (not a link)
    loses its read-only flag and is tried once more.
    """
    import shutil
    import stat

    def clear_read_only_and_retry(function, failed, info):  # type: ignore[no-untyped-def]
        if os.name != "nt" or function not in (os.remove, os.unlink) or not stat.S_ISREG(os.lstat(failed).st_mode):
            raise info[1]
        os.chmod(failed, stat.S_IWRITE)
        function(failed)

    if os.path.islink(path) or os.path.isfile(path):
        retry_windows(lambda: os.remove(path))
    elif os.path.isdir(path):
        retry_windows(lambda: shutil.rmtree(path, onerror=clear_read_only_and_retry))


def remove_file(path: str) -> None:
    """Remove one file or link by name, never a folder (EISDIR, whatever it became meanwhile)."""
    retry_windows(lambda: os.unlink(path))


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

    def __init__(self, path: str, what: str, reporter: Reporter, timeout: float = LOCK_TIMEOUT,
                 discard: bool = False):
        self.path = path
        self.what = what
        self.reporter = reporter
        self.timeout = timeout
        self.discard = discard  # remove the lock file when done (a waiter then takes a new one)
        self.fd = -1

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False if another process holds it.

        The lock file is opened without following a link and must be a regular
        file; a file system that cannot lock is a LocalError, not a wait.
        """
        import errno

        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            self.fd = os.open(self.path, flags, 0o644)
            if not stat_is_regular(os.fstat(self.fd).st_mode):
                os.close(self.fd)
                self.fd = -1
                raise NotRegularFile(0, "not a regular file", self.path)
        except OSError as error:
            raise local_failure(error, self.path) from None
        try:
            if sys.platform == "win32":
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
        except OSError as error:
            os.close(self.fd)
            self.fd = -1
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, getattr(errno, "EDEADLOCK", -1)):
                return False
            raise LocalError(
                f"cannot lock {self.path} ({describe_error(error)}): this file system does not "
                "support locks (a network share?); use --cache-dir on a local disk"
            ) from None

    def __enter__(self) -> BuildLock:  # noqa: PYI034 (not subclassed; typing.Self is 3.11+)
        import time

        deadline = time.monotonic() + self.timeout
        if self.try_acquire():
            return self
        self.reporter.note(f"waiting for another qtmcp working on {self.what} (lock {self.path})")
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
        if self.discard and os.name != "nt":  # while held: a waiter then finds it gone
            remove_quietly(self.path)
        try:
            if sys.platform == "win32":
                import msvcrt

                os.lseek(self.fd, 0, os.SEEK_SET)
                msvcrt.locking(self.fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass
        os.close(self.fd)  # closing releases an fcntl lock
        self.fd = -1
        if self.discard and os.name == "nt":  # Windows removes no open file: one a waiter holds stays
            remove_quietly(self.path)


def remove_quietly(path: str) -> None:
    """Remove a file if it can be; a file that stays is harmless (a lock file in use)."""
    try:
        os.remove(path)
    except OSError:
        pass


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
    from json.encoder import encode_basestring as quoted

    cut = quoted("/".join(prefix) + "/")[1:-1].encode() if prefix else b""  # as TreeWriter.record wrote it

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


def release_folders(root: str) -> list[str]:
    """The tags of the releases in the cache: real folders (not links) with a tag's name."""
    tags = []
    for tag in list_dir(root):
        try:
            check_tag(tag)
        except UsageError:
            continue
        if os.path.isdir(os.path.join(root, tag)) and not os.path.islink(os.path.join(root, tag)):
            tags.append(tag)
    return tags


def find_installs(root: str) -> list[tuple[str, str, str]]:
    """(tag, install folder name, path) of every complete install in the cache."""
    found = []
    for tag in release_folders(root):
        tag_dir = os.path.join(root, tag)
        for entry in list_dir(tag_dir):
            path = os.path.join(tag_dir, entry)
            named = cache_entry(entry)
            if named and named[1] == "install" and not os.path.islink(path) \
                    and os.path.lexists(os.path.join(path, MANIFEST_NAME)):
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


class Cleaned:
    """What `cache clean` removed (or, with --dry-run, would remove), and what it left."""

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.removed: list[str] = []
        self.freed = 0
        self.busy: list[str] = []  # builds another qtmcp is installing
        self.foreign: list[str] = []  # what qtmcp did not make, kept


def verify_install(install: str, manifest: dict) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    """(what, path) for each file of an install that changed, went missing or appeared.

    A fifo, device or unreadable file where a file should be counts as changed.
    """
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
                elif not file_matches(path, files[entry]):
                    problems.append(("changed", entry))
    problems += [("missing", entry) for entry in sorted(set(files) | set(links)) if entry not in seen]
    return problems


def file_matches(path: str, recorded: tuple[int, str]) -> bool:
    """True if the regular file at `path` has the recorded size and SHA-256."""
    try:
        return file_digest(path) == tuple(recorded)
    except OSError:
        return False


def clean_release(tag_dir: str, tag: str, keep_release: bool, cleaned: Cleaned, reporter: Reporter) -> None:
    """Remove what qtmcp made in one release's folder: with `keep_release`, only
    dead runs' leftovers and installs the pointers do not name; else everything.

    A build whose lock another qtmcp holds is left alone, and so is anything
    qtmcp did not name; links are removed, never followed.
    """
    builds: dict[str, list[str]] = {}
    for entry in list_dir(tag_dir):
        named = cache_entry(entry)
        if named:
            builds.setdefault(named[0], []).append(entry)
        elif entry not in (SUMS_NAME, INDEX_LOCK) and not entry.startswith(INDEX_WORK):
            cleaned.foreign.append(os.path.join(tag_dir, entry))
    busy = False
    for key, entries in sorted(builds.items()):
        lock = BuildLock(lock_path(tag_dir, key), f"{key} of {tag}", reporter)
        if (os.path.lexists(lock.path) or not cleaned.dry_run) and not lock.try_acquire():
            cleaned.busy.append(f"{key} of {tag}")
            busy = True
            continue
        try:
            keep = {pointed_install(tag_dir, key), os.path.basename(pointer_path(tag_dir, key))} \
                if keep_release else set()
            for entry in entries:
                if entry in keep or cache_entry(entry) == (key, "lock"):
                    continue
                remove_entry(os.path.join(tag_dir, entry), tag_dir, key, cleaned)
            if not keep_release and not cleaned.dry_run:
                remove_quietly(lock_path(tag_dir, key))  # while held: a waiter takes a new one
        finally:
            lock.release()
    clean_index(tag_dir, tag, keep_release or busy, cleaned, reporter)
    if not keep_release and not cleaned.dry_run and not list_dir(tag_dir):
        try:
            os.rmdir(tag_dir)
        except OSError:
            pass


def remove_entry(path: str, tag_dir: str, key: str, cleaned: Cleaned) -> None:
    """Count one entry of a build as removed, and remove it unless this is a dry run."""
    size = tree_size(path) if os.path.isdir(path) and not os.path.islink(path) else 0
    cleaned.removed.append(path)
    cleaned.freed += size
    if cleaned.dry_run:
        return
    if os.path.isdir(path) and not os.path.islink(path):
        discard_tree(path, tag_dir, key)
    else:
        remove_path(path)


def clean_index(tag_dir: str, tag: str, keep: bool, cleaned: Cleaned, reporter: Reporter) -> None:
    """Remove dead runs' copies of the release's SHA256SUMS, and (unless `keep`) the copy itself."""
    index_lock = BuildLock(os.path.join(tag_dir, INDEX_LOCK), f"the {SUMS_NAME} of {tag}", reporter)
    if (os.path.lexists(index_lock.path) or not cleaned.dry_run) and not index_lock.try_acquire():
        return
    try:
        for entry in list_dir(tag_dir):
            if entry.startswith(INDEX_WORK) or (not keep and entry == SUMS_NAME):
                cleaned.removed.append(os.path.join(tag_dir, entry))
                if not cleaned.dry_run:
                    remove_path(os.path.join(tag_dir, entry))
        if not keep and not cleaned.dry_run:
            remove_quietly(os.path.join(tag_dir, INDEX_LOCK))
    finally:
        index_lock.release()


# Releases: the index, the archive, the install ###############################


class Index:
    """A release's SHA256SUMS, verified against its pin if it has one."""

    def __init__(self, data: bytes, sums: dict[str, str], base: str):
        self.data = data
        self.sums = sums
        self.base = base


def read_index(fetcher: Fetcher, tag: str, bases: list[str] | None = None) -> Index:
    """The release's index from the first base that has it (MissingError if none).

    A pinned release's SHA256SUMS must match its pin (IntegrityError, at once).
    """
    sink = MemorySink(SUMS_NAME, SUMS_MAX_BYTES)
    try:
        base = fetcher.obtain(tag, SUMS_NAME, sink, bases)
    except MissingError as missing:
        if fetcher.offline:
            raise
        raise MissingError(f"{missing}; check the release tag (tags look like v0.3.0) and the mirror") from None
    data = bytes(sink.data)
    where = mask_url(base_file_location(base, tag, SUMS_NAME))
    pinned = check_pin(tag, data, f"{SUMS_NAME} of release {tag} from {where}",
                       "use another --mirror, and tell the mirror's keeper (or report a tampered release at "
                       f"{PROJECT_URL}/issues)")
    if not pinned:
        fetcher.reporter.note(
            f"release {tag} is not pinned in this qtmcp: trusting its {SUMS_NAME} from {where}"
        )
    return Index(data, parse_sums(data, where), base)


def check_pin(tag: str, data: bytes, what: str, fix: str) -> bool:
    """True if release `tag` is pinned and `data` (its SHA256SUMS, `what`) matches the pin;
    False if it is not pinned; IntegrityError, saying `fix`, if it does not match."""
    import hashlib

    pin = RELEASE_PINS.get(tag)
    actual = hashlib.sha256(data).hexdigest()
    if pin and actual != pin:
        raise IntegrityError(f"{what} does not match the pin of release {tag}: expected SHA-256 {pin}, "
                             f"got {actual}; it is not the published release: {fix}")
    return bool(pin)


def save_index(root: str, tag: str, index: Index, reporter: Reporter) -> None:
    """Keep the verified index in the cache (for `list` offline and for messages)."""
    tag_dir = os.path.join(root, tag)
    path = os.path.join(tag_dir, SUMS_NAME)
    try:
        with open_regular(path) as cached:
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
        with open_regular(os.path.join(root, tag, SUMS_NAME)) as cached:
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
        sink.open()  # an empty file: nothing was written
    finally:
        sink.close()
    source = mask_url(base_file_location(base, tag, name))
    actual = sink.digest()
    if actual != digest:
        remove_path(dest)
        raise IntegrityError(
            f"{name} from {source} has SHA-256 {actual}, expected {digest}: "
            "the file was removed and nothing was installed; try another --mirror, or --refresh "
            f"if the tag moves (like nightly); if it persists, report it at {PROJECT_URL}/issues"
        )
    return source


class Acquired:
    """The archive of a build: its asset name, digest and where it came from."""

    def __init__(self, asset: str, digest: str, source: str):
        self.asset = asset
        self.digest = digest
        self.source = source


class Target:
    """The build a command installs or starts, worked out once by the command layer:
    the cache root, the release tag, the Qt version and platform, the digest its
    archive must have ('' for the one the index vouches for), and whether the
    cached build is to be checked against the index again (--refresh)."""

    def __init__(self, root: str, tag: str, qt: str, platform: tuple[str, str], digest: str = "",
                 refresh: bool = False):
        self.root, self.tag, self.qt, self.platform = root, tag, qt, platform
        self.digest, self.refresh = digest, refresh
        self.key = build_key(qt, platform)
        self.tag_dir = os.path.join(root, tag)


def index_and_archives(fetcher: Fetcher, tag: str, use: Callable[[Index, list[str]], T], what: str,
                       no_index: Callable[[], T] | None = None) -> T:
    """use(index, the bases to take archives from) with the release's index from the first base
    that has it; for an unpinned release whose archive is missing there, the next base's pair.

    A pinned release's archives may come from any base. `no_index()` is the
    answer when no base has the index (default: MissingError); `what` names
    the archives in the note that the next base is tried.
    """
    bases, start = fetcher.bases, 0
    pinned = tag in RELEASE_PINS
    while True:
        try:
            index = read_index(fetcher, tag, bases[start:])
        except MissingError:
            if no_index is None:
                raise
            return no_index()
        start = bases.index(index.base) + 1
        try:
            return use(index, bases if pinned else [index.base])
        except MissingError:
            if pinned or start >= len(bases):
                raise
            fetcher.reporter.note(f"trying the next source for both {SUMS_NAME} and {what}")


def acquire_archive(fetcher: Fetcher, target: Target, dest: str, installed: Callable[[str], bool]) -> Acquired:
    """Find the build in the release's index and download it, verified, into `dest`.

    `installed(digest)` tells whether that archive is installed already: then
    nothing is downloaded (Acquired.source is ""). For an unpinned release the
    archive comes from the base whose SHA256SUMS vouches for it.
    """
    tag = target.tag

    def from_index(index: Index, archive_bases: list[str]) -> Acquired:
        save_index(target.root, tag, index, fetcher.reporter)
        asset = choose_asset(index.sums, target.qt, target.platform, tag)
        digest = index.sums[asset]
        if target.digest and target.digest != digest:
            raise IntegrityError(
                f"--sha256 {target.digest} does not match {asset}'s {digest} in {SUMS_NAME} "
                f"from {mask_url(base_file_location(index.base, tag, SUMS_NAME))}: check the digest "
                "you were given and the --release"
            )
        if installed(digest):
            return Acquired(asset, digest, "")
        return Acquired(asset, digest, fetch_verified(fetcher, tag, asset, digest, dest, archive_bases))

    def by_digest() -> Acquired:
        return acquire_by_digest(fetcher, tag, target.qt, target.platform, dest, target.digest)

    return index_and_archives(fetcher, tag, from_index, "the archive", by_digest if target.digest else None)


def acquire_by_digest(fetcher: Fetcher, tag: str, qt: str, platform: tuple[str, str],
                      dest: str, digest: str) -> Acquired:
    """With --sha256 and no SHA256SUMS anywhere: the build's archive of that digest."""
    names = listed_names(qt, platform)
    fetcher.reporter.note(f"no {SUMS_NAME} for release {tag}: checking the archive against --sha256")
    failure: MissingError | None = None
    for name in names:
        try:
            return Acquired(name, digest, fetch_verified(fetcher, tag, name, digest, dest, fetcher.bases))
        except MissingError as missing:
            failure = failure or missing
    raise failure or MissingError(f"no source has release {tag}")


def install_with(target: Target, reporter: Reporter, acquire: Callable[[str, Callable[[str], bool]], Acquired],
                 reuse: bool = True) -> str:
    """Install a build all-or-nothing, under its lock; return its launcher.

    `acquire(dest, installed)` puts the verified archive at `dest` and returns
    an Acquired (with source "" when `installed(digest)` says it is there).
    With `reuse`, an install that another qtmcp finished meanwhile is used and
    the build's pointer is moved to the install; a repair (no `reuse`) replaces
    the install and leaves the pointer as it is.
    """
    import tempfile

    root, tag, key, tag_dir, os_name = target.root, target.tag, target.key, target.tag_dir, target.platform[0]
    make_dirs(tag_dir)
    with BuildLock(lock_path(tag_dir, key), f"{key} of {tag}", reporter):
        if reuse and not target.refresh and not target.digest:
            found = cached_launcher(root, tag, key, os_name)
            if found:
                return found
        remove_leftovers(tag_dir, work_prefix(key))
        try:
            work = tempfile.mkdtemp(prefix=work_prefix(key), dir=tag_dir)
        except OSError as error:
            raise local_failure(error, tag_dir) from None
        try:
            def installed(digest: str) -> bool:
                return reuse and install_has(os.path.join(tag_dir, install_name(key, digest)), digest, os_name)

            archive = os.path.join(work, "archive")
            got = acquire(archive, installed)
            final = os.path.join(tag_dir, install_name(key, got.digest))
            if got.source:
                info = {"release": tag, "build": key, "asset": got.asset, "sha256": got.digest,
                        "source": got.source}
                install_tree(work, archive, final, info, os_name)
                reporter.note(f"installed {got.asset} into {final}")
            if reuse:
                write_atomically(pointer_path(tag_dir, key), (os.path.basename(final) + "\n").encode(),
                                 work_prefix(key) + "pointer-")
        finally:
            remove_path(work)
    return launcher_path(final, os_name)


def install_build(target: Target, reporter: Reporter, new_fetcher: Callable[[], Fetcher]) -> str:
    """Install the build from the release's sources; return its launcher."""

    def acquire(dest: str, installed: Callable[[str], bool]) -> Acquired:
        if target.digest and installed(target.digest):  # pinned by hand, already here
            return Acquired(asset_names(target.qt, target.platform)[0], target.digest, "")
        return acquire_archive(new_fetcher(), target, dest, installed)

    return install_with(target, reporter, acquire)


def ensure_build(target: Target, reporter: Reporter, new_fetcher: Callable[[], Fetcher]) -> str:
    """The launcher of the build: from the cache if it is there, else installed now.

    With a digest (--sha256) only the install of that archive will do.
    `new_fetcher` is called only when something is to be fetched.
    """
    os_name = target.platform[0]
    if target.digest:
        install = os.path.join(target.tag_dir, install_name(target.key, target.digest))
        if install_has(install, target.digest, os_name):
            return launcher_path(install, os_name)
    elif not target.refresh:
        found = cached_launcher(target.root, target.tag, target.key, os_name)
        if found:
            return found
    return install_build(target, reporter, new_fetcher)


# Starting the launcher #######################################################


def start_launcher(path: str, args: list[str], reporter: Reporter) -> int:
    """Replace qtmcp with the launcher (POSIX) or run it as a tied child (Windows).

    The launcher gets `args`, qtmcp's environment, current directory and
    standard streams. On POSIX this does not return.
    """
    if not os.path.isfile(path):
        raise LocalError(f"the launcher {path} is missing: check --launcher, or run 'qtmcp verify --repair'")
    reporter.log(f"qtmcp {__version__} run: starting {path} {shown_args(args)}".rstrip())
    reporter.end_bar()
    try:
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    if os.name == "nt":
        return run_child(path, args)
    try:  # the C module, loaded at every start: `signal` would import 12 more
        import _signal as signals  # type: ignore[import-not-found]
    except ImportError:  # an interpreter without it
        import signal as signals

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


# MCP clients: the entry, its dry start, configuration files ##################


class EntryFailed(QtmcpError):
    """The entry's dry start failed: the status is that failure's own."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class ConfigRefused(LocalError):
    """A configuration file setup will not rewrite (not JSON, comments, not an object)."""


def running_form() -> tuple[str, str]:
    """How this qtmcp runs: ('installed', its console script) or ('python', this file)."""
    script = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] not in ("", "-c") else ""
    if os.path.basename(script).lower() in ("qtmcp", "qtmcp.exe") and os.path.isfile(script):
        return "installed", script
    return "python", os.path.abspath(__file__)


def default_via() -> str:
    """--via's default: how qtmcp runs now; `pipx run` and `uvx` run it from folders they
    clear later, so an entry made by them starts it through them again."""
    form, script = running_form()
    where = script.replace("\\", "/").lower()
    if form == "installed" and "/pipx/.cache/" in where:
        return "pipx"
    if form == "installed" and "/uv/archive-v" in where:
        return "uvx"
    return form


def installed_script() -> str:
    """The installed `qtmcp` console script: the running one, beside this Python, or on PATH."""
    import shutil
    import sysconfig

    form, path = running_form()
    if form == "installed":
        return path
    name = "qtmcp.exe" if os.name == "nt" else "qtmcp"
    beside = os.path.join(sysconfig.get_path("scripts"), name)
    found = beside if os.path.isfile(beside) else shutil.which("qtmcp")
    if not found:
        raise UsageError("--via installed: no installed qtmcp script found (beside this Python or on PATH); "
                         "install qtmcp (pip install qtmcp), or use --via python")
    return os.path.abspath(found)


def entry_base(base: str, notes: list[str]) -> str:
    """A mirror base as an entry carries it: absolute, and never with a password."""
    if base_kind(base) == "http":
        if not valid_http_base(base):
            raise UsageError(f"bad mirror {mask_url(base)!r}: give an http(s):// or file:// URL, or a directory")
        if has_login(base) and strip_login(base) != without_login(base):
            raise UsageError(f"the mirror URL {mask_url(base)} has an '@' after its first '/': write it as %40 "
                             "(in a password or a path) so that it cannot be read as a user and password")
        if has_login(base):
            host = url_origin(base)[1]
            notes.append(f"the user and password in the mirror URL {mask_url(base)} are not written: the "
                         f"client's qtmcp reads them from ~/.netrc (or $NETRC): 'machine {host} login USER "
                         "password PASSWORD'")
        return strip_login(base)
    if base.lower().startswith("file:"):
        return base
    return os.path.abspath(os.path.expanduser(base))


def entry_environment(environ: Mapping[str, str], with_secrets: bool, notes: list[str]) -> dict[str, str]:
    """The entry's env: the QTMCP_* variables and the proxy, certificate, netrc, cache and
    display variables set now; secrets only with --with-secrets, mirror passwords never."""
    env: dict[str, str] = {}
    for name in sorted(environ):
        value, upper = environ[name], name.upper()
        if not value.strip() or not (upper.startswith("QTMCP_") or upper in CARRIED_VARIABLES):
            continue
        if upper == "QTMCP_MIRROR_TOKEN" and not with_secrets:
            notes.append("QTMCP_MIRROR_TOKEN is not written (a secret; --with-secrets writes it): the client's "
                         "qtmcp then reads the mirror's credentials from ~/.netrc (or $NETRC)")
            continue
        if upper == "QTMCP_MIRROR":
            value = " ".join(entry_base(base, notes) for base in value.split())
        elif upper in ("HTTPS_PROXY", "HTTP_PROXY") and has_login(value) and not with_secrets:
            notes.append(f"{name} holds a user and password: written without them (--with-secrets writes them)")
            value = strip_login(value)
        elif upper in PATH_VARIABLES:
            value = os.path.abspath(os.path.expanduser(value))
        env[name] = value
    return env


def desktop_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What a client started from the desktop passes to its servers besides the entry's env."""
    os_name = machine_os()
    base = {name: environ[name] for name in ("HOME", "USER") if environ.get(name)}
    if os_name == "windows":
        for name in ("SYSTEMROOT", "USERPROFILE", "APPDATA", "LOCALAPPDATA", "TEMP", "TMP",
                     "USERNAME", "HOMEDRIVE", "HOMEPATH", "COMSPEC", "PATHEXT"):
            if environ.get(name):
                base[name] = environ[name]
    base["PATH"] = desktop_path(os_name, environ)
    return base


def machine_os() -> str:
    return "windows" if sys.platform == "win32" else "macos" if sys.platform == "darwin" else "linux"


def dry_start(command: str, args: list[str], env: dict[str, str], reporter: Reporter) -> str:
    """Run the entry with `fetch` as a client would start it; return the launcher it prints.

    Only the entry's env and a desktop client's base environment, another
    working folder, no stdin. Raises EntryFailed with the failure's status.
    """
    import subprocess
    import tempfile

    child_env = dict(desktop_environment(os.environ), **env)
    reporter.note(f"dry start, as the client will start it: {one_line(shell_words([command] + args, machine_os()))}")
    with tempfile.TemporaryDirectory(prefix="qtmcp-dry-start-") as elsewhere:
        try:
            done = subprocess.run([command] + args, env=child_env, cwd=elsewhere, stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=300, check=False)
        except OSError as error:
            raise EntryFailed(f"the entry's command {command} cannot be started ({describe_error(error)}): "
                              "nothing was written", LocalError.status) from None
        except subprocess.TimeoutExpired:
            raise EntryFailed("the entry's dry start did not finish within 300 s: nothing was written",
                              LocalError.status) from None
    lines = [line for line in done.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    printed = done.stdout.decode("utf-8", "replace").strip()
    if done.returncode != 0 or not printed:
        last = one_line(lines[-1]) if lines else f"exit status {done.returncode}"
        status = done.returncode if 2 <= done.returncode <= 7 else LocalError.status
        raise EntryFailed(f"the entry does not start as the client will start it: {last}; "
                          "nothing was written", status)
    return printed.splitlines()[-1]


def parse_config(text: str) -> dict:  # type: ignore[type-arg]
    """A client's configuration: a JSON object; ValueError (with why) for anything else."""
    import json

    def unique(pairs: list) -> dict:  # type: ignore[type-arg]
        data = dict(pairs)
        seen: set[str] = set()
        for key, _ in pairs if len(data) < len(pairs) else ():
            if key in seen:
                raise ValueError(f"the key {one_line(key)[:80]!r} appears twice in one object")
            seen.add(key)
        return data

    try:
        data = json.loads(text, object_pairs_hook=unique) if text.strip() else {}
    except RecursionError:
        raise ValueError("it nests too deep") from None
    if not isinstance(data, dict):
        raise ValueError("it is not a JSON object")  # noqa: TRY004 (callers take ValueError as unreadable)
    return data


class ConfigFile:
    """A client's configuration file as found: its data, bytes and mode (None: no file)."""

    def __init__(self, path: str, data: dict, raw: bytes | None, mode: int | None):  # type: ignore[type-arg]
        self.path = path
        self.data = data
        self.raw = raw
        self.mode = mode


def real_config_path(path: str) -> str:
    """The file a configuration path names, links followed (so a linked dotfile stays linked)."""
    path = os.path.abspath(os.path.expanduser(path))
    real = os.path.realpath(path)
    if os.path.islink(path) and not os.path.exists(real):
        raise LocalError(f"{path} is a link to {real}, which does not exist: fix the link, or give --config")
    return real


def load_config(path: str, client: str) -> ConfigFile:
    """Read a client's configuration for a merge; ConfigRefused if it must not be rewritten."""
    import stat

    try:
        with open_regular(path) as source:
            raw = source.read(CONFIG_MAX + 1)
            mode = stat.S_IMODE(os.fstat(source.fileno()).st_mode)
    except FileNotFoundError:
        return ConfigFile(path, {}, None, None)
    except OSError as error:
        raise LocalError(f"cannot read {path} ({describe_error(error)}): nothing was changed") from None
    if len(raw) > CONFIG_MAX:
        raise ConfigRefused(f"{path} is over {human_size(CONFIG_MAX)}: setup does not rewrite it; "
                            "paste the entry printed on stdout into it by hand")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigRefused(f"{path} is not UTF-8 text: setup does not rewrite it; "
                            "paste the entry printed on stdout into it by hand") from None
    key = config_servers_key(client)
    try:
        data = parse_config(text)
    except ValueError as error:
        try:
            parse_config(strip_json_comments(text))
            why = "holds comments or trailing commas (JSON with comments), which a rewrite would lose"
        except ValueError:
            why = f"is not JSON ({one_line(str(error))})"
        raise ConfigRefused(f"{path} {why}: setup does not rewrite it; paste the entry printed on stdout "
                            f"into its \"{key}\" object by hand") from None
    if not isinstance(data.get(key, {}), dict):
        raise ConfigRefused(f"{path}: its \"{key}\" is not an object: setup does not rewrite it; "
                            "paste the entry printed on stdout into it by hand")
    return ConfigFile(path, data, raw, mode)


def merged_config(found: ConfigFile, client: str, name: str, entry: dict, force: bool) -> bytes | None:  # type: ignore[type-arg]
    """The file's new bytes with the entry merged in, every other key kept in its order.

    None when the entry is there already as it is; UsageError when another
    entry of that name is there and `force` is not given.
    """
    import json

    key = config_servers_key(client)
    servers = found.data.setdefault(key, {})
    if name in servers:
        if servers[name] == entry:
            return None
        if not force:
            raise UsageError(f"{found.path} has an entry \"{name}\" that differs: nothing was changed; "
                             "--force replaces it, --name NAME adds another")
    servers[name] = entry
    old = (found.raw or b"").decode("utf-8-sig", "replace")
    newline = "\r\n" if "\r\n" in old else "\n"
    text = json.dumps(found.data, indent=json_indent(old) if old.strip() else 2, ensure_ascii=False)
    return (text.replace("\n", newline) + newline).encode("utf-8")


def write_new_file(path: str, data: bytes, mode: int | None) -> None:
    """replace_with for a client's file: `mode` exactly (the old file's), or 0o644 under the umask for None."""
    if mode is None:
        umask = os.umask(0o022)
        os.umask(umask)
        mode = 0o644 & ~umask
    replace_with(path, data, f".{os.path.basename(path)}.qtmcp-", ".tmp", mode)


def write_config(found: ConfigFile, data: bytes) -> str:
    """Write a merged configuration (its old bytes kept as <file>.bak); return the .bak or ''."""
    folder = os.path.dirname(found.path)
    backup = found.path + ".bak" if found.raw is not None else ""
    try:
        if not os.path.isdir(folder):
            os.makedirs(folder, exist_ok=True)
        if backup:
            write_new_file(backup, found.raw or b"", found.mode)
        write_new_file(found.path, data, found.mode)
    except OSError as error:
        raise LocalError(f"cannot write {found.path} ({describe_error(error)}): "
                         "the configuration was not changed") from None
    return backup


def claude_code_add(claude: str, name: str, entry: dict, scope: str, force: bool,  # type: ignore[type-arg]
                    reporter: Reporter) -> str:
    """Add the entry with `claude mcp add-json` (removing an older one with `force`); return its line."""
    import subprocess

    words = claude_add_json_words(name, entry, scope)
    words[0] = claude

    def run(command: list[str]) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
        try:
            return subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise LocalError(f"cannot run {claude}: {describe_error(error)}") from None

    done = run(words)
    said = one_line(" ".join(done.stdout.decode("utf-8", "replace").split()))
    if done.returncode != 0 and "already exists" in said.lower():
        if not force:
            raise UsageError(f"Claude Code has an entry \"{name}\" already ({said}): nothing was changed; "
                             "--force replaces it, --name NAME adds another")
        reporter.note(f"replacing Claude Code's entry \"{name}\"")
        run([claude, "mcp", "remove", name] + (["--scope", scope] if scope else []))
        done = run(words)
        said = one_line(" ".join(done.stdout.decode("utf-8", "replace").split()))
    if done.returncode != 0:
        raise LocalError(f"{claude} mcp add-json failed (status {done.returncode}): {said}")
    return said



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
    "--json": Option("json", False, ("list", "cache", "detect", "doctor")),
    "--all": Option("all", False, ("cache",)),
    "--dry-run": Option("dry_run", False, ("cache",)),
    "--sums": Option("sums", True, ("install",)),
    "--repair": Option("repair", False, ("verify",)),
    "--name": Option("name", True, ("setup",)),
    "--scope": Option("scope", True, ("setup",)),
    "--config": Option("config", True, ("setup",)),
    "--via": Option("via", True, ("setup",)),
    "--print": Option("print_only", False, ("setup",)),
    "--force": Option("force", False, ("setup",)),
    "--with-secrets": Option("with_secrets", False, ("setup",)),
    "--help": Option("help", False),
    "-h": Option("help", False),
    "--version": Option("version", False),
}
REPEATABLE = ("qt", "mirror", "platform")

HELP = """\
usage: qtmcp [COMMAND] [OPTIONS] [--] [LAUNCHER_ARGS...]

Fetch, verify and start the native QtMcp launcher (an MCP stdio server that
drives Qt applications). In an MCP client's configuration:

    pipx run qtmcp -- /path/to/app [APP_ARGS...]

The build is chosen by the application's own Qt version and CPU, read from
its files without running it (or give --qt).

qtmcp reads its options up to the first argument that is not an option; that
argument picks a command if it is one, otherwise it and everything after it go
to the launcher unchanged. '--' ends qtmcp's options.

commands:
  run [--] ARGS...        install the build if needed, start the launcher with ARGS
                          (the default command; exit status is the launcher's)
  fetch [--] [APP]        install the build if needed, print the launcher's path
  detect [--json] APP     read APP's Qt version, CPU and QtCore; say which build it needs
  list [--json]           the builds the release has, which fits, which are cached
  mirror DEST             copy the release (all builds, or --qt/--platform ones)
                          with its SHA256SUMS into DEST/<tag>/, verified
  install ARCHIVE         install an archive carried in by hand (no connection);
      [--sums FILE]       digest from a SHA256SUMS beside it, --sums or --sha256
  cache dir|list|clean    where the cache is; what it holds (list --json); clean:
      [--json] [--all]    other releases and dead runs' leftovers (--all: everything
      [--dry-run]         qtmcp made; --dry-run: say what would go, remove nothing)
  verify [--repair]       re-hash installed files against their manifests
  setup CLIENT APP [ARGS] make an MCP client start qtmcp for APP, proven by a dry
                          start first; CLIENT: claude-desktop, claude-code, vscode,
                          cursor, windsurf, json (print the entry, write nothing)
      [--name NAME] [--scope user|project] [--config FILE] [--force]
      [--via installed|python|pipx|uvx] [--print] [--with-secrets]
  doctor [APP] [--json]   check what a start needs, one line each with its fix
  help                    this text (the same as --help)

options (flags win over the environment):
  --qt VERSION        QTMCP_QT         Qt version of the app: 6.8, 6.8.2, 5.15-patched, or
                                       auto (the default: read it from the app)
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
                                       (default {timeout:g}); a file is tried at most
                                       {attempts} times, a silent source given up
                                       within --timeout + {budget:g} s
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
        self.dry_run = False
        self.sums = ""
        self.repair = False
        self.name = ""
        self.scope = ""
        self.config = ""
        self.via = ""
        self.print_only = False
        self.force = False
        self.with_secrets = False
        self.flags: dict[str, list[str]] = {}  # the options given on the command line
        self.help = False
        self.version = False
        self.positionals: list[str] = []
        self.launcher_args: list[str] = []
        self.log = ""
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
                raise unknown_option(name, option, command or "run")
            if option.takes_value and not eq:
                if index == len(argv):
                    raise UsageError(f"option {name} needs a value")
                value, index = argv[index], index + 1
            elif not option.takes_value and eq:
                raise UsageError(f"option {name} takes no value")
            if option.takes_value and not value.strip():
                raise UsageError(f"option {name} was given an empty value: give one, or leave the option out")
            given.setdefault(option.dest, []).append(value)
            continue
        if not command and not positionals and arg in COMMANDS:
            command = arg
        elif not command and arg in OLD_COMMANDS:
            raise UsageError(f"'qtmcp {arg}' was qtmcp 0.2's; {OLD_COMMANDS[arg]}")
        elif (command or "run") in APP_COMMANDS:
            return command or "run", given, positionals, argv[index - 1 :]
        elif command == "setup" and positionals:  # CLIENT is read: this is APP, the rest APP_ARGS
            return command, given, positionals, argv[index - 1 :]
        else:
            positionals.append(arg)
    return command or "run", given, positionals, []


def unknown_option(name: str, option: Option | None, command: str) -> UsageError:
    """The error for an option qtmcp does not take here, with the nearest known one."""
    import difflib

    if option is not None:
        owners = ", ".join(option.commands)
        return UsageError(f"option {name} is not for '{command}' (it goes with: {owners}); see qtmcp --help")
    known = [o for o, opt in OPTIONS.items() if o.startswith("--") and (not opt.commands or command in opt.commands)]
    close = difflib.get_close_matches(name, known, 1, 0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    launcher = "put the launcher's own options after '--'; " if command == "run" else ""
    return UsageError(f"unknown option {name}; {hint}{launcher}see qtmcp --help")


def parse_switch(text: str, where: str) -> bool:
    lowered = text.strip().lower()
    if lowered in SWITCH_TRUE:
        return True
    if lowered in SWITCH_FALSE:
        return False
    raise UsageError(f"{where}={text!r} is not a switch value: use 1/true/yes/on or 0/false/no/off")


def read_settings(argv: list[str], environ: Mapping[str, str]) -> Settings:
    """Settings from the command line, then the environment, then defaults."""
    command, given, positionals, launcher_args = split_command_line(argv)
    settings = Settings()
    settings.command, settings.positionals, settings.launcher_args = command, positionals, launcher_args
    settings.flags = given
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
    if env_value(environ, "QTMCP_DEBUG"):
        parse_switch(env_value(environ, "QTMCP_DEBUG"), "QTMCP_DEBUG")  # a bad value is a usage error
    if isinstance(settings.timeout, str):
        try:
            settings.timeout = float(settings.timeout)
        except ValueError:
            settings.timeout = -1.0
        if not 0 < settings.timeout < 86400:
            raise UsageError("bad --timeout/QTMCP_TIMEOUT: give a number of seconds above 0 "
                             "(and under a day), like 30")
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


# The core's inputs, worked out from the settings -----------------------------------------------


def cache_root(settings: Settings, environ: Mapping[str, str]) -> str:
    return os.path.abspath(os.path.expanduser(settings.cache_dir or default_cache_root(environ)))


def release_tag(settings: Settings) -> str:
    return settings.release or default_release()


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


def make_fetcher(settings: Settings, reporter: Reporter, bases: list[str] | None = None,
                 no_credentials: Iterable[str] = ()) -> Fetcher:
    """A Fetcher for the bases given (default: the mirrors of `settings`); the bases in
    `no_credentials` get none."""
    return Fetcher(mirror_bases(settings) if bases is None else bases, reporter, offline=settings.offline,
                   timeout=settings.timeout, token=settings.token, no_credentials=no_credentials)


def entry_command(settings: Settings) -> tuple[str, list[str]]:
    """The entry's command and the arguments before qtmcp's own, always absolute paths."""
    import shutil

    via = settings.via or default_via()
    if via not in VIA_FORMS:
        raise UsageError(f"bad --via {via!r}: use one of {', '.join(VIA_FORMS)}")
    if via == "installed":
        return installed_script(), []
    if via == "python":
        folder = os.path.dirname(os.path.abspath(__file__))
        return os.path.abspath(sys.executable), ["-c", PYTHON_BOOT.format(folder=folder)]
    if ".dev" in __version__ or "+" in __version__:
        raise UsageError(f"--via {via}: qtmcp {__version__} is a development version, not on PyPI; "
                         "use --via python (or installed)")
    tool = shutil.which(via)
    if not tool:
        raise UsageError(f"--via {via}: {via} is not on PATH; install it, or use --via python")
    spec = f"qtmcp=={__version__}"
    return os.path.abspath(tool), (["run", "--spec", spec, "qtmcp"] if via == "pipx" else ["--from", spec, "qtmcp"])


def entry_options(settings: Settings, notes: list[str]) -> list[str]:
    """The qtmcp options given to setup, as the entry passes them (paths made absolute)."""
    words: list[str] = []
    for flag in CARRIED_OPTIONS:
        option = OPTIONS[flag]
        values = settings.flags.get(option.dest)
        if values is None:
            continue
        if not option.takes_value:
            words.append(flag)
            continue
        for value in values if option.dest in REPEATABLE else values[-1:]:
            if option.dest == "mirror":
                value = entry_base(value, notes)
            elif option.dest in ("cache_dir", "launcher"):
                value = os.path.abspath(os.path.expanduser(value))
            words += [flag, value]
    return words


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


def command_arguments(settings: Settings, count: int = 0, what: str = "") -> list[str]:
    """The command's own arguments (after its word), checked to be exactly `count` of them
    (none by default); UsageError naming `what` it takes otherwise."""
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
    command_arguments(settings)
    print(launcher_for(settings, reporter, for_run=False))
    return 0


def launcher_for(settings: Settings, reporter: Reporter, for_run: bool) -> str:
    if settings.launcher:
        path = os.path.abspath(os.path.expanduser(settings.launcher))
        if not os.path.isfile(path):
            raise LocalError(f"no launcher at {path} (from --launcher or QTMCP_LAUNCHER): check the path")
        return path
    qt, platform = chosen_build(settings, reporter, for_run)
    return ensure_build(target_for(settings, qt, platform), reporter, lambda: make_fetcher(settings, reporter))


def target_for(settings: Settings, qt: str, platform: tuple[str, str], tag: str = "") -> Target:
    """The build the command line asks for (of release `tag`, default --release)."""
    return Target(cache_root(settings, os.environ), tag or release_tag(settings), qt, platform,
                  digest=settings.sha256, refresh=settings.refresh)


def wants_auto(settings: Settings) -> bool:
    """True when the Qt version is to be read from the application (no --qt, or --qt auto)."""
    return not settings.qt or settings.qt[-1].strip().lower() == "auto"


def chosen_build(settings: Settings, reporter: Reporter, for_run: bool) -> tuple[str, tuple[str, str]]:
    """The build's (Qt version, platform): from --qt, else read from the application.

    An application among the launcher arguments is read either way: its CPU
    picks the build's (unless --platform is given); with --qt, a build that
    cannot load into it is a warning.
    """
    platform = chosen_platform(settings, for_run) if settings.platform else None
    auto = wants_auto(settings)
    qt = "" if auto else normalize_qt(settings.qt[-1])
    app = find_app(settings.launcher_args)
    info = None
    if app is not None:
        try:
            info = read_app(app, os.environ, platform[1] if platform else None)
        except UsageError as error:
            if auto:
                raise UsageError(f"{error}{offered_note(settings, reporter)}") from None
    elif auto:
        raise no_app_error(settings, reporter)
    if info is None:
        return qt, platform or chosen_platform(settings, for_run)
    here = this_os()
    if for_run and info.platform[0] != here:
        message = (f"{printable(info.app)} is a program for {platform_name(info.platform)}: 'run' starts "
                   f"programs of this machine's OS ({here}); use 'qtmcp fetch' or 'qtmcp detect' for it")
        if auto:
            raise UsageError(message)
        reporter.note("warning: " + message)
    if platform is None:
        platform = machine_platform() if for_run and info.platform[0] != here else info.platform
        check_libc(platform)
    if auto:
        sums = app_index(settings, reporter)
        build = build_for_app(sums, info, platform)
        if build is None:
            raise NoBuildError(
                f"release {release_tag(settings)} has no build for {printable(info.app)}, which uses Qt "
                f"{info.qt}: {build_reason(sums, info, platform, None)}; give --qt to choose one, or another --release"
            )
        reporter.note(app_note(info, f"using the Qt {build} build"))
        qt = build
    else:
        mismatch = app_mismatch(qt, info)
        if mismatch:
            reporter.note("warning: " + app_note(info, f"{mismatch}; leave out --qt to choose by the application"))
    if info.debug:
        reporter.note(f"warning: {printable(info.app)} uses a debug Qt ({printable(info.qtcore or info.wanted)}): "
                      "the release's builds are release builds and may not load into it")
    return qt, platform


def app_note(info: AppInfo, what: str) -> str:
    """'/opt/app/bin/editor uses Qt 6.7.2 (linux-x64, /opt/app/lib/libQt6Core.so.6.7.2): `what`'."""
    if info.source == "library":
        where = f"{platform_name(info.platform)}, {info.qtcore}"
        return f"{printable(info.app)} uses Qt {info.qt} ({printable(where)}): {what}"
    missing = (f"{info.qtcore}'s version cannot be read" if info.qtcore
               else f"{info.wanted} is not where the loader would look for it")
    return (f"{printable(info.app)} was linked against Qt {info.qt} ({platform_name(info.platform)}; "
            f"{printable(missing)}, so that version is used): {what}")


def no_app_error(settings: Settings, reporter: Reporter) -> UsageError:
    """Status 2 for auto with no application: why, the versions offered, and to give --qt."""
    args = settings.launcher_args
    why = "no application among the launcher arguments to read the Qt version from"
    if not args:
        why = "no application to read the Qt version from (give its path after '--')"
    script = next((a for a in args if a and "\0" not in a and os.path.isfile(a)), None)
    if script:
        why = (f"{printable(script)} is not an ELF, PE or Mach-O program (a script?): "
               "no application to read the Qt version from")
    return UsageError(f"{why}; give --qt VERSION or QTMCP_QT{offered_note(settings, reporter)}")


def offered_note(settings: Settings, reporter: Reporter) -> str:
    """' (release vTEST offers Qt 5.15-patched, 6.5, 6.8)' from the index at hand, else ''."""
    try:
        tag = release_tag(settings)
        sums = cached_index(cache_root(settings, os.environ), tag)
        if sums is None:
            quiet = Reporter(quiet=True, log_path=reporter.log_path)
            sums = read_index(make_fetcher(settings, quiet), tag).sums
    except QtmcpError:
        return ""
    return f" (release {tag} offers Qt {', '.join(offered_versions(sums))})" if sums else ""


def app_index(settings: Settings, reporter: Reporter) -> dict[str, str]:
    """The release's index for choosing a build: the cache's verified SHA256SUMS
    (no connection), else the sources', else the builds the cache holds."""
    root, tag = cache_root(settings, os.environ), release_tag(settings)
    sums = None if settings.refresh else cached_index(root, tag)
    if sums is not None:
        return sums
    try:
        quiet = Reporter(quiet=True, log_path=reporter.log_path)  # the install reads it again, and says so
        return read_index(make_fetcher(settings, quiet), tag).sums
    except SourceError:
        installed = installed_index(root, tag)
        if not installed:
            raise
        reporter.note(f"no source answered: choosing among the builds of {tag} in the cache")
        return installed


def installed_index(root: str, tag: str) -> dict[str, str]:
    """{asset name: ''} of the builds the cache has an install of (for choosing only)."""
    found = {}
    for entry in list_dir(os.path.join(root, tag)):
        if not (entry.startswith("qt") and entry.endswith(".current")):
            continue
        words = entry[2 : -len(".current")].rsplit("-", 2)
        try:
            if len(words) == 3 and normalize_qt(words[0]) == words[0]:
                found[asset_names(words[0], parse_platform(f"{words[1]}-{words[2]}"))[0]] = ""
        except UsageError:
            continue
    return found


def detect_index(settings: Settings, reporter: Reporter) -> tuple[str, dict[str, str]]:
    """(tag, index) as fetch gets it: the cache, else the sources (then kept in the cache)."""
    root, tag = cache_root(settings, os.environ), release_tag(settings)
    sums = None if settings.refresh else cached_index(root, tag)
    if sums is None:
        index = read_index(make_fetcher(settings, reporter), tag)
        try:
            save_index(root, tag, index, reporter)
        except QtmcpError as error:
            reporter.note(f"the index is not kept in the cache: {error}")
        sums = index.sums
    return tag, sums


HOW_READ = {
    "file name": "from the library's file name",
    "build string": "from the library's build string",
    "VERSIONINFO": "from the library's VERSIONINFO",
    "LC_ID_DYLIB": "from the library's LC_ID_DYLIB",
    "version definitions": "from the library's version definitions (Qt_<N>.<M>)",
    "linked against": "the version the program was linked against",
}


def command_detect(settings: Settings, reporter: Reporter) -> int:
    """Read APP's Qt version, CPU and QtCore; say which build of the release it needs."""
    command_arguments(settings)
    if len(settings.launcher_args) != 1:
        if not settings.launcher_args:
            raise UsageError("'detect' needs APP: qtmcp detect [OPTIONS] [--] APP")
        raise UsageError(f"'detect' takes one APP, not {' '.join(settings.launcher_args[1:])!r} after it")
    given = parse_platform(settings.platform[-1]) if settings.platform else None
    info = read_app(settings.launcher_args[0], os.environ, given[1] if given else None)
    platform = given or info.platform
    build = asset = None
    tag = ""
    try:
        tag, sums = detect_index(settings, reporter)
    except QtmcpError as error:
        why = f"no index of the release at hand ({error})"
    else:
        build = build_for_app(sums, info, platform)
        asset = choose_asset(sums, build, platform, tag) if build else None
        why = f"release {tag}: {build_reason(sums, info, platform, build)}"
    if settings.json:
        import json

        fields = dict(info.as_json(), platform=platform_name(platform), build=build, asset=asset)
        print(json.dumps(fields, indent=2))
        if build is None:
            reporter.note(f"build is null: {why}")
        return 0
    how = HOW_READ.get(info.method, info.method)
    if info.source == "program":
        how += f"; {info.qtcore + ' gives no version' if info.qtcore else info.wanted + ' was not found'}"
    print(f"program   {printable(info.app)}")
    print(f"format    {FORMAT_NAMES[info.format]}, {platform_name(info.platform)}")
    print(f"QtCore    {printable(info.qtcore or '(not found: ' + info.wanted + ')')}")
    print(f"Qt        {info.qt}{', a debug build' if info.debug else ''} ({printable(how)})")
    if build:
        print(f"build     Qt {build} for {platform_name(platform)}: {asset} ({why})")
    elif tag:
        print(f"build     none ({why})")
    else:
        print(f"build     unknown: {why}")
    return 0


def command_list(settings: Settings, reporter: Reporter) -> int:
    command_arguments(settings)
    tag = release_tag(settings)
    root = cache_root(settings, os.environ)
    source = ""
    try:
        index = read_index(make_fetcher(settings, reporter), tag)
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
    builds = []
    for name in filtered_assets(sums, qts, [parse_platform(p) for p in settings.platform]):
        qt, platform, kind = parse_asset_name(name)  # type: ignore[misc]
        key = build_key(qt, platform)
        fits = platform == here and next(n for n in listed_names(qt, platform) if n in sums) == name
        install = os.path.join(root, tag, install_name(key, sums[name]))
        builds.append({"asset": name, "qt": qt, "platform": platform_name(platform), "os": platform[0],
                       "arch": platform[1], "kind": kind, "sha256": sums[name], "fits": fits,
                       "cached": is_complete(install, platform[0])})
    if settings.json:
        import json

        print(json.dumps({"release": tag, "source": source, "platform": platform_name(here) if here else None,
                          "qt": qts, "builds": builds}, indent=2))
        return 0
    say(f"release {tag} from {source}" + (f" (this machine: {platform_name(here)})" if here else ""))
    say(f"{'ASSET':44} {'QT':14} {'PLATFORM':14} FITS CACHED")
    for build in builds:
        say(f"{build['asset']:44} {build['qt']:14} {build['platform']:14} "
              f"{'yes' if build['fits'] else '-':4} {'yes' if build['cached'] else '-'}")
    return 0


def command_mirror(settings: Settings, reporter: Reporter) -> int:
    """Copy the release, verified, into DEST/<tag>/, picking up where a run stopped.

    For an unpinned release the archives come from the base whose SHA256SUMS
    vouches for them; when that base lacks one, the next base's pair is used.
    One run at a time works on DEST/<tag>/ (a lock there); each file arrives
    under a `.part` name of its own and is renamed into place once verified.
    """
    (dest,) = command_arguments(settings, 1, "a destination folder: qtmcp mirror DEST")
    tag = release_tag(settings)
    fetcher = make_fetcher(settings, reporter)
    out_dir = os.path.join(os.path.abspath(dest), tag)
    folder = real_folder(out_dir)
    with BuildLock(os.path.join(out_dir, MIRROR_LOCK), f"the mirror {out_dir}", reporter, discard=True):
        if real_folder(out_dir) != folder:
            raise LocalError(f"{out_dir} was replaced while qtmcp took its lock: run qtmcp mirror again")
        for entry in list_dir(out_dir):
            if is_mirror_part(entry) and not os.path.isdir(os.path.join(out_dir, entry)):
                remove_quietly(os.path.join(out_dir, entry))  # a dead run's; no live run is writing
        index, copied, kept, size = mirror_files(settings, reporter, fetcher, tag, out_dir)
        write_atomically(os.path.join(out_dir, SUMS_NAME), index.data, f".{SUMS_NAME}.", ".part")
        removed = remove_stale_assets(out_dir, index.sums, chosen_assets(settings, index.sums, tag), reporter)
    say(f"mirrored release {tag} into {out_dir}: {copied} archive(s) copied ({human_size(size)}), "
        f"{kept} already there and verified, {SUMS_NAME} "
        + ("matching its pin" if tag in RELEASE_PINS else "copied as served (release not pinned)")
        + (f"; removed {removed} archive(s) that did not match it" if removed else ""))
    say(f"use it with: --mirror {os.path.abspath(dest)} (or serve {os.path.abspath(dest)} over HTTP)")
    return 0


def mirror_files(settings: Settings, reporter: Reporter, fetcher: Fetcher, tag: str,
                 out_dir: str) -> tuple[Index, int, int, int]:
    """(index, copied, kept, bytes copied): the chosen archives verified in `out_dir`."""

    def copy_chosen(index: Index, archive_bases: list[str]) -> tuple[Index, int, int, int]:
        copied = kept = size = 0
        try:
            for name in chosen_assets(settings, index.sums, tag):
                path = os.path.join(out_dir, name)
                if holds_file(path, index.sums[name]):
                    kept += 1
                    continue
                if os.path.lexists(path):
                    reporter.note(f"replacing {path}: it does not match {SUMS_NAME}")
                part = os.path.join(out_dir, f"{name}.{os.urandom(6).hex()}.part")
                try:
                    fetch_verified(fetcher, tag, name, index.sums[name], part, archive_bases)
                    replace_file(part, path)
                except BaseException:
                    remove_quietly(part)
                    raise
                copied += 1
                size += os.path.getsize(path)
        except OSError as error:
            raise local_failure(error, out_dir) from None
        return index, copied, kept, size

    return index_and_archives(fetcher, tag, copy_chosen, "the archives")


def is_mirror_part(entry: str) -> bool:
    """True for the names `mirror` gives files still arriving: ASSET.<hex>.part,
    .SHA256SUMS.<random>.part, and the older ASSET.part and SHA256SUMS.part."""
    if not entry.endswith(".part"):
        return False
    stem = entry[: -len(".part")]
    head, _, random = stem.rpartition(".")
    return (stem == SUMS_NAME or stem.startswith(f".{SUMS_NAME}.") or parse_asset_name(stem) is not None
            or (is_hex(random) and parse_asset_name(head) is not None))


def holds_file(path: str, digest: str) -> bool:
    """True if `path` is a regular file (not a link) with this SHA-256."""
    try:
        return stat_is_regular(os.lstat(path).st_mode) and file_digest(path)[1] == digest
    except OSError:
        return False


def real_folder(path: str) -> tuple[int, int]:
    """(device, inode) of the folder `path`, made if missing; LocalError if it is a link or
    not a folder (checked after it is made, so a link planted in between is seen)."""
    import stat

    if not os.path.islink(path):
        make_dirs(path)
    try:
        info = os.lstat(path)
    except OSError as error:
        raise local_failure(error, path) from None
    if not stat.S_ISDIR(info.st_mode):
        raise LocalError(f"{path} is a symbolic link or not a folder: qtmcp mirrors only into a real folder; "
                         "remove it")
    return info.st_dev, info.st_ino


def remove_stale_assets(out_dir: str, sums: dict[str, str], chosen: list[str], reporter: Reporter) -> int:
    """Remove archives of the release in `out_dir` that do not match its SHA256SUMS.

    They were kept from an earlier run whose index differed (a moved tag), so
    that a finished mirror holds only files that its SHA256SUMS vouches for.
    """
    removed = 0
    for name in list_dir(out_dir):
        path = os.path.join(out_dir, name)
        if name not in sums or name in chosen or not parse_asset_name(name) or holds_file(path, sums[name]):
            continue  # only archives, by their asset names: never SHA256SUMS, notes or folders
        if stat_is_regular(os.lstat(path).st_mode):
            reporter.note(f"removing {printable(path)}: it does not match {SUMS_NAME}")
            try:
                remove_file(path)
            except OSError as error:
                raise local_failure(error, path) from None
            removed += 1
    return removed


def chosen_assets(settings: Settings, sums: dict[str, str], tag: str) -> list[str]:
    """The release's assets that --qt and --platform (each repeatable) choose."""
    chosen = filtered_assets(sums, [normalize_qt(q) for q in settings.qt], [parse_platform(p) for p in settings.platform])
    if not chosen:
        raise NoBuildError(f"release {tag} has no build for the chosen --qt/--platform "
                           f"(it offers Qt {', '.join(offered_versions(sums))})")
    return chosen


def command_install(settings: Settings, reporter: Reporter) -> int:
    """Install an archive carried in by hand: no connection is opened."""
    (archive,) = command_arguments(settings, 1, "an archive: qtmcp install ARCHIVE")
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
            with open_regular(archive) as source:
                copy_stream(source, sink, reporter, archive, None)
        finally:
            sink.close()
        if sink.digest() != digest:
            raise IntegrityError(f"{archive} has SHA-256 {sink.digest()}, expected {digest}: nothing was "
                                 "installed; check the digest, or bring an undamaged copy of the file")
        return Acquired(asset, digest, "file://" + os.path.abspath(archive).replace(os.sep, "/"))

    print(install_with(target_for(settings, qt, platform), reporter, acquire))
    return 0


def expected_digest(settings: Settings, tag: str, archive: str, asset: str, qt: str,
                    platform: tuple[str, str]) -> str:
    """The digest an archive carried in must have: --sha256, --sums or a SHA256SUMS beside it."""
    sums_path = settings.sums or os.path.join(os.path.dirname(os.path.abspath(archive)), SUMS_NAME)
    listed = ""
    if settings.sums or os.path.isfile(sums_path):
        try:
            with open_regular(sums_path) as source:
                data = source.read(SUMS_MAX_BYTES + 1)
        except OSError as error:
            raise UsageError(f"cannot read {sums_path}: {describe_error(error)}") from None
        check_pin(tag, data, sums_path, "bring the release's own SHA256SUMS")
        sums = parse_sums(data, sums_path)
        entry = next((n for n in [asset] + listed_names(qt, platform) if n in sums), None)
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


def command_cache(settings: Settings, reporter: Reporter) -> int:
    (action,) = command_arguments(settings, 1, "one of: dir, list, clean")
    root = cache_root(settings, os.environ)
    if action == "dir":
        print(root)
        return 0
    if action == "list":
        rows: list[dict[str, Any]] = []
        for tag, name, path in find_installs(root):
            try:
                manifest = read_manifest(path)
            except DamagedInstall as error:
                reporter.note(f"{error}: 'qtmcp verify' reports it, 'qtmcp cache clean --all' removes it")
                continue
            key = str(manifest.get("build", ""))
            rows.append({"release": tag, "build": key, "asset": manifest.get("asset"), "path": path,
                         "sha256": manifest.get("sha256"), "source": manifest.get("source"),
                         "installed": manifest.get("installed"), "size": tree_size(path),
                         "current": pointed_install(os.path.join(root, tag), key) == name})
        if settings.json:
            import json

            print(json.dumps({"cache": root, "installs": rows}, indent=2))
        else:
            say(f"cache {root}: {len(rows)} install(s)")
            for row in rows:
                mark = "*" if row["current"] else " "
                say(f"{mark} {row['release']:14} {row['build']:28} {human_size(row['size']):>10}  {row['path']}")
        return 0
    if action == "clean":
        return clean_cache(settings, reporter, root)
    raise UsageError(f"unknown cache action {action!r}: use dir, list or clean")


def clean_cache(settings: Settings, reporter: Reporter, root: str) -> int:
    """Remove other releases' installs and dead runs' leftovers (--all: everything qtmcp made)."""
    releases = release_folders(root)
    current = "" if settings.all else settings.release
    if not settings.all and not current:
        try:
            current = default_release()
        except UsageError:
            raise UsageError("which release is current? give --release TAG (or use 'cache clean --all')") from None
    if settings.release and not settings.all and releases and current not in releases:
        raise UsageError(f"the cache {root} holds no release {current}: it holds {', '.join(releases)}; "
                         "give one of them with --release, or use 'cache clean --all'")
    cleaned = Cleaned(settings.dry_run)
    for tag in releases:
        clean_release(os.path.join(root, tag), tag, tag == current, cleaned, reporter)
    cleaned.foreign += [os.path.join(root, e) for e in list_dir(root) if e not in releases]
    for path in cleaned.removed if settings.dry_run else []:
        say(f"would remove {path}")
    for build in cleaned.busy:
        reporter.note(f"left {build} alone: another qtmcp is installing it")
    if cleaned.foreign:
        reporter.note(f"kept {len(cleaned.foreign)} thing(s) qtmcp did not make: "
                      + ", ".join(cleaned.foreign[:5]) + (", ..." if len(cleaned.foreign) > 5 else ""))
    verb = "would remove" if settings.dry_run else "removed"
    kept = "" if settings.all else f"; kept release {current}"
    say(f"{verb} {len(cleaned.removed)} install(s) and leftover(s), {human_size(cleaned.freed)} "
        f"{'to free' if settings.dry_run else 'freed'} from {root}{kept}"
        + (f"; {len(cleaned.busy)} build(s) in use left alone" if cleaned.busy else ""))
    return 0


def command_verify(settings: Settings, reporter: Reporter) -> int:
    """Re-hash every install against its manifest; --repair reinstalls what differs.

    An install whose manifest is damaged is reported and the others are still
    verified; every name is shown on one line, control characters escaped.
    """
    command_arguments(settings)
    root = cache_root(settings, os.environ)
    installs = find_installs(root)
    damaged = []
    unreadable = 0
    for tag, name, path in installs:
        try:
            manifest = read_manifest(path)
        except DamagedInstall as error:
            say(f"damaged: {path}: {error}")
            unreadable += 1
            continue
        problems = verify_install(path, manifest)
        for what, entry in problems:
            say(f"{what}: {os.path.join(path, BUILD_DIR, *entry.rstrip('/').split('/'))}")
        if problems:
            damaged.append((tag, path, manifest))
    differ = len(damaged) + unreadable
    say(f"verified {len(installs)} install(s) in {root}: "
        + (f"{differ} differ from their manifests" if differ else "all match their manifests")
        + (f" ({unreadable} with a damaged manifest)" if unreadable else ""))
    if not differ:
        return 0
    if not settings.repair:
        reporter.note("'qtmcp verify --repair' reinstalls them from their sources")
        return IntegrityError.status
    for tag, path, manifest in damaged:
        repair_install(settings, reporter, tag, manifest)
        say(f"repaired: {path}")
    if unreadable:
        reporter.note("an install with a damaged manifest cannot be repaired in place: "
                      "'qtmcp cache clean --all' removes it, the next start installs it again")
        return IntegrityError.status
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
    qt, platform, _ = parsed

    name = str(manifest["asset"])
    recorded = str(manifest.get("source", ""))
    suffix = f"/{tag}/{name}"
    bases = mirror_bases(settings)
    if not settings.mirror and recorded.endswith(suffix) and "***@" not in recorded:
        bases = [recorded[: -len(suffix)]] + [base for base in bases if base != recorded[: -len(suffix)]]

    def acquire(dest: str, installed) -> Acquired:  # type: ignore[no-untyped-def]
        others = [base for base in bases if base not in settings.mirror]  # credentials: configured mirrors only
        fetcher = make_fetcher(settings, reporter, bases, no_credentials=others)
        return Acquired(name, digest, fetch_verified(fetcher, tag, name, digest, dest, bases))

    install_with(target_for(settings, qt, platform, tag), reporter, acquire, reuse=False)


def setup_words(settings: Settings) -> tuple[str, str, list[str]]:
    """setup's CLIENT, the absolute APP and APP_ARGS; UsageError naming what is missing."""
    import difflib

    if not settings.positionals:
        raise UsageError(f"'setup' needs a client: qtmcp setup CLIENT APP (CLIENT: {', '.join(CLIENTS)})")
    client = settings.positionals[0]
    if client not in CLIENTS:
        close = difflib.get_close_matches(client, CLIENTS, 1, 0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        raise UsageError(f"unknown client {client!r}: {hint}use one of {', '.join(CLIENTS)}")
    if len(settings.positionals) > 1:
        raise UsageError(f"'setup' takes one client, not {' '.join(settings.positionals)!r}")
    if not settings.launcher_args or not settings.launcher_args[0]:
        raise UsageError(f"'setup {client}' needs the application: qtmcp setup {client} --qt VERSION -- /path/to/app")
    app, app_args = settings.launcher_args[0], settings.launcher_args[1:]
    return client, os.path.abspath(os.path.expanduser(app)), app_args


def setup_scope(settings: Settings, client: str) -> str:
    """The scope asked for, checked against what the client has ('' for the client's default)."""
    scope = settings.scope
    if not scope:
        return "" if client == "claude-code" else "user" if client != "json" else ""
    if scope not in ("user", "project"):
        raise UsageError(f"bad --scope {scope!r}: use user or project")
    if scope not in CLIENT_SCOPES[client]:
        raise UsageError(f"{CLIENT_TITLES[client]} has no {scope} configuration: leave out --scope"
                         + (" (or give --config FILE)" if client != "json" else ""))
    return scope


def command_setup(settings: Settings, reporter: Reporter) -> int:
    """Make an MCP client start qtmcp for APP: the entry is proven by a dry start, then written."""
    import json
    import shutil

    client, app, app_args = setup_words(settings)
    scope = setup_scope(settings, client)
    if not wants_auto(settings):
        normalize_qt(settings.qt[-1])
    name = settings.name or os.path.basename(app)
    if not name or not name.isprintable():
        raise UsageError(f"bad --name {name!r}: give the server a printable name")
    notes: list[str] = []
    command, prefix = entry_command(settings)
    qtmcp_args = entry_options(settings, notes) + ["--", app] + app_args
    env = entry_environment(os.environ, settings.with_secrets, notes)
    entry = client_entry(client, command, prefix + qtmcp_args, env)
    key = config_servers_key(client)
    snippet = json.dumps({key: {name: entry}}, indent=2, ensure_ascii=False)
    claude = shutil.which("claude") if client == "claude-code" and not settings.config else None
    if client == "claude-code" and not claude and not settings.config and scope == "user":
        raise UsageError("claude is not on PATH, and without it setup writes only the project's .mcp.json: "
                         "use --scope project, or --config FILE")
    if client == "json" and settings.config:
        raise UsageError("'setup json' prints the entry and writes no file: leave out --config")
    target = ""
    if client != "json" and not claude:
        target = settings.config or client_config_path(client, scope or "project", os.environ, machine_os(),
                                                       os.getcwd())
        target = real_config_path(target)
    if settings.print_only:
        print(snippet)
        if client != "json":
            print_setup_forms(client, name, entry, scope, target)
        return 0
    for note in notes:
        reporter.note(note)
    if not os.path.exists(app):
        reporter.note(f"{app} does not exist (yet): the entry starts the launcher with it all the same")
    if target:
        try:
            merged_config(load_config(target, client), client, name, entry, settings.force)
        except ConfigRefused:
            pass  # the entry is proven first, then printed for pasting
    launcher_for(settings, reporter, for_run=True)
    dry_start(command, prefix + ["fetch"] + qtmcp_args, env, reporter)
    if client == "json":
        print(json.dumps({"mcpServers": {name: entry}}, indent=2, ensure_ascii=False))
        return 0
    title = CLIENT_TITLES[client]
    if claude:
        said = claude_code_add(claude, name, entry, scope, settings.force, reporter)
        print(f"added the entry \"{name}\" to Claude Code with {claude} mcp add-json"
              + (f" --scope {scope}" if scope else "") + (f" ({said})" if said else ""))
        print(json.dumps({name: entry}, indent=2, ensure_ascii=False))
        return 0
    if write_entry(target, client, name, entry, settings.force, settings.with_secrets, snippet):
        reporter.note(f"restart {title} (or reload its MCP servers) to start it")
    return 0


def write_entry(target: str, client: str, name: str, entry: dict[str, Any], force: bool, secret: bool,
                snippet: str) -> bool:
    """Merge the entry into the client's file `target` (kept as a backup), saying what changed;
    False if the file had the entry as it is."""
    title = CLIENT_TITLES[client]
    try:
        found = load_config(target, client)
    except ConfigRefused:
        print(snippet)
        raise
    data = merged_config(found, client, name, entry, force)
    if data is None:
        print(f"{target} has the entry \"{name}\" for {title} already, as it is: nothing was changed")
        return False
    if secret and found.raw is None:
        found.mode = 0o600  # a new file that holds a secret is the user's only
    backup = write_config(found, data)
    print(f"wrote the entry \"{name}\" for {title} into {target}"
          + (f" (the old file is kept as {backup})" if backup else ""))
    print(snippet)
    return True


def print_setup_forms(client: str, name: str, entry: dict, scope: str, target: str) -> None:  # type: ignore[type-arg]
    """--print: where the entry goes and the client's one-line forms."""
    os_name = machine_os()
    if target:
        print(f"file: {target}")
    if client == "claude-code":
        print("command: " + shell_words(claude_add_json_words(name, entry, scope), os_name))
    elif client == "vscode":
        print("command: " + shell_words(vscode_add_mcp_words(name, entry), os_name))
    elif client == "cursor":
        print("install link: " + cursor_install_link(name, entry))


class Check:
    """One line of doctor's report: `status` is 'ok', 'warn' or 'fail'."""

    def __init__(self, name: str, status: str, detail: str, fix: str | None = None, exit_status: int = 0):
        self.name = name
        self.status = status
        self.detail = one_line(detail)
        self.fix = one_line(fix) if fix and status != "ok" else None
        self.exit_status = exit_status if status == "fail" else 0

    def line(self) -> str:
        return f"{self.status:<4} {self.name}: {self.detail}" + (f"; fix: {self.fix}" if self.fix else "")

    def as_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


def command_doctor(settings: Settings, reporter: Reporter) -> int:
    """Check, one line each, what a start needs; exit with the first failure's status."""
    import json

    words = settings.positionals + settings.launcher_args
    if len(words) > 1:
        raise UsageError(f"'doctor' takes at most one APP, not {' '.join(words)!r}")
    app = os.path.abspath(os.path.expanduser(words[0])) if words else ""
    qt = normalize_qt(settings.qt[-1]) if settings.qt and settings.qt[-1].strip().lower() != "auto" else None
    quiet = Reporter(quiet=True)
    checks = [check_qtmcp()]
    platform, check = check_platform(settings)
    checks.append(check)
    checks.append(check_cache(settings))
    tag, check = check_release(settings)
    checks.append(check)
    source_checks, sums = check_sources(settings, tag, platform, qt, quiet)
    checks += source_checks
    app_check, app_qt, app_platform = check_app(settings, app, platform, sums)
    checks.append(check_build(settings, tag, app_platform or platform, qt or app_qt, sums))
    checks.append(app_check)
    checks += check_clients(os.environ, os.getcwd())
    if settings.json:
        print(json.dumps({"checks": [check.as_dict() for check in checks]}, indent=2, ensure_ascii=False))
    else:
        for check in checks:
            print(check.line())
    counts = {status: sum(check.status == status for check in checks) for status in ("ok", "warn", "fail")}
    reporter.note(f"doctor: {counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail")
    failed = next((check for check in checks if check.status == "fail"), None)
    return failed.exit_status if failed else 0


def check_qtmcp() -> Check:
    """How qtmcp runs: its version, file, installed or vendored, and the Python running it."""
    import sysconfig

    form, script = running_form()
    here = os.path.abspath(__file__)
    site = {os.path.normcase(os.path.abspath(sysconfig.get_path(name))) for name in ("purelib", "platlib")}
    if form == "installed":
        how = f"installed (console script {script}, module {here})"
    elif os.path.normcase(os.path.dirname(here)) in site:
        how = f"installed (module {here})"
    else:
        how = f"vendored ({here})"
    return Check("qtmcp", "ok", f"qtmcp {__version__}, {how}; Python {sys.version.split()[0]} at {sys.executable}")


def check_platform(settings: Settings) -> tuple[tuple[str, str] | None, Check]:
    """This machine's platform (or --platform's) and its C library."""
    try:
        platform = chosen_platform(settings, for_run=False)
    except NoBuildError as error:
        return None, Check("platform", "fail", str(error), "run qtmcp on Linux with glibc, Windows or macOS, "
                           "or give a local build with --launcher", NoBuildError.status)
    except UsageError as error:
        return None, Check("platform", "fail", str(error), "fix --platform or QTMCP_PLATFORM", UsageError.status)
    detail = platform_name(platform) + (" (from --platform or QTMCP_PLATFORM)" if settings.platform else "")
    if sys.platform.startswith("linux"):
        try:
            detail += f", {os.confstr('CS_GNU_LIBC_VERSION')}"
        except (ValueError, OSError):
            pass
    return platform, Check("platform", "ok", detail)


LOW_SPACE = 256 * 1024 * 1024  # free bytes under which doctor warns about the cache's disk


def check_cache(settings: Settings) -> Check:
    """The cache root: writable (or can be made), free space, installs, leftovers, locks held."""
    import shutil
    import tempfile

    root = cache_root(settings, os.environ)
    fix = "choose a writable folder with --cache-dir or QTMCP_CACHE_DIR"
    if not os.path.isdir(root):
        if os.path.lexists(root):
            return Check("cache", "fail", f"{root} is not a folder", fix, LocalError.status)
        parent = root
        while not os.path.lexists(parent) and os.path.dirname(parent) != parent:
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
            return Check("cache", "fail", f"{root} does not exist and cannot be made ({parent} is not a writable "
                         "folder)", fix, LocalError.status)
        return Check("cache", "ok", f"{root} does not exist yet and can be made "
                     f"({human_size(shutil.disk_usage(parent).free)} free)")
    try:
        handle, probe = tempfile.mkstemp(prefix=".tmp-doctor~", dir=root)
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        return Check("cache", "fail", f"{root} is not writable ({describe_error(error)})", fix, LocalError.status)
    free = shutil.disk_usage(root).free
    leftovers, held = cache_activity(root)
    detail = f"{root}: writable, {human_size(free)} free, {len(find_installs(root))} install(s)"
    if leftovers:
        detail += f", {leftovers} temporary file(s) or folder(s) of installs"
    for what, holder in held:
        detail += f"; the lock of {what} is held by {holder}"
    if free < LOW_SPACE:
        return Check("cache", "warn", detail, "free some space, or move the cache with --cache-dir")
    if leftovers and not held:
        return Check("cache", "warn", detail + " (left by runs that died)", "qtmcp cache clean removes them")
    return Check("cache", "ok", detail)


def cache_activity(root: str) -> tuple[int, list[tuple[str, str]]]:
    """(temporary entries of installs, [(build, holder) of each lock held now]) in the cache."""
    quiet = Reporter(quiet=True)
    leftovers = 0
    held = []
    for tag in list_dir(root):
        tag_dir = os.path.join(root, tag)
        if tag.startswith(".") or not os.path.isdir(tag_dir):
            continue
        for entry in list_dir(tag_dir):
            if entry.startswith(".tmp-"):
                leftovers += 1
            elif entry.startswith(".") and entry.endswith(".lock"):
                lock = BuildLock(os.path.join(tag_dir, entry), entry, quiet)
                try:
                    free = lock.try_acquire()
                except LocalError:
                    continue
                lock.release()
                if not free:
                    what = "the index" if entry == INDEX_LOCK else entry[1 : -len(".lock")]
                    held.append((f"{what} of {tag}", lock_holder(os.path.join(tag_dir, entry))))
    return leftovers, held


def lock_holder(path: str) -> str:
    """Who holds a lock file: 'process 123 (qtmcp ...)' where the OS tells (Linux), else 'another process'."""
    try:
        inode = os.stat(path).st_ino
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            for line in locks:
                fields = line.split()
                if len(fields) > 5 and fields[5].rsplit(":", 1)[-1] == str(inode) and fields[4].isdigit():
                    with open(f"/proc/{fields[4]}/cmdline", "rb") as cmdline:
                        command = cmdline.read(300).replace(b"\0", b" ").decode("utf-8", "replace").strip()
                    return f"process {fields[4]} ({mask_url(command)[:120]})"
    except OSError:
        pass
    return "another process (a qtmcp installing it)"


def check_release(settings: Settings) -> tuple[str, Check]:
    """The release and its pin."""
    try:
        tag = release_tag(settings)
    except UsageError as error:
        return "", Check("release", "fail", str(error), "give --release TAG or QTMCP_RELEASE", UsageError.status)
    given = " (from --release or QTMCP_RELEASE)" if settings.release else f" (qtmcp {__version__}'s own)"
    pin = RELEASE_PINS.get(tag)
    if pin:
        return tag, Check("release", "ok", f"release {tag}{given}: pinned, its {SUMS_NAME} must have SHA-256 {pin}")
    return tag, Check("release", "warn", f"release {tag}{given} is not pinned in this qtmcp: its {SUMS_NAME} is "
                      "trusted as its source serves it", "use the qtmcp of that release (it carries its pin), "
                      "or check the archive with --sha256")


def check_sources(settings: Settings, tag: str, platform: tuple[str, str] | None, qt: str | None,
                  reporter: Reporter) -> tuple[list[Check], dict[str, str] | None]:
    """Each source in order: reachable, proxy, CA file, credentials, SHA256SUMS against the pin."""
    try:
        bases = mirror_bases(settings)
    except UsageError as error:
        return [Check("source", "fail", str(error), "fix --mirror or QTMCP_MIRROR", UsageError.status)], None
    if not tag:
        return [Check("source", "warn", f"{mask_url(base)}: not checked (no release)", "see the release check")
                for base in bases], None
    results = []
    sums = None
    for base in bases:
        shown, route = mask_url(base), source_route(settings, base, reporter)
        if base_kind(base) == "http" and settings.offline:
            results.append(Check("source", "ok", f"{shown}: not contacted (offline){route}"))
            continue
        try:
            index = read_index(make_fetcher(settings, reporter, [base]), tag, [base])
        except IntegrityError as error:
            results.append(Check("source", "fail", f"{shown}: {error}", "use another --mirror, or bring the "
                                 "published release with 'qtmcp mirror'", IntegrityError.status))
            continue
        except QtmcpError as error:
            results.append(Check("source", "fail", f"{shown}: {error}{route}", "check the network, the proxy "
                                 "(HTTPS_PROXY, NO_PROXY), SSL_CERT_FILE and the mirror", SourceError.status))
            continue
        verified = "verified against the pin" if tag in RELEASE_PINS else "read (the release is not pinned)"
        builds = sum(parse_asset_name(name) is not None for name in index.sums)
        results.append(Check("source", "ok", f"{shown}: {SUMS_NAME} of {tag} {verified}, {builds} build(s){route}"))
        sums = sums if sums is not None else index.sums
    reached = sums is not None
    cached = bool(platform and qt and cached_launcher(cache_root(settings, os.environ), tag,
                                                      build_key(qt, platform), platform[0]))
    for check in results:
        if check.status == "fail" and check.exit_status == SourceError.status and (reached or cached):
            check.status, check.exit_status = "warn", 0
            check.fix = ("the next source is used; " if reached else "starts work from the cache meanwhile; ") \
                + str(check.fix)
    return results, sums


def source_route(settings: Settings, base: str, reporter: Reporter) -> str:
    """'; through the proxy ...; TLS with the CA file ...; credentials: ...' for an http(s) base."""
    if base_kind(base) != "http":
        return ""
    proxy = proxy_for(base)
    if proxy:
        scheme = base.partition(":")[0].lower()
        named = next((name for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY") if os.environ.get(name)),
                     "the system's settings")
        route = f"; through the proxy {mask_proxy(proxy)} ({named})"
    else:
        route = "; direct (no proxy)"
    if base.lower().startswith("https:"):
        route += f"; TLS with the CA file {ca_file()}"
    return route + f"; credentials: {credentials_found(settings, base, reporter)}"


def ca_file() -> str:
    """The CA file TLS verifies with: SSL_CERT_FILE, else the default one (never its contents)."""
    import ssl

    named = env_value(os.environ, "SSL_CERT_FILE")
    if named:
        return named + (" (SSL_CERT_FILE)" if os.path.isfile(named) else " (SSL_CERT_FILE, which does not exist)")
    paths = ssl.get_default_verify_paths()
    found = paths.cafile or (paths.openssl_cafile if os.path.isfile(paths.openssl_cafile) else "")
    folder = env_value(os.environ, "SSL_CERT_DIR")
    return (f"{found} (the default)" if found else "of the system's store") + (
        f", and the folder {folder} (SSL_CERT_DIR)" if folder else "")


def credentials_found(settings: Settings, base: str, reporter: Reporter) -> str:
    """Which credentials a mirror base gets, by kind: never the credentials themselves."""
    if base == DEFAULT_BASE or url_origin(base) == url_origin(DEFAULT_BASE):
        return "none (the release host never gets any)"
    if settings.token:
        return "a token (QTMCP_MIRROR_TOKEN)"
    if url_login(base):
        return "a user and password in the URL"
    if netrc_login(url_origin(base)[1], reporter):
        return "a netrc entry (" + (env_value(os.environ, "NETRC") or "~/.netrc") + ")"
    return "none found"


def check_build(settings: Settings, tag: str, platform: tuple[str, str] | None, qt: str | None,
                sums: dict[str, str] | None) -> Check:
    """The build for this machine in the index, and whether it is installed with its launcher."""
    if settings.launcher:
        path = os.path.abspath(os.path.expanduser(settings.launcher))
        if os.path.isfile(path):
            return Check("build", "ok", f"the launcher {path} is given (--launcher or QTMCP_LAUNCHER)")
        return Check("build", "fail", f"no launcher at {path} (--launcher or QTMCP_LAUNCHER)", "check the path",
                     LocalError.status)
    if not tag or platform is None:
        return Check("build", "warn", "not checked (no release or platform)", "see the checks above")
    root = cache_root(settings, os.environ)
    sums = sums if sums is not None else cached_index(root, tag)
    if qt is None:
        if sums is None:
            return Check("build", "warn", f"the index of release {tag} is not at hand", "see the source checks")
        offered = sorted({b[0] for b in (parse_asset_name(n) for n in sums) if b and b[1] == platform})
        if not offered:
            return Check("build", "fail", f"release {tag} has no build for {platform_name(platform)} (it offers "
                         f"Qt {', '.join(offered_versions(sums)) or 'nothing'})", "use another --release",
                         NoBuildError.status)
        installed = [q for q in offered if cached_launcher(root, tag, build_key(q, platform), platform[0])]
        return Check("build", "ok", f"release {tag} has Qt {', '.join(offered)} for {platform_name(platform)}; "
                     f"installed: {', '.join(installed) or 'none'} (give --qt or APP for the one a start needs)")
    key = build_key(qt, platform)
    launcher = cached_launcher(root, tag, key, platform[0])
    name = key
    if sums is not None:
        try:
            name = choose_asset(sums, qt, platform, tag)
        except NoBuildError as error:
            return Check("build", "fail", str(error), "choose another --qt or --release", NoBuildError.status)
    if launcher:
        return Check("build", "ok", f"{name}: installed, launcher {launcher}")
    pointed = pointed_install(os.path.join(root, tag), key)
    if pointed and os.path.isdir(os.path.join(root, tag, pointed)):
        return Check("build", "warn", f"{name}: its install {os.path.join(root, tag, pointed)} lacks its launcher "
                     "(the next start reinstalls it)", f"qtmcp fetch --qt {qt}")
    if sums is None:
        return Check("build", "fail", f"{name} is not installed and the index of release {tag} is not at hand",
                     "fix the sources above, or bring the build in with 'qtmcp install ARCHIVE'",
                     SourceError.status)
    return Check("build", "warn", f"{name} is not installed yet: the first start downloads it",
                 f"run 'qtmcp fetch --qt {qt}' so that a client's first start comes from the cache")


def check_app(settings: Settings, app: str, platform: tuple[str, str] | None,
              sums: dict[str, str] | None) -> tuple[Check, str | None, tuple[str, str] | None]:
    """(the check, the build's Qt version, the build's platform) for APP, read as `run` reads it.

    Without --qt an APP whose version cannot be read fails (a start would);
    with --qt it is a warning, and so is a --qt build that cannot load into it.
    """
    if not app:
        return Check("app", "ok", "no APP given ('qtmcp doctor APP' checks the application)"), None, None
    if not os.path.exists(app):
        return Check("app", "fail", f"{app} does not exist", "check the application's path",
                     UsageError.status), None, None
    given = None if wants_auto(settings) else normalize_qt(settings.qt[-1])
    arch = platform[1] if settings.platform and platform else None
    try:
        info = read_app(app, os.environ, arch)
    except UsageError as error:
        if given:
            return Check("app", "warn", f"{error}", f"the Qt {given} build from --qt is used as it is"), None, None
        return Check("app", "fail", str(error), "give --qt VERSION (or QTMCP_QT)", UsageError.status), None, None
    target = platform if settings.platform and platform else info.platform
    if given:
        mismatch = app_mismatch(given, info)
        if mismatch:
            return Check("app", "warn", app_note(info, mismatch),
                         "leave out --qt to choose by the application, or give its version"), given, target
        check = Check("app", "ok", app_note(info, f"the Qt {given} build from --qt loads into it"))
    elif sums is None:
        return Check("app", "warn", app_note(info, "the release's index is not at hand to choose a build"),
                     "see the source checks above"), None, target
    else:
        build = build_for_app(sums, info, target)
        if build is None:
            return Check("app", "fail", app_note(info, build_reason(sums, info, target, None)),
                         "give --qt to choose a build, or another --release", NoBuildError.status), None, target
        check = Check("app", "ok", app_note(info, f"using the Qt {build} build"))
        given = build
    if info.debug:
        return Check("app", "warn", check.detail + "; it is a debug Qt",
                     "the release's builds are release builds: use a release build of the application"), given, target
    return check, given, target


def check_clients(environ: Mapping[str, str], cwd: str) -> list[Check]:
    """Each client configuration on this machine that starts qtmcp: does it start?"""
    os_name = machine_os()
    checks = []
    looked = 0
    for title, path in known_config_files(environ, os_name, cwd):
        try:
            with open_regular(path) as source:
                raw = source.read(CONFIG_MAX + 1)
        except OSError:
            continue
        looked += 1
        if len(raw) > CONFIG_MAX:
            checks.append(Check("client", "warn", f"{title} {path} is over {human_size(CONFIG_MAX)}: not read",
                                "check that the file is what the client wrote"))
            continue
        try:
            data = parse_config(strip_json_comments(raw.decode("utf-8-sig")))
        except ValueError as error:
            if b"qtmcp" in raw:
                checks.append(Check("client", "warn", f"{title} {path} cannot be read ({error})",
                                    "fix the file: it must be JSON"))
            continue
        for where, name, entry in config_entries(data):
            if isinstance(entry, dict) and starts_qtmcp(entry):
                checks.append(check_client_entry(f"{title} {path}{where}", name, entry, environ, os_name))
    if not checks:
        checks.append(Check("client", "ok", f"no client configuration starts qtmcp ({looked} of the files "
                            "setup knows are here)"))
    return checks


def known_config_files(environ: Mapping[str, str], os_name: str, cwd: str) -> list[tuple[str, str]]:
    """(client, path) of every configuration file setup knows, the user's then this project's."""
    files = []
    for client in ("claude-desktop", "claude-code", "vscode", "cursor", "windsurf"):
        files.append((CLIENT_TITLES[client], client_config_path(client, "user", environ, os_name, cwd)))
    for client in ("claude-code", "vscode", "cursor"):
        files.append((CLIENT_TITLES[client], client_config_path(client, "project", environ, os_name, cwd)))
    seen: set[str] = set()
    return [(t, p) for t, p in files if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]


def check_client_entry(label: str, name: str, entry: dict, environ: Mapping[str, str], os_name: str) -> Check:  # type: ignore[type-arg]
    """One entry that starts qtmcp: its command resolves, its env has the proxy and CA variables set now."""
    import shutil

    label = f"{label}: entry \"{name}\""
    command = entry.get("command")
    args = [a for a in entry.get("args") or [] if isinstance(a, str)] if isinstance(entry.get("args"), list) else []
    env: dict = entry["env"] if isinstance(entry.get("env"), dict) else {}  # type: ignore[type-arg]
    found: list[tuple[str, str, str]] = []  # (status, what, fix)
    if not isinstance(command, str) or not command:
        return Check("client", "fail", f"{label} has no command", "run qtmcp setup again", LocalError.status)
    if os.path.isabs(command):
        if not os.path.isfile(command) or not os.access(command, os.X_OK):
            found.append(("fail", f"its command {command} is gone", "run qtmcp setup again, or fix the path"))
    elif not shutil.which(command, path=desktop_path(os_name, environ)):
        where = shutil.which(command)
        if where:
            found.append(("warn", (f"its command {command} is only on this shell's PATH ({where}): a client "
                                   "started from the desktop does not find it"),
                          "run qtmcp setup: it writes absolute paths"))
        else:
            found.append(("fail", f"its command {command} is not found", "run qtmcp setup again"))
    for word in args:
        module = boot_folder(word)
        module = os.path.join(module, "qtmcp.py") if module else word if word.endswith("qtmcp.py") else ""
        if module and os.path.isabs(module) and not os.path.isfile(module):
            found.append(("fail", f"its qtmcp.py {module} is gone", "run qtmcp setup again"))
    app = entry_app(args)
    if app and os.path.isabs(app) and not os.path.exists(app):
        found.append(("warn", f"its application {app} does not exist", "build it, or fix the path"))
    names = {str(key).upper() for key in env}
    lacking = [v for v in PROXY_VARIABLES + CA_VARIABLES
               if (env_value(environ, v) or env_value(environ, v.lower())) and v not in names]
    if lacking:
        found.append(("warn", f"its env lacks {', '.join(lacking)} (set in this shell)",
                      "add them to its env, or run qtmcp setup again (it carries them)"))
    if not found:
        return Check("client", "ok", f"{label} starts {command}, which is there")
    status = "fail" if any(s == "fail" for s, _, _ in found) else "warn"
    return Check("client", status, f"{label}: " + "; ".join(what for _, what, _ in found),
                 "; ".join(dict.fromkeys(fix for _, _, fix in found)), LocalError.status)


# main ########################################################################

COMMAND_FUNCTIONS = {
    "run": command_run,
    "fetch": command_fetch,
    "list": command_list,
    "mirror": command_mirror,
    "install": command_install,
    "cache": command_cache,
    "verify": command_verify,
    "detect": command_detect,
    "setup": command_setup,
    "doctor": command_doctor,
}


def debug_wanted(environ: Mapping[str, str]) -> bool:
    """True if QTMCP_DEBUG asks for tracebacks (read before the settings, so that
    an error in them gets one too)."""
    return env_value(environ, "QTMCP_DEBUG").lower() in SWITCH_TRUE


def help_text(environ: Mapping[str, str]) -> str:
    """--help, its numbers and exit statuses written from the constants and the error kinds."""
    statuses = ["  0  success (in run: the launcher's own status is passed on)"]
    for kind in ERROR_KINDS:
        meaning = (kind.__doc__ or "").strip().rstrip(".")
        statuses.append(f"  {kind.status}  {kind.title}: {meaning[:1].lower()}{meaning[1:]}")
    return HELP.format(cache=default_cache_root(environ), statuses="\n".join(statuses),
                       timeout=DEFAULT_TIMEOUT, attempts=MAX_ATTEMPTS, budget=RETRY_BUDGET)


def main(argv: list[str] | None = None) -> int:
    """Run qtmcp with `argv` (default: sys.argv[1:]); return the exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    environ = os.environ
    reporter = Reporter(log_path=env_value(environ, "QTMCP_LOG"))
    debug = debug_wanted(environ)
    try:
        settings = read_settings(args, environ)
        reporter = Reporter(settings.quiet, settings.log)
        if settings.help or settings.command == "help":
            print(help_text(environ), end="")
            return 0
        if settings.version:
            print(f"qtmcp {__version__}")
            return 0
        if settings.command != "run":  # run logs the launcher it starts
            reporter.log(f"qtmcp {__version__} {settings.command}: {shown_args(args)}")
        return COMMAND_FUNCTIONS[settings.command](settings, reporter)
    except QtmcpError as error:
        failure: BaseException = error
        message, status = str(error), error.status
    except KeyboardInterrupt as error:
        failure, message, status = error, "interrupted", 130
    except OSError as error:
        failure = error
        message, status = f"{describe_error(error)}: {getattr(error, 'filename', '') or ''}".rstrip(": "), 7
    except Exception as error:  # noqa: BLE001 (a bug: still one line, and how to report it)
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
