"""Store: articles in, a searchable index out.

Enters: ``Article`` records from ``qa.sources`` and an embedder from ``qa.embedding``. Leaves: the
Chroma collection (``index``), the persisted BM25 keyword index (``keyword``) and vector search
over them (``vectors``), built incrementally (``build``) from sentence-aligned chunks
(``chunking``), with a record of which embedder wrote the vectors (``provenance``).
"""
