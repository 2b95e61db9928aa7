"""One URL to bytes, politely: the HTTP client, a per-host rate limit and retries with backoff.

The fetchers never talk to the network directly: they call a *downloader*, any callable
``downloader(url, timeout) -> HttpResponse`` that raises `FetchError` on failure. `UrllibDownloader` is the real
one (standard library only); tests pass their own or point this one at a local server.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Callable, Optional

#: What the downloader says about itself to the image hosts.
USER_AGENT = "cti-ir-fetch/0.1 (research dataset download; python urllib)"

#: HTTP statuses worth retrying: the server is overloaded or asks us to slow down; anything else 4xx is final.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class HttpResponse:
    """A successful (2xx) response, body fully read."""

    url: str                 # the URL asked for
    final_url: str           # where redirects ended
    status: int
    content_type: str        # lower case, without parameters ("image/jpeg", "text/html", "")
    body: bytes


class FetchError(Exception):
    """A download failed. ``reason`` is one sentence for the report; ``transient`` says whether retrying may help.

    ``retry_after`` is the server's Retry-After in seconds, when it sent one.
    """

    def __init__(self, reason: str, *, transient: bool, retry_after: Optional[float] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after


Downloader = Callable[[str, float], HttpResponse]


class _LimitedRedirects(urllib.request.HTTPRedirectHandler):
    # urllib's default is 10; an image URL that needs more than a few hops is a redirect loop or a login wall.
    max_redirections = 5


class UrllibDownloader:
    """The real downloader: HTTP(S) GET with urllib, following up to 5 redirects.

    Only ``http`` and ``https`` URLs are fetched (a list could otherwise name ``file:`` URLs). A body larger than
    ``max_bytes`` is refused: a product photo is a few hundred kilobytes.
    """

    def __init__(self, max_bytes: int = 20 * 1024 * 1024, user_agent: str = USER_AGENT) -> None:
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self._opener = urllib.request.build_opener(_LimitedRedirects())

    def __call__(self, url: str, timeout: float) -> HttpResponse:
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchError(f"unsupported URL scheme {scheme or '(none)'!r}; only http and https are fetched",
                             transient=False)
        request = urllib.request.Request(url, headers={"User-Agent": self.user_agent, "Accept": "image/*,*/*;q=0.5"})
        try:
            with self._opener.open(request, timeout=timeout) as resp:
                expected = resp.headers.get("Content-Length")
                body = resp.read(self.max_bytes + 1)
                if len(body) > self.max_bytes:
                    raise FetchError(f"response larger than {self.max_bytes:,} bytes; not a product photo",
                                     transient=False)
                if expected is not None and expected.isdigit() and len(body) < int(expected):
                    raise FetchError(f"connection closed after {len(body):,} of {int(expected):,} bytes",
                                     transient=True)
                content_type = (resp.headers.get_content_type() or "").lower()
                return HttpResponse(url, resp.geturl(), resp.status, content_type, body)
        except FetchError:
            raise
        except urllib.error.HTTPError as exc:
            raise _http_error(exc) from None
        except http.client.IncompleteRead as exc:
            total = len(exc.partial) + (exc.expected or 0)
            raise FetchError(f"connection closed after {len(exc.partial):,} of {total:,} bytes",
                             transient=True) from None
        except (TimeoutError, socket.timeout):
            raise FetchError(f"no answer within the {timeout:g} s timeout", transient=True) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise FetchError(f"no answer within the {timeout:g} s timeout", transient=True) from None
            raise FetchError(f"connection failed ({exc.reason})", transient=True) from None
        except (http.client.HTTPException, ConnectionError, OSError) as exc:
            raise FetchError(f"connection failed ({type(exc).__name__}: {exc})", transient=True) from None


def _http_error(exc: urllib.error.HTTPError) -> FetchError:
    if 300 <= exc.code < 400:
        return FetchError(f"HTTP {exc.code}: too many redirects (a loop, or a redirect without a target)",
                          transient=False)
    retry_after = None
    header = exc.headers.get("Retry-After") if exc.headers is not None else None
    if header and header.strip().isdigit():
        retry_after = float(header.strip())
    return FetchError(f"HTTP {exc.code} {exc.reason}".rstrip(), transient=exc.code in TRANSIENT_STATUSES,
                      retry_after=retry_after)


class HostRateLimiter:
    """At most ``per_second`` requests started per host, shared by all worker threads.

    Each request reserves the host's next free slot (slots are ``1 / per_second`` apart) and sleeps until it, so
    bursts are smoothed and different hosts do not wait for each other. ``per_second <= 0`` disables the limit.
    ``clock`` and ``sleep`` are injectable so that tests can check the schedule without waiting.
    """

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._clock, self._sleep = clock, sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, url: str) -> float:
        """Block until a request to ``url``'s host may start; returns the seconds waited."""
        if self.interval <= 0:
            return 0.0
        host = (urllib.parse.urlsplit(url).hostname or "").lower()
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(host, now))
            self._next[host] = slot + self.interval
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
        return delay


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a transient failure.

    The n-th retry (n = 0, 1, ...) waits ``backoff * 2**n`` seconds, or the server's Retry-After when it asks for
    longer, never more than ``max_delay``.
    """

    retries: int = 3
    backoff: float = 1.0
    max_delay: float = 60.0

    def delay(self, retry: int, retry_after: Optional[float] = None) -> float:
        wait = self.backoff * (2 ** retry)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(wait, self.max_delay)


@dataclass
class Attempted:
    """What `fetch_with_retries` ended with: the accepted value, or the last error; and how many attempts it took."""

    value: object = None
    error: Optional[FetchError] = None
    attempts: int = 0


def fetch_with_retries(
    url: str,
    downloader: Downloader,
    accept: Callable[[HttpResponse], object],
    *,
    timeout: float,
    limiter: HostRateLimiter,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> Attempted:
    """Download ``url`` and pass the response to ``accept`` (which returns what to keep or raises `FetchError`).

    Transient failures (timeouts, dropped connections, 5xx, 429) are retried with backoff; permanent ones (404,
    an HTML page instead of an image, a truncated file) end at once. Never raises `FetchError`.
    """
    out = Attempted()
    for retry in range(policy.retries + 1):
        limiter.wait(url)
        out.attempts += 1
        try:
            out.value = accept(downloader(url, timeout))
            out.error = None
            return out
        except FetchError as exc:
            out.error = exc
            if not exc.transient or retry == policy.retries:
                return out
            sleep(policy.delay(retry, exc.retry_after))
    return out
