"""The off-target guard's policies: logic with a scripted backend, then end to end on the real engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import read_jsonl, write_jsonl

from xprompt import runner
from xprompt.config import load_run_config
from xprompt.errors import ConfigError
from xprompt.guard import Guard, GuardConfig, build_guard
from xprompt.langid import make_checker
from xprompt.testing.scripted import ScriptedBackend
from xprompt.types import Message, Request, Sampling

HAUSA = "Gobe da safe za mu je gona domin mu girbe gyaɗa kafin ruwan sama ya sauka."
HAUSA_2 = "Malamin ya koya wa ɗalibai yadda ake rubuta wasiƙa mai kyau cikin Hausa."
ENGLISH = "Tomorrow morning we will go to the farm to harvest groundnuts before the rain."
FIRM = "write your entire answer in Hausa"


@pytest.fixture(scope="module")
def checker():
    return make_checker()


def chat(
    i: int, text: str = "Tell me about the farm.", n: int = 1, seed: int | None = 0
) -> Request:
    sampling = Sampling(temperature=0.8 if n > 1 else 0.0, n=n, seed=seed, max_tokens=24)
    return Request(f"q{i}/answer", messages=(Message("user", text),), sampling=sampling)


def english_until_firm(request: Request) -> str:
    """English first; Hausa once the firmer instruction is in the prompt."""
    assert request.messages is not None
    return HAUSA if FIRM in request.messages[-1].content else ENGLISH


# -- logic (scripted backend) -------------------------------------------------------------


def test_flag_records_checks_and_keeps_texts(checker) -> None:
    backend = ScriptedBackend(english_until_firm)
    guard = Guard(checker)
    steps = guard.run(backend, [chat(0), chat(1)], langs=["hau_Latn", None], steps=["answer"] * 2)
    assert [s.texts for s in steps] == [(ENGLISH,), (ENGLISH,)]
    assert steps[0].checks[0].verdict == "off" and steps[0].lang == "hau_Latn"
    assert steps[1].checks == () and steps[1].lang is None  # not checked: no language asked
    assert steps[0].guard is None and len(backend.batches) == 1


def test_retry_asks_again_firmer_in_one_batch_per_round(checker) -> None:
    backend = ScriptedBackend(english_until_firm)
    guard = Guard(checker, policy="retry", retries=2)
    requests = [chat(0), chat(1), chat(2, "Ba ni labari")]
    steps = guard.run(backend, requests, langs=["hau_Latn", "hau_Latn", None], steps=["answer"] * 3)
    assert [len(b) for b in backend.batches] == [3, 2]  # one retry round, both off ones in one call
    retried = backend.batches[1][0]
    assert retried.id == "q0/answer#retry1"
    assert retried.messages[-1].content.endswith(
        "You must write your entire answer in Hausa only, not in English or any other language."
    )
    assert retried.sampling.seed == 1  # shifted, so sampling differs too
    assert steps[0].texts == (HAUSA,) and steps[0].checks[0].verdict == "on"
    evidence = steps[0].guard
    assert evidence["policy"] == "retry"
    assert evidence["attempts"] == [
        {"attempt": 1, "prompt_digest": retried.digest(), "verdicts": ["on"], "replaced": [0]}
    ]
    assert steps[0].prompt_digest == requests[0].digest()  # the record names the original prompt
    first_cost = len(requests[0].messages[0].content)
    assert steps[0].prompt_tokens > first_cost  # retries are paid for and counted
    assert steps[2].guard is None and steps[2].texts == (ENGLISH,)


def test_retry_stops_after_k_rounds_and_keeps_the_original_if_nothing_is_better(checker) -> None:
    backend = ScriptedBackend(lambda r: ENGLISH)
    steps = Guard(checker, policy="retry", retries=3).run(
        backend, [chat(0)], langs=["hau_Latn"], steps=["answer"]
    )
    assert len(backend.batches) == 4
    attempts = steps[0].guard["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert all(a["replaced"] == [] for a in attempts)
    assert steps[0].checks[0].verdict == "off" and steps[0].texts == (ENGLISH,)


def test_retry_errors_are_recorded_and_do_not_lose_the_row(checker) -> None:
    def script(request: Request) -> str:
        if "#retry" in request.id:
            raise ValueError("prompt too long for the context")
        return ENGLISH

    steps = Guard(checker, policy="retry").run(
        ScriptedBackend(script), [chat(0)], langs=["hau_Latn"], steps=["answer"]
    )
    assert steps[0].error is None and steps[0].texts == (ENGLISH,)
    assert steps[0].guard["attempts"][0]["error"] == "prompt too long for the context"


def test_raw_prompts_get_the_instruction_first(checker) -> None:
    seen: list[Request] = []

    def script(request: Request) -> str:
        seen.append(request)
        return HAUSA if request.prompt and request.prompt.startswith("You must write") else ENGLISH

    raw = Request("r/answer", prompt="Hausa: Sannu\nEnglish: Hello\nHausa:")
    steps = Guard(checker, policy="retry").run(
        ScriptedBackend(script), [raw], langs=["hau_Latn"], steps=["answer"]
    )
    assert seen[1].prompt.endswith("\n\nHausa: Sannu\nEnglish: Hello\nHausa:")
    assert steps[0].texts == (HAUSA,)


def test_rerank_orders_samples_by_language_evidence(checker) -> None:
    backend = ScriptedBackend(lambda r: [ENGLISH, HAUSA, "Ok", HAUSA_2])
    steps = Guard(checker, policy="rerank").run(
        backend, [chat(0, n=4)], langs=["hau_Latn"], steps=["answer"]
    )
    step = steps[0]
    assert [c.verdict for c in step.checks] == ["on", "on", "uncertain", "off"]
    assert step.texts[3] == ENGLISH and step.texts[2] == "Ok"
    assert sorted(step.guard["order"]) == [0, 1, 2, 3] and step.guard["order"][3] == 0
    confidences = [c.confidence for c in step.checks[:2]]
    assert confidences == sorted(confidences, reverse=True)
    assert len(backend.batches) == 1  # re-ranking costs no generation


PREAMBLE = "Here is my answer in Hausa:\n"


def test_mixed_is_retried_like_off_by_default_and_accepted_when_configured(checker) -> None:
    def preamble_until_firm(request: Request) -> str:
        assert request.messages is not None
        return HAUSA if FIRM in request.messages[-1].content else PREAMBLE + HAUSA

    backend = ScriptedBackend(preamble_until_firm)
    steps = Guard(checker, policy="retry").run(
        backend, [chat(0)], langs=["hau_Latn"], steps=["answer"]
    )
    assert len(backend.batches) == 2  # the mixed answer was asked again
    assert steps[0].texts == (HAUSA,) and steps[0].checks[0].verdict == "on"
    assert steps[0].guard["attempts"][0]["replaced"] == [0]
    backend = ScriptedBackend(preamble_until_firm)
    guard = Guard(checker, policy="retry", mixed="accept")
    steps = guard.run(backend, [chat(0)], langs=["hau_Latn"], steps=["answer"])
    assert len(backend.batches) == 1 and steps[0].checks[0].verdict == "mixed"
    assert "mixed=accept" in guard.signature()
    # Rerank: mixed goes after on-target samples, before nothing worse than itself.
    backend = ScriptedBackend(lambda r: [PREAMBLE + HAUSA, ENGLISH, HAUSA_2])
    ranked = Guard(checker, policy="rerank").run(
        backend, [chat(0, n=3)], langs=["hau_Latn"], steps=["answer"]
    )[0]
    assert [c.verdict for c in ranked.checks] == ["on", "mixed", "off"]
    assert ranked.guard["order"] == [2, 0, 1]


def test_trim_drops_a_leading_off_target_line_and_records_it(checker) -> None:
    backend = ScriptedBackend(lambda r: PREAMBLE + HAUSA)
    guard = Guard(checker, trim=True)
    step = guard.run(backend, [chat(0)], langs=["hau_Latn"], steps=["answer"])[0]
    assert step.texts == (HAUSA,) and step.checks[0].verdict == "on"
    assert step.guard == {
        "policy": "trim",
        "trimmed": [{"sample": 0, "dropped": PREAMBLE.strip(), "verdict": "on"}],
    }
    assert guard.signature() == "guard:flag(trim)"
    # Off by default: the text is kept as generated.
    kept = Guard(checker).run(backend, [chat(0)], langs=["hau_Latn"], steps=["answer"])[0]
    assert kept.texts == (PREAMBLE + HAUSA,) and kept.checks[0].verdict == "mixed"
    assert kept.guard is None
    built, _ = build_guard(GuardConfig(mixed="accept", trim=True), enabled=True, samples=1)
    assert (built.mixed, built.trim) == ("accept", True)


def test_guard_config_and_build() -> None:
    with pytest.raises(ValueError, match="include \\{lang_name\\}"):
        GuardConfig(instruction="Answer properly.")
    with pytest.raises(ValueError, match="placeholder"):
        GuardConfig(instruction="Use {lang_name} not {lang}")
    with pytest.raises(ConfigError, match="--n 2 or more"):
        build_guard(GuardConfig(policy="rerank"), enabled=True, samples=1)
    with pytest.raises(ConfigError, match="drop --no-langid"):
        build_guard(GuardConfig(policy="retry"), enabled=False, samples=1)
    guard, signature = build_guard(GuardConfig(), enabled=False, samples=1)
    assert guard.checker is None and signature == "off" and guard.signature() == "guard:off"
    guard, signature = build_guard(GuardConfig(policy="retry", retries=2), enabled=True, samples=1)
    assert signature.startswith("langid(py3langid@")
    assert guard.signature().startswith("guard:retry(k=2,")


def topic_rows(tmp_path: Path) -> Path:
    rows = [
        {"id": "h1", "lang": "hau", "prompt": "Ka ba ni labari game da gonar gyaɗa."},
        {"id": "a1", "lang": "amh", "prompt": "ስለ ገበሬዎች አጭር ታሪክ ንገረኝ።"},
        {"id": "s1", "lang": "swh", "prompt": "Nieleze kuhusu soko la mjini."},
        {"id": "bad", "lang": "hau"},  # no prompt: a row error, kept
    ]
    return write_jsonl(tmp_path / "prompts.jsonl", rows)


def run_config(tmp_path: Path, data: Path, **extra):
    overrides = {
        "data": {"input": str(data)},
        "output": str(tmp_path / "out.jsonl"),
        "template": "chat",
        "engine": {"model": "scripted-model"},
        "sampling": {"max_tokens": 24},
    }
    overrides.update(extra)
    return load_run_config(None, overrides)


def test_runner_retry_with_scripted_backend(tmp_path: Path) -> None:
    config = run_config(tmp_path, topic_rows(tmp_path), guard={"policy": "retry"})
    prepared = runner.prepare(config)
    assert "guard:retry(k=1," in prepared.signature and "langid:langid(" in prepared.signature
    summary = runner.execute(prepared, backend=ScriptedBackend(english_until_firm))
    records = {r["id"]: r for r in read_jsonl(tmp_path / "out.jsonl")}
    assert len(records) == 4 and "field 'prompt' is missing" in records["bad"]["error"]
    hausa = records["h1"]["steps"][0]
    assert hausa["guard"]["attempts"][0]["replaced"] == [0]
    assert hausa["checks"][0]["verdict"] == "on" and hausa["texts"] == [HAUSA]
    assert records["a1"]["steps"][0]["checks"][0]["verdict"] == "off"  # Hausa is not Amharic
    assert summary.by_lang["hau_Latn"].off_target == 0
    assert summary.by_lang["amh_Ethi"].off_target == 1


class Unguarded:
    """A strategy that records checks with ``step_output`` but does not use the guard."""

    name = "unguarded"
    fields = ("prompt",)

    def signature(self) -> str:
        return "unguarded()"

    def run(self, examples, backend):  # pragma: no cover - never reached
        raise AssertionError("prepare must refuse first")


def build_unguarded(config, parts) -> Unguarded:
    return Unguarded()


def test_policies_other_than_flag_need_a_strategy_that_uses_the_guard(
    tmp_path: Path, monkeypatch
) -> None:
    from xprompt import strategies

    monkeypatch.setitem(strategies.STRATEGIES, "unguarded", f"{__name__}:build_unguarded")
    data = topic_rows(tmp_path)
    with pytest.raises(ConfigError, match="not available for strategy 'unguarded'"):
        runner.prepare(run_config(tmp_path, data, strategy="unguarded", guard={"policy": "retry"}))
    assert (
        runner.prepare(run_config(tmp_path, data, strategy="unguarded")).strategy.name
        == "unguarded"
    )


# -- end to end on the real engine ----------------------------------------------------------


class Recording:
    """The real backend, with every batch recorded."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.batches: list[list[Request]] = []

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def describe(self):
        return self.inner.describe()

    def close(self) -> None:
        pass

    def generate(self, requests):
        self.batches.append(list(requests))
        return self.inner.generate(requests)


