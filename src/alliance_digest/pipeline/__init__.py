"""The framework-free pipeline core: plain dataclasses and functions.

Nothing in this package imports Django, so every stage can be tested,
benchmarked and run in a worker on its own.

Stages, in order: :mod:`.sources` (read inputs) -> :mod:`.feeds`,
:mod:`.extract`, :mod:`.jsonl` (turn them into :class:`.records.ArticleRecord`)
-> :mod:`.relevance` -> :mod:`.grouping` -> :mod:`.ranking` -> :mod:`.summarise`
-> :mod:`.compose`.
"""
