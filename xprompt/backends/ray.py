"""Ray backend: one step's requests spread over several in-process vLLM engines in Ray actors.

``--backend ray`` starts (or joins) a Ray cluster and N actors, each holding
xprompt's own :class:`~xprompt.backends.vllm.VLLMBackend` on one GPU or one
tensor/pipeline-parallel group (``num_gpus = tp * pp`` per actor; on a cluster
without GPUs each actor takes one CPU). :meth:`RayBackend.generate` cuts the
step's requests into one contiguous shard per live actor (neighbouring rows
share exemplar prefixes, which each engine's prefix cache then reuses), sends
the shards out at once and puts the completions back in request order.

Everything above the backend is unchanged: the runner, strategies, chat-format
adaptation, constraints, the language guard, records and resume. A request
the engine cannot serve is a per-row error as with the in-process engine. A
shard whose actor is lost (its process or node died) is sent again to another
live actor (Ray itself first restarts a lost actor once, ``max_restarts=1``),
so no row is lost; only when every actor is gone does the step fail, with
:class:`~xprompt.errors.EngineDiedError`, and the run resumes on the next try.

Ray is an optional dependency (``pip install 'xprompt[ray]'``) and is only
imported when this backend starts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xprompt.backends.lifetime import bind_engine_children
from xprompt.errors import BackendError, EngineDiedError
from xprompt.types import Completion, Request

if TYPE_CHECKING:
    from xprompt.config import EngineConfig

log = logging.getLogger("xprompt")

#: Environment variables the driver hands to every actor (engine settings, caches, imports).
FORWARDED_ENV_PREFIXES = ("VLLM_", "XPROMPT_", "HF_", "TOKENIZERS_", "OMP_", "PYTHONPATH")


def _forwarded_env() -> dict[str, str]:
    """The driver's engine-related environment, for the actors' ``runtime_env``."""
    return {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES)}


def shard_bounds(total: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous ``(start, stop)`` ranges covering ``range(total)``, sizes within one.

    Empty ranges are left out, so fewer requests than actors use fewer actors.
    """
    parts = max(1, min(parts, total))
    size, extra = divmod(total, parts)
    bounds, start = [], 0
    for i in range(parts):
        stop = start + size + (1 if i < extra else 0)
        if stop > start:
            bounds.append((start, stop))
        start = stop
    return bounds


class _EngineActor:
    """The body of one Ray actor: an in-process vLLM engine (decorated with ``ray.remote`` at start)."""

    def __init__(self, model: str, options: dict[str, Any]) -> None:
        from xprompt.backends.vllm import VLLMBackend

        self.backend = VLLMBackend(model, **options)

    def describe(self) -> dict[str, Any]:
        """The engine's own description (vLLM version, device, dtype, chat format)."""
        return self.backend.describe()

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        """Serve one shard, in order."""
        return self.backend.generate(requests)

    def pid(self) -> int:
        """The actor's process id (tests kill it to check that its shard is served elsewhere)."""
        return os.getpid()

    def close(self) -> None:
        """Shut the engine down."""
        self.backend.close()


