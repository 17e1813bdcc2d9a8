"""The thin FastAPI router of ``POST /v1/chat/completions``: auth, parse, hand to the service."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from serving.chat.protocol import ChatCompletionRequest
from serving.chat.service import ChatService
from serving.deps import require_key, server_state

router = APIRouter()


@router.post("/v1/chat/completions", dependencies=[Depends(require_key)], response_model=None)
async def create_chat_completion(
    body: ChatCompletionRequest, request: Request
) -> JSONResponse | StreamingResponse:
    """OpenAI chat completions, answered in the conversation's language."""
    access = request.scope.setdefault("state", {}).setdefault("access", {})
    return await ChatService(server_state(request)).create(body, request.headers, access)
