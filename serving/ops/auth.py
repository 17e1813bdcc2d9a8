"""Optional API keys: ``Authorization: Bearer <key>``, compared in constant time, never logged."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from serving.errors import ApiError


def check_key(authorization: str | None, keys: Sequence[str]) -> None:
    """Raise a 401 unless ``authorization`` carries one of ``keys`` (no keys: open server)."""
    if not keys:
        return
    if not authorization:
        raise ApiError(
            401,
            "missing API key: send the header 'Authorization: Bearer <key>'",
            code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "the Authorization header must be 'Bearer <key>'",
            code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    given = token.strip().encode()
    # Compare with every key (no early exit), so timing does not tell which one nearly matched.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode())
    if not matched:
        raise ApiError(
            401,
            "invalid API key",
            code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
