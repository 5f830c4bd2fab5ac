"""RFC 8414 discovery of the issuer's `jwks_uri`."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from http_fetch import assert_fetchable_url, fetch_json


def metadata_urls(issuer: str) -> list[str]:
    """RFC 8414 §3: the well-known segment goes between the host and any path; OpenID Connect's location second."""
    url = urlsplit(issuer)
    path = url.path.rstrip("/")
    origin = f"{url.scheme}://{url.netloc}"
    return [
        f"{origin}/.well-known/oauth-authorization-server{path}",
        f"{origin}{path}/.well-known/openid-configuration",
    ]


def discover_jwks_uri(client: httpx.Client, issuer: str) -> str:
    """The issuer's `jwks_uri`, from metadata that names exactly this issuer (RFC 8414 §3.3)."""
    last_status = 0
    for url in metadata_urls(issuer):
        fetched = fetch_json(client, url, max_bytes=1024 * 1024)
        last_status = fetched.status
        if fetched.status == 404:
            continue
        if fetched.status != 200:
            break
        metadata = fetched.body
        if not isinstance(metadata, dict):
            raise ValueError(f"{url} did not answer a JSON object")
        if metadata.get("issuer") != issuer:
            raise ValueError(f"{url} names the issuer {metadata.get('issuer')!r}, not {issuer!r}")
        jwks_uri = metadata.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise ValueError(f"{url} has no jwks_uri")
        assert_fetchable_url(jwks_uri, issuer, "jwks_uri")
        return jwks_uri
    raise ValueError(f"no metadata for {issuer} (HTTP {last_status})")
