"""Templates: every shipped file loads and renders; sandbox, strictness and i18n behave."""

from __future__ import annotations

from pathlib import Path

import pytest

from xprompt.errors import TemplateError
from xprompt.templates import available_templates, load_template, parse_template, render_as_prompt
from xprompt.types import Example

TEMPLATE_FILES = sorted(available_templates().items())


def sample_fields(template) -> dict[str, str]:
    return {name: f"sample {name} text" for name in template.fields}


def exemplar(template, i: int, lang: str) -> Example:
    target = template.choices[i % len(template.choices)] if template.choices else f"answer {i}"
    return Example(f"shot{i}", lang, sample_fields(template), target=target)


@pytest.mark.parametrize(("name", "path"), TEMPLATE_FILES, ids=[n for n, _ in TEMPLATE_FILES])
def test_every_template_loads_and_renders(name: str, path: Path) -> None:
    template = load_template(path)
    assert template.name == name == path.stem
    langs = (
        sorted(template.i18n)
        if template.instruction_language == "prompt"
        else ["eng_Latn", "hau_Latn"]
    )
    for lang in langs:
        query = Example("q", lang, sample_fields(template))
        zero = template.render(query)
        assert zero[-1].role == "user"
        for field_name in template.fields:
            assert f"sample {field_name} text" in zero[-1].content
        shots = [exemplar(template, i, lang) for i in range(3)]
        few = template.render(query, shots)
        if template.layout == "chat":
            assert [m.role for m in few if m.role != "system"] == ["user", "assistant"] * 3 + [
                "user"
            ]
            assert few[-1] == zero[-1], "the query turn must not depend on the exemplars"
        else:
            assert few[-1].content.endswith(zero[-1].content)
        if template.choices:
            names = template.choice_names(lang)
            assert len(names) == len(template.choices)
            for shown, canonical in zip(names, template.choices, strict=True):
                assert template.canonical_choice(shown, lang) == canonical


def test_dataset_text_is_a_value_never_template_source() -> None:
    template = load_template("sib200-topic")
    evil = "{{ 7*7 }} {% for x in range(3) %}loop{% endfor %} {{ ''.__class__.__mro__ }}"
    messages = template.render(Example("q", "eng_Latn", {"text": evil}))
    assert evil in messages[-1].content
    assert "49" not in messages[-1].content


def test_sandbox_blocks_unsafe_template_source() -> None:
    template = parse_template(
        'name: evil\ntask: t\nfields: [text]\nuser: "{{ text.__class__.__mro__[1].__subclasses__() }}"\n'
    )
    with pytest.raises(TemplateError, match=r"unsafe|evil"):
        template.render(Example("q", "eng_Latn", {"text": "x"}))


def test_undeclared_variable_is_rejected_at_load() -> None:
    with pytest.raises(TemplateError, match=r"undeclared variable\(s\) \['premise'\]"):
        parse_template("name: t\ntask: t\nfields: [text]\nuser: '{{ text }} {{ premise }}'\n")


def test_jinja_syntax_error_names_the_part_and_line() -> None:
    with pytest.raises(TemplateError, match=r"user: Jinja syntax error on line 1"):
        parse_template("name: t\ntask: t\nfields: [text]\nuser: '{{ text '\n")


def test_missing_field_is_an_error_not_empty_text() -> None:
    template = load_template("sib200-topic")
    with pytest.raises(
        TemplateError, match=r"field\(s\) \['text'\] missing .*fields present: sentence"
    ):
        template.render(Example("q", "eng_Latn", {"sentence": "hello"}))


def test_invalid_yaml_and_schema_errors_are_clear() -> None:
    with pytest.raises(TemplateError, match="not valid YAML"):
        parse_template("name: [unclosed\n")
    with pytest.raises(TemplateError, match="fields"):
        parse_template("name: t\ntask: t\nuser: hi\n")
    with pytest.raises(TemplateError, match="needs a 'choices' label set"):
        parse_template(
            "name: t\ntask: t\nfields: [text]\nuser: '{{ text }}'\nanswer: {parser: choice}\n"
        )
    with pytest.raises(TemplateError, match="unknown language"):
        parse_template(
            "name: t\ntask: t\nfields: [text]\nuser: '{{ text }}'\ninstruction_language: prompt\n"
            "i18n: {notalanguage: {q: x}}\n"
        )


