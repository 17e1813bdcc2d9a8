"""What one running server holds: configuration, engine, policy, language ID, metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from serving.config import ServeConfig
from serving.engine import ChatEngine
from serving.language import ConversationLanguages, LanguageChooser
from serving.ops.metrics import ServerMetrics
from serving.pivot import PivotTranslator
from serving.policy import LanguagePolicy
from xprompt import __version__
from xprompt.langid import Checker, make_checker


@dataclass
class ServerState:
    """Everything a request handler needs, built once at startup."""

    config: ServeConfig
    engine: ChatEngine
    policy: LanguagePolicy
    checker: Checker
    chooser: LanguageChooser
    translator: PivotTranslator | None
    metrics: ServerMetrics
    model_name: str
    #: Why the engine cannot serve any more (it died); None while it is healthy.
    engine_failure: str | None = None
    #: Called once when the engine dies (``xprompt serve`` stops the server, for its supervisor).
    on_engine_death: Callable[[str], None] | None = None

    def engine_died(self, reason: str) -> None:
        """Record that the engine is gone: /health turns 503, requests fail fast with 503."""
        if self.engine_failure is not None:
            return
        self.engine_failure = reason
        if self.on_engine_death is not None:
            self.on_engine_death(reason)

    @classmethod
    def build(
        cls,
        config: ServeConfig,
        engine: ChatEngine,
        translator: PivotTranslator | None,
        metrics: ServerMetrics,
    ) -> ServerState:
        checker = make_checker(config.langid)
        policy_config = config.policy
        chooser = LanguageChooser(
            identify=checker.identify,
            store=ConversationLanguages(
                policy_config.conversations, policy_config.conversation_ttl_s
            ),
            default_lang=policy_config.default_lang,
            served=tuple(policy_config.languages),
            min_confidence=policy_config.detect_confidence,
            min_letters=policy_config.detect_min_letters,
        )
        return cls(
            config=config,
            engine=engine,
            policy=LanguagePolicy(policy_config, has_translator=translator is not None),
            checker=checker,
            chooser=chooser,
            translator=translator,
            metrics=metrics,
            model_name=served_name(config, engine),
        )

    def chat_format(self) -> str:
        """How conversations are adapted to the model's chat template (``native``: not at all)."""
        return _chat_label(self.engine)

    def signature(self, sampling: str) -> str:
        """Everything that can change a reply, as one string (like a run signature)."""
        translator = self.translator.signature() if self.translator is not None else "none"
        return (
            f"xprompt-serve:{__version__}|model={self.engine.model_id}|chat={self.chat_format()}|"
            f"sampling={sampling}|"
            f"{self.policy.signature()}|translator={translator}|{self.checker.signature()}"
        )


def _chat_label(engine: ChatEngine) -> str:
    found = engine.describe().get("chat_format")
    return str(found) if found else "native"


def served_name(config: ServeConfig, engine: ChatEngine) -> str:
    """The model name clients use: configured, else the model as given (``tiny`` stays ``tiny``)."""
    if config.served_model_name:
        return config.served_model_name
    given = config.engine.model or engine.model_id
    return Path(given).name if Path(given).is_absolute() else given
