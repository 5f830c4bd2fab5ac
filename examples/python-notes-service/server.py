"""Entry point: `/usr/bin/python3 server.py`, with Debian's packages (README.md)."""

import os

import uvicorn

from app import create_app
from verifier import Verifier

issuer = os.environ.get("LATCHKEY_ISSUER", "http://localhost:3000")
verifier = Verifier(
    issuer=issuer,
    audience=os.environ.get("NOTES_AUDIENCE", "http://localhost:4000"),
    revocation_poll_seconds=int(os.environ.get("NOTES_REVOCATION_POLL_MS", "5000")) / 1000,
    max_revocation_staleness_seconds=int(os.environ.get("NOTES_REVOCATION_MAX_STALENESS_MS", "600000")) / 1000,
)
host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "4000"))
print(f"notes service starting on http://{host}:{port}, trusting {issuer}", flush=True)
uvicorn.run(create_app(verifier), host=host, port=port, log_level="warning")
