"""Thin routers for the model list, the health check and the metrics."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from serving.deps import require_key, server_state
from serving.meta.protocol import Health, ModelCard, ModelList
from serving.ops.metrics import CONTENT_TYPE
from xprompt.errors import BackendError, EngineDiedError

router = APIRouter()
_STARTED = int(time.time())


@router.get("/v1/models", dependencies=[Depends(require_key)])
async def list_models(request: Request) -> ModelList:
    """The one served model, with the reply-language policy it runs under."""
    state = server_state(request)
    policy = state.config.policy
    card = ModelCard(
        id=state.model_name,
        created=_STARTED,
        max_model_len=state.engine.max_model_len,
        xprompt={
            "engine": state.engine.describe(),
            "default_lang": policy.default_lang,
            "languages": policy.languages,
            "weak_langs": policy.weak_langs,
            "pivot": policy.pivot,
            "translator": state.translator.signature() if state.translator else None,
            "policy": state.policy.signature(),
        },
    )
    return ModelList(data=[card])


@router.get("/health", response_model=None)
async def health(request: Request) -> JSONResponse:
    """200 when the engine can serve, 503 while starting, shutting down or broken."""
    state = getattr(request.app.state, "server", None)
    if state is None:
        body = Health(status="unavailable", detail="starting or shutting down")
        return JSONResponse(body.model_dump(), status_code=503)
    if state.engine_failure is not None:
        body = Health(status="unavailable", model=state.model_name, detail=state.engine_failure)
        return JSONResponse(body.model_dump(), status_code=503)
    try:
        await state.engine.check_health()
    except EngineDiedError as exc:
        state.engine_died(exc.message)
        body = Health(status="unavailable", model=state.model_name, detail=exc.message)
        return JSONResponse(body.model_dump(), status_code=503)
    except BackendError as exc:
        body = Health(status="unavailable", model=state.model_name, detail=exc.message)
        return JSONResponse(body.model_dump(), status_code=503)
    return JSONResponse(Health(status="ok", model=state.model_name).model_dump())


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