ENGINE_PROMPTS = [
    ("amh_Ethi", "ስለ ገበሬዎች አጭር ታሪክ ንገረኝ።"),
    ("hau_Latn", "Ka ba ni labari game da gonar gyaɗa."),
    ("npi_Deva", "किसानहरूको बारेमा छोटो कथा भन्नुहोस्।"),
    ("swh_Latn", "Nieleze kuhusu soko la mjini."),
    ("yor_Latn", "Sọ ìtàn kékeré kan fún mi nípa àgbẹ̀."),
    ("zul_Latn", "Ngitshele indaba emfushane ngabalimi."),
]


@pytest.mark.engine
def test_retry_on_the_real_engine(vllm_backend, checker) -> None:
    """Random weights answer in no language at all: the guard must still do exact bookkeeping."""
    requests = [chat(i, text) for i, (_, text) in enumerate(ENGINE_PROMPTS)]
    langs = [lang for lang, _ in ENGINE_PROMPTS]
    backend = Recording(vllm_backend)
    guard = Guard(checker, policy="retry", retries=2)
    steps = guard.run(backend, requests, langs=langs, steps=["answer"] * len(requests))
    assert len(steps) == len(requests)
    first = backend.inner.generate(requests)  # what the first round produced (greedy: same)
    off_first = [
        i for i, c in enumerate(first) if checker.check(c.texts[0], langs[i]).verdict == "off"
    ]
    assert len(backend.batches[0]) == len(requests)
    assert off_first, "random weights write no Amharic or Nepali: some first answers are off"
    if off_first:
        assert [r.id for r in backend.batches[1]] == [f"q{i}/answer#retry1" for i in off_first]
        for request in backend.batches[1]:
            assert "You must write your entire answer in" in request.messages[-1].content
    for i, step in enumerate(steps):
        assert len(step.texts) == len(step.checks) == 1
        assert step.checks[0].expected == langs[i]
        assert step.checks[0] == checker.check(step.texts[0], langs[i])  # checks match the texts
        if i in off_first:
            attempts = step.guard["attempts"]
            assert 1 <= len(attempts) <= 2
            if attempts[0]["replaced"]:
                assert step.checks[0].verdict != "off"
            assert step.completion_tokens > first[i].completion_tokens
        else:
            assert step.guard is None and step.texts == first[i].texts
    again = guard.run(vllm_backend, requests, langs=langs, steps=["answer"] * len(requests))
    assert [s.to_dict() for s in again] == [s.to_dict() for s in steps]  # deterministic


