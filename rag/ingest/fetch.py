"""One URL → its bytes, within limits, never from an address the server itself can reach.

A URL box on a public server lets a visitor make the server fetch. Without a guard it would fetch
`http://169.254.169.254/` (the cloud's credentials), the admin page on `127.0.0.1`, or the intranet,
and the document would show the answer. So every hop (the first request and each redirect) is
resolved here, every address the name resolves to must be public (`AddressPolicy`), and the
connection goes to the address that was checked: the URL is rewritten to that IP, with the original
Host header and TLS server name, so a second DNS lookup (a rebinding attacker's chance) never
happens. Redirects are followed by hand for the same reason. `RAG_ALLOW_PRIVATE_URLS` opens private
addresses for self-hosting and for the tests.

Limits, each refused with a reason naming the URL: the body's size (`RAG_MAX_UPLOAD_MB`, the same
as an upload; read in chunks and dropped at the cap, never read to the end), the whole fetch's time
(`RAG_FETCH_TIMEOUT_S`, redirects and name lookups included), `MAX_REDIRECTS` and the content type.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urljoin, urlsplit

import httpx

from rag.errors import LoadError

# Browsers allow 20; a real page rarely needs more than 2 (http → https → canonical host), and each
# hop is another DNS lookup and connection inside the same time limit.
MAX_REDIRECTS = 5
USER_AGENT = "rag-ingest/1 (+https://github.com/; fetches one page on a user's request)"

# The cloud metadata services: refused even when private addresses are allowed, unless an operator
# names them in RAG_ALLOW_PRIVATE_URLS (they hand out the machine's credentials).
METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))

# Content type → the file suffix the loaders (rag/ingest/loaders.py) read it by.
SUFFIXES = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/xml": ".xml",  # a sitemap (rag/ingest/crawl.py); other XML is refused there
    "text/xml": ".xml",
}
# Servers often send files as octet-stream: then the URL's own suffix must be one of these.
GENERIC_TYPES = {"application/octet-stream", "binary/octet-stream", ""}


class FetchError(LoadError):
    """A URL that was not fetched: `source` is the URL, `reason` says why (the limit's setting);
    `status` is the server's HTTP status when it answered with an error (404: the page is gone)."""

    def __init__(self, source: str, reason: str, status: int = 0) -> None:
        super().__init__(source, reason)
        self.status = status


@dataclass(frozen=True)
class AddressPolicy:
    """Which resolved addresses may be fetched: public ones, plus `allowed` networks, plus every
    non-metadata address when `allow_private`."""

    allow_private: bool = False
    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_setting(cls, spec: str) -> AddressPolicy:
        """`RAG_ALLOW_PRIVATE_URLS`: empty (public addresses only), `1`/`true`/`all` (any address but
        the metadata services), or comma-separated networks (`10.0.0.0/8,127.0.0.1`)."""
        spec = spec.strip()
        if spec.lower() in {"", "0", "false", "no"}:
            return cls()
        if spec.lower() in {"1", "true", "yes", "all"}:
            return cls(allow_private=True)
        try:
            networks = tuple(ipaddress.ip_network(part.strip()) for part in spec.split(",") if part.strip())
        except ValueError as exc:
            raise ValueError(
                f"RAG_ALLOW_PRIVATE_URLS={spec!r}: use 1, or networks like 10.0.0.0/8 ({exc})"
            ) from None
        return cls(allowed=networks)

    def refusal(self, address: str) -> str:
        """Why `address` may not be fetched, or "" when it may."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if any(ip in network for network in self.allowed):
            return ""
        if ip in METADATA:
            return f"{ip} is a cloud metadata address"
        kind = _kind(ip)
        if self.allow_private or not kind:
            return ""
        return f"{ip} is {kind}, not a public address (RAG_ALLOW_PRIVATE_URLS allows it)"


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """What makes `ip` non-public, or "" for a public one. `is_global` alone is not enough: Python
    counts some multicast ranges (224.0.0.251, mDNS) as global."""
    for name, flag in (
        ("a loopback address", ip.is_loopback),
        ("a link-local address", ip.is_link_local),
        ("a multicast address", ip.is_multicast),
        ("an unspecified address", ip.is_unspecified),
        ("a reserved address", ip.is_reserved),
        ("a private address", ip.is_private),
    ):
        if flag:
            return name
    return "" if ip.is_global else "a non-public address"


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int = 50 * 1024 * 1024
    seconds: float = 30.0
    max_redirects: int = MAX_REDIRECTS


@dataclass(frozen=True)
class Fetched:
    """One fetched URL. `url` is where the content came from after redirects; `filename` is what the
    loaders read it as; `not_modified` when a conditional request (`Validators`) found it unchanged."""

    url: str
    content_type: str
    data: bytes
    filename: str
    etag: str = ""
    last_modified: str = ""
    not_modified: bool = False


@dataclass(frozen=True)
class Validators:
    """What a conditional re-fetch sends (`rag sync`): the server answers 304 when nothing changed."""

    etag: str = ""
    last_modified: str = ""

    def headers(self) -> dict[str, str]:
        found = {"If-None-Match": self.etag, "If-Modified-Since": self.last_modified}
        return {name: value for name, value in found.items() if value}


Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (A and AAAA), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def resolve_within(resolver: Resolver, host: str, port: int, seconds: float) -> list[str] | None:
    """`resolver(host, port)`, waited for at most `seconds`; None when it has not answered by then.
    In a thread of its own because getaddrinfo takes no timeout (glibc waits ~5 s per try and per
    DNS server, `options timeout/attempts` in resolv.conf) and a thread blocked in it can't be
    stopped: the fetch gives up at its deadline and the thread ends when the resolver does."""
    done, outcome = threading.Event(), []

    def run() -> None:
        try:
            outcome.append(resolver(host, port))
        except BaseException as exc:  # handed to the caller below
            outcome.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name="resolve", daemon=True).start()
    if not done.wait(max(seconds, 0.0)):
        return None
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


class Fetcher:
    """Fetches URLs under one policy and one set of limits; one HTTP client (connection pool) for
    all the pages of a crawl. Use as a context manager."""

    def __init__(
        self, policy: AddressPolicy, limits: FetchLimits = FetchLimits(), resolver: Resolver = resolve
    ) -> None:
        self.policy, self.limits, self.resolver = policy, limits, resolver
        # trust_env=False: an HTTP(S)_PROXY in the environment would connect to other addresses
        # than the checked ones; redirects by hand, so that each one is checked
        self.client = httpx.Client(
            trust_env=False, follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def fetch(self, url: str, validators: Validators = Validators()) -> Fetched:
        """The content of `url`, following redirects; raises FetchError naming `url` and the reason."""
        deadline = time.monotonic() + self.limits.seconds
        current = url
        for _hop in range(self.limits.max_redirects + 1):
            try:
                response = self._send(current, validators, deadline)
            except FetchError as exc:  # name what the user asked for, and the hop that was refused
                hop = "" if current == url else f"redirected to {current[:200]}: "
                raise FetchError(url, hop + exc.reason) from None
            except httpx.TimeoutException:
                raise self._too_slow(url) from None
            except httpx.HTTPError as exc:
                raise FetchError(url, f"could not fetch {current} ({type(exc).__name__}: {exc})") from None
            try:
                if response.is_redirect and "location" in response.headers:
                    current = _redirect_target(url, current, response.headers["location"])
                    continue
                return self._read(url, current, response, deadline)
            finally:
                response.close()
        raise FetchError(url, f"more than {self.limits.max_redirects} redirects")

    def _send(self, url: str, validators: Validators, deadline: float) -> httpx.Response:
        parts = _checked_url(url)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        address = self._checked_address(url, host, port, deadline)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise httpx.TimeoutException("deadline")
        pinned = httpx.URL(url).copy_with(host=address)
        headers = {"Host": httpx.URL(url).netloc.decode("ascii"), **validators.headers()}
        request = self.client.build_request(
            "GET", pinned, headers=headers, extensions={"sni_hostname": host}, timeout=remaining
        )
        return self.client.send(request, stream=True)

    def _checked_address(self, url: str, host: str, port: int, deadline: float) -> str:
        """The address to connect to: every address of `host` must pass the policy (a name that
        resolves to a public and a private address is refused), and the first is used. The lookup
        counts against the fetch's deadline."""
        try:
            addresses = resolve_within(self.resolver, host, port, deadline - time.monotonic())
        except (OSError, UnicodeError) as exc:
            raise FetchError(url, f"cannot resolve {host} ({exc})") from None
        if addresses is None:
            seconds = self.limits.seconds
            raise FetchError(url, f"resolving {host} took over {seconds:g} s (RAG_FETCH_TIMEOUT_S)")
        if not addresses:
            raise FetchError(url, f"cannot resolve {host}")
        for address in addresses:
            reason = self.policy.refusal(address)
            if reason:
                via = "" if host.strip("[]") == address else f"{host} resolves to {address}; "
                raise FetchError(url, f"refused: {via}{reason}")
        return addresses[0]

    def _read(self, url: str, final: str, response: httpx.Response, deadline: float) -> Fetched:
        etag = response.headers.get("etag", "")
        modified = response.headers.get("last-modified", "")
        if response.status_code == 304:
            return Fetched(final, "", b"", "", etag, modified, not_modified=True)
        if response.status_code >= 400:
            status = response.status_code
            raise FetchError(url, f"the server answered {status} {response.reason_phrase}", status)
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        filename = file_name(final, content_type)
        if not filename:
            raise FetchError(url, f"the content type {content_type or '(none)'} is not a supported one")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limits.max_bytes:
            raise self._too_big(url)
        data = bytearray()
        try:
            # as the bytes arrive (a chunk size would wait for 64 kB of a trickle); decoded, so a
            # gzip bomb counts unpacked
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > self.limits.max_bytes:
                    raise self._too_big(url)
                if time.monotonic() > deadline:
                    raise self._too_slow(url)
        except httpx.TimeoutException:
            raise self._too_slow(url) from None
        except httpx.HTTPError as exc:
            raise FetchError(url, f"the download broke off ({type(exc).__name__}: {exc})") from None
        return Fetched(final, content_type, bytes(data), filename, etag, modified)

    def _too_big(self, url: str) -> FetchError:
        mb = self.limits.max_bytes / (1024 * 1024)
        return FetchError(url, f"the response is larger than the {mb:g} MB limit (RAG_MAX_UPLOAD_MB)")

    def _too_slow(self, url: str) -> FetchError:
        return FetchError(url, f"fetching took over {self.limits.seconds:g} s (RAG_FETCH_TIMEOUT_S)")


def _checked_url(url: str):
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise FetchError(url, "only http:// and https:// URLs can be fetched")
    if not parts.hostname:
        raise FetchError(url, "the URL has no host")
    if parts.username or parts.password:
        raise FetchError(url, "URLs with a user name or password are not fetched")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise FetchError(url, "the URL's port is not a number from 0 to 65535") from None
    return parts


def _redirect_target(url: str, current: str, location: str) -> str:
    target = urljoin(current, location.strip())
    if urlsplit(target).scheme not in {"http", "https"}:
        raise FetchError(url, f"redirected to {target[:200]}, which is not an http(s) URL")
    return target


def file_name(url: str, content_type: str) -> str:
    """The name the loaders read the content as: the URL's last path segment when its suffix fits
    the content type, else `index` + the type's suffix; "" for a type that is not read."""
    raw = urlsplit(url).path
    path = PurePosixPath(raw)
    stem = "index" if raw.endswith("/") or not path.stem else path.stem
    if content_type in SUFFIXES:
        suffix = SUFFIXES[content_type]
        return path.name if path.suffix.lower() == suffix else f"{stem}{suffix}"
    if content_type in GENERIC_TYPES and path.suffix.lower() in set(SUFFIXES.values()):
        return path.name
    return ""


def canonical(url: str) -> str:
    """The URL a document is known by: without its #fragment, and with a path of at least "/"."""
    parts = urlsplit(url.strip())
    return parts._replace(fragment="", path=parts.path or "/").geturl()


def is_url(text: str) -> bool:
    return urlsplit(text.strip()).scheme in {"http", "https"}
