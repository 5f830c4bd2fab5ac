"""One set of stable error codes, the same as @latchkey/verifier's (verifier/src/errors.ts)."""

from __future__ import annotations

from typing import Literal

VerifierErrorCode = Literal[
    "token_missing",
    "token_malformed",
    "header_not_allowed",
    "alg_not_allowed",
    "key_unknown",
    "signature_invalid",
    "claim_invalid",
    "token_expired",
    "token_not_yet_valid",
    "token_revoked",
    "insufficient_scope",
    "keys_unavailable",
    "revocations_unavailable",
    "token_dpop_mismatch",
]


class VerifierError(Exception):
    """Match on `code`, never on the message."""

    def __init__(self, code: VerifierErrorCode, message: str, *, required_scopes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.code: VerifierErrorCode = code
        self.required_scopes = required_scopes