class RayBackend:
    """Serve each step's requests on ``engine.ray_actors`` vLLM engines in Ray actors.

    Args:
        model: hub name or local model directory (every node must reach it).
        engine: the run's engine settings: ``ray_address`` (None: a new local
            cluster, ``auto``: the cluster this machine belongs to, or
            ``HOST:PORT`` / ``ray://HOST:PORT``), ``ray_actors`` (None: GPUs of
            the cluster / (tp * pp), or 1 without GPUs) and the vLLM options
            each actor's engine gets.
    """

    #: What each actor holds (tests swap in :class:`xprompt.testing.scripted.DyingActorBody`).
    actor_body: type = _EngineActor

    def actor_args(self, model: str, engine: EngineConfig) -> tuple[Any, ...]:
        """The arguments each actor's body is built with: the model and the vLLM options.

        A tp/pp group runs its ranks as child processes of the actor
        (``distributed_executor_backend="mp"``) on the GPUs Ray gave the actor,
        rather than asking Ray for more GPUs from inside it.
        """
        options = engine.vllm_options()
        if engine.tensor_parallel_size * engine.pipeline_parallel_size > 1:
            extra = dict(options.get("engine_options") or {})
            extra.setdefault("distributed_executor_backend", "mp")
            options["engine_options"] = extra
        return (model, options)

    def __init__(self, model: str, *, engine: EngineConfig) -> None:
        try:
            import ray
        except ImportError:
            raise BackendError("the ray backend needs Ray: pip install 'xprompt[ray]'") from None
        self._ray = ray
        self._model = model
        self._started_ray = False
        if not ray.is_initialized():
            if engine.ray_address is None:
                # A local cluster's processes are this process's children: they die with it.
                bind_engine_children()
            ray.init(
                address=engine.ray_address,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
                runtime_env={"env_vars": _forwarded_env()},
            )
            self._started_ray = True
        group = engine.tensor_parallel_size * engine.pipeline_parallel_size
        gpus = int(ray.cluster_resources().get("GPU", 0))
        self.gpus_per_actor = group if gpus else 0
        actors = engine.ray_actors or (max(1, gpus // group) if gpus else 1)
        remote = ray.remote(
            num_gpus=self.gpus_per_actor,
            num_cpus=0 if gpus else 1,
            max_restarts=1,
            max_task_retries=0,
        )(self.actor_body)
        args = self.actor_args(model, engine)
        self._actors: list[Any] = [remote.remote(*args) for _ in range(actors)]
        self._losses: dict[int, int] = {}
        try:
            # Wait for every engine to load; a failure to load is the run's failure.
            self._describe = ray.get(self._actors[0].describe.remote())
            ray.get([a.pid.remote() for a in self._actors])
        except Exception as exc:
            self.close()
            raise BackendError(
                f"the Ray actors could not start vLLM on '{model}': {type(exc).__name__}: {exc}"
            ) from exc

    @property
    def model_id(self) -> str:
        return self._model

    @property
    def actors(self) -> list[Any]:
        """The live actor handles (one engine each)."""
        return list(self._actors)

    def describe(self) -> dict[str, Any]:
        return {
            **self._describe,
            "engine": "vllm",
            "backend": "ray",
            "ray_version": self._ray.__version__,
            "ray_actors": len(self._actors),
            "gpus_per_actor": self.gpus_per_actor,
        }

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        """Send one contiguous shard per live actor; a lost actor's shard goes to another."""
        if not requests:
            return []
        from ray.exceptions import RayActorError

        ray = self._ray
        results: list[Completion | None] = [None] * len(requests)
        pending = shard_bounds(len(requests), len(self._actors))
        while pending:
            if not self._actors:
                raise EngineDiedError(
                    "every Ray actor of the ray backend died; the rows of this chunk were not written"
                )
            flights = {}
            for n, (start, stop) in enumerate(pending):
                actor = self._actors[n % len(self._actors)]
                flights[actor.generate.remote(list(requests[start:stop]))] = (actor, start, stop)
            pending = []
            for ref, (actor, start, stop) in flights.items():
                try:
                    results[start:stop] = ray.get(ref)
                except RayActorError as exc:
                    pending.append((start, stop))
                    self._lost(actor, exc)
        return [r for r in results if r is not None]

    def _lost(self, actor: Any, exc: BaseException) -> None:
        """Count an actor's loss: Ray restarts it once; lost again, it leaves the pool.

        While other actors live, the lost one leaves at once (its shard goes to
        them rather than wait for a restarted engine to load).
        """
        self._losses[id(actor)] = self._losses.get(id(actor), 0) + 1
        log.warning("a Ray actor was lost (%s); its shard is sent again", exc)
        live = [a for a in self._actors if a is not actor]
        if len(live) < len(self._actors) and (live or self._losses[id(actor)] > 1):
            self._actors = live
            self._ray.kill(actor, no_restart=True)

    def close(self) -> None:
        """Shut every engine down, end the actors, and stop the cluster when this backend started it."""
        ray = self._ray
        actors, self._actors = getattr(self, "_actors", []), []
        if actors:
            try:
                ray.get([a.close.remote() for a in actors], timeout=60)
            except Exception as exc:  # a dead actor has nothing left to close
                log.debug("closing a Ray actor failed: %s", exc)
            for actor in actors:
                ray.kill(actor, no_restart=True)
        if self._started_ray:
            self._started_ray = False
            ray.shutdown()
