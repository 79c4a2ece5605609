"""Download a channel feed as a stream of byte chunks: allow-listed hosts only, a size cap, a deadline.

Why so guarded: the URL arrives in a webhook, i.e. from outside. Every hop of a redirect is checked
against the same allow-list (a redirect to an internal address is the classic SSRF bypass), the body is
cut off at CHANNEL_FEED_MAX_BYTES whatever Content-Length claims, and the whole download, not only each
read, must finish within CHANNEL_FEED_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urljoin, urlsplit

import httpx

from shared.channels.delivery import feed_url_problem
from shared.channels.feed_reader import detect_format

MAX_REDIRECTS = 3
CHUNK_BYTES = 64 * 1024


class FeedDownloadError(Exception):
    """The feed could not be read. `retriable`: worth another try later (timeouts, 5xx, 429); a refused
    URL, a 4xx or a feed over the size cap will not get better by retrying."""

    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable


@contextmanager
def open_feed(url: str, *, allowed_hosts: list[str], max_bytes: int,
              timeout_seconds: float) -> Iterator[tuple[str, Iterator[bytes]]]:
    """(format, chunks) of the feed at `url`; the chunks raise FeedDownloadError past the cap or deadline."""
    deadline = time.monotonic() + timeout_seconds
    timeout = httpx.Timeout(min(30.0, timeout_seconds))
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            problem = feed_url_problem(url, allowed_hosts)
            if problem is not None:
                raise FeedDownloadError(problem, retriable=False)
            try:
                with client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    _check_status(response)
                    declared = int(response.headers.get("content-length") or 0)
                    if declared > max_bytes:
                        raise FeedDownloadError(f"feed is {declared} bytes, over the cap of {max_bytes} "
                                                "(CHANNEL_FEED_MAX_BYTES)", retriable=False)
                    chunks = _capped(response.iter_bytes(CHUNK_BYTES), max_bytes, deadline)
                    first = next(chunks, b"")
                    fmt = detect_format(response.headers.get("content-type", ""), urlsplit(url).path, first)
                    yield fmt, _prepend(first, chunks)
                    return
            except httpx.TimeoutException as exc:
                raise FeedDownloadError(f"feed download timed out: {exc.__class__.__name__}", retriable=True) from None
            except httpx.TransportError as exc:
                raise FeedDownloadError(f"feed download failed: {exc.__class__.__name__}", retriable=True) from None
        raise FeedDownloadError(f"more than {MAX_REDIRECTS} redirects", retriable=False)


def _check_status(response: httpx.Response) -> None:
    if response.status_code == 429 or response.status_code >= 500:
        raise FeedDownloadError(f"feed server answered {response.status_code}", retriable=True)
    if response.status_code >= 300:
        raise FeedDownloadError(f"feed server answered {response.status_code}", retriable=False)


def _capped(chunks: Iterator[bytes], max_bytes: int, deadline: float) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            raise FeedDownloadError(f"feed is over the cap of {max_bytes} bytes (CHANNEL_FEED_MAX_BYTES)",
                                    retriable=False)
        if time.monotonic() > deadline:
            raise FeedDownloadError("feed download took longer than CHANNEL_FEED_TIMEOUT_SECONDS", retriable=True)
        yield chunk


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest
