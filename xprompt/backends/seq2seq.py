"""Seq2seq machine translation through transformers: NLLB-200, M2M-100, MADLAD-style models.

The only module (besides the test-model builder) that imports transformers
model classes. vLLM does not serve encoder-decoder MT models, so they run here.

What it does with a batch of requests:

1. Maps each request's canonical language codes to the model's own language
   tokens (:func:`xprompt.languages.mt_language_tokens`; the vocabulary decides
   which spelling exists). Inputs are built by hand, the same way for every
   family, instead of through the tokenizers' stateful ``src_lang`` setters:
   NLLB and M2M-100 read ``[src] text </s>`` and decode after ``</s> [tgt]``;
   MADLAD reads ``<2tgt> text </s>`` and decodes after the start token.
2. Splits long sources into sentences (:mod:`xprompt.sentences`), translates
   each piece once (identical pieces share one translation) and re-assembles.
3. Sorts pieces by length and packs them into batches under a token budget
   (rows x padded length of source plus output allowance), so little compute is
   spent on padding and short pieces do not wait for long ones. The naive
   alternative (fixed-size batches in input order) is kept for the benchmark.
4. Decodes greedily or with beam search; every piece has its own output limit
   (see :class:`~xprompt.mt.base.DecodingSettings`), applied by truncation so a
   greedy translation does not depend on which batch it ran in.

For label projection (CODEC) the encoder can be run once per source
(:meth:`Seq2SeqTranslator.encode`) and reused to score given target token
sequences (:meth:`forced_logprobs`) or to get next-token distributions
(:meth:`next_token_logprobs`).

GPU when ``torch.cuda.is_available()`` (bfloat16 or float16), CPU otherwise (float32).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xprompt import languages
from xprompt.errors import BackendError, ConfigError, UnknownLanguageError
from xprompt.mt.base import (
    BatchStats,
    DecodingSettings,
    Translation,
    TranslationRequest,
    model_identity,
)
from xprompt.sentences import Segment, join_sentences, split_sentences, split_to_fit


def plan_batches(
    costs: Sequence[int], *, batch_tokens: int, max_batch_size: int, sort: bool
) -> list[list[int]]:
    """Group item indices into batches.

    ``sort=True``: longest first, each batch as many items as fit ``batch_tokens``
    (items x the batch's largest cost) and ``max_batch_size``. ``sort=False``: the
    naive baseline, fixed batches of ``max_batch_size`` in input order.
    """
    if not sort:
        order = list(range(len(costs)))
        return [order[i : i + max_batch_size] for i in range(0, len(order), max_batch_size)]
    order = sorted(range(len(costs)), key=lambda i: (-costs[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        widest = costs[current[0]] if current else costs[i]
        if current and (
            len(current) + 1 > max_batch_size or (len(current) + 1) * widest > batch_tokens
        ):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


@dataclass(frozen=True)
class EncodedSources:
    """Encoder outputs of a batch of sources, computed once and reused for scoring targets."""

    texts: tuple[str, ...]
    src: str
    hidden: Any  # torch.Tensor (batch, length, d_model)
    mask: Any  # torch.Tensor (batch, length)


@dataclass
class _Piece:
    """One unit the model translates (a whole source or one of its sentences)."""

    text: str
    src: str
    tgt: str
    ids: list[int]
    limit: int
    out: str | None = None
    logprob: float = 0.0
    tokens: int = 0
    error: str | None = None


class Seq2SeqTranslator:
    """Translate with a transformers encoder-decoder MT model (NLLB-200, M2M-100, MADLAD).

    Args:
        model: local directory or hub name.
        decoding: settings that change outputs (search, limits, splitting).
        device: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``, ``cuda:1`` ...
        dtype: ``auto`` (float32 on CPU, bfloat16/float16 on GPU) or a torch dtype name.
        family: ``nllb``, ``m2m100`` or ``madlad``; detected from the vocabulary when None.
        batch_tokens: token budget of one batch (rows x padded source-plus-output length).
        max_batch_size: most rows in one batch.
        sort_by_length: length-sorted batching (default); False is the naive baseline.
    """

    def __init__(
        self,
        model: str,
        *,
        decoding: DecodingSettings | None = None,
        device: str = "auto",
        dtype: str = "auto",
        family: str | None = None,
        batch_tokens: int = 16384,
        max_batch_size: int = 64,
        sort_by_length: bool = True,
    ) -> None:
        if batch_tokens < 1 or max_batch_size < 1:
            raise ConfigError("batch_tokens and max_batch_size must be >= 1")
        local = Path(model).expanduser()
        if (model.startswith((".", "/", "~")) or local.exists()) and not local.is_dir():
            raise ConfigError(f"MT model directory '{model}' does not exist")
        try:
            import torch
            import transformers
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
        except ImportError as exc:
            raise BackendError(f"seq2seq MT needs torch and transformers ({exc})") from None
        transformers.utils.logging.disable_progress_bar()
        self._torch = torch
        self._version = transformers.__version__
        self._model_name = model
        self.decoding = decoding or DecodingSettings()
        self.batch_tokens = batch_tokens
        self.max_batch_size = max_batch_size
        self.sort_by_length = sort_by_length
        self.device = (
            ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        )
        on_gpu = self.device.startswith("cuda")
        if dtype == "auto":
            gpu_dtype = (
                torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float16
            )
            torch_dtype = gpu_dtype if on_gpu else torch.float32
        else:
            torch_dtype = getattr(torch, dtype, None)
            if not isinstance(torch_dtype, torch.dtype):
                raise ConfigError(f"unknown dtype '{dtype}' (use auto, float32, bfloat16, float16)")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(local) if local.is_dir() else model)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(
                str(local) if local.is_dir() else model, dtype=torch_dtype
            )
        except (OSError, ValueError) as exc:
            raise BackendError(f"could not load MT model '{model}': {exc}") from None
        self.model.to(self.device).eval()
        self.family = family or self._detect_family()
        if self.family not in languages.MT_FAMILIES:
            raise ConfigError(f"unknown MT family '{self.family}' (use nllb, m2m100 or madlad)")
        config = self.model.config
        self.pad_id = int(self.tokenizer.pad_token_id)
        self.eos_id = int(self.tokenizer.eos_token_id)
        self.start_id = int(
            config.decoder_start_token_id
            if config.decoder_start_token_id is not None
            else self.pad_id
        )
        positions = getattr(config, "max_position_embeddings", None)
        self.max_source_tokens = min(
            self.decoding.max_input_tokens, (positions - 2) if positions else 10**9
        )
        self._lang_ids: dict[str, int] = {}
        self.stats = BatchStats()

    # -- identity -----------------------------------------------------------------

    @property
    def model_id(self) -> str:
        return model_identity(self._model_name)

    def signature(self) -> str:
        return f"seq2seq:{self.model_id}:{self.family}:{self.decoding.signature()}"

    def describe(self) -> dict[str, Any]:
        return {
            "engine": "transformers",
            "version": self._version,
            "model": self.model_id,
            "family": self.family,
            "device": self.device,
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "decoding": self.decoding.signature(),
            "batching": (
                f"{'length-sorted' if self.sort_by_length else 'fixed-order'},"
                f"tokens={self.batch_tokens},rows={self.max_batch_size}"
            ),
        }

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]
        if self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()

    # -- languages ----------------------------------------------------------------

    def _detect_family(self) -> str:
        vocab = self.tokenizer.get_vocab()
        if "eng_Latn" in vocab:
            return "nllb"
        if "__en__" in vocab:
            return "m2m100"
        if "<2en>" in vocab:
            return "madlad"
        raise ConfigError(
            f"MT model '{self._model_name}': cannot tell its language tokens (no eng_Latn, __en__ "
            "or <2en> in the vocabulary); pass family=nllb|m2m100|madlad"
        )

    def lang_id(self, code: str) -> int:
        """The token id naming language ``code`` in this model (raises UnknownLanguageError)."""
        if code not in self._lang_ids:
            candidates = languages.mt_language_tokens(code, self.family)
            vocab = self.tokenizer.get_vocab()
            found = next((vocab[t] for t in candidates if t in vocab), None)
            if found is None:
                raise UnknownLanguageError(
                    f"MT model '{self.model_id}' ({self.family}) has no language token for {code} "
                    f"(looked for {', '.join(candidates)})"
                )
            self._lang_ids[code] = int(found)
        return self._lang_ids[code]

    def source_ids(self, text_ids: Sequence[int], src: str, tgt: str) -> list[int]:
        """Encoder input for one piece: the family's language tag, the text, ``</s>``."""
        tag = self.lang_id(tgt) if self.family == "madlad" else self.lang_id(src)
        return [tag, *text_ids, self.eos_id]

    def decoder_prefix(self, tgt: str) -> list[int]:
        """Forced start of the output: start token (and the target language tag for NLLB/M2M-100)."""
        if self.family == "madlad":
            return [self.start_id]
        return [self.start_id, self.lang_id(tgt)]

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of plain texts, without any special tokens."""
        if not texts:
            return []
        return [
            list(ids) for ids in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        ]

    # -- translation ------------------------------------------------------------------

    def translate(self, requests: Sequence[TranslationRequest]) -> list[Translation]:
        """Translate a batch; one result per request, same order, errors per request."""
        if self.model is None:
            raise BackendError("the seq2seq translator was closed")
        plans: list[list[Segment] | str] = []
        token_ids = self.tokenize([r.text for r in requests])
        wanted: list[tuple[str, str, str]] = []
        for request, ids in zip(requests, token_ids, strict=True):
            plan = self._plan(request, ids)
            plans.append(plan)
            if not isinstance(plan, str):
                wanted.extend((s.text, request.src, request.tgt) for s in plan)
        pieces = self._run_pieces(list(dict.fromkeys(wanted)))
        return [self._assemble(r, plan, pieces) for r, plan in zip(requests, plans, strict=True)]

    def _plan(self, request: TranslationRequest, ids: list[int]) -> list[Segment] | str:
        """The pieces one request is translated in, or the reason it cannot be."""
        if not request.text.strip():
            return "source text is empty"
        try:
            self.lang_id(request.src)
            self.lang_id(request.tgt)
        except UnknownLanguageError as exc:
            return str(exc)
        limit = self.max_source_tokens - 2
        split = self.decoding.split
        if split == "never" or (split == "long" and len(ids) <= limit):
            if len(ids) > limit:
                return (
                    f"source has {len(ids)} tokens, over the limit of {limit} "
                    "(allow sentence splitting with split=long, or raise max_input_tokens)"
                )
            return [Segment(request.text.strip())]
        out: list[Segment] = []
        for segment in split_sentences(request.text, request.src):
            out.extend(split_to_fit(segment, lambda t: len(self.tokenize([t])[0]) <= limit))
        return out

    def _assemble(
        self,
        request: TranslationRequest,
        plan: list[Segment] | str,
        pieces: dict[tuple[str, str, str], _Piece],
    ) -> Translation:
        if isinstance(plan, str):
            return Translation(request.text, request.src, request.tgt, None, error=plan)
        done = [pieces[(s.text, request.src, request.tgt)] for s in plan]
        failed = next((p.error for p in done if p.error), None)
        if failed is not None:
            return Translation(request.text, request.src, request.tgt, None, error=failed)
        text = join_sentences([p.out or "" for p in done], plan, request.tgt)
        return Translation(
            request.text,
            request.src,
            request.tgt,
            text,
            logprob=sum(p.logprob for p in done),
            tokens=sum(p.tokens for p in done),
            segments=len(plan),
        )

    def _run_pieces(self, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], _Piece]:
        ids = self.tokenize([k[0] for k in keys])
        pieces = [
            _Piece(
                k[0], k[1], k[2], self.source_ids(i, k[1], k[2]), self.decoding.output_limit(len(i))
            )
            for k, i in zip(keys, ids, strict=True)
        ]
        costs = [len(p.ids) + p.limit for p in pieces]
        for batch in plan_batches(
            costs,
            batch_tokens=self.batch_tokens,
            max_batch_size=self.max_batch_size,
            sort=self.sort_by_length,
        ):
            self._generate([pieces[i] for i in batch])
        return dict(zip(keys, pieces, strict=True))

    def _generate(self, batch: list[_Piece]) -> None:
        """Decode one batch in place; a failing batch is halved until the failing piece is alone."""
        torch = self._torch
        try:
            self._generate_batch(batch)
        except (RuntimeError, ValueError) as exc:
            if len(batch) == 1:
                batch[0].error = f"MT model failed: {type(exc).__name__}: {exc}"
                return
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            half = len(batch) // 2
            self._generate(batch[:half])
            self._generate(batch[half:])

    def _generate_batch(self, batch: list[_Piece]) -> None:
        from transformers import GenerationConfig

        torch = self._torch
        width = max(len(p.ids) for p in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        for row, piece in enumerate(batch):
            input_ids[row, : len(piece.ids)] = torch.tensor(piece.ids)
        attention = (
            torch.arange(width)[None, :] < torch.tensor([len(p.ids) for p in batch])[:, None]
        ).long()
        prefix = torch.tensor([self.decoder_prefix(p.tgt) for p in batch], dtype=torch.long)
        limit = max(p.limit for p in batch)
        beams = self.decoding.num_beams
        config = GenerationConfig(
            max_new_tokens=limit,
            num_beams=beams,
            do_sample=False,
            length_penalty=self.decoding.length_penalty,
            early_stopping=beams > 1,
            decoder_start_token_id=self.start_id,
            pad_token_id=self.pad_id,
            eos_token_id=self.eos_id,
            return_dict_in_generate=True,
            output_scores=True,
        )
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention.to(self.device),
                decoder_input_ids=prefix.to(self.device),
                generation_config=config,
            )
            step_scores = self.model.compute_transition_scores(
                out.sequences,
                out.scores,
                beam_indices=getattr(out, "beam_indices", None) if beams > 1 else None,
                normalize_logits=beams == 1,
            )
        self.stats.batches += 1
        self.stats.pieces += len(batch)
        self.stats.sizes.append(len(batch))
        self.stats.source_tokens += sum(len(p.ids) for p in batch)
        self.stats.padded_source_tokens += width * len(batch)
        self.stats.decode_steps += len(out.scores)
        start = prefix.shape[1]
        sequences = out.sequences[:, start:].tolist()
        scores = step_scores.float().cpu().tolist()
        for piece, generated, token_scores in zip(batch, sequences, scores, strict=True):
            keep = piece.limit
            if self.eos_id in generated[:keep]:
                keep = generated.index(self.eos_id) + 1
            tokens = generated[:keep]
            piece.out = self.tokenizer.decode(
                [t for t in tokens if t != self.eos_id], skip_special_tokens=True
            ).strip()
            piece.logprob = float(sum(token_scores[:keep]))
            piece.tokens = len(tokens)

    # -- scoring (forced decoding) --------------------------------------------------------

    def encode(self, texts: Sequence[str], src: str, tgt: str | None = None) -> EncodedSources:
        """Run the encoder once over ``texts`` (in ``src``); reuse the result for many targets.

        ``tgt`` is needed only for MADLAD-style models, whose source carries the
        target-language tag.
        """
        torch = self._torch
        if self.family == "madlad" and tgt is None:
            raise ConfigError("MADLAD-style models need the target language to encode a source")
        rows = [self.source_ids(ids, src, tgt or src) for ids in self.tokenize(texts)]
        width = max((len(r) for r in rows), default=1)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row)
        lengths = torch.tensor([len(r) for r in rows])
        mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
        with torch.inference_mode():
            hidden = self.model.get_encoder()(
                input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device)
            ).last_hidden_state
        return EncodedSources(tuple(texts), src, hidden, mask.to(self.device))

    def target_ids(self, text: str) -> list[int]:
        """Token ids of a target text as the decoder would produce them, ending in ``</s>``."""
        return [*self.tokenize([text])[0], self.eos_id]

    def _decoder_logprobs(
        self, encoded: EncodedSources, rows: Sequence[tuple[int, Sequence[int]]], tgt: str
    ) -> Any:
        """Log-softmax over the vocabulary after ``prefix + ids`` for each (source index, ids)."""
        from transformers.modeling_outputs import BaseModelOutput

        torch = self._torch
        prefix = self.decoder_prefix(tgt)
        inputs = [[*prefix, *ids] for _, ids in rows]
        width = max(len(r) for r in inputs)
        decoder = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        for i, row in enumerate(inputs):
            decoder[i, : len(row)] = torch.tensor(row)
        index = torch.tensor([i for i, _ in rows], device=self.device)
        with torch.inference_mode():
            logits = self.model(
                encoder_outputs=BaseModelOutput(last_hidden_state=encoded.hidden[index]),
                attention_mask=encoded.mask[index],
                decoder_input_ids=decoder.to(self.device),
            ).logits
        return logits.float().log_softmax(-1)

    def forced_logprobs(
        self, encoded: EncodedSources, targets: Sequence[tuple[int, Sequence[int]]], tgt: str
    ) -> list[list[float]]:
        """Per-token log-probabilities of given target token sequences (forced decoding).

        ``targets`` are ``(source index in encoded, target ids)`` pairs; include
        ``</s>`` at the end to score a complete output (see :meth:`target_ids`).
        Batched in chunks of ``max_batch_size``; the encoder is not run again.
        """
        out: list[list[float]] = []
        offset = len(self.decoder_prefix(tgt)) - 1
        for start in range(0, len(targets), self.max_batch_size):
            chunk = targets[start : start + self.max_batch_size]
            rows = [(i, list(ids)[:-1]) for i, ids in chunk]
            logprobs = self._decoder_logprobs(encoded, rows, tgt)
            for row, (_, ids) in enumerate(chunk):
                positions = range(offset, offset + len(ids))
                out.append(
                    [float(logprobs[row, p, t]) for p, t in zip(positions, ids, strict=True)]
                )
        return out

    def next_token_logprobs(
        self, encoded: EncodedSources, prefixes: Sequence[tuple[int, Sequence[int]]], tgt: str
    ) -> Any:
        """Log-probability of every vocabulary token after each ``(source index, prefix ids)``.

        Returns a float tensor of shape (len(prefixes), vocab) on the CPU.
        """
        rows: list[Any] = []
        for start in range(0, len(prefixes), self.max_batch_size):
            chunk = list(prefixes[start : start + self.max_batch_size])
            logprobs = self._decoder_logprobs(encoded, chunk, tgt)
            last = len(self.decoder_prefix(tgt)) - 1
            for row, (_, ids) in enumerate(chunk):
                rows.append(logprobs[row, last + len(ids)].cpu())
        return self._torch.stack(rows) if rows else self._torch.empty(0)

    def forced_scores(
        self,
        encoded: EncodedSources,
        targets: Sequence[tuple[int, Sequence[int]]],
        tgt: str,
        *,
        watch: Sequence[int] = (),
    ) -> list[tuple[list[float], list[list[float]]]]:
        """Forced decoding that also reports what ``watch`` tokens would have scored at every step.

        For each ``(source index, ids)`` pair: the log-probability of every token of
        ``ids`` given the ones before it (as :meth:`forced_logprobs`), and for every
        step ``p`` the log-probabilities of the ``watch`` tokens in place of
        ``ids[p]``. Label projection (CODEC) uses it to bound inserting a marker at
        any point of a hypothesis from one forward pass. Batched in chunks of
        ``max_batch_size`` rows; the encoder is not run again.
        """
        torch = self._torch
        out: list[tuple[list[float], list[list[float]]]] = []
        offset = len(self.decoder_prefix(tgt)) - 1
        watched = torch.tensor(list(watch), dtype=torch.long, device=self.device)
        for start in range(0, len(targets), self.max_batch_size):
            chunk = targets[start : start + self.max_batch_size]
            logprobs = self._decoder_logprobs(
                encoded, [(i, list(ids)[:-1]) for i, ids in chunk], tgt
            )
            width = max(len(ids) for _, ids in chunk)
            index = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, (_, ids) in enumerate(chunk):
                index[row, : len(ids)] = torch.tensor(list(ids), dtype=torch.long)
            steps = logprobs[:, offset : offset + width]
            chosen = steps.gather(2, index.to(self.device)[:, :, None])[:, :, 0].cpu().tolist()
            extra = steps[:, :, watched].cpu().tolist() if len(watch) else None
            for row, (_, ids) in enumerate(chunk):
                size = len(ids)
                out.append(
                    (
                        chosen[row][:size],
                        extra[row][:size] if extra is not None else [[] for _ in range(size)],
                    )
                )
        return out