def test_in_language_template_needs_strings_for_the_query_language() -> None:
    template = load_template("sib200-topic-native")
    with pytest.raises(TemplateError, match=r"no i18n strings for quy_Latn \(it has: .*hau_Latn"):
        template.render(Example("q", "quy_Latn", {"text": "Allinllachu"}))


def test_in_language_labels_map_back_to_canonical() -> None:
    template = load_template("sib200-topic-native")
    names = template.choice_names("fra_Latn")
    assert names[template.choices.index("health")] == "santé"
    assert template.canonical_choice("Santé", "fra_Latn") == "health"
    shot = Example("s", "fra_Latn", {"text": "Le match"}, target="sports")
    messages = template.render(Example("q", "fra_Latn", {"text": "x"}), [shot])
    assert messages[-2].content == "sport"


def test_exemplar_with_label_outside_the_set_is_an_error() -> None:
    template = load_template("sib200-topic")
    bad = Example("s", "eng_Latn", {"text": "x"}, target="cooking")
    with pytest.raises(TemplateError, match="not in the label set"):
        template.render(Example("q", "eng_Latn", {"text": "y"}), [bad])


def test_block_layout_puts_everything_in_one_user_turn() -> None:
    template = parse_template(
        'name: b\ntask: t\nfields: [text]\nlayout: block\nseparator: "\\n---\\n"\n'
        "user: \"Q: {{ text }}\\nA:\"\ntarget: ' {{ answer }}'\n"
    )
    shots = [Example(f"s{i}", "eng_Latn", {"text": f"t{i}"}, target=f"a{i}") for i in range(2)]
    messages = template.render(Example("q", "eng_Latn", {"text": "query"}), shots)
    assert len(messages) == 1
    assert messages[0].content == "Q: t0\nA: a0\n---\nQ: t1\nA: a1\n---\nQ: query\nA:"
    assert render_as_prompt(messages) == messages[0].content


def test_unknown_template_name_suggests_close_names() -> None:
    with pytest.raises(TemplateError, match="Did you mean sib200-topic"):
        load_template("sib200-topc")


def test_non_utf8_template_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"name: bad\ntask: t\nfields: [text]\nuser: '\xff'\n")
    with pytest.raises(TemplateError, match="not valid UTF-8"):
        load_template(path)


def test_exemplar_renders_are_reused_only_where_nothing_they_read_differs() -> None:
    template = load_template("sib200-topic-native")
    shot = Example("s", "fra_Latn", {"text": "Le match"}, target="sports")
    query = Example("q", "fra_Latn", {"text": "x"})
    first = template.render(query, [shot])
    assert template.render(query, [shot]) == first
    # The same exemplar under a query in another language keeps its own language's label name;
    # the same text as an exemplar in that other language shows that language's (cache per
    # exemplar language).
    sports = template.choices.index("sports")
    hausa_query = Example("q", "hau_Latn", {"text": "x"})
    hausa = template.render(hausa_query, [shot])
    assert hausa[-2].content == first[-2].content == template.choice_names("fra_Latn")[sports]
    as_hausa = Example("s", "hau_Latn", {"text": "Le match"}, target="sports")
    own = template.render(hausa_query, [as_hausa])
    assert own[-2].content == template.choice_names("hau_Latn")[sports] != first[-2].content
    # Another text or another target under the same id is rendered afresh, never served stale.
    other = Example("s", "fra_Latn", {"text": "La santé"}, target="health")
    again = template.render(query, [other])
    assert "La santé" in again[-3].content and again[-2].content == "santé"
    fresh = load_template("sib200-topic-native").render(query, [other])
    assert again == fresh
    # A missing field is still an error the second time, even after a render with the field.
    with pytest.raises(TemplateError, match="missing"):
        template.render(query, [Example("s", "fra_Latn", {}, target="sports")])
    with pytest.raises(TemplateError, match="missing"):
        template.render(query, [Example("s", "fra_Latn", {}, target="sports")])
