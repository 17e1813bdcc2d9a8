"""Test helpers: a scripted async engine for logic tests, and ``xprompt serve`` as a subprocess.

It answers each request with texts computed by a function of the request and
streams them in small pieces, so tests can check retries, pivots, the streaming
guard and bookkeeping exactly. It is a test double for logic only; the server
is also tested end to end on the real vLLM engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from xprompt.chat_format import split_reasoning
from xprompt.errors import BackendError, EngineDiedError
from xprompt.types import Completion, Request

Script = Callable[[Request], Sequence[str] | str]


class ScriptedChatEngine:
    """Answers from ``script(request)``; one "token" is one character.

    Args:
        script: texts for a request (a string is repeated ``n`` times); raising
            ``ValueError`` makes the request an error completion (as the engine
            reports a request it refuses), raising ``RuntimeError`` makes the
            engine fail (as a dead engine does).
        chunk_chars: characters per streamed step.
        delay_s: pause between streamed steps (and before a non-streamed answer).
        max_model_len: context size for the length checks.
        thinks: behave as a reasoning model: ``<think>...</think>`` in a scripted
            text is returned as ``reasoning``, apart from the answer.
    """

    def __init__(
        self,
        script: Script,
        *,
        chunk_chars: int = 4,
        delay_s: float = 0.0,
        max_model_len: int = 4096,
        model_id: str = "scripted",
        thinks: bool = False,
    ) -> None:
        self.script = script
        self.thinks = thinks
        self.chunk_chars = chunk_chars
        self.delay_s = delay_s
        self.max_model_len = max_model_len
        self._model_id = model_id
        self.requests: list[Request] = []
        self.cancelled: list[str] = []
        self.running = 0
        self.closed = False
        self.dead = False

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def running_requests(self) -> int:
        return self.running

    def describe(self) -> dict[str, Any]:
        return {"engine": "scripted", "model": self._model_id}

    def close(self) -> None:
        self.closed = True

    def die(self) -> None:
        """Fail as a killed engine does: every call from now on raises ``EngineDiedError``."""
        self.dead = True

    async def check_health(self) -> None:
        if self.dead:
            raise EngineDiedError("the scripted engine died")
        if self.closed:
            raise BackendError("the scripted engine was closed")

    def prompt_token_ids(self, request: Request) -> list[int]:
        text = "".join(m.content for m in request.messages or ()) + (request.prompt or "")
        return [ord(c) for c in text]

    def context_error(self, request: Request, prompt_tokens: int) -> str | None:
        if prompt_tokens + request.sampling.max_tokens <= self.max_model_len:
            return None
        return f"prompt is {prompt_tokens} tokens; it exceeds the context of {self.max_model_len}"

    def _texts(self, request: Request) -> tuple[str, ...] | str:
        if self.dead:
            raise EngineDiedError("the scripted engine died")
        self.requests.append(request)
        try:
            result = self.script(request)
        except ValueError as exc:
            return str(exc)
        except RuntimeError as exc:
            raise BackendError(f"scripted engine failure: {exc}") from exc
        texts = (result,) * request.sampling.n if isinstance(result, str) else tuple(result)
        return tuple(t[: request.sampling.max_tokens] for t in texts)

    async def generate(self, request: Request) -> Completion:
        final: Completion | None = None
        async for snapshot in self._run(request, step=None):
            final = snapshot
        assert final is not None
        return final

    async def stream(self, request: Request) -> AsyncIterator[Completion]:
        async for snapshot in self._run(request, step=self.chunk_chars):
            yield snapshot

    async def _run(self, request: Request, step: int | None) -> AsyncIterator[Completion]:
        prompt = len(self.prompt_token_ids(request))
        too_long = self.context_error(request, prompt)
        if too_long is not None:
            yield Completion(request.id, prompt_tokens=prompt, error=too_long)
            return
        texts = self._texts(request)
        if isinstance(texts, str):
            yield Completion(request.id, prompt_tokens=prompt, error=texts)
            return
        self.running += 1
        finished = False
        try:
            longest = max((len(t) for t in texts), default=0)
            cuts = (list(range(step, longest + step, step)) if step else [longest]) or [0]
            for cut in cuts:
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                parts = tuple(t[:cut] for t in texts)
                reasons = tuple(
                    ("length" if len(t) >= request.sampling.max_tokens else "stop")
                    if cut >= len(t)
                    else ""
                    for t in texts
                )
                finished = all(reasons)
                thinking: tuple[str | None, ...] = ()
                answers = parts
                if self.thinks:
                    split = [split_reasoning(p) for p in parts]
                    answers = tuple(a for _, a in split)
                    thinking = tuple(t for t, _ in split)
                yield Completion(
                    request.id,
                    texts=answers,
                    prompt_tokens=prompt,
                    completion_tokens=sum(len(p) for p in parts),
                    finish_reasons=reasons,
                    reasoning=thinking,
                )
        finally:
            self.running -= 1
            if not finished:
                self.cancelled.append(request.id)


class ServeProcess:
    """``xprompt serve`` as a subprocess on ``127.0.0.1`` (its own process group), for tests and benchmarks.

    Args:
        args: flags after ``xprompt serve`` (``--model``, policy flags ...).
        port: TCP port (a free one by default).
        log_path: where the server's output goes.
        env: extra environment variables.
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        port: int | None = None,
        log_path: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        from xprompt.testing.vllm_server import free_port

        self.port = port if port is not None else free_port()
        self.args = [
            sys.executable,
            "-m",
            "xprompt",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *args,
        ]
        default = Path(os.environ.get("TMPDIR", "/tmp")) / f"xprompt-serve-{self.port}.log"
        self.log_path = Path(log_path) if log_path is not None else default
        self.env = {
            **os.environ,
            "VLLM_LOGGING_LEVEL": "WARNING",
            "TOKENIZERS_PARALLELISM": "false",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (``http://127.0.0.1:PORT/v1``)."""
        return self.root + "/v1"

    def start(self) -> ServeProcess:
        """Launch (does not wait; see :meth:`wait_ready`)."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout_s: float = 600.0) -> ServeProcess:
        """Block until ``GET /health`` answers 200; raise with the log's tail if it dies first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"xprompt serve on port {self.port} exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.root + "/health", timeout=5) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"xprompt serve not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def terminate(self) -> None:
        """SIGTERM to the server process only (graceful shutdown; it stops its engine itself)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, grace_s: float = 60.0) -> int | None:
        """Graceful stop, then SIGKILL to the whole process group after ``grace_s``; the exit code."""
        if self.process is None:
            return None
        self.terminate()
        try:
            code = self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            code = None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # leftovers of a server that hung
        if code is None:
            self.process.wait(30)
        self.process = None
        return code

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.is_file():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> ServeProcess:
        return self.start().wait_ready()

    def __exit__(self, *exc: object) -> None:
        self.stop()
