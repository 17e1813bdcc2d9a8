"""Tiny random-weight models, built locally and deterministically (no model hub needed).

``build_tiny_llama`` writes a Llama-shaped causal LM (hidden 128, 2 heads of
dimension 64, 2 layers: vLLM's CPU attention needs head dimension 64) with a
byte-level BPE tokenizer, so any Unicode text round-trips, and a chat template.
Its outputs are gibberish: use it to test structure, constraints, batching,
bookkeeping and determinism, never quality.

The same seed gives byte-identical files. ``ensure_tiny_llama`` builds once into
the cache directory (``$XPROMPT_CACHE``, default ``~/.cache/xprompt``) and
returns the path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Bump when the builder's output changes, so caches are rebuilt.
TINY_LLAMA_VERSION = 1

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

SPECIAL_TOKENS = ["<|bos|>", "<|end|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>"]

# A little text in many scripts so the BPE merges cover them (else every byte is a token).
CORPUS = [
    "The committee met on Tuesday to discuss the new health policy and the budget.",
    "Is this a piece of news regarding science, travel, politics, sports or health?",
    "Let's think step by step. The answer is 42. Answer: 17",
    "Gwamnati ta sanar da sabon shirin kiwon lafiya a jihar Kano ranar Talata.",
    "Ìjọba ti kéde ètò ìlera tuntun ní ìpínlẹ̀ Èkó lónìí.",
    "Serikali imetangaza mpango mpya wa afya katika mkoa wa Dodoma leo.",
    "Leta yatangaje gahunda nshya y'ubuzima mu ntara y'Amajyepfo uyu munsi.",
    "Gọọmentị kwupụtara atụmatụ ahụike ọhụrụ na steeti Enugu taa.",
    "Uhulumeni umemezele uhlelo olusha lwezempilo esifundazweni saseGauteng namhlanje.",
    "Dowladda ayaa ku dhawaaqday qorshe caafimaad oo cusub maanta.",
    "Le gouvernement a annoncé un nouveau plan de santé pour la région aujourd'hui.",
    "Die Regierung hat heute einen neuen Gesundheitsplan angekündigt.",
    "El gobierno anunció hoy un nuevo plan de salud para la región.",
    "Правительство сегодня объявило о новом плане в области здравоохранения.",
    "መንግሥት ዛሬ አዲስ የጤና ዕቅድ አስታውቋል። ይህ ዜና ስለ ጤና ነው።",
    "सरकार ने आज राज्य के लिए नई स्वास्थ्य योजना की घोषणा की।",
    "सरकारले आज प्रदेशका लागि नयाँ स्वास्थ्य योजना घोषणा गर्‍यो।",
    "সরকার আজ নতুন স্বাস্থ্য পরিকল্পনা ঘোষণা করেছে।",
    "أعلنت الحكومة اليوم عن خطة صحية جديدة للمنطقة.",
    "政府今天宣布了该地区新的卫生计划。答案是十二。",
    "政府は今日、新しい保健計画を発表しました。",
    "정부는 오늘 새로운 보건 계획을 발표했습니다.",
    "รัฐบาลประกาศแผนสุขภาพใหม่ในวันนี้",
    "အစိုးရသည် ယနေ့ ကျန်းမာရေး အစီအစဉ်အသစ်ကို ကြေညာခဲ့သည်။",
    "រដ្ឋាភិបាលបានប្រកាសផែនការសុខភាពថ្មីនៅថ្ងៃនេះ។",
    "Kamachiqkunaqa musuq hampi yachay ruwayta willarqanku.",
    "Tetã ñemoakãha omoherakuã peteĩ tembiaporã pyahu tesãi rehegua.",
    "0123456789 ०१२३४५६७८९ ০১২৩৪৫৬৭৮৯ ٠١٢٣٤٥٦٧٨٩ ๐๑๒๓๔๕๖๗๘๙ ０１２３４５６７８９",
    "science/technology travel politics sports health entertainment geography",
]


def default_cache_dir() -> Path:
    """Where built test models are kept: ``$XPROMPT_CACHE`` or ``~/.cache/xprompt``."""
    return Path(os.environ.get("XPROMPT_CACHE", Path.home() / ".cache" / "xprompt")).expanduser()


def build_tiny_llama(out_dir: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Write the tiny Llama-shaped model, tokenizer and chat template to ``out_dir``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<|bos|>", eos_token="<|end|>", pad_token="<|pad|>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = 4096
    tokenizer.save_pretrained(out)

    vocab_size = -(-len(tokenizer) // 64) * 64
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    # bfloat16: what vLLM runs on a CPU anyway, and half the file.
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out, safe_serialization=True)
    return out


def ensure_built(
    name: str, build: Callable[[Path], object], cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """``<cache>/models/<name>``, built first with ``build(directory)`` if it is not there.

    Safe when several processes ask at once: each builds in its own staging
    directory and renames it into place; a loser of the race keeps the winner's.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / "models" / name
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        build(staging)
        try:
            staging.rename(target)
        except OSError:
            if not (target / "config.json").is_file():  # lost a race only if the winner finished
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def ensure_tiny_llama(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of the cached tiny Llama, building it first if needed (safe when run concurrently)."""
    return ensure_built(f"tiny-llama-v{TINY_LLAMA_VERSION}", build_tiny_llama, cache_dir)


# --- tiny models of real chat-model families -------------------------------------------

#: Bump when a family builder's output changes, so caches are rebuilt.
TINY_FAMILY_VERSION = 1

CHAT_TEMPLATES_DIR = Path(__file__).with_name("chat_templates")


@dataclass(frozen=True)
class ModelFamily:
    """A public chat-model family as the tiny builder reproduces it.

    ``special`` lists the family's special tokens in the order their ids take
    in the tiny vocabulary; ``eos`` the tokens of ``generation_config.json``'s
    ``eos_token_id`` list, in the family's order (the first is the tokenizer's
    ``eos_token``, which is often *not* the token that ends an assistant turn).
    ``plain`` are extra non-special tokens (Qwen3's ``<think>``: they stay in
    the decoded text). ``source`` names the ``tokenizer_config.json`` the
    chat template was copied from.
    """

    name: str
    source: str
    special: tuple[str, ...]
    bos: str | None
    eos: tuple[str, ...]
    turn_end: str
    pad: str | None = None
    unk: str | None = None
    plain: tuple[str, ...] = ()

    @property
    def chat_template(self) -> str:
        """The family's real chat template text (from ``chat_templates/<name>.jinja``)."""
        return read_chat_template(self.name)


