"""Which JWS algorithms are accepted, and which one each published key is for (RFC 8725 §3.1)."""

from __future__ import annotations

from typing import Any, Mapping

# What Latchkey signs with (LATCHKEY_SIGNING_ALG). Asymmetric only: `none` and HMAC can never be
# accepted, whatever a token's header says.
ALGORITHMS: tuple[str, ...] = ("ES256", "RS256", "PS256", "EdDSA")


def is_algorithm_for_key(alg: str, jwk: Mapping[str, Any]) -> bool:
    """Whether a key of this type and curve may be used with `alg`."""
    if alg == "ES256":
        return jwk.get("kty") == "EC" and jwk.get("crv") == "P-256"
    if alg in ("RS256", "PS256"):
        return jwk.get("kty") == "RSA"
    if alg == "EdDSA":
        return jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519"
    return False


def algorithm_of_key(jwk: Mapping[str, Any], allowed: tuple[str, ...]) -> str | None:
    """The one algorithm a published key is for: its `alg`, or the only one its curve allows.

    None when the key fits no allowed algorithm, or is ambiguous (an RSA key without `alg` could be
    RS256 or PS256: refusing it keeps one algorithm per key).
    """
    alg = jwk.get("alg")
    if alg is None:
        if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
            alg = "ES256"
        elif jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            alg = "EdDSA"
    if isinstance(alg, str) and alg in allowed and is_algorithm_for_key(alg, jwk):
        return alg
    return None
