"""LDP: synthetic exemplars from linguistically diverse prompts (Nguyen et al., ACL 2024).

Prompt an LLM in a low-resource language X with no human-labelled X data:

- :mod:`~xprompt.ldp.exemplar_set`: exemplar sets as JSONL data (pairs and
  triples with provenance and check results); the shipped diverse
  X -> English pairs (Arabic, Chinese, Vietnamese, French);
- :mod:`~xprompt.ldp.prompt`: the paper's layout (pairs ``[input]\\n[output]``)
  with native, no, English-name or code tags;
- :mod:`~xprompt.ldp.translator`: an LDP :class:`~xprompt.mt.base.Translator`
  (X -> English with diverse pairs, English -> X with synthetic in-language
  pairs, X -> Y through English);
- :mod:`~xprompt.ldp.filters` and :mod:`~xprompt.ldp.synth`: back-translation
  of unlabelled X text into filtered English <-> X pairs and X -> Y triples,
  every rejected candidate recorded with its reasons;
- :mod:`~xprompt.ldp.tasks`: task exemplars in X from English ones;
- :mod:`~xprompt.ldp.report`: LDP against zero-shot and supervised few-shot
  (chrF++, off-target rate).
"""
