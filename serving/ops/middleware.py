"""ASGI middleware: the request size limit, and the access log with HTTP metrics.

Both are plain ASGI (not Starlette's ``BaseHTTPMiddleware``) so streamed
responses pass through untouched and are timed until their last byte.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.errors import error_body
from serving.ops.metrics import ServerMetrics

access_log = logging.getLogger("xprompt.access")

#: Routes with their own metrics label; anything else is counted as "other".
KNOWN_PATHS = frozenset({"/", "/v1/chat/completions", "/v1/models", "/health", "/metrics"})


class BodyTooLarge(HTTPException):
    """A body over the limit, found while reading it (an HTTPException, so FastAPI passes it on)."""


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413 (by Content-Length, or while reading)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            error = self._too_large(int(declared))
            await _send_json(send, 413, error_body(413, error.detail, code="request_too_large"))
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise self._too_large(seen)
            return message

        await self.app(scope, limited, send)

    def _too_large(self, size: int) -> BodyTooLarge:
        return BodyTooLarge(
            413,
            f"request body is {size} bytes or more; this server takes at most {self.max_bytes} "
            "bytes (limits.max_request_bytes)",
        )


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class AccessLog:
    """One JSON line per request, when its last byte is sent, plus the HTTP metrics.

    Logged: time, method, path, status, duration, bytes sent, client address, and
    what the chat route put in ``scope["state"]["access"]`` (request id, model,
    stream, reply language and verdicts). Never bodies, query strings or headers,
    so neither messages nor API keys reach the log.
    """

    def __init__(self, app: ASGIApp, metrics: ServerMetrics, *, enabled: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        sent = 0
        logged = False
        scope.setdefault("state", {})
        path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
        self.metrics.in_flight.inc()

        def finish() -> None:
            nonlocal logged
            if logged:
                return
            logged = True
            elapsed = time.perf_counter() - start
            self.metrics.in_flight.dec()
            self.metrics.record_http(path, scope["method"], status, elapsed)
            if self.enabled:
                record: dict[str, Any] = {
                    "ts": round(time.time(), 3),
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                    "bytes": sent,
                    "client": (scope.get("client") or ("-",))[0],
                }
                record.update(scope["state"].get("access", {}))
                access_log.info(json.dumps(record, ensure_ascii=False))

        async def observed(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finish()

        try:
            await self.app(scope, receive, observed)
        finally:
            finish()  # a client that went away mid-stream is logged too
