"""Machine translation: the translator interface, its cache, self-translate, metrics and batch jobs.

Two real translators implement :class:`~xprompt.mt.base.Translator`: seq2seq MT
models through transformers (:mod:`xprompt.backends.seq2seq`) and self-translate
with any LLM backend (:mod:`xprompt.mt.self_translate`). A
:class:`~xprompt.mt.cache.CachedTranslator` wraps either with the same interface.
"""
