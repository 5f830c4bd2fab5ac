"""The notes service: each user's notes, readable and writable by that user's tokens only.

The FastAPI twin of examples/notes-service/app.ts. Notes live in memory: this is an example of
authorization, not of storage.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from fastapi import Depends, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError, constr
from starlette.exceptions import HTTPException as StarletteHTTPException

from bearer_error import bearer_error_response
from verifier import Verifier
from verifier_error import VerifierError


class NoteIn(BaseModel):
    # strict: a number is not text; extra members are refused, as in the Node service's schema.
    text: constr(strict=True, min_length=1, max_length=1000)  # type: ignore[valid-type]

    class Config:
        extra = "forbid"


class NotYourNotes(Exception):
    pass


def error_body(error: str, description: str) -> dict[str, str]:
    return {"error": error, "error_description": description}


def create_app(verifier: Verifier) -> FastAPI:
    app = FastAPI(title="notes service", docs_url=None, redoc_url=None, openapi_url=None)
    notes: dict[str, list[dict[str, str]]] = {}
    notes_lock = threading.Lock()

    @app.on_event("startup")
    def start_verifier() -> None:
        verifier.start()

    @app.on_event("shutdown")
    def close_verifier() -> None:
        verifier.close()

    @app.exception_handler(VerifierError)
    async def on_verifier_error(_request: Request, error: VerifierError) -> JSONResponse:
        return bearer_error_response(error)

    @app.exception_handler(NotYourNotes)
    async def on_not_your_notes(_request: Request, _error: NotYourNotes) -> JSONResponse:
        return JSONResponse(error_body("forbidden", "these are not your notes"), status_code=403)

    @app.exception_handler(RequestValidationError)
    async def on_invalid_request(_request: Request, _error: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", "the request is not valid"), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "invalid_request")
        return JSONResponse(
            error_body(code, str(error.detail)), status_code=error.status_code, headers=getattr(error, "headers", None)
        )

    @app.exception_handler(Exception)
    async def on_unexpected(_request: Request, _error: Exception) -> JSONResponse:
        return JSONResponse(error_body("server_error", "something went wrong"), status_code=500)

    def owner_with_scope(scope: str) -> Callable[..., dict[str, Any]]:
        # A plain `def`: FastAPI runs it in its thread pool, so a key-set fetch never blocks the loop.
        def dependency(
            request: Request, user_id: str = Path(..., alias="userId", min_length=1, max_length=64)
        ) -> dict[str, Any]:
            # Every route here needs a valid, unrevoked Latchkey access token...
            claims = verifier.authenticate(request.headers.getlist("authorization"))
            # ...and a valid token is not enough: it must be the token of the user whose notes these are.
            if claims["sub"] != user_id:
                raise NotYourNotes()
            if scope not in claims.get("scope", "").split(" "):
                raise VerifierError("insufficient_scope", "the token lacks a scope", required_scopes=(scope,))
            return claims

        return dependency

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", response_model=None)
    def readyz() -> dict[str, str] | JSONResponse:
        # For a load balancer: until the keys and the revocation feed are loaded, every token gets 503.
        if verifier.ready:
            return {"status": "ready"}
        return JSONResponse(status_code=503, content={"status": "not ready"}, headers={"Retry-After": "1"})

    @app.get("/users/{userId}/notes")
    def read_notes(claims: dict[str, Any] = Depends(owner_with_scope("notes:read"))) -> dict[str, Any]:
        with notes_lock:
            return {"notes": list(notes.get(claims["sub"], []))}

    @app.post("/users/{userId}/notes", status_code=201)
    async def write_note(
        request: Request, claims: dict[str, Any] = Depends(owner_with_scope("notes:write"))
    ) -> dict[str, str]:
        # The body is read after the token is checked (a `NoteIn` parameter would be parsed before
        # any dependency, so a bad body would answer 400 to a caller with no valid token).
        try:
            body = NoteIn.parse_raw(await request.body(), content_type="application/json")
        except ValidationError as error:
            raise RequestValidationError(error.raw_errors) from error
        note = {
            "id": str(uuid.uuid4()),
            "text": body.text,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        with notes_lock:
            notes.setdefault(claims["sub"], []).append(note)
        return note

    return app
