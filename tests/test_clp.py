"""CLP and CLSP logic with a scripted backend: the paper's prompts, two batched calls, votes, records.

The scripted backend answers each path with a known text, so votes, tie
rules, per-path errors and bookkeeping can be checked exactly. The same
strategies run end to end on the real engine in ``test_reasoning_engine.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import read_jsonl, write_jsonl

from xprompt import runner
from xprompt.config import load_run_config
from xprompt.errors import ConfigError
from xprompt.testing.scripted import ScriptedBackend
from xprompt.types import Request

# The prompts exactly as METHODS.md / the authors' request.py write them.
TURN1 = (
    "Please act as an expert in multi-lingual understanding in {source_language}.\n\n"
    "Request:\n{question}\n\n"
    "Let's understand the task in {target_language} step-by-step!"
)
TURN2 = (
    "After understanding, you should act as an expert in arithmetic reasoning in {target_language}.\n"
    "Let's resolve the task you understand above step-by-step!\n"
    "Finally, you should format your answer as 'Answer: [num]'."
)

ROWS = [
    {"id": "q1", "lang": "swh_Latn", "question": "Amina ana maembe 18. Anampa kaka yake 5. Amebaki na mangapi?", "answer": "13"},
    {"id": "q2", "lang": "ben_Beng", "question": "একটি বাসে ৪২ জন যাত্রী আছে।", "answer": "35"},
    {"id": "q3", "lang": "zho_Hans", "question": "他一共赚了多少元？", "answer": "84"},
]  # fmt: skip


def data(tmp_path: Path, rows: list[dict] = ROWS) -> Path:
    return write_jsonl(tmp_path / "mgsm.jsonl", rows)


def config(tmp_path: Path, strategy: str, options: dict | None = None, **extra):
    if "data" not in extra:
        extra["data"] = {"input": str(data(tmp_path)), "target_field": "answer"}
    overrides = {
        "output": str(tmp_path / "out.jsonl"),
        "template": "clp-solve",
        "strategy": strategy,
        "options": options or {},
        "engine": {"model": "scripted-model"},
    }
    overrides.update(extra)
    return load_run_config(None, overrides)


def path_lang(request: Request) -> str:
    return request.id.rsplit(":", 1)[1].split("#", 1)[0]


# Per (question, reasoning language): the turn-2 reply.
REPLIES = {
    "q1": {"eng_Latn": "18 - 5 = 13. Answer: 13", "deu_Latn": "Antwort: 12", "spa_Latn": "Respuesta: 12",
           "fra_Latn": "Je ne sais pas.", "jpn_Jpan": "答えは１３", "rus_Cyrl": "Ответ: 13", "zho_Hans": "答案是十二"},
    "q2": {"eng_Latn": "Answer: 35", "deu_Latn": "Antwort: 35", "spa_Latn": "Respuesta: 34",
           "fra_Latn": "Réponse : 34", "jpn_Jpan": "答えは34", "rus_Cyrl": "Ответ: 35", "zho_Hans": "答案：36"},
    "q3": {"eng_Latn": "Answer: 84", "deu_Latn": "Antwort: 80", "spa_Latn": "no sé",
           "fra_Latn": "Réponse : 84", "jpn_Jpan": "答えは80", "rus_Cyrl": "nothing", "zho_Hans": "答案：84"},
}  # fmt: skip


def script(request: Request) -> str:
    example_id = request.id.split("/")[0]
    lang = path_lang(request)
    if "/align:" in request.id:
        return f"[understanding of {example_id} in {lang}]"
    return REPLIES[example_id][lang]


def test_clsp_two_batched_calls_paper_prompts_and_language_order_ties(tmp_path: Path) -> None:
    backend = ScriptedBackend(script)
    summary = runner.execute(runner.prepare(config(tmp_path, "clsp")), backend=backend)
    assert [len(b) for b in backend.batches] == [21, 21], (
        "turn 1 of all paths, then turn 2: one call each"
    )
    assert all("/align:" in r.id for r in backend.batches[0])
    first, second = backend.batches[0][0], backend.batches[1][0]
    question = ROWS[0]["question"]
    assert [m.role for m in first.messages] == ["user"]
    assert first.messages[0].content == TURN1.format(
        source_language="Swahili", question=question, target_language="English"
    )
    assert [m.role for m in second.messages] == ["user", "assistant", "user"]
    assert second.messages[1].content == "[understanding of q1 in eng_Latn]"
    assert second.messages[2].content == TURN2.format(target_language="English")
    zh = next(r for r in backend.batches[0] if r.id == "q1/align:zho_Hans")
    assert "Let's understand the task in Chinese step-by-step!" in zh.messages[0].content
    assert (first.sampling.temperature, first.sampling.top_p) == (1.0, 1.0)
    assert (second.sampling.temperature, second.sampling.top_p) == (0.2, 1.0)

    records = {r["id"]: r for r in read_jsonl(tmp_path / "out.jsonl")}
    q1 = records["q1"]
    # 13: en, ja (full-width), ru = 3 votes; 12: de, es, zh (CJK numeral) = 3; fr has no number.
    assert q1["details"]["vote"]["counts"] == {"13": 3, "12": 3}
    assert q1["details"]["vote"]["tie"] is True
    assert (q1["prediction"], q1["correct"], q1["extraction"]) == ("13", True, "vote"), (
        "tie -> English, the earliest"
    )
    assert [s["step"] for s in q1["steps"]][:4] == [
        "align:eng_Latn",
        "solve:eng_Latn",
        "align:deu_Latn",
        "solve:deu_Latn",
    ]
    assert len(q1["steps"]) == 14 and all(s["texts"] for s in q1["steps"])
    fr = next(p for p in q1["details"]["paths"] if p["path"] == "fra_Latn")
    assert (fr["answer"], fr["rule"], fr["voted"]) == (None, "no-number", False)
    zh_path = next(p for p in q1["details"]["paths"] if p["path"] == "zho_Hans")
    assert (zh_path["answer"], zh_path["matched"]) == ("12", "十二")
    assert records["q2"]["prediction"] == "35" and records["q2"]["details"]["vote"]["tie"] is True
    assert records["q3"]["prediction"] == "84" and records["q3"]["details"]["vote"]["counts"] == {
        "84": 3,
        "80": 2,
    }
    # Every turn of every path was checked against its reasoning language.
    checks = [c for s in q1["steps"] for c in s["checks"]]
    assert len(checks) == 14 and {c["expected"] for c in checks} == {
        p["path"] for p in q1["details"]["paths"]
    }
    assert summary.total.correct == 3 and summary.total.paths == 21
    assert set(summary.by_path_lang) == {
        "eng_Latn",
        "deu_Latn",
        "spa_Latn",
        "fra_Latn",
        "jpn_Jpan",
        "rus_Cyrl",
        "zho_Hans",
    }
    assert (
        summary.by_path_lang["fra_Latn"].failures == 1
        and summary.by_path_lang["eng_Latn"].correct == 3
    )


def test_configured_order_is_the_tie_rule(tmp_path: Path) -> None:
    options = {"reasoning_langs": "de,en,ja,ru,es,zh,fr"}
    runner.execute(
        runner.prepare(config(tmp_path, "clsp", options)), backend=ScriptedBackend(script)
    )
    q1 = read_jsonl(tmp_path / "out.jsonl")[0]
    assert q1["details"]["vote"]["order"][0] == "deu_Latn"
    assert (q1["prediction"], q1["correct"]) == ("12", False), "the same tie now goes to German"


def test_clp_is_one_path_in_english_with_its_own_rule(tmp_path: Path) -> None:
    backend = ScriptedBackend(script)
    summary = runner.execute(runner.prepare(config(tmp_path, "clp")), backend=backend)
    assert [len(b) for b in backend.batches] == [3, 3]
    records = read_jsonl(tmp_path / "out.jsonl")
    assert [r["prediction"] for r in records] == ["13", "35", "84"]
    assert [r["extraction"] for r in records] == ["answer-cue"] * 3
    assert [s["step"] for s in records[0]["steps"]] == ["align:eng_Latn", "solve:eng_Latn"]
    assert summary.total.accuracy == 1.0


def test_clp_reasoning_language_task_phrase_and_parser_are_options(tmp_path: Path) -> None:
    backend = ScriptedBackend(lambda r: "Antwort: 1.250" if "/solve" in r.id else "ok")
    options = {"reasoning_lang": "de", "task_phrase": "commonsense reasoning"}
    runner.execute(runner.prepare(config(tmp_path, "clp", options)), backend=backend)
    solve = backend.batches[1][0].messages[-1].content
    assert solve.startswith(
        "After understanding, you should act as an expert in commonsense reasoning in German."
    )
    assert read_jsonl(tmp_path / "out.jsonl")[0]["prediction"] == "1250"
    other = tmp_path / "paper"
    other.mkdir()
    runner.execute(
        runner.prepare(config(other, "clp", {**options, "parser": "mgsm-paper"})), backend=backend
    )
    assert read_jsonl(other / "out.jsonl")[0]["prediction"] == "1.25"


def test_off_target_paths_can_be_left_out_of_the_vote(tmp_path: Path) -> None:
    def checker_script(request: Request) -> str:
        lang = path_lang(request)
        if "/align:" in request.id:
            return "Understanding the question step by step, which is about counting mangoes."
        # The Japanese and Russian paths reason in English: off-target for their language.
        return {
            "jpn_Jpan": "The answer is 12, I am sure about this count.",
            "rus_Cyrl": "The answer is 12, I am sure about this count.",
        }.get(lang, "Answer: 13")

    rows = [ROWS[0]]
    options = {"reasoning_langs": ["en", "ja", "ru"], "exclude_off_target": True}
    cfg = config(
        tmp_path,
        "clsp",
        options,
        data={"input": str(data(tmp_path, rows)), "target_field": "answer"},
    )
    summary = runner.execute(runner.prepare(cfg), backend=ScriptedBackend(checker_script))
    record = read_jsonl(tmp_path / "out.jsonl")[0]
    verdicts = {p["path"]: p["verdict"] for p in record["details"]["paths"]}
    assert verdicts["jpn_Jpan"] == "off" and verdicts["rus_Cyrl"] == "off"
    assert record["details"]["vote"]["excluded_off_target"] == ["jpn_Jpan", "rus_Cyrl"]
    assert (record["prediction"], record["correct"]) == ("13", True)
    assert summary.by_path_lang["jpn_Jpan"].off_target == 1 and summary.total.paths_off_target == 2
    kept = tmp_path / "kept"
    kept.mkdir()
    options["exclude_off_target"] = False
    cfg = config(
        kept, "clsp", options, data={"input": str(data(kept, rows)), "target_field": "answer"}
    )
    runner.execute(runner.prepare(cfg), backend=ScriptedBackend(checker_script))
    assert read_jsonl(kept / "out.jsonl")[0]["prediction"] == "12", (
        "flagged, not dropped, by default"
    )


def test_failed_paths_are_recorded_and_the_rest_still_vote(tmp_path: Path) -> None:
    def failing(request: Request) -> str:
        example_id, lang = request.id.split("/")[0], path_lang(request)
        if example_id == "q1" and lang == "deu_Latn" and "/align:" in request.id:
            raise ValueError("prompt is 9999 tokens; it exceeds the model's context")
        if example_id == "q2":
            raise ValueError("prompt is 9999 tokens; it exceeds the model's context")
        return script(request)

    backend = ScriptedBackend(failing)
    runner.execute(runner.prepare(config(tmp_path, "clsp")), backend=backend)
    assert [len(b) for b in backend.batches] == [21, 13], "failed turn-1 paths get no turn 2"
    records = {r["id"]: r for r in read_jsonl(tmp_path / "out.jsonl")}
    de = next(p for p in records["q1"]["details"]["paths"] if p["path"] == "deu_Latn")
    assert "turn 1 (deu_Latn)" in de["error"] and de["rule"] == "error" and not de["voted"]
    assert records["q1"]["prediction"] == "13" and records["q1"]["details"]["vote"]["counts"] == {
        "13": 3,
        "12": 2,
    }
    q2 = records["q2"]
    assert q2["prediction"] is None and q2["correct"] is False
    assert "all 7 reasoning paths failed" in q2["error"] and q2["error"].startswith("row 2")
    assert len(q2["steps"]) == 7, "the failed turns are kept"


def test_bad_rows_keep_their_place(tmp_path: Path) -> None:
    rows = [ROWS[0], {"id": "bad", "lang": "swh", "answer": "1"}, ROWS[2]]
    cfg = config(
        tmp_path, "clp", data={"input": str(data(tmp_path, rows)), "target_field": "answer"}
    )
    runner.execute(runner.prepare(cfg), backend=ScriptedBackend(script))
    records = read_jsonl(tmp_path / "out.jsonl")
    assert [r["id"] for r in records] == ["q1", "bad", "q3"]
    assert "field 'question' is missing" in records[1]["error"]


@pytest.mark.parametrize(
    ("strategy", "options", "extra", "message"),
    [
        ("clsp", {"reasoning_langs": ["en", "xx-nope"]}, {}, r"reasoning_langs: .*unknown language"),
        ("clsp", {"reasoning_langs": ["en", "eng"]}, {}, "names eng_Latn more than once"),
        ("clsp", {"reasoning_langs": []}, {}, "at least one language"),
        ("clp", {"langs": ["en"]}, {}, r"Extra inputs|extra"),
        ("clp", {"parser": "digits"}, {}, "unknown parser 'digits'"),
        ("clp", {}, {"sampling": {"temperature": 0.7}}, r"sets temperature itself; drop --temperature.*align_temperature"),
        ("clp", {}, {"template": "sib200-topic"}, "not a CLP solver template"),
        ("clp", {"align_template": "nope"}, {}, "align_template: unknown template 'nope'"),
        ("clp", {}, {"prompt_format": "raw"}, "two-turn chat"),
    ],
)  # fmt: skip
def test_bad_options_are_clear_errors(tmp_path: Path, strategy, options, extra, message) -> None:
    with pytest.raises(ConfigError, match=message):
        runner.prepare(config(tmp_path, strategy, options, **extra))


def test_shots_are_refused_clp_is_zero_shot(tmp_path: Path) -> None:
    pool = write_jsonl(
        tmp_path / "pool.jsonl",
        [
            {
                "id": f"p{i}",
                "lang": "swh",
                "task_phrase": "x",
                "target_language": "y",
                "answer": "1",
            }
            for i in range(3)
        ],
    )
    with pytest.raises(ConfigError, match="zero-shot as published; drop --shots 2"):
        runner.prepare(config(tmp_path, "clsp", exemplars={"shots": 2, "pool": str(pool)}))


def test_max_tokens_and_seed_flags_apply_to_both_turns(tmp_path: Path) -> None:
    prepared = runner.prepare(config(tmp_path, "clsp", sampling={"max_tokens": 40, "seed": 3}))
    strategy = prepared.strategy
    assert (strategy.align_sampling.max_tokens, strategy.solve_sampling.max_tokens) == (40, 40)
    assert (strategy.align_sampling.seed, strategy.solve_sampling.seed) == (3, 3)
    assert (
        "langs=eng_Latn+deu_Latn+spa_Latn+fra_Latn+jpn_Jpan+rus_Cyrl+zho_Hans" in prepared.signature
    )
    (tmp_path / "d").mkdir()
    default = runner.prepare(config(tmp_path / "d", "clp")).strategy
    assert default.align_sampling.max_tokens == 2048 and default.solve_sampling.temperature == 0.2


def test_retry_policy_asks_off_target_turns_again_in_batched_calls(tmp_path: Path) -> None:
    native = {
        "jpn_Jpan": "答えは13です。マンゴーを一つずつ丁寧に数えました。",
        "rus_Cyrl": "Ответ: 13, я внимательно посчитал все манго в корзинах.",
    }

    def script(request: Request) -> str:
        lang = path_lang(request)
        if "write your entire answer in" in request.messages[-1].content:
            return native[lang]
        if "/align:" in request.id:
            return "Understanding the question step by step, which is about counting mangoes."
        return "The answer is 12, I am sure about this count of the mangoes."

    options = {"reasoning_langs": ["ja", "ru"]}
    cfg = config(
        tmp_path, "clsp", options, guard={"policy": "retry", "retries": 1},
        data={"input": str(data(tmp_path, [ROWS[0]])), "target_field": "answer"},
    )  # fmt: skip
    backend = ScriptedBackend(script)
    runner.execute(runner.prepare(cfg), backend=backend)
    assert [len(b) for b in backend.batches] == [2, 2, 2, 2], (
        "turn 1, its retries, turn 2, its retries"
    )
    record = read_jsonl(tmp_path / "out.jsonl")[0]
    assert [p["verdict"] for p in record["details"]["paths"]] == ["on", "on"]
    assert (record["prediction"], record["correct"]) == ("13", True)
    solve = next(s for s in record["steps"] if s["step"] == "solve:jpn_Jpan")
    assert solve["guard"]["policy"] == "retry" and solve["guard"]["attempts"][0]["replaced"] == [0]
    # Turn 2 was built on the retried (on-target) turn-1 reply.
    turn2 = next(r for r in backend.batches[2] if r.id == "q1/solve:jpn_Jpan")
    assert turn2.messages[1].content == native["jpn_Jpan"]


def test_runs_score_with_the_strategy_parser_equality(tmp_path: Path) -> None:
    """The MGSM paper truncates (int(x*100)); the robust parser rounds: a run scores with its own parser."""
    rows = [{"id": "q1", "lang": "swh_Latn", "question": "?", "answer": "13"}]

    def near(request: Request) -> str:
        return "[understanding]" if "/align:" in request.id else "Answer: 12.999"

    for parser, expected in (("number", True), ("mgsm-paper", False)):
        folder = tmp_path / parser
        folder.mkdir()
        cfg = config(
            folder,
            "clp",
            {"parser": parser},
            data={"input": str(data(folder, rows)), "target_field": "answer"},
        )
        runner.execute(runner.prepare(cfg), backend=ScriptedBackend(near))
        (record,) = read_jsonl(folder / "out.jsonl")
        assert (record["prediction"], record["correct"]) == ("12.999", expected), parser
