"""RFC 6750 §3 answers for verification failures, as @latchkey/verifier gives them.

Descriptions are fixed strings: nothing from the token is echoed.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from verifier_error import VerifierError

DESCRIPTIONS = {
    "token_missing": "A bearer access token is required",
    "token_malformed": "The access token is malformed",
    "header_not_allowed": "The access token has a header that is not allowed",
    "alg_not_allowed": "The access token algorithm is not allowed",
    "key_unknown": "The access token was signed with an unknown key",
    "signature_invalid": "The access token signature is invalid",
    "claim_invalid": "The access token is not valid for this service",
    "token_expired": "The access token expired",
    "token_not_yet_valid": "The access token is not valid yet",
    "token_revoked": "The access token has been revoked",
    "insufficient_scope": "The access token lacks the scope this request needs",
    "keys_unavailable": "Access tokens cannot be checked right now",
    "revocations_unavailable": "Access tokens cannot be checked right now",
    "token_dpop_mismatch": "The access token must be presented with the scheme it is bound to",
}


def _quoted(value: str) -> str:
    """RFC 9110 §5.6.4 quoted-string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def bearer_error_response(error: VerifierError) -> JSONResponse:
    description = DESCRIPTIONS[error.code]
    if error.code in ("keys_unavailable", "revocations_unavailable"):
        return JSONResponse(
            {"error": "temporarily_unavailable", "error_description": description},
            status_code=503,
            headers={"cache-control": "no-store", "retry-after": "5"},
        )
    if error.code == "token_dpop_mismatch":
        # RFC 9449 §7.1: the challenge names the DPoP scheme; this example takes Bearer tokens only.
        return JSONResponse(
            {"error": "invalid_token", "error_description": description},
            status_code=401,
            headers={
                "www-authenticate": f'DPoP error="invalid_token", error_description="{description}", '
                'algs="ES256 EdDSA RS256 PS256"',
                "cache-control": "no-store",
            },
        )
    if error.code == "token_missing":
        # §3.1: a request without credentials gets the challenge but no error code.
        return JSONResponse(
            {"error": "invalid_request", "error_description": description},
            status_code=401,
            headers={"www-authenticate": "Bearer", "cache-control": "no-store"},
        )
    if error.code == "insufficient_scope":
        challenge = f'Bearer error="insufficient_scope", error_description="{description}"'
        if error.required_scopes:
            challenge += f', scope="{_quoted(" ".join(error.required_scopes))}"'
        return JSONResponse(
            {"error": "insufficient_scope", "error_description": description},
            status_code=403,
            headers={"www-authenticate": challenge, "cache-control": "no-store"},
        )
    return JSONResponse(
        {"error": "invalid_token", "error_description": description},
        status_code=401,
        headers={
            "www-authenticate": f'Bearer error="invalid_token", error_description="{description}"',
            "cache-control": "no-store",
        },
    )
