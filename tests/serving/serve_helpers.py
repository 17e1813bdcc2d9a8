"""Helpers for the chat-server tests (import as ``from serve_helpers import ...``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from serving.app import create_app
from serving.config import ServeConfig
from serving.testing import ScriptedChatEngine

HAUSA = "Gwamnati ta sanar da sabon shirin kiwon lafiya a jihar Kano ranar Talata."
HAUSA_2 = "Ma'aikatar lafiya ta ce za a gina sabbin asibitoci a duk fadin kasar nan."
ENGLISH = "The committee met on Tuesday to discuss the new health policy and the budget."
AMHARIC = "መንግሥት ዛሬ አዲስ የጤና ዕቅድ አስታውቋል። ይህ ዜና ስለ ጤና ነው።"


@contextlib.asynccontextmanager
async def running_app(
    engine: ScriptedChatEngine, config: ServeConfig | None = None, translator: Any = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and an HTTP client talking to it in process."""
    app = create_app(config or ServeConfig(), engine=engine, translator=translator)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serve.test") as http:
            yield http


def firm(request) -> bool:
    """Whether a scripted request carries the firmer instruction (a retry)."""
    return any("entire answer" in m.content for m in request.messages or ())


def pivot(request) -> bool:
    """Whether a scripted request asks for the pivot language."""
    return any(
        m.role == "system" and "Reply in English." in m.content for m in request.messages or ()
    )
