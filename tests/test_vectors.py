"""``qa.store.vectors``: for a build without a vector copy (``qa.store.vector_copy``; made before
copies were kept, or by a process that could not write one), a small scope's vectors are fetched
from the store once, then kept for the next question within a bound, and the kept ones rank
exactly as freshly fetched ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from qa.retrieval.retrieve import Retriever
from qa.store.build import build_index
from qa.store.index import ArticleIndex
from qa.store.vectors import Scope, VectorSearch


def test_a_small_scopes_vectors_are_fetched_once_and_the_cache_is_bounded(
    make_settings, embedder, seed_folder: Path
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    build_index(seed_folder, settings, index=ArticleIndex(settings, embedder=embedder))
    index = ArticleIndex(settings, embedder=embedder)
    retriever = Retriever(index)
    kw = retriever.keyword
    assert kw.vectors is not None
    kw.vectors = None  # as a build without a copy
    vector = retriever.embed_question("How much military aid has NATO delivered?")
    fetched: list[int] = []
    store = index.passages

    def counted(ids: Any, **options: Any) -> Any:
        fetched.append(len(ids))
        return store(ids, **options)

    index.passages = counted  # type: ignore[method-assign]
    whole, other = Scope(key=("all",)), Scope(key=("also all",))
    cached = VectorSearch(index, kw, exact_max=10**6)
    first = cached.top(vector, whole, 5)
    again = cached.top(vector, whole, 5)
    assert fetched == [kw.rows], "the second search read no vectors from the store"
    fresh = VectorSearch(index, kw, exact_max=10**6, cache_max=0).top(vector, whole, 5)
    for a, b in ((first, again), (first, fresh)):
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert len(fetched) == 2, "cache_max=0 keeps nothing"

    one = VectorSearch(index, kw, exact_max=10**6, cache_max=kw.rows)  # room for one scope
    fetched.clear()
    for scope in (whole, other, other, whole):
        one.top(vector, scope, 5)
    assert len(fetched) == 3, "the least recently used scope made room for the other"
