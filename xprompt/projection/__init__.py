"""Label projection: move span labels (NER, slots, arguments) across a translation.

- :mod:`~xprompt.projection.spans`: span-labelled sentences, validation, CoNLL/JSONL files;
- :mod:`~xprompt.projection.markers`: the marker-based baseline (EasyProject);
- :mod:`~xprompt.projection.codec`: CODEC's search (branch-and-bound, heuristic, pre-filter);
- :mod:`~xprompt.projection.projector`: CODEC for whole sentences (re-ranking, merging);
- :mod:`~xprompt.projection.pipeline`: translate-train and translate-test over batches;
- :mod:`~xprompt.projection.job`: the resumable file job behind ``xprompt project``;
- :mod:`~xprompt.projection.metrics`: span-level precision, recall and F1.
"""
