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

import os
import shutil
import tempfile
from pathlib import Path

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


def ensure_tiny_llama(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of the cached tiny Llama, building it first if needed (safe when run concurrently)."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / "models" / f"tiny-llama-v{TINY_LLAMA_VERSION}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tiny-llama-", dir=target.parent))
    try:
        build_tiny_llama(staging)
        try:
            staging.rename(target)
        except OSError:
            if not (target / "config.json").is_file():  # lost a race only if the winner finished
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
