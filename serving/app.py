"""The FastAPI application: routers, error handlers, middleware, and the engine's lifetime.

``create_app(config)`` starts the engine (and the pivot translator) when the
application starts, inside its event loop, and shuts them down when it stops.
``xprompt serve`` starts them before the server (so a bad model is one clear
error, not a failed startup) and hands them over; tests pass engines of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI

from serving.chat.router import router as chat_router
from serving.config import ServeConfig
from serving.engine import ChatEngine, build_engine
from serving.errors import install_handlers
from serving.meta.router import router as meta_router
from serving.ops.metrics import ServerMetrics
from serving.ops.middleware import AccessLog, BodySizeLimit
from serving.page.router import router as page_router
from serving.pivot import PivotTranslator, build_translator
from serving.state import ServerState
from xprompt import __version__
from xprompt.errors import EngineDiedError

#: Seconds between the engine watch's health checks.
ENGINE_WATCH_S = 1.0

log = logging.getLogger("xprompt.serving")


def create_app(
    config: ServeConfig,
    *,
    engine: ChatEngine | None = None,
    translator: PivotTranslator | None = None,
    owned: bool = False,
    on_engine_death: Callable[[str], None] | None = None,
) -> FastAPI:
    """The chat server for ``config``; ``engine``/``translator`` given here are used, not built.

    What the app builds itself it also closes when it stops; an engine or translator
    passed in stays the caller's unless ``owned`` hands it over. A watch checks the
    engine's health every ``ENGINE_WATCH_S`` seconds; once it is dead (its process
    killed or crashed), ``/health`` answers 503, every request fails fast with a
    503 ``engine_dead`` error, and ``on_engine_death(reason)`` is called once
    (``xprompt serve`` stops and exits with code 4 for its supervisor to restart it).
    """
    holder: dict[str, Any] = {}

    def engine_requests() -> float:
        current = holder.get("engine")
        return float(getattr(current, "running_requests", 0) or 0)

    metrics = ServerMetrics(engine_requests)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_engine = engine is None or owned
        active = build_engine(config) if engine is None else engine
        holder["engine"] = active
        active_translator = translator
        own_translator = translator is not None and owned
        watch: asyncio.Task[None] | None = None
        try:
            if active_translator is None and config.policy.translator:
                active_translator = build_translator(config.policy.translator, active)
                own_translator = True
            app.state.server = ServerState.build(config, active, active_translator, metrics)
            app.state.server.on_engine_death = on_engine_death
            watch = asyncio.create_task(_watch_engine(app.state.server))
            log.info(
                "ready on http://%s:%s, serving '%s' (%s)",
                config.host,
                config.port,
                app.state.server.model_name,
                active.describe(),
            )
            yield
        finally:
            if watch is not None:
                watch.cancel()
            app.state.server = None
            if own_translator and active_translator is not None:
                await active_translator.aclose()
            if own_engine:
                active.close()
            holder.pop("engine", None)

    app = FastAPI(
        title="xprompt chat",
        version=__version__,
        description="OpenAI-compatible chat completions that answer in the user's language.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.server = None
    app.state.api_keys = config.keys()
    app.state.metrics = metrics
    install_handlers(app)
    app.include_router(chat_router)
    app.include_router(meta_router)
    if config.page:
        app.include_router(page_router)
    app.add_middleware(BodySizeLimit, max_bytes=config.limits.max_request_bytes)
    app.add_middleware(AccessLog, metrics=metrics, enabled=config.access_log)
    return app


async def _watch_engine(state: ServerState) -> None:
    """Notice an engine that died while idle (a request would notice too late for /health)."""
    while state.engine_failure is None:
        await asyncio.sleep(ENGINE_WATCH_S)
        try:
            await state.engine.check_health()
        except EngineDiedError as exc:
            log.error("the engine died: %s", exc.message)
            state.engine_died(exc.message)
