"""Run the chat server with uvicorn: logging, graceful shutdown.

On SIGTERM or SIGINT the server stops accepting connections, lets requests in
flight (streams included) finish for up to ``limits.shutdown_timeout_s``
seconds, then shuts the engine down and exits 0.
"""

from __future__ import annotations

import logging
import signal
import sys

from serving.app import create_app
from serving.config import ServeConfig


def configure_logging(verbose: bool = False) -> None:
    """Access log lines (JSON) and server messages to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access = logging.getLogger("xprompt.serving.access")
    access.handlers[:] = [handler]
    access.setLevel(logging.INFO)
    access.propagate = False
    server = logging.getLogger("xprompt.serving")
    if not server.handlers:
        plain = logging.StreamHandler(sys.stderr)
        plain.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        server.addHandler(plain)
    server.setLevel(logging.DEBUG if verbose else logging.INFO)


def _drained(signum: int, frame: object) -> None:
    """Runs when uvicorn re-raises the shutdown signal after draining: nothing left to do."""


def run(config: ServeConfig, *, verbose: bool = False) -> None:
    """Serve until interrupted (blocking)."""
    import uvicorn

    configure_logging(verbose)
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            access_log=False,  # ours logs without bodies and with the reply language
            log_level="info" if verbose else "warning",
            timeout_graceful_shutdown=int(config.limits.shutdown_timeout_s) or None,
            lifespan="on",
        )
    )
    logging.getLogger("xprompt.serving").info(
        "starting on http://%s:%s (engine start takes a while)", config.host, config.port
    )
    # uvicorn drains on SIGTERM/SIGINT, then re-raises the signal with the handlers it found
    # installed; these make that last step a clean exit (0) instead of death by signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _drained)
    server.run()
    if not server.started:
        from xprompt.errors import BackendError

        raise BackendError("the server did not start (see the error above)")