def read_chat_template(family: str) -> str:
    """The chat template text of ``family`` (the data file, less its final newline)."""
    text = (CHAT_TEMPLATES_DIR / f"{family}.jinja").read_text(encoding="utf-8")
    return text[:-1] if text.endswith("\n") else text


FAMILIES: dict[str, ModelFamily] = {
    f.name: f
    for f in (
        ModelFamily(
            "gemma2",
            "google/gemma-2-9b-it",
            special=("<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"),
            bos="<bos>",
            eos=("<eos>", "<end_of_turn>"),
            turn_end="<end_of_turn>",
            pad="<pad>",
            unk="<unk>",
        ),
        ModelFamily(
            "mistral",
            "mistralai/Mistral-7B-Instruct-v0.2",
            special=("<unk>", "<s>", "</s>"),
            bos="<s>",
            eos=("</s>",),
            turn_end="</s>",
            unk="<unk>",
        ),
        ModelFamily(
            "llama3",
            "meta-llama/Meta-Llama-3-8B-Instruct",
            special=(
                "<|begin_of_text|>",
                "<|end_of_text|>",
                "<|start_header_id|>",
                "<|end_header_id|>",
                "<|eot_id|>",
            ),
            bos="<|begin_of_text|>",
            eos=("<|end_of_text|>", "<|eot_id|>"),
            turn_end="<|eot_id|>",
        ),
        ModelFamily(
            "qwen2_5",
            "Qwen/Qwen2.5-7B-Instruct",
            special=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
            bos=None,
            eos=("<|im_end|>", "<|endoftext|>"),
            turn_end="<|im_end|>",
            pad="<|endoftext|>",
        ),
        ModelFamily(
            "qwen3",
            "Qwen/Qwen3-8B",
            special=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
            bos=None,
            eos=("<|im_end|>", "<|endoftext|>"),
            turn_end="<|im_end|>",
            pad="<|endoftext|>",
            plain=("<think>", "</think>"),
        ),
    )
}


