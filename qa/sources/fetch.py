"""One guarded HTTP GET: a URL -> ``Fetched`` (the bytes and what the server said of them), or a
``FetchProblem`` whose message is one line.

httpx does the HTTP (redirects, pooling, timeouts, retrying failed connections) and tenacity
retries a server that says it is busy. This module adds one rule, because a URL typed into the
chat window makes the *server* send a request: no request goes to a loopback, link-local,
private or otherwise non-public address unless ``QA_FETCH_ALLOW_PRIVATE=1``. The rule is
enforced in the transport, at every hop of a redirect chain: the host name is resolved once,
every address it has is checked, and the connection goes to the checked address (so a name that
resolves differently a moment later cannot slip past). Unspecified (``0.0.0.0``) and multicast
addresses are never fetched.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

_MB = 1024 * 1024
MAX_REDIRECTS = 5
_BUSY = {429, 502, 503, 504}  # worth a second try a moment later
_ACCEPT = ("text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,"
           "application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.1")
_ALLOW_HINT = "set QA_FETCH_ALLOW_PRIVATE=1 to allow it"


class FetchProblem(Exception):
    """Why a URL was not fetched, in one line (the URL itself is not in it)."""


class _Refused(Exception):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(reason)
        self.url, self.reason = url, reason


class _Busy(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class Fetched:
    """A response: ``status`` 200 with ``data``, or 304 (unchanged since the validators sent).

    ``url`` is the URL asked for and ``final_url`` where the redirects (``redirects``, each
    hop's target) ended; ``content_type`` is lower case without parameters.
    """

    url: str
    final_url: str
    status: int
    data: bytes = b""
    content_type: str = ""
    charset: str | None = None
    etag: str = ""
    last_modified: str = ""
    redirects: tuple[str, ...] = ()


def address_problem(ip: str, *, allow_private: bool) -> str:
    """What kind of address ``ip`` is when it may not be fetched ("a loopback address"), or
    "" when it may. Private kinds are allowed with ``allow_private``; unspecified and multicast
    addresses never are."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if addr.is_unspecified:
        return "an unspecified address"
    if addr.is_multicast:
        return "a multicast address"
    if allow_private or addr.is_global:
        return ""
    for kind in ("loopback", "link-local", "private"):
        if getattr(addr, f"is_{kind.replace('-', '_')}"):
            return f"a {kind} address"
    return "not a public address"


def resolve(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to for ``host``; raises ``FetchProblem`` when the name does not
    resolve and ``_Refused`` when any of its addresses may not be fetched."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchProblem(f"cannot find host {host}: {getattr(exc, 'strerror', exc)}") from None
    ips = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for ip in ips:
        kind = address_problem(ip, allow_private=allow_private)
        if kind:
            shown = host if host == ip else f"{host} ({ip})"
            hint = "" if kind.startswith(("an unspecified", "a multicast")) else f"; {_ALLOW_HINT}"
            raise _Refused(host, f"{shown} is {kind}{hint}")
    return ips[0]


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's transport, connecting only to checked addresses (see the module docstring)."""

    def __init__(self, *, allow_private: bool, **options: Any) -> None:
        super().__init__(**options)
        self._allow_private = allow_private

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise _Refused(str(url), f"{url.scheme}: URLs are not fetched, only http and https")
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            ip = resolve(url.host, port, allow_private=self._allow_private)
        except _Refused as exc:
            raise _Refused(str(url), exc.reason) from None
        # A copy aimed at the address; the Host header and TLS name stay the host's.
        pinned = httpx.Request(request.method, url.copy_with(host=ip), headers=request.headers,
                               stream=request.stream,
                               extensions={**request.extensions, "sni_hostname": url.host})
        return super().handle_request(pinned)


class Fetcher:
    """A client for many GETs: timeouts in seconds, ``max_mb`` the most one body may have.

    Use as a context manager, or call ``close``. ``transport`` replaces the guarded one
    (``allow_private`` is then up to it).
    """

    def __init__(self, *, timeout: float, max_mb: float, allow_private: bool,
                 user_agent: str = "article-qa", transport: httpx.BaseTransport | None = None
                 ) -> None:
        self.timeout, self.max_mb, self.max_bytes = timeout, max_mb, int(max_mb * _MB)
        self._client = httpx.Client(
            transport=transport or _GuardedTransport(allow_private=allow_private),
            timeout=httpx.Timeout(timeout), follow_redirects=True, max_redirects=MAX_REDIRECTS,
            trust_env=False, headers={"User-Agent": user_agent, "Accept": _ACCEPT})

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(self, url: str, *, etag: str = "", last_modified: str = "") -> Fetched:
        """GET ``url`` (conditionally, when validators from an earlier response are given).

        Raises ``FetchProblem`` for a refused address, a host not found, a timeout, too many
        redirects, an HTTP error status or a body over ``max_mb``; the content type is left
        for the caller to judge.
        """
        scheme = url.split(":", 1)[0].lower()
        if scheme not in ("http", "https") or "://" not in url:
            raise FetchProblem("not an http(s) URL; only web pages and feeds are fetched")
        headers = {k: v for k, v in (("If-None-Match", etag),
                                     ("If-Modified-Since", last_modified)) if v}
        try:
            return self._get_retrying(url, headers)
        except _Refused as exc:
            first = exc.url.rstrip("/") == str(httpx.URL(url)).rstrip("/")  # not a later hop
            where = "" if first else f"a redirect to {exc.url}: "
            raise FetchProblem(f"refused {where}{exc.reason}") from None
        except _Busy as exc:
            raise FetchProblem(f"HTTP {exc.status}: the server is busy; try again later") from None
        except httpx.TimeoutException:
            raise FetchProblem(f"timed out after {self.timeout:g}s (QA_FETCH_TIMEOUT)") from None
        except httpx.TooManyRedirects:
            raise FetchProblem(f"more than {MAX_REDIRECTS} redirects; not followed") from None
        except httpx.UnsupportedProtocol as exc:
            raise FetchProblem(f"redirected to a URL that is not http(s): {exc}") from None
        except httpx.HTTPError as exc:
            raise FetchProblem(f"cannot connect: {exc or type(exc).__name__}") from None

    @retry(retry=retry_if_exception_type((_Busy, httpx.ConnectError, httpx.RemoteProtocolError)),
           stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.5, max=4), reraise=True)
    def _get_retrying(self, url: str, headers: dict[str, str]) -> Fetched:
        started = time.monotonic()
        with self._client.stream("GET", url, headers=headers) as response:
            redirects = tuple(str(r.headers.get("location", "")) for r in response.history)
            base = {"url": url, "final_url": str(response.url), "redirects": redirects,
                    "etag": response.headers.get("etag", ""),
                    "last_modified": response.headers.get("last-modified", "")}
            if response.status_code == 304:
                return Fetched(status=304, **base)
            if response.status_code in _BUSY:
                raise _Busy(response.status_code)
            if response.status_code >= 400:
                dead = "dead link: " if response.status_code in (404, 410) else ""
                raise FetchProblem(f"{dead}HTTP {response.status_code} "
                                   f"{response.reason_phrase}".rstrip())
            if response.status_code != 200:
                raise FetchProblem(f"HTTP {response.status_code}: no page was sent")
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > self.max_bytes:
                raise FetchProblem(self._too_big(int(length)))
            data = bytearray()
            for part in response.iter_bytes():
                data += part
                if len(data) > self.max_bytes:
                    raise FetchProblem(self._too_big(len(data), more=True))
                if time.monotonic() - started > 4 * self.timeout:  # a server that trickles
                    raise httpx.ReadTimeout("body too slow")
            kind = response.headers.get("content-type", "")
            return Fetched(status=200, data=bytes(data),
                           content_type=kind.split(";", 1)[0].strip().lower(),
                           charset=response.charset_encoding, **base)

    def _too_big(self, size: int, *, more: bool = False) -> str:
        over = "more than " if more else ""
        return (f"{over}{size / _MB:.3g} MB is over the QA_FETCH_MAX_MB limit of "
                f"{self.max_mb:g} MB; not downloaded")
