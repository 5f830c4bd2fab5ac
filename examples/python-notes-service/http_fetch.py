"""Bounded GETs to Latchkey: a deadline, a size cap, no redirects, conditional requests."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx


@dataclass(frozen=True)
class Fetched:
    status: int
    body: Any
    etag: str | None
    cache_control: str | None


def fetch_json(
    client: httpx.Client, url: str, *, max_bytes: int, etag: str | None = None
) -> Fetched:
    """GET `url`; the body is parsed as JSON on 200 only. Raises on network errors or a body over `max_bytes`."""
    headers = {"accept": "application/json"}
    if etag is not None:
        headers["if-none-match"] = etag
    with client.stream("GET", url, headers=headers) as response:
        body: Any = None
        if response.status_code == 200:
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    raise ValueError(f"{url} answered more than {max_bytes} bytes")
            body = json.loads(data)
        return Fetched(
            status=response.status_code,
            body=body,
            etag=response.headers.get("etag"),
            cache_control=response.headers.get("cache-control"),
        )


def max_age_of(cache_control: str | None) -> int | None:
    """Seconds of `max-age` in a Cache-Control header, if any."""
    if cache_control is None:
        return None
    match = re.search(r"(?:^|,)\s*max-age=(\d+)\s*(?:,|$)", cache_control, re.IGNORECASE)
    return int(match.group(1)) if match else None


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def assert_issuer_url(issuer: str) -> None:
    """https, or http on a loopback host only: over plain http elsewhere, anyone on the network could swap the keys."""
    url = urlsplit(issuer)
    if not url.netloc:
        raise ValueError(f"issuer {issuer!r} is not a URL")
    if url.scheme != "https" and not (url.scheme == "http" and _is_loopback(url.hostname)):
        raise ValueError(f"issuer {issuer} must use https (http only on a loopback host)")


def assert_fetchable_url(value: str, issuer: str, what: str) -> None:
    """https, or http only when the issuer itself is http (local development)."""
    url = urlsplit(value)
    if not url.netloc:
        raise ValueError(f"{what} {value!r} is not a URL")
    if url.scheme != "https" and not (url.scheme == "http" and urlsplit(issuer).scheme == "http"):
        raise ValueError(f"{what} {value} must use https")
