"""The reply-language policy and the choice of reply language (pure logic, real language ID)."""

from __future__ import annotations

import pytest
from serve_helpers import AMHARIC, ENGLISH, HAUSA

from serving.config import PolicyConfig
from serving.language import ConversationLanguages, LanguageChooser
from serving.policy import LanguagePolicy
from xprompt import langid
from xprompt.types import LangCheck, Message


def chooser(**kwargs) -> LanguageChooser:
    return LanguageChooser(
        identify=langid.identify, store=ConversationLanguages(100, 3600), **kwargs
    )


def user(text: str) -> Message:
    return Message("user", text)


def test_detects_the_language_of_the_latest_user_turn():
    reply = chooser().choose([user(ENGLISH), Message("assistant", "ok"), user(HAUSA)])
    assert (reply.code, reply.source) == ("hau_Latn", "detected")
    assert reply.confidence > 0.8


def test_client_choice_wins_and_sticks_to_the_conversation():
    c = chooser()
    assert (
        c.choose([user(ENGLISH)], client_lang="yor_Latn", conversation_id="c1").source == "client"
    )
    later = c.choose([user(ENGLISH)], conversation_id="c1")
    assert (later.code, later.source) == ("yor_Latn", "conversation")
    assert later.detected == "eng_Latn"  # what the user wrote is still reported


def test_a_short_turn_keeps_the_conversation_language():
    c = chooser()
    assert c.choose([user(HAUSA)], conversation_id="c2").code == "hau_Latn"
    reply = c.choose([user("ok 42")], conversation_id="c2")
    assert (reply.code, reply.source) == ("hau_Latn", "conversation")


def test_without_conversation_id_earlier_user_turns_are_pooled():
    reply = chooser().choose([user(HAUSA), Message("assistant", "..."), user("ok")])
    assert (reply.code, reply.source) == ("hau_Latn", "detected")


def test_undetermined_falls_back_to_default_or_none():
    assert chooser(default_lang="swh_Latn").choose([user("ok")]).source == "default"
    reply = chooser().choose([user("ok")])
    assert (reply.code, reply.source) == (None, "none")


def test_served_languages_decide_by_script():
    # Tigrinya and Amharic share the Ethiopic script; only Amharic is served here.
    c = chooser(served=("amh_Ethi", "eng_Latn"))
    assert c.choose([user(AMHARIC)]).code == "amh_Ethi"
    # A detected language that is not served, in a script two served languages share: undetermined.
    c2 = chooser(served=("eng_Latn", "fra_Latn"))
    assert c2.choose([user(HAUSA)]).code is None


def test_conversation_store_is_bounded_and_expires(monkeypatch):
    store = ConversationLanguages(capacity=2, ttl_s=10)
    store.put("a", "hau_Latn", by_client=False)
    store.put("b", "yor_Latn", by_client=False)
    store.get("a")  # a is now the most recent
    store.put("c", "amh_Ethi", by_client=True)
    assert store.get("b") is None and store.get("a") == ("hau_Latn", False) and len(store) == 2
    import serving.language as module

    now = module.time.monotonic()
    monkeypatch.setattr(module.time, "monotonic", lambda: now + 11)
    assert store.get("c") is None


# -- prompts ---------------------------------------------------------------------------------


def test_instruction_goes_into_a_new_or_the_existing_system_message():
    policy = LanguagePolicy(PolicyConfig())
    plain = policy.messages([user("hi")], "hau_Latn", "direct")
    assert plain[0].role == "system" and "Hausa" in plain[0].content and plain[1] == user("hi")
    merged = policy.messages([Message("system", "Be brief."), user("hi")], "hau_Latn", "direct")
    assert len(merged) == 2 and merged[0].content.startswith("Be brief.\n\n")
    assert "Hausa" in merged[0].content


def test_firm_instruction_adds_a_reminder_after_the_last_user_turn():
    policy = LanguagePolicy(PolicyConfig())
    messages = policy.messages(
        [user("a"), Message("assistant", "b"), user("c")], "yor_Latn", "firm"
    )
    assert "entire answer in Yoruba" in messages[0].content
    assert messages[-1].content.startswith("c\n\n(") and "Yoruba" in messages[-1].content
    assert messages[1] == user("a")


def test_pivot_asks_for_english_and_user_role_placement():
    policy = LanguagePolicy(PolicyConfig(instruction_role="user"))
    messages = policy.messages([user("sannu")], "hau_Latn", "direct")
    assert len(messages) == 1 and messages[0].content.startswith("sannu\n\nAlways reply in Hausa")
    pivot = LanguagePolicy(PolicyConfig()).messages([user("sannu")], "hau_Latn", "pivot")
    assert pivot[0].content == "Reply in English."


def test_no_language_means_no_instruction():
    assert LanguagePolicy(PolicyConfig()).messages([user("x")], None, "direct") == (user("x"),)


def test_custom_instruction_fields_are_validated():
    with pytest.raises(ValueError, match="unknown or broken placeholder"):
        PolicyConfig(instruction="Reply in {language}")
    config = PolicyConfig(instruction="Answer in {lang_name} [{lang_code}]")
    assert LanguagePolicy(config).messages([user("x")], "hau_Latn", "direct")[0].content == (
        "Answer in Hausa [hau_Latn]"
    )


# -- decisions -------------------------------------------------------------------------------


def check(verdict: str) -> LangCheck:
    return LangCheck("hau_Latn", verdict, "eng_Latn", 0.99, "test")  # type: ignore[arg-type]


def test_off_retries_then_pivots_only_for_weak_languages_with_a_translator():
    config = PolicyConfig(retries=1, weak_langs=["hau"])
    strong = LanguagePolicy(config, has_translator=True).plan("yor_Latn")
    weak = LanguagePolicy(config, has_translator=True).plan("hau_Latn")
    no_mt = LanguagePolicy(config, has_translator=False).plan("hau_Latn")
    policy = LanguagePolicy(config, has_translator=True)
    assert policy.next_step(check("off"), kind="direct", direct_attempts=1, plan=weak) == "retry"
    assert policy.next_step(check("off"), kind="firm", direct_attempts=2, plan=weak) == "pivot"
    assert policy.next_step(check("off"), kind="firm", direct_attempts=2, plan=strong) == "give_up"
    assert no_mt.pivot == "off"
    assert policy.next_step(check("off"), kind="pivot", direct_attempts=2, plan=weak) == "give_up"
    for verdict in ("on", "uncertain"):
        assert (
            policy.next_step(check(verdict), kind="direct", direct_attempts=1, plan=weak)
            == "accept"
        )


def test_client_overrides_and_always_pivot():
    policy = LanguagePolicy(PolicyConfig(weak_langs=["hau_Latn"]), has_translator=True)
    plan = policy.plan("hau_Latn", retries=0, pivot="always")
    assert (plan.retries, plan.pivot, plan.first_attempt) == (0, "always", "pivot")
    assert policy.plan("eng_Latn", pivot="always").pivot == "off"  # English is the pivot itself
    unchecked = policy.plan("hau_Latn", check=False)
    assert (unchecked.lang, unchecked.check) == (None, False)


def test_signature_names_the_settings():
    sig = LanguagePolicy(PolicyConfig(weak_langs=["amh"], translator="tiny-nllb")).signature()
    assert (
        sig
        == "policy(retries=1,pivot=fallback:eng_Latn,weak=amh_Ethi,role=system,translator=tiny-nllb)"
    )
