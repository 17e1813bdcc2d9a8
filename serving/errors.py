"""OpenAI-shaped errors: ``{"error": {"message", "type", "param", "code"}}`` with the right status.

Every error a client can cause names the field (``param``, as a path such as
``messages[2].content``) and says what would be right. The official clients
turn these into ``BadRequestError`` (400), ``AuthenticationError`` (401),
``NotFoundError`` (404), ``UnprocessableEntityError`` (422) and so on.
Anything unexpected is a 500 whose message says so; its traceback goes to the
server log, never to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from xprompt.errors import XPromptError

log = logging.getLogger("xprompt.serving")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
    504: "timeout_error",
}


class ApiError(Exception):
    """An error answered to the client with ``status`` and an OpenAI-shaped body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body: the shape OpenAI's API answers errors with."""
        return error_body(self.status, self.message, param=self.param, code=self.code)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """``{"error": {...}}`` for a status and message."""
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def field_path(loc: Sequence[str | int]) -> str:
    """``("body", "messages", 2, "content")`` -> ``messages[2].content``."""
    out = ""
    for part in loc:
        if part == "body" and not out:
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-after[", "function-before[", "function-wrap[")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


#: FastAPI's message when decoding a body fails other than by a JSON syntax error.
_BODY_PARSE_FAILED = "There was an error parsing the body"


def validation_error(
    errors: Sequence[dict[str, Any]], *, content_type: str | None = None
) -> ApiError:
    """A 400 naming every invalid field of a request body (pydantic errors).

    ``content_type``: the request's; a body refused because it was not sent as
    JSON says so rather than "not an object".
    """
    media = (content_type or "").split(";")[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        return ApiError(
            400,
            f"the request body must be JSON sent with Content-Type: application/json (got '{media}')",
            param="content-type",
            code="invalid_content_type",
        )
    parts: list[str] = []
    first_param: str | None = None
    for err in _without_union_noise(errors):
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx") or {}
            return ApiError(
                400,
                f"the request body is not valid JSON: {ctx.get('error', err.get('msg'))}",
                code="invalid_json",
            )
        loc = [p for p in err.get("loc", ()) if not _is_union_tag(p)]
        path = field_path(loc) or "body"
        first_param = first_param or path
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "missing":
            message = "is required"
        elif path == "body" and err.get("type") in ("model_attributes_type", "dict_type"):
            got = type(err.get("input")).__name__
            message = f"the request body must be a JSON object, got {_JSON_NAMES.get(got, got)}"
        parts.append(f"{path}: {message}")
    return ApiError(400, "; ".join(parts) or "invalid request", param=first_param)


#: Type errors pydantic reports for the union members a value did not match.
_UNION_MISMATCH = frozenset({"string_type", "list_type", "int_type", "float_type", "dict_type"})


def _without_union_noise(errors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop "should be a valid list" for a field that failed as another union member for a reason.

    ``content: "abc \\ud800"`` fails as ``str`` (lone surrogate) and as ``list``;
    the client wants the first reason only.
    """

    def field(err: dict[str, Any]) -> str:
        return field_path([p for p in err.get("loc", ()) if not _is_union_tag(p)])

    specific = [field(e) for e in errors if e.get("type") not in _UNION_MISMATCH]
    return [
        e
        for e in errors
        if e.get("type") not in _UNION_MISMATCH
        or not any(f == field(e) or f.startswith(field(e) + "[") for f in specific)
    ] or list(errors)


_JSON_NAMES = {
    "list": "an array",
    "str": "a string",
    "int": "a number",
    "float": "a number",
    "bool": "a boolean",
    "NoneType": "null",
    "bytes": "raw bytes",
}


def _is_union_tag(part: str | int) -> bool:
    # pydantic names union members in locations ("str", "list[TextPart]"); clients want the field.
    return isinstance(part, str) and (
        part in {"str", "int", "float", "bool", "list", "dict", "none"}
        or "[" in part
        or part[:1].isupper()
    )


def install_handlers(app: FastAPI) -> None:
    """Answer every error in the OpenAI shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(
            exc.errors(), content_type=request.headers.get("content-type")
        ).response()

    @app.exception_handler(XPromptError)
    async def _xprompt(request: Request, exc: XPromptError) -> JSONResponse:
        return ApiError(exc.http_status, exc.message).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path} (see GET /v1/models, POST /v1/chat/completions)"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        code = "request_too_large" if exc.status_code == 413 else None
        if exc.status_code == 400 and message == _BODY_PARSE_FAILED:
            # FastAPI's decoder failed past JSON syntax: nesting too deep for the parser.
            message = "the request body could not be parsed as JSON (nested too deeply?)"
            code = "invalid_json"
        return JSONResponse(
            error_body(exc.status_code, message, code=code),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body(500, f"internal server error ({type(exc).__name__}); see the server log"),
            status_code=500,
        )