@pytest.mark.engine
def test_rerank_on_the_real_engine_only_reorders(vllm_backend, checker) -> None:
    requests = [chat(i, text, n=4) for i, (_, text) in enumerate(ENGINE_PROMPTS[:3])]
    langs = [lang for lang, _ in ENGINE_PROMPTS[:3]]
    flagged = Guard(checker).run(vllm_backend, requests, langs=langs, steps=["answer"] * 3)
    ranked = Guard(checker, policy="rerank").run(
        vllm_backend, requests, langs=langs, steps=["answer"] * 3
    )
    rank = {"on": 0, "uncertain": 1, "off": 2}
    for plain, step in zip(flagged, ranked, strict=True):
        order = step.guard["order"]
        assert [plain.texts[j] for j in order] == list(step.texts)
        assert [rank[c.verdict] for c in step.checks] == sorted(
            rank[c.verdict] for c in step.checks
        )


@pytest.mark.engine
def test_xprompt_run_with_retry_on_the_real_engine(vllm_backend, tmp_path: Path) -> None:
    config = run_config(
        tmp_path,
        topic_rows(tmp_path),
        guard={"policy": "retry", "retries": 1},
        engine={"model": "tiny"},
    )
    prepared = runner.prepare(config)
    summary = runner.execute(prepared, backend=vllm_backend)
    records = read_jsonl(tmp_path / "out.jsonl")
    assert [r["id"] for r in records] == ["h1", "a1", "s1", "bad"]
    checked = 0
    for record in records[:3]:
        (step,) = record["steps"]
        assert step["lang"] == record["lang"] and len(step["checks"]) == 1
        checked += 1
        if "guard" in step:
            assert step["guard"]["policy"] == "retry" and len(step["guard"]["attempts"]) == 1
    assert summary.total.checked == checked
    off = sum(r["steps"][0]["checks"][0]["verdict"] == "off" for r in records[:3])
    assert summary.total.off_target == off
