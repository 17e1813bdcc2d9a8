"""Run the chat server with uvicorn: logging, graceful shutdown.

On SIGTERM or SIGINT the server stops accepting connections, lets requests in
flight (streams included) finish for up to ``limits.shutdown_timeout_s``
seconds, then shuts the engine down and exits 0. When the engine dies (its
process killed or crashed) the server answers 503 meanwhile, stops the same
way and exits with code 4 (``EngineDiedError``), for a supervisor to restart.
"""

from __future__ import annotations

import logging
import signal
import sys

from serving.app import create_app
from serving.config import ServeConfig
from serving.engine import build_engine
from serving.pivot import build_translator


def configure_logging(verbose: bool = False) -> None:
    """Access log lines (JSON) and server messages to stderr (idempotent)."""
    access = logging.getLogger("xprompt.access")
    server = logging.getLogger("xprompt.serving")
    for logger, fmt in (
        (access, "%(message)s"),
        (server, "%(asctime)s %(levelname)s %(name)s: %(message)s"),
    ):
        logger.handlers[:] = [h for h in logger.handlers if not getattr(h, "_xprompt", False)]
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(fmt))
        handler._xprompt = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    access.setLevel(logging.INFO)
    server.setLevel(logging.DEBUG if verbose else logging.INFO)


def _drained(signum: int, frame: object) -> None:
    """Runs when uvicorn re-raises the shutdown signal after draining: nothing left to do."""


def run(config: ServeConfig, *, verbose: bool = False) -> None:
    """Serve until interrupted (blocking)."""
    import uvicorn

    configure_logging(verbose)
    log = logging.getLogger("xprompt.serving")
    log.info("loading the model (this takes a while) ...")
    # vLLM's AsyncLLM may be built before the event loop exists (it binds to the loop on its
    # first request); building it here turns a bad model or option into one clear error.
    engine = build_engine(config)
    try:
        translator = (
            build_translator(config.policy.translator, engine) if config.policy.translator else None
        )
    except BaseException:
        engine.close()
        raise
    failures: list[str] = []

    def engine_died(reason: str) -> None:
        # Exit (code 4) rather than restart in place: a supervisor (systemd, Kubernetes, docker
        # --restart) starts a fresh process with a fresh accelerator context.
        log.error(
            "the engine died (%s): stopping so that a supervisor can restart the server", reason
        )
        failures.append(reason)
        server.should_exit = True

    app = create_app(
        config, engine=engine, translator=translator, owned=True, on_engine_death=engine_died
    )
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
    log.info("starting on http://%s:%s", config.host, config.port)
    # uvicorn drains on SIGTERM/SIGINT, then re-raises the signal with the handlers it found
    # installed; these make that last step a clean exit (0) instead of death by signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _drained)
    try:
        server.run()
    finally:
        engine.close()  # idempotent: normally the app's shutdown has closed it already
    if failures:
        from xprompt.errors import EngineDiedError

        raise EngineDiedError(
            f"{failures[0]}; the server stopped so that its supervisor can restart it"
        )
    if not server.started:
        from xprompt.errors import BackendError

        raise BackendError("the server did not start (see the error above)")
