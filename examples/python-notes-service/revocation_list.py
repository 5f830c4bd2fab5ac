"""Latchkey's revocation feed (GET /oauth/revocations), held in memory and polled.

Each poll sends the last ETag (an unchanged feed costs one 304) and the last cursor as `?since=`
(only changes come back, `"full": false`, to merge). Entries are only ever added, and each leaves
by its own `until`; user cut-offs only move forward. See docs/resource-services.md.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Mapping
from urllib.parse import quote

import httpx

from http_fetch import fetch_json

# A busy deployment can have tens of thousands of entries within one token lifetime.
MAX_FEED_BYTES = 32 * 1024 * 1024


class RevocationList:
    def __init__(self, url: str, *, http: httpx.Client, clock: Callable[[], float] = time.time) -> None:
        self._url = url
        self._http = http
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, float] = {}
        self._tokens: dict[str, float] = {}
        # sub -> (issued_before, until)
        self._users: dict[str, tuple[float, float]] = {}
        self._etag: str | None = None
        self._cursor: str | None = None
        # time.monotonic() of the last successful poll; staleness must not move with the wall clock.
        self._last_success: float | None = None

    def poll(self) -> None:
        """Reads the feed once and merges it. Raises when it cannot be read; the list keeps what it had."""
        url = self._url if self._cursor is None else f"{self._url}?since={quote(self._cursor)}"
        fetched = fetch_json(self._http, url, max_bytes=MAX_FEED_BYTES, etag=self._etag)
        if fetched.status == 304 and self._last_success is not None:
            with self._lock:
                self._last_success = time.monotonic()
                self._prune()
            return
        if fetched.status != 200:
            raise ValueError(f"{self._url} answered HTTP {fetched.status}")
        body = _parse_feed(fetched.body)
        with self._lock:
            for s in body["sessions"]:
                self._sessions[s["sid"]] = max(s["until"], self._sessions.get(s["sid"], 0))
            for t in body["tokens"]:
                self._tokens[t["jti"]] = max(t["until"], self._tokens.get(t["jti"], 0))
            for u in body["users"]:
                before, until = self._users.get(u["sub"], (0, 0))
                self._users[u["sub"]] = (max(before, u["issued_before"]), max(until, u["until"]))
            self._etag = fetched.etag
            self._cursor = body["cursor"]
            self._last_success = time.monotonic()
            self._prune()

    def _prune(self) -> None:
        now = self._clock()
        self._sessions = {k: v for k, v in self._sessions.items() if v >= now}
        self._tokens = {k: v for k, v in self._tokens.items() if v >= now}
        self._users = {k: v for k, v in self._users.items() if v[1] >= now}

    def seconds_since_success(self) -> float | None:
        """Seconds since the last successful poll; None before the first."""
        last = self._last_success
        return None if last is None else time.monotonic() - last

    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        with self._lock:
            sid, jti, sub, iat = claims.get("sid"), claims.get("jti"), claims.get("sub"), claims.get("iat")
            if isinstance(sid, str) and sid in self._sessions:
                return True
            if isinstance(jti, str) and jti in self._tokens:
                return True
            if isinstance(sub, str) and isinstance(iat, (int, float)) and sub in self._users:
                return iat < self._users[sub][0]
            return False


def _is_time(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _parse_feed(body: Any) -> dict[str, Any]:
    """Checks the shape before anything is merged: a bad answer changes nothing."""
    ok = (
        isinstance(body, dict)
        and isinstance(body.get("cursor"), str)
        and isinstance(body.get("full"), bool)
        and isinstance(body.get("sessions"), list)
        and all(isinstance(s, dict) and isinstance(s.get("sid"), str) and _is_time(s.get("until")) for s in body["sessions"])
        and isinstance(body.get("tokens"), list)
        and all(isinstance(t, dict) and isinstance(t.get("jti"), str) and _is_time(t.get("until")) for t in body["tokens"])
        and isinstance(body.get("users"), list)
        and all(
            isinstance(u, dict)
            and isinstance(u.get("sub"), str)
            and _is_time(u.get("issued_before"))
            and _is_time(u.get("until"))
            for u in body["users"]
        )
    )
    if not ok:
        raise ValueError("the revocation feed answered an unexpected shape")
    return body
