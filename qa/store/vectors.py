"""Scopes of passages and vector search within them, at a cost set by the scope, not the index.

A retrieval ranks passages within scopes: the whole index, the passages of the outlets a hop
names, those of the day (and time) it names. ``Scopes`` makes them from the keyword build's row
tables without a pass over every row: the rows are put in order of outlet, day and time once
(three stable argsorts at first use, 4 bytes per row each), so one outlet's or one day's rows
are a slice found by bisection. An outlet scope is its outlets' numbers (its rows are never
listed unless searched exactly); a day scope lists its rows.

``VectorSearch`` finds a scope's nearest passages to a question by the size of the scope:

- the whole index: one unrestricted search of Chroma's HNSW index;
- a small scope (at most ``exact_max`` passages): exactly, from the stored vectors of its own
  passages, read from the build's memory-mapped copy (``qa.store.vector_copy``; fetched from
  the store when the build has none), kept for the next question that searches it (outlets
  and days recur), up to ``CACHE_MAX`` vectors in all, the least recently used dropped first;
- a large one: the unrestricted HNSW search made wider (``k`` grown by the share of the index
  the scope holds, at most ``WIDE_MAX``) and filtered afterwards, one search per question shared
  by every large scope. A filtered HNSW search (Chroma's ``where``) costs what the filter
  admits: its metadata query lists every matching passage and the graph walk visits about
  1/share nodes for each one it keeps; a wider unrestricted search costs about ``k log N``
  (Malkov and Yashunin, "Efficient and robust approximate nearest neighbor search using
  Hierarchical Navigable Small World graphs", IEEE TPAMI 42(4), 2020, section 4.2), so it stays
  flat as the index grows. It finds the scope's passages among the ``k`` nearest of the whole
  index only: about ``k x share`` of them, fewer than asked for when the share is small (the
  embedding ranking is the minor one of the fusion; BM25 ranks every passage of the scope).

Results are rows of the keyword build the retriever has open; passages the store holds but that
build does not (written by a build still under way) are left out, so both sides rank the same
passages.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from qa.store.index import ArticleIndex
from qa.store.keyword import KeywordIndex

EXACT_MAX = 2000  # passages in a scope searched exactly (see docs/benchmarks.md, Scale)
CACHE_MAX = 50_000  # vectors of small scopes kept between questions (384-dim: 77 MB at most)
WIDE_MAX = 1000  # most neighbours one unrestricted HNSW search returns, to filter afterwards
WIDEN = 2.0  # how many more neighbours than a scope's share predicts the wide search asks for
_NONE = np.zeros(0, np.int64)


@dataclass(frozen=True, eq=False)
class Scope:
    """Passages a ranking may hold: every passage (neither ``codes`` nor ``rows``), those of
    some outlets (``codes``: their numbers in the keyword build, 1-based; ``sources``: their
    names), or exactly ``rows`` (keyword-build rows, int64, ascending). ``key`` names the scope
    for reuse: within one question, and across questions for a small scope's kept vectors."""

    codes: tuple[int, ...] = ()
    sources: tuple[str, ...] = ()
    rows: np.ndarray | None = None
    key: tuple[Any, ...] = field(default=())

    @property
    def whole(self) -> bool:
        """Whether the scope is every passage."""
        return not self.codes and self.rows is None