def family(name: str) -> ModelFamily:
    """The family called ``name`` (``gemma2``, ``mistral``, ``llama3``, ``qwen2_5``, ``qwen3``)."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model family {name!r} (known: {', '.join(FAMILIES)})") from None


def build_tiny_family(
    out_dir: str | os.PathLike[str], name: str, *, seed: int = 0, says: str | None = None
) -> Path:
    """Write a tiny random-weight Llama-shaped model carrying family ``name``'s chat format.

    Same network as :func:`build_tiny_llama`; the tokenizer has the family's
    special tokens, ``bos``/``eos``, real chat template, and the model's
    ``generation_config.json`` lists the family's eos ids.

    ``says`` (a short text) rewires the embeddings and output layer (the
    transformer layers add nothing): whatever the prompt, the model emits the
    tokens of ``says`` and then the family's end-of-turn token (for Gemma-2 and
    Llama-3 not the first id of the eos list). A generation that ignores the
    model's eos list runs on past it (``says`` again and again), so this tests
    stop tokens; :data:`THINKS` makes a reasoning model of Qwen3.
    """
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    transformers.utils.logging.disable_progress_bar()
    fam = family(name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=list(fam.special),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS * 4, trainer)
    named = {"bos_token": fam.bos, "eos_token": fam.eos[0], "pad_token": fam.pad}
    named["unk_token"] = fam.unk
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, **{k: v for k, v in named.items() if v is not None}
    )
    if fam.plain:
        tokenizer.add_tokens(list(fam.plain))
    tokenizer.chat_template = fam.chat_template
    tokenizer.model_max_length = 4096
    tokenizer.save_pretrained(out)

    eos_ids = [tokenizer.convert_tokens_to_ids(t) for t in fam.eos]
    vocab_size = -(-len(tokenizer) // 64) * 64
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=eos_ids if len(eos_ids) > 1 else eos_ids[0],
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    if says is not None:
        turn_end = tokenizer.convert_tokens_to_ids(fam.turn_end)
        _wire_chain(model, [*tokenizer.encode(says, add_special_tokens=False), turn_end])
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = eos_ids if len(eos_ids) > 1 else eos_ids[0]
    model.save_pretrained(out, safe_serialization=True)
    return out


def _wire_chain(model: Any, chain: list[int]) -> None:
    """Make ``model`` emit ``chain`` greedily after any prompt (the layers become no-ops).

    Every token embeds along dimension 0, except ``chain[i]`` along dimension
    ``i + 1``; the output row of ``chain[i]`` reads dimension ``i``. So the
    prompt's last token selects ``chain[0]``, which selects ``chain[1]``, and so on.
    """
    import torch

    hidden = model.config.hidden_size
    if len(chain) >= hidden or len(set(chain)) != len(chain):
        raise ValueError("the text must be fewer distinct tokens than the hidden size")
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        embed = model.model.embed_tokens.weight
        embed.zero_()
        embed[:, 0] = 0.1
        head = model.lm_head.weight
        head.zero_()
        for i, token in enumerate(chain):
            head[token, i] = 4.0
            if i + 1 < len(chain):
                embed[token].zero_()
                embed[token, i + 1] = 0.1


#: What the "says" variants of the family models emit (English: off-target for other languages).
SAYS = "The committee met on Tuesday"
#: What the reasoning family's "says" variant emits: English thinking, then a Hausa answer.
THINKS = "<think>The committee met on Tuesday to discuss health</think>Gwamnati ta sanar"


def ensure_tiny_family(
    name: str, cache_dir: str | os.PathLike[str] | None = None, *, says: str | None = None
) -> Path:
    """Path of the cached tiny model of family ``name`` (``says``: the degenerate variant)."""
    family(name)  # a clear error for an unknown name
    suffix = "" if says is None else "-says"
    if says is not None and says != SAYS:
        suffix += "-" + hashlib.sha256(says.encode()).hexdigest()[:8]
    return ensure_built(
        f"tiny-{name}{suffix}-v{TINY_FAMILY_VERSION}",
        lambda out: build_tiny_family(out, name, says=says),
        cache_dir,
    )


# --- tiny seq2seq MT model ------------------------------------------------------------

#: Bump when the MT builder's output changes, so caches are rebuilt.
TINY_M2M100_VERSION = 1

MT_SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]


def tiny_mt_language_tokens(style: str) -> list[str]:
    """The language tokens the tiny MT tokenizer carries: NLLB's (FLORES-style) or M2M-100's."""
    from xprompt import languages

    if style == "nllb":
        return sorted({languages.mt_language_tokens(c, "nllb")[0] for c in NLLB_CODES})
    if style == "m2m100":
        return [f"__{c}__" for c in M2M100_CODES]
    raise ValueError(f"unknown language-token style {style!r} (use nllb or m2m100)")


# The languages of NLLB-200's tokenizer, in FLORES-200 codes (two FLORES-200 codes,
# arb_Latn and min_Arab, have no NLLB token).
NLLB_CODES = (
    "ace_Arab ace_Latn acm_Arab acq_Arab aeb_Arab afr_Latn ajp_Arab aka_Latn amh_Ethi apc_Arab "
    "arb_Arab ars_Arab ary_Arab arz_Arab asm_Beng ast_Latn awa_Deva ayr_Latn azb_Arab azj_Latn "
    "bak_Cyrl bam_Latn ban_Latn bel_Cyrl bem_Latn ben_Beng bho_Deva bjn_Arab bjn_Latn bod_Tibt "
    "bos_Latn bug_Latn bul_Cyrl cat_Latn ceb_Latn ces_Latn cjk_Latn ckb_Arab crh_Latn cym_Latn "
    "dan_Latn deu_Latn dik_Latn dyu_Latn dzo_Tibt ell_Grek eng_Latn epo_Latn est_Latn eus_Latn "
    "ewe_Latn fao_Latn pes_Arab fij_Latn fin_Latn fon_Latn fra_Latn fur_Latn fuv_Latn gla_Latn "
    "gle_Latn glg_Latn grn_Latn guj_Gujr hat_Latn hau_Latn heb_Hebr hin_Deva hne_Deva hrv_Latn "
    "hun_Latn hye_Armn ibo_Latn ilo_Latn ind_Latn isl_Latn ita_Latn jav_Latn jpn_Jpan kab_Latn "
    "kac_Latn kam_Latn kan_Knda kas_Arab kas_Deva kat_Geor knc_Arab knc_Latn kaz_Cyrl kbp_Latn "
    "kea_Latn khm_Khmr kik_Latn kin_Latn kir_Cyrl kmb_Latn kon_Latn kor_Hang kmr_Latn lao_Laoo "
    "lvs_Latn lij_Latn lim_Latn lin_Latn lit_Latn lmo_Latn ltg_Latn ltz_Latn lua_Latn lug_Latn "
    "luo_Latn lus_Latn mag_Deva mai_Deva mal_Mlym mar_Deva min_Latn mkd_Cyrl plt_Latn mlt_Latn "
    "mni_Beng khk_Cyrl mos_Latn mri_Latn zsm_Latn mya_Mymr nld_Latn nno_Latn nob_Latn npi_Deva "
    "nso_Latn nus_Latn nya_Latn oci_Latn gaz_Latn ory_Orya pag_Latn pan_Guru pap_Latn pol_Latn "
    "por_Latn prs_Arab pbt_Arab quy_Latn ron_Latn run_Latn rus_Cyrl sag_Latn san_Deva sat_Olck "
    "scn_Latn shn_Mymr sin_Sinh slk_Latn slv_Latn smo_Latn sna_Latn snd_Arab som_Latn sot_Latn "
    "spa_Latn als_Latn srd_Latn srp_Cyrl ssw_Latn sun_Latn swe_Latn swh_Latn szl_Latn tam_Taml "
    "tat_Cyrl tel_Telu tgk_Cyrl tgl_Latn tha_Thai tir_Ethi taq_Latn taq_Tfng tpi_Latn tsn_Latn "
    "tso_Latn tuk_Latn tum_Latn tur_Latn twi_Latn tzm_Tfng uig_Arab ukr_Cyrl umb_Latn urd_Arab "
    "uzn_Latn vec_Latn vie_Latn war_Latn wol_Latn xho_Latn ydd_Hebr yor_Latn yue_Hant zho_Hans "
    "zho_Hant zul_Latn"
).split()

# M2M-100's 100 language codes.
M2M100_CODES = (
    "af am ar ast az ba be bg bn br bs ca ceb cs cy da de el en es et fa ff fi fr fy ga gd gl gu "
    "ha he hi hr ht hu hy id ig ilo is it ja jv ka kk km kn ko lb lg ln lo lt lv mg mk ml mn mr "
    "ms my ne nl no ns oc or pa pl ps pt ro ru sd si sk sl so sq sr ss su sv sw ta th tl tn tr uk "
    "ur uz vi wo xh yi yo zh zu"
).split()


def build_tiny_m2m100(
    out_dir: str | os.PathLike[str], *, style: str = "nllb", seed: int = 0
) -> Path:
    """Write a tiny random-weight M2M-100-architecture MT model and its tokenizer to ``out_dir``.

    NLLB-200 is an M2M-100 network, so one architecture serves both families;
    ``style`` picks the language tokens: ``nllb`` (``hau_Latn``, ``eng_Latn``, ...)
    or ``m2m100`` (``__ha__``, ``__en__``, ...). The tokenizer is byte-level BPE, so
    any script round-trips. d_model 64, 2+2 layers; weights drawn with a large
    init std so that greedy choices have clear margins (outputs do not flip
    between batch compositions on float noise). Outputs are gibberish.
    """
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import M2M100Config, M2M100ForConditionalGeneration, PreTrainedTokenizerFast

    transformers.utils.logging.disable_progress_bar()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lang_tokens = tiny_mt_language_tokens(style)
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024 + len(lang_tokens),
        special_tokens=MT_SPECIAL_TOKENS + lang_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=lang_tokens,
    )
    tokenizer.model_max_length = 1024
    tokenizer.save_pretrained(out)

    config = M2M100Config(
        vocab_size=len(tokenizer),  # exactly: the model never emits an id the tokenizer lacks
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_position_embeddings=1024,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        encoder_layerdrop=0.0,
        decoder_layerdrop=0.0,
        init_std=0.5,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = M2M100ForConditionalGeneration(config).eval()
    model.save_pretrained(out, safe_serialization=True)
    return out


def ensure_tiny_m2m100(
    cache_dir: str | os.PathLike[str] | None = None, *, style: str = "nllb"
) -> Path:
    """Path of the cached tiny MT model (``style`` nllb or m2m100), building it first if needed."""
    return ensure_built(
        f"tiny-{style}-v{TINY_M2M100_VERSION}",
        lambda out: build_tiny_m2m100(out, style=style),
        cache_dir,
    )


def build_tiny_madlad(out_dir: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Write a tiny random-weight T5 MT model with MADLAD-400-style ``<2xx>`` target tags.

    MADLAD-400 is a T5 network whose source starts with the target language's
    tag (``<2en>``, ``<2ha>``); decoding starts from the pad token. Tags for
    every FLORES-200 language, byte-level BPE, d_model 64, 2+2 layers.
    """
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    from xprompt import languages

    transformers.utils.logging.disable_progress_bar()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tags = sorted(
        {languages.mt_language_tokens(c, "madlad")[0] for c in languages.flores200_codes()}
    )
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024 + len(tags),
        special_tokens=["<pad>", "</s>", "<unk>", *tags],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=tags,
    )
    tokenizer.model_max_length = 1024
    tokenizer.save_pretrained(out)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=64,
        d_kv=32,
        d_ff=128,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=2,
        dropout_rate=0.0,
        initializer_factor=8.0,  # peaked outputs: clear greedy margins
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(config).eval()
    model.save_pretrained(out, safe_serialization=True)
    return out


def ensure_tiny_madlad(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of the cached tiny MADLAD-style T5 MT model, building it first if needed."""
    return ensure_built(f"tiny-madlad-v{TINY_M2M100_VERSION}", build_tiny_madlad, cache_dir)
