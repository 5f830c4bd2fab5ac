"""Latchkey's public keys, through PyJWT's PyJWKClient.

PyJWT 2.6 (Debian 12) fetches the JWKS with urllib and no timeout, clears its cached set when a
fetch fails, ignores Cache-Control and refetches on every unknown `kid`. This subclass keeps
PyJWKClient's lookup and replaces only the fetch: discovery first, httpx with a deadline and a
size cap, the answer's `max-age` as the cache lifespan, the last good set kept when Latchkey is
down, keys filtered to one allowed algorithm each, and at most one refetch per cooldown for
unknown `kid`s (a flood of random kids costs Latchkey one request per cooldown).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable

import httpx
from jwt import PyJWK, PyJWKClient
from jwt.exceptions import PyJWKClientError, PyJWKError, PyJWKSetError

from algorithms import algorithm_of_key
from discovery import discover_jwks_uri
from http_fetch import fetch_json, max_age_of
from verifier_error import VerifierError

DEFAULT_MAX_AGE_SECONDS = 300
MIN_MAX_AGE_SECONDS = 10
MAX_MAX_AGE_SECONDS = 86_400


class LatchkeyKeySet(PyJWKClient):
    def __init__(
        self,
        issuer: str,
        *,
        http: httpx.Client,
        algorithms: tuple[str, ...],
        refetch_cooldown_seconds: float,
        on_error: Callable[[BaseException], None],
    ) -> None:
        # The JWKS URL comes from discovery, on the first fetch.
        super().__init__("", cache_keys=False, cache_jwk_set=True, lifespan=DEFAULT_MAX_AGE_SECONDS)
        self._issuer = issuer
        self._http = http
        self._algorithms = algorithms
        self._cooldown = refetch_cooldown_seconds
        self._on_error = on_error
        self._lock = threading.Lock()
        self._last_attempt = -math.inf
        self._etag: str | None = None
        # The last good set, as PyJWKClient caches it, and the algorithm of each of its kids.
        self._loaded: dict[str, Any] | None = None
        self._algorithm_by_kid: dict[str, str] = {}

    def fetch_data(self) -> Any:
        """PyJWKClient calls this when its cached set is missing or stale, or on refresh."""
        self._last_attempt = time.monotonic()
        try:
            if not self.uri:
                self.uri = discover_jwks_uri(self._http, self._issuer)
            fetched = fetch_json(
                self._http,
                self.uri,
                max_bytes=1024 * 1024,
                etag=self._etag if self._loaded is not None else None,
            )
            lifespan = min(
                MAX_MAX_AGE_SECONDS,
                max(MIN_MAX_AGE_SECONDS, max_age_of(fetched.cache_control) or DEFAULT_MAX_AGE_SECONDS),
            )
            if fetched.status == 304 and self._loaded is not None:
                data = self._loaded
            elif fetched.status == 200:
                data, self._algorithm_by_kid = self._usable_keys(fetched.body)
                self._etag = fetched.etag
            else:
                raise ValueError(f"{self.uri} answered HTTP {fetched.status}")
        except (httpx.HTTPError, ValueError) as error:
            self._on_error(error)
            if self._loaded is None:
                raise PyJWKClientError("the key set could not be loaded") from error
            # Latchkey down: keep verifying with the keys we have, try again after the cooldown.
            data, lifespan = self._loaded, self._cooldown
        self._loaded = data
        assert self.jwk_set_cache is not None
        self.jwk_set_cache.lifespan = lifespan
        self.jwk_set_cache.put(data)
        return data

    def _usable_keys(self, body: Any) -> tuple[dict[str, Any], dict[str, str]]:
        """Signature keys with a kid and one allowed algorithm each, `alg` set so PyJWK binds it."""
        if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
            raise ValueError(f"{self.uri} did not answer a JWK set")
        keys: list[dict[str, Any]] = []
        algorithm_by_kid: dict[str, str] = {}
        for jwk in body["keys"]:
            if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                continue
            kid, alg = jwk.get("kid"), algorithm_of_key(jwk, self._algorithms)
            if not isinstance(kid, str) or not kid or alg is None or kid in algorithm_by_kid:
                continue
            try:
                PyJWK.from_dict({**jwk, "alg": alg})
            except (PyJWKError, ValueError, TypeError):
                continue
            keys.append({**jwk, "alg": alg})
            algorithm_by_kid[kid] = alg
        if not keys:
            raise ValueError(f"{self.uri} has no usable signature key")
        return {"keys": keys}, algorithm_by_kid

    def key_for(self, kid: str) -> tuple[PyJWK, str]:
        """The published key with this kid and the one algorithm it is for."""
        with self._lock:
            if self._loaded is None and time.monotonic() - self._last_attempt < self._cooldown:
                # Never loaded and tried moments ago: requests do not hammer a Latchkey that is down.
                raise VerifierError("keys_unavailable", "no key set could be loaded")
            try:
                keys = self.get_signing_keys()
                key = self.match_kid(keys, kid)
                if key is None and time.monotonic() - self._last_attempt >= self._cooldown:
                    key = self.match_kid(self.get_signing_keys(refresh=True), kid)
            except (PyJWKClientError, PyJWKSetError) as error:
                raise VerifierError("keys_unavailable", "no key set could be loaded") from error
            alg = self._algorithm_by_kid.get(kid)
        if key is None or alg is None:
            raise VerifierError("key_unknown", "no published key has this kid")
        return key, alg

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def load(self) -> None:
        """Fetches the key set now (at start-up). Raises if it cannot be read and none is cached."""
        with self._lock:
            self.get_signing_keys(refresh=True)
