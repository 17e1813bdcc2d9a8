"""Fixtures for the chat-server tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from serve_helpers import running_app

from serving.testing import ScriptedChatEngine


@pytest.fixture
def run_app() -> Callable[..., Any]:
    """``run_app(engine, body_fn, config=None, translator=None)``: run ``body_fn(http)`` in the app."""

    def run(
        engine: ScriptedChatEngine, body: Callable[[httpx.AsyncClient], Any], **kwargs: Any
    ) -> Any:
        async def go() -> Any:
            async with running_app(engine, **kwargs) as http:
                return await body(http)

        return asyncio.run(go())

    return run
