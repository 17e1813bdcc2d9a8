"""FastAPI dependencies shared by the routers: the server state and the API-key check."""

from __future__ import annotations

from fastapi import Request

from serving.errors import ApiError
from serving.ops.auth import check_key
from serving.state import ServerState


def server_state(request: Request) -> ServerState:
    """The running server's state (503 while it is starting or shutting down)."""
    state = getattr(request.app.state, "server", None)
    if state is None:
        raise ApiError(503, "the server is starting or shutting down; try again shortly")
    return state


async def require_key(request: Request) -> None:
    """Enforce the configured API keys (none configured: open)."""
    check_key(request.headers.get("authorization"), request.app.state.api_keys)
