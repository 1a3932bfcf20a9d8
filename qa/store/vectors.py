"""Vector search within a scope of passages: by the store's HNSW index, or exactly.

A retrieval ranks passages within scopes: the whole index, the passages of the outlets a hop
names, those of the day it names. A large scope is searched by Chroma's HNSW index (filtered
by outlet, or restricted to the scope's ids); a small one exactly, from the stored vectors of
its own passages, which is cheaper there than a filtered graph search (that has to walk the
graph until enough of its few passages turn up) and exact. A small scope's vectors, once
fetched, are kept for the next question that searches it (outlets and days recur), up to
``CACHE_MAX`` vectors in all, the least recently used dropped first: memory is bounded by that,
not by the size of the index. Results are rows of the keyword build the retriever has open;
passages the store holds but that build does not (written by a build still under way) are
left out, so both sides rank the same passages.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qa.errors import StoreError
from qa.store.index import ArticleIndex
from qa.store.keyword import KeywordIndex

EXACT_MAX = 2000  # passages in a scope searched exactly (see docs/benchmarks.md, Scale)
CACHE_MAX = 50_000  # vectors of small scopes kept between questions (384-dim: 77 MB at most)


@dataclass(frozen=True, eq=False)
class Scope:
    """Passages a ranking may hold: a boolean mask over the keyword build's rows (None: all of
    them) and, when the mask is exactly some outlets' passages, those outlets (the store
    filters by them); ``key`` names the scope for reuse within one question."""

    mask: np.ndarray | None = None
    sources: tuple[str, ...] = ()
    key: tuple[Any, ...] = field(default=())

    def size(self, rows: int) -> int:
        """How many of the ``rows`` passages the scope holds."""
        return rows if self.mask is None else int(np.count_nonzero(self.mask))

    def within(self, other: Scope | None) -> Scope:
        """This scope narrowed to ``other`` (its outlets, if any, no longer say it all)."""
        if other is None:
            return self
        mask = other.mask if self.mask is None else (
            self.mask if other.mask is None else self.mask & other.mask)
        return Scope(mask, (), (*self.key, "&", *other.key))


class VectorSearch:
    """Nearest passages to a question's unit vector within a scope, as keyword-build rows."""

    def __init__(self, index: ArticleIndex, keyword: KeywordIndex, *,
                 exact_max: int = EXACT_MAX, cache_max: int = CACHE_MAX) -> None:
        self.index = index
        self.keyword = keyword
        self.exact_max = exact_max
        self.cache_max = cache_max  # vectors kept in all; 0: fetch them for every question
        self._cache: OrderedDict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cached = 0  # vectors in the cache

    def top(self, vector: np.ndarray, scope: Scope, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` rows of ``scope`` (int64) and their cosine similarities (float32), best
        first; ties keep row order. Raises ``StoreError`` when the store cannot be read."""
        size = scope.size(self.keyword.rows)
        if not size:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if size <= self.exact_max:
            return self._exact(vector, scope, n)
        where = {"source": {"$in": list(scope.sources)}} if scope.sources else None
        ids = None
        if scope.mask is not None and where is None:
            ids = self.keyword.ids_of(np.flatnonzero(scope.mask))
        try:
            found, sims = self.index.nearest(vector.tolist(), min(n, size), where=where, ids=ids)
        except StoreError:
            if ids is None:
                raise
            # Chroma refuses ids it no longer holds (removed by a build under way)
            return self._exact(vector, scope, n)
        rows = self.keyword.rows_of(found)
        keep = rows >= 0
        if scope.mask is not None:
            keep &= np.where(keep, scope.mask[np.maximum(rows, 0)], False)
        return rows[keep], sims[keep]

    def _exact(self, vector: np.ndarray, scope: Scope, n: int) -> tuple[np.ndarray, np.ndarray]:
        rows, matrix = self._vectors(scope)
        if not len(rows):
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        # einsum, not a BLAS product: OpenBLAS threads left spinning slow the next question's
        # embedding on two cores
        sims = np.einsum("ij,j->i", matrix, vector.astype(np.float32)).astype(np.float32)
        order = np.argsort(-sims, kind="stable")[:n]
        return rows[order], sims[order]

    def _vectors(self, scope: Scope) -> tuple[np.ndarray, np.ndarray]:
        """The scope's rows the store holds (int64) and their unit vectors (float32, one row
        each), from the cache or fetched from the store (then cached when they fit)."""
        hit = self._cache.get(scope.key) if scope.key else None
        if hit is not None:
            self._cache.move_to_end(scope.key)
            return hit
        rows = np.arange(self.keyword.rows) if scope.mask is None else np.flatnonzero(scope.mask)
        ids = self.keyword.ids_of(rows)
        stored = self.index.passages(ids, vectors=True, texts=False)
        held = [(r, stored[i][1]) for r, i in zip(rows.tolist(), ids, strict=True) if i in stored]
        if not held:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        matrix = np.stack([v for _r, v in held]).astype(np.float32)
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        found = (np.asarray([r for r, _v in held], dtype=np.int64), matrix)
        if scope.key and len(held) == len(rows) and len(rows) <= self.cache_max:
            # a scope missing passages (a build under way) is fetched again next time
            self._cache[scope.key] = found
            self._cached += len(rows)
            while self._cached > self.cache_max:
                _key, (old, _m) = self._cache.popitem(last=False)
                self._cached -= len(old)
        return found