class Scopes:
    """Scopes of one keyword build and their sizes, members and membership tests; each costs
    the rows of its scope (or of the rows tested), never a pass over every row."""

    def __init__(self, keyword: KeywordIndex) -> None:
        self.keyword = keyword

    def _order(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The rows in order of the ``name`` column (stable: ascending within one value) and
        that column's values in that order."""
        values = np.asarray(self.keyword.arrays[name])
        order = np.argsort(values, kind="stable").astype(np.int32)
        return order, values[order]

    @cached_property
    def _by_source(self) -> tuple[np.ndarray, np.ndarray]:
        order, values = self._order("source")
        bounds = np.searchsorted(values, np.arange(len(self.keyword.sources) + 2))
        return order, bounds

    @cached_property
    def _by_day(self) -> tuple[np.ndarray, np.ndarray]:
        return self._order("day")

    @cached_property
    def _by_clock(self) -> tuple[np.ndarray, np.ndarray]:
        return self._order("clock")

    @cached_property
    def _days(self) -> np.ndarray:
        """The distinct days the build holds (YYYYMMDD, ascending)."""
        return np.unique(self._by_day[1])

    def warm(self) -> None:
        """Order the rows now rather than at the first question that names an outlet or day."""
        for name in ("_by_source", "_by_day", "_by_clock", "_days"):
            getattr(self, name)

    def outlets(self, names: Sequence[str], codes: Sequence[int]) -> Scope:
        """The passages of these outlets (names and 1-based numbers in the keyword build); no
        outlet at all is an empty scope, not the whole index."""
        key = ("outlets", tuple(names))
        if not codes:
            return Scope(rows=_NONE, key=key)
        return Scope(codes=tuple(codes), sources=tuple(names), key=key)

    def size(self, scope: Scope) -> int:
        """How many passages the scope holds."""
        if scope.rows is not None:
            return len(scope.rows)
        if not scope.codes:
            return self.keyword.rows
        bounds = self._by_source[1]
        return int(sum(bounds[c + 1] - bounds[c] for c in set(scope.codes)))

    def members(self, scope: Scope) -> np.ndarray:
        """The scope's rows (int64, ascending): O(size) for an outlet scope, O(N) for all."""
        if scope.rows is not None:
            return scope.rows
        if not scope.codes:
            return np.arange(self.keyword.rows, dtype=np.int64)
        order, bounds = self._by_source
        parts = [order[bounds[c] : bounds[c + 1]] for c in sorted(set(scope.codes))]
        return np.sort(np.concatenate(parts)).astype(np.int64)

    def admits(self, scope: Scope, rows: np.ndarray) -> np.ndarray:
        """Which of ``rows`` (int64, ascending) the scope holds (bool): O(len(rows))."""
        if scope.whole:
            return np.ones(len(rows), dtype=bool)
        if scope.rows is None:
            return np.isin(np.asarray(self.keyword.source)[rows], scope.codes)
        return within(rows, scope.rows)

    def days(self, days: Sequence[str]) -> np.ndarray:
        """The rows of the named days (``YYYY-MM-DD``, or ``MM-DD``: that day of any year),
        int64, ascending."""
        codes = set()
        for d in days:
            code = int(d.replace("-", ""))
            codes.update([code] if len(d) == 10 else
                         self._days[self._days % 10000 == code].tolist())
        order, values = self._by_day
        return _ranges(order, values, [(c, c) for c in sorted(codes)])

    def period(self, since: str = "", until: str = "") -> np.ndarray:
        """The rows published within ``since``..``until`` (``YYYY-MM-DD``, inclusive; an empty
        end is open), int64, ascending; by bisection over the rows in day order. Passages
        with no date (day 0) are in no period."""
        lo = int(since.replace("-", "")) if since else 1
        hi = int(until.replace("-", "")) if until else 99_991_231
        order, values = self._by_day
        return _ranges(order, values, [(max(lo, 1), hi)])

    def times(self, times: Sequence[str]) -> np.ndarray:
        """The rows published at the named times (``HH:MM``: any second of that minute;
        ``HH:MM:SS``; see ``keyword.day_and_clock``), int64, ascending."""
        spans = []
        for t in times:
            code = int(t.replace(":", ""))
            if len(t) == 5:
                spans.append((code * 100, code * 100 + 99))
            elif code % 100 < 60:  # HH:MM:SS; seconds 99 stand for "not given"
                spans.append((code, code))
        order, values = self._by_clock
        return _ranges(order, values, spans)


def _ranges(order: np.ndarray, values: np.ndarray, spans: Sequence[tuple[int, int]]
            ) -> np.ndarray:
    """The rows whose value lies in any of the inclusive ``spans`` (ascending, int64)."""
    parts = [order[np.searchsorted(values, lo) : np.searchsorted(values, hi, side="right")]
             for lo, hi in spans]
    if not parts:
        return _NONE
    return np.unique(np.concatenate(parts)).astype(np.int64)


def within(rows: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Which of ``rows`` are among ``members`` (both ascending): by bisection, O(r log m)."""
    if not len(members):
        return np.zeros(len(rows), dtype=bool)
    pos = np.minimum(np.searchsorted(members, rows), len(members) - 1)
    return members[pos] == rows


class VectorSearch:
    """Nearest passages to a question's unit vector within a scope, as keyword-build rows."""

    def __init__(self, index: ArticleIndex, keyword: KeywordIndex, *,
                 exact_max: int = EXACT_MAX, cache_max: int = CACHE_MAX,
                 wide_max: int = WIDE_MAX, scopes: Scopes | None = None) -> None:
        self.index = index
        self.keyword = keyword
        self.scopes = scopes or Scopes(keyword)
        self.exact_max = exact_max
        self.cache_max = cache_max  # vectors kept in all; 0: fetch them for every question
        self.wide_max = wide_max
        self._cache: OrderedDict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cached = 0  # vectors in the cache
        # the last unrestricted search (vector bytes, k, rows, similarities): the scopes of
        # one question share it; replaced whole, so threads at worst search again
        self._last: tuple[bytes, int, np.ndarray, np.ndarray] | None = None

    def top(self, vector: np.ndarray, scope: Scope, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` rows of ``scope`` (int64) and their cosine similarities (float32), best
        first; ties keep row order when exact. A large scope may get fewer than ``n`` (see the
        module's notes). Raises ``StoreError`` when the store cannot be read."""
        size = self.scopes.size(scope)
        if not size:
            return _NONE, np.zeros(0, np.float32)
        if scope.whole and size > self.exact_max:
            rows, sims = self.nearest(vector, n)
            return rows[:n], sims[:n]
        if size <= self.exact_max:
            return self._exact(vector, scope, n)
        share = size / max(self.keyword.rows, 1)
        rows, sims = self.nearest(vector, min(self.wide_max, math.ceil(WIDEN * n / share)))
        keep = self.scopes.admits(scope, rows)
        return rows[keep][:n], sims[keep][:n]

    def nearest(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest passages of the whole index by Chroma's HNSW index, as rows and
        similarities, best first; reuses the last search when it was as wide."""
        key = vector.tobytes()
        last = self._last
        if last is not None and last[0] == key and last[1] >= k:
            return last[2][:k], last[3][:k]
        k = min(k, self.keyword.rows)
        found, sims = self.index.nearest(vector.tolist(), k)
        rows = self.keyword.rows_of(found)
        keep = rows >= 0
        self._last = (key, k, rows[keep], sims[keep])
        return rows[keep], sims[keep]

    def _exact(self, vector: np.ndarray, scope: Scope, n: int) -> tuple[np.ndarray, np.ndarray]:
        rows, matrix = self._vectors(scope)
        if not len(rows):
            return _NONE, np.zeros(0, np.float32)
        # einsum, not a BLAS product: OpenBLAS threads left spinning slow the next question's
        # embedding on two cores
        sims = np.einsum("ij,j->i", matrix, vector.astype(np.float32)).astype(np.float32)
        order = np.argsort(-sims, kind="stable")[:n]
        return rows[order], sims[order]

    def _vectors(self, scope: Scope) -> tuple[np.ndarray, np.ndarray]:
        """The scope's rows (int64) and their unit vectors (float32, one row each): from the
        cache, else read from the build's vector copy or, for a build without one, fetched
        from the store (the rows it holds); then cached when they fit."""
        hit = self._cache.get(scope.key) if scope.key else None
        if hit is not None:
            self._cache.move_to_end(scope.key)
            return hit
        rows = self.scopes.members(scope)
        copy = self.keyword.vectors
        if copy is not None:  # the build's own copy: a page-cache read, no store call
            held_rows, matrix = rows, np.asarray(copy[rows], dtype=np.float32)
        else:
            ids = self.keyword.ids_of(rows)
            stored = self.index.passages(ids, vectors=True, texts=False)
            held = [(r, stored[i][1]) for r, i in zip(rows.tolist(), ids, strict=True)
                    if i in stored]
            if not held:
                return _NONE, np.zeros((0, 0), np.float32)
            held_rows = np.asarray([r for r, _v in held], dtype=np.int64)
            matrix = np.stack([v for _r, v in held]).astype(np.float32)
        if not len(held_rows):
            return _NONE, np.zeros((0, 0), np.float32)
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        found = (held_rows, matrix)
        if scope.key and len(held_rows) == len(rows) and len(rows) <= self.cache_max:
            # a scope missing passages (a build under way) is fetched again next time
            self._cache[scope.key] = found
            self._cached += len(rows)
            while self._cached > self.cache_max:
                _key, (old, _m) = self._cache.popitem(last=False)
                self._cached -= len(old)
        return found
