"""Strict verification of Latchkey access tokens (RFC 9068 §4, RFC 8725) with PyJWT.

The same checks, codes and answers as @latchkey/verifier (docs/resource-services.md), in this
order: a compact JWS of at most 8 KB; header `alg` in the allow-list (never from the token alone:
`none` and HMAC are never in it), no `jku`/`x5u`/`x5c`/`jwk`/`crit`, `typ` at+jwt; the key chosen by
`kid` from Latchkey's published set only, and `alg` equal to that key's one algorithm; the
signature; `iss` exact, `aud` containing ours, `exp`/`nbf` with leeway, the required claims
present and of the right type; then the revocation list, which must have been read recently.
"""

from __future__ import annotations

import re
import sys
import threading
from typing import Any, Callable

import httpx
import jwt
from jwt.exceptions import (
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAlgorithmError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidSignatureError,
    MissingRequiredClaimError,
    PyJWTError,
)

from algorithms import ALGORITHMS
from http_fetch import assert_fetchable_url, assert_issuer_url
from key_set import LatchkeyKeySet
from revocation_list import RevocationList
from verifier_error import VerifierError

FORBIDDEN_HEADERS = ("jku", "x5u", "x5c", "jwk")
REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"]
# Larger than any token Latchkey issues; anything bigger is refused before parsing.
MAX_TOKEN_LENGTH = 8 * 1024
MAX_KID_LENGTH = 256
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
BEARER = re.compile(r"Bearer +(\S*) *", re.IGNORECASE)


def _warn(error: BaseException) -> None:
    print(f"latchkey: {error}", file=sys.stderr, flush=True)


class Verifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        algorithms: tuple[str, ...] = ALGORITHMS,
        leeway_seconds: float = 5,
        revocation_poll_seconds: float = 5,
        max_revocation_staleness_seconds: float | None = None,
        key_refetch_cooldown_seconds: float = 30,
        fetch_timeout_seconds: float = 5,
        on_error: Callable[[BaseException], None] = _warn,
    ) -> None:
        assert_issuer_url(issuer)
        if not audience:
            raise ValueError("audience must not be empty")
        if not algorithms or any(alg not in ALGORITHMS for alg in algorithms):
            raise ValueError(f"algorithms must be some of {', '.join(ALGORITHMS)}")
        if not 0 <= leeway_seconds <= 60:
            raise ValueError("leeway_seconds must be between 0 and 60 (what the feed's clock skew covers)")
        if revocation_poll_seconds < 0.1:
            raise ValueError("revocation_poll_seconds must be at least 0.1")
        self.issuer = issuer
        self.audience = audience
        self.algorithms = algorithms
        self._leeway = leeway_seconds
        self._poll_seconds = revocation_poll_seconds
        # Two missed polls at the least, so one slow answer never fails requests.
        self._max_staleness = max(
            2 * revocation_poll_seconds,
            600 if max_revocation_staleness_seconds is None else max_revocation_staleness_seconds,
        )
        self._on_error = on_error
        self._http = httpx.Client(timeout=fetch_timeout_seconds, follow_redirects=False)
        self.keys = LatchkeyKeySet(
            issuer,
            http=self._http,
            algorithms=algorithms,
            refetch_cooldown_seconds=key_refetch_cooldown_seconds,
            on_error=on_error,
        )
        revocations_url = f"{issuer.rstrip('/')}/oauth/revocations"
        assert_fetchable_url(revocations_url, issuer, "revocations URL")
        self.revocations = RevocationList(revocations_url, http=self._http)
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # -- background work -------------------------------------------------------------------------

    def start(self) -> None:
        """Starts polling the revocation feed (the first poll at once) and loads the key set."""
        self._poller = threading.Thread(target=self._poll_forever, name="latchkey-revocations", daemon=True)
        self._poller.start()

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=10)
        self._http.close()

    def _poll_forever(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.keys.loaded:
                    self.keys.load()
            except Exception as error:  # reported; tokens get 503 until the keys load
                self._on_error(error)
            try:
                self.revocations.poll()
            except Exception as error:  # reported; the list keeps its content and ages
                self._on_error(error)
            self._stop.wait(self._poll_seconds)

    @property
    def ready(self) -> bool:
        """Keys loaded and a revocation list fresh enough to trust: tokens can be verified."""
        age = self.revocations.seconds_since_success()
        return self.keys.loaded and age is not None and age <= self._max_staleness

    # -- verification ----------------------------------------------------------------------------

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or a VerifierError."""
        if len(token) > MAX_TOKEN_LENGTH or not COMPACT_JWS.fullmatch(token):
            raise VerifierError("token_malformed", "the token is not a compact JWS")
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError as error:
            raise VerifierError("token_malformed", "the token header could not be parsed") from error
        # RFC 8725 §3.10: keys come from the issuer's published set only, never from the token.
        if any(member in header for member in FORBIDDEN_HEADERS):
            raise VerifierError("header_not_allowed", "tokens with a key or key URL in the header are refused")
        # RFC 7515 §4.1.11: Latchkey uses no extension, so any critical one is not understood.
        if "crit" in header:
            raise VerifierError("header_not_allowed", "tokens with a crit header are refused")
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise VerifierError("alg_not_allowed", "the token algorithm is not allowed")
        # RFC 9068 §4: explicit typing keeps ID tokens and other JWTs out (RFC 8725 §3.11).
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower().removeprefix("application/") != "at+jwt":
            raise VerifierError("claim_invalid", "the typ header is not at+jwt")
        kid = header.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
            raise VerifierError("token_malformed", "the token header has no usable kid")
        key, key_alg = self.keys.key_for(kid)
        if alg != key_alg:
            raise VerifierError("alg_not_allowed", "the token algorithm is not the key's")
        claims = self._decode(token, key.key, key_alg)
        self._check_revocation(claims)
        return claims

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                key,
                # One algorithm: the key's own, already known to be in the allow-list.
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self._leeway,
                options={"require": REQUIRED_CLAIMS, "verify_signature": True},
            )
        except ExpiredSignatureError as error:
            raise VerifierError("token_expired", "the token has expired") from error
        except ImmatureSignatureError as error:
            raise VerifierError("token_not_yet_valid", "the token is not valid yet") from error
        except InvalidSignatureError as error:
            raise VerifierError("signature_invalid", "the token signature is invalid") from error
        except InvalidAlgorithmError as error:
            raise VerifierError("alg_not_allowed", "the token algorithm is not allowed") from error
        except (InvalidAudienceError, InvalidIssuerError, MissingRequiredClaimError) as error:
            raise VerifierError("claim_invalid", "a claim is missing or not for this service") from error
        except (PyJWTError, TypeError, ValueError) as error:
            # PyJWT 2.6 lets a few malformed claim types through as TypeError: fail closed.
            raise VerifierError("token_malformed", "the token could not be parsed") from error
        # RFC 9068 §2.2 types, which PyJWT 2.6 does not check (it accepts "exp": "123").
        strings = ("iss", "sub", "jti", "client_id")
        numbers = ("exp", "iat")
        if (
            any(not isinstance(claims.get(c), str) for c in strings)
            or any(not isinstance(claims.get(c), (int, float)) or isinstance(claims.get(c), bool) for c in numbers)
            or ("sid" in claims and not isinstance(claims["sid"], str))
            or ("scope" in claims and not isinstance(claims["scope"], str))
        ):
            raise VerifierError("claim_invalid", "a claim has the wrong type")
        return claims

    def _check_revocation(self, claims: dict[str, Any]) -> None:
        age = self.revocations.seconds_since_success()
        # Fail closed: until the feed has been read once, and once the list is too old to trust.
        if age is None:
            raise VerifierError("revocations_unavailable", "the revocation feed has not been loaded yet")
        if age > self._max_staleness:
            raise VerifierError("revocations_unavailable", "the revocation feed has not been read for too long")
        if self.revocations.is_revoked(claims):
            raise VerifierError("token_revoked", "the token has been revoked")

    def authenticate(self, authorization: list[str]) -> dict[str, Any]:
        """RFC 6750 §2.1: exactly one `Authorization: Bearer <token>`; any other scheme counts as none."""
        if len(authorization) != 1:
            raise VerifierError("token_missing", "no bearer token")
        match = BEARER.fullmatch(authorization[0])
        if match is None:
            raise VerifierError("token_missing", "no bearer token")
        if not match.group(1):
            raise VerifierError("token_malformed", "the bearer token is empty")
        claims = self.verify(match.group(1))
        # RFC 9449 §7.2: a DPoP-bound token (cnf.jkt) is only good with a proof of its key, which
        # this example does not check: refused rather than accepted as a bearer token.
        if "cnf" in claims:
            raise VerifierError("token_dpop_mismatch", "a DPoP-bound token was presented as a bearer token")
        return claims
