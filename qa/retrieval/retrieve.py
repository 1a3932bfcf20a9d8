"""Hybrid, multi-hop retrieval: BM25 and embedding similarity fused by rank, planned per hop.

``qa.retrieval.plan`` reads a question's hops (outlet mentions with their days and times) and
claims. Each hop is ranked among its own outlet's passages (that day's articles first, and by its
own words as well as the whole question); the final top-k takes the best article of every hop first,
then the best passage for every claim, then fills round-robin, at most ``per_article`` passages from
one article.

Nothing is read whole at start. BM25 scores each of the question's texts once, from the
postings of its terms in the keyword index that ``qa index`` built (``qa.store.keyword``,
memory-mapped; the build the collection's stamp names), and each scope's best passages are
picked among the scope's own rows (an outlet's or a day's rows are slices found by bisection:
``qa.store.vectors.Scopes``), never with a mask over every row. The embedding side asks the
store for the nearest passages within each scope (``qa.store.vectors``: one HNSW search of
Chroma's index, widened and filtered afterwards for the large scopes, or exactly over a small
scope's stored vectors); the texts, metadata and vectors of the final top-k alone are then
fetched. What still grows with the index: BM25's postings of the question's common words and
its one float per passage (zeroed per text), and the HNSW search widened for large scopes
(docs/benchmarks.md, Scale). A small scope's stored vectors are read from the build's
memory-mapped copy (``qa.store.vector_copy``), not fetched from the store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np

from qa.models import ScoredChunk
from qa.retrieval.dates import LATEST_POOL, Within, newest_first
from qa.retrieval.plan import Hop, Plan, outlet_patterns, plan_hops
from qa.store import keyword
from qa.store.index import ArticleIndex
from qa.store.keyword import KeywordIndex
from qa.store.vectors import EXACT_MAX, Scope, Scopes, VectorSearch

RRF_K = 60  # the constant of reciprocal rank fusion (Cormack et al., 2009)


@dataclass(frozen=True)
class RetrievalOptions:
    """How wide each side searches and which steps shape the ranking (all on by default)."""

    top_k: int = 10
    candidates: int = 100  # per ranking, before fusion
    per_article: int = 5  # most passages one article may hold in the top-k
    keyword: bool = True  # BM25 ranking
    vector: bool = True  # embedding ranking
    outlets: bool = True  # a named outlet is a hop ranked among its own passages
    dates: bool = True  # a named day or time ranks that day's articles of the hop first
    hops_first: bool = True  # every hop's best article enters the top-k before the rest
    clauses: bool = True  # each mention is also ranked by the words that follow it
    claims: bool = True  # each comma-separated claim of the question gets its best passage
    vector_weight: float = 0.3  # weight of the embedding ranking in the fusion (BM25: 1)


def rrf(rankings: Sequence[Sequence[str]], *, k: int = RRF_K) -> dict[str, float]:
    """Reciprocal rank fusion of several best-first id lists (pure)."""
    scores: dict[str, float] = defaultdict(float)
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] += 1.0 / (k + rank + 1)
    return dict(scores)


# --- shaping the top-k (pure) -------------------------------------------------------------------


def assemble(
    hop_rankings: Sequence[tuple[Sequence[int], int]],
    rest: Sequence[int],
    article_of: Sequence[Any],
    *,
    top_k: int,
    per_article: int,
    claim_rankings: Sequence[Sequence[int]] = (),
) -> list[int]:
    """The final top-k (pure); ``article_of[i]`` is row i's article (any hashable label).
    First the best passage of as many distinct articles as each hop
    was named, hop by hop; then the best passage left for each claim; then, round-robin over
    all those rankings and the overall one, the next best passages, at most ``per_article``
    from one article (relaxed when too few are left)."""
    chosen: list[int] = []
    taken: set[int] = set()
    per: dict[Any, int] = defaultdict(int)
    used_by_hop: set[Any] = set()

    def take(i: int) -> None:
        chosen.append(i)
        taken.add(i)
        per[article_of[i]] += 1

    for ranking, count in hop_rankings:
        got = 0
        for i in ranking:
            if got >= count or len(chosen) >= top_k:
                break
            if i not in taken and article_of[i] not in used_by_hop:
                take(i)
                used_by_hop.add(article_of[i])
                got += 1
    for ranking in claim_rankings:
        for i in ranking:
            if len(chosen) >= top_k:
                break
            if i not in taken and per[article_of[i]] < per_article:
                take(i)
                break
    queues = [list(r) for r, _c in hop_rankings] + [list(r) for r in claim_rankings] + [list(rest)]
    for cap in (per_article, top_k):
        pos = [0] * len(queues)
        while len(chosen) < top_k and any(p < len(q) for p, q in zip(pos, queues, strict=True)):
            for n, queue in enumerate(queues):
                while pos[n] < len(queue):
                    i = queue[pos[n]]
                    pos[n] += 1
                    if i not in taken and per[article_of[i]] < cap:
                        take(i)
                        break
                if len(chosen) >= top_k:
                    break
    return chosen


# --- the retriever ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Ranking:
    """One ranking fed to the fusion: BM25 scores of every row for a text (float32; positive
    ones rank), or the question's unit embedding (the store's nearest passages rank)."""

    weight: float
    scores: np.ndarray | None = None
    vector: np.ndarray | None = None


def best(values: np.ndarray, n: int, rows: np.ndarray | None = None) -> np.ndarray:
    """The ``n`` rows of highest positive value (int64, best first, ties: lower row first),
    among ``rows`` (ascending) when given, else among all of ``values``' positions (pure).
    Costs O(len(rows)), or O(len(values)) without ``rows``."""
    vals = values if rows is None else values[rows]
    if len(vals) > n > 0:
        cut = float(vals[np.argpartition(-vals, n - 1)[n - 1]])
        pos = np.flatnonzero(vals >= max(cut, float(np.finfo(np.float32).tiny)))
    else:
        pos = np.flatnonzero(vals > 0)
    pos = pos[np.argsort(-vals[pos], kind="stable")][:n]
    return (pos if rows is None else rows[pos]).astype(np.int64)


_WHOLE = Scope(key=("all",))


class Retriever:
    """Answers ``retrieve(question)`` from one build of the index: the keyword build the
    collection's stamp named when it was opened, and the store's vectors."""

    def __init__(self, index: ArticleIndex, options: RetrievalOptions | None = None, *,
                 exact_max: int = EXACT_MAX) -> None:
        self.index = index
        self.options = options or RetrievalOptions()
        self.exact_max = exact_max  # scopes of at most this many passages are searched exactly

    @cached_property
    def keyword(self) -> KeywordIndex:
        """The keyword build this retriever answers from (made now if the store has none)."""
        if not self.index.exists():
            return KeywordIndex.build([])
        state = self.index.state()
        return keyword.open_build(self.index.keyword_root, state.key, complete=not state.writing,
                                  rows=state.count, load_chunks=self.index.chunks)

    def with_options(self, options: RetrievalOptions) -> Retriever:
        """This retriever with other ``options`` (a timeline's deep retrieval), sharing what it
        has opened: the keyword build, its scopes, the vector search and its caches, so no
        second copy is read or sorted."""
        other = Retriever(self.index, options, exact_max=self.exact_max)
        for name in ("keyword", "scopes", "_search", "_codes", "_patterns"):
            if name in self.__dict__:  # a cached_property already computed here
                other.__dict__[name] = self.__dict__[name]
        return other

    @property
    def stamp(self) -> str:
        """The build stamp of the keyword build open (``StoreState.key`` when it was opened)."""
        return self.keyword.stamp

    @cached_property
    def scopes(self) -> Scopes:
        """The keyword build's outlets, days and times as scopes."""
        return Scopes(self.keyword)

    @cached_property
    def newest_day(self) -> date | None:
        """The day of the newest dated passage of this build (None: no dated passage); one
        pass over the day column, once per build."""
        days = np.asarray(self.keyword.arrays["day"]) if self.keyword.rows else np.zeros(0)
        newest = int(days.max()) if len(days) else 0
        if not newest:
            return None
        return date(newest // 10000, newest // 100 % 100, newest % 100)

    def _within(self, within: Within) -> Scope:
        """The passages ``within`` admits, listed (by bisection over the rows in day order,
        then outlets by their numbers; ``Scopes``)."""
        rows = self.scopes.period(within.since, within.until) \
            if within.since or within.until else None
        if within.outlets:
            names = tuple(o for o in within.outlets if o in self._codes)
            outlets = self.scopes.outlets(names, [self._codes[o] for o in names])
            rows = self.scopes.members(outlets) if rows is None \
                else rows[self.scopes.admits(outlets, rows)]
        assert rows is not None
        return Scope(rows=rows, key=("within", within.since, within.until, within.outlets))

    def _narrow(self, scope: Scope, base: Scope) -> Scope:
        """The passages of ``scope`` that ``base`` holds (``scope`` itself when ``base`` is
        every passage)."""
        if base.whole:
            return scope
        if scope.whole:
            return base
        assert base.rows is not None
        rows = base.rows[self.scopes.admits(scope, base.rows)]
        return Scope(rows=rows, sources=scope.sources, key=(*scope.key, "&", *base.key))

    @cached_property
    def _search(self) -> VectorSearch:
        self.index.require_searchable()
        return VectorSearch(self.index, self.keyword, exact_max=self.exact_max,
                            scopes=self.scopes)

    @cached_property
    def _codes(self) -> dict[str, int]:
        return {s: k for k, s in enumerate(self.keyword.sources, start=1)}

    @cached_property
    def _patterns(self) -> list[Any]:
        return outlet_patterns(self.keyword.sources)

    def warm(self) -> None:
        """Open the keyword build, load the embedder and have the store load its vector index
        now, instead of on the first question."""
        if self.keyword.rows:
            self._patterns  # noqa: B018
            self.scopes.warm()
            self._search.top(self.embed_question("warm up"), _WHOLE, self.options.candidates)
            self.index.passages(self.keyword.ids_of([0]), vectors=True)

    # --- the two sides ----------------------------------------------------------------------
    def embed_question(self, text: str) -> np.ndarray:
        """The text's unit embedding as a query (float32). On the onnx backends it runs on the
        calling thread alone, leaving the other core to the local model."""
        vector = np.asarray(self.index.embedder.get_query_embedding(text), dtype=np.float32)
        return vector / max(float(np.linalg.norm(vector)), 1e-12)

    def keyword_scores(self, text: str) -> np.ndarray:
        """BM25 score of every passage (keyword build row) for the text."""
        return self.keyword.scores(text)

    def _top(self, ranking: _Ranking, scope: Scope, memo: dict[Any, Any]) -> np.ndarray:
        """The ranking's best ``candidates`` rows within the scope (ties: lower row first)."""
        n = self.options.candidates
        if ranking.vector is not None:
            if scope.key not in memo:  # one question, one vector: each scope searched once
                memo[scope.key] = self._search.top(ranking.vector, scope, n)[0]
            return memo[scope.key]
        assert ranking.scores is not None
        if scope.whole:
            return best(ranking.scores, n)
        if scope.rows is None and ("rows", scope.key) not in memo:  # an outlet's: listed once
            memo["rows", scope.key] = self.scopes.members(scope)
        return best(ranking.scores, n,
                    scope.rows if scope.rows is not None else memo["rows", scope.key])

    def _ranked(self, rankings: Sequence[_Ranking], scope: Scope, first: Scope | None,
                memo: dict[Any, Any]) -> list[int]:
        """Rows fused by weighted RRF over the rankings within ``scope``; rows of ``first``
        (a part of ``scope``) come before all others."""
        fused: dict[int, float] = defaultdict(float)
        groups = [(first, 1.0)] if first is not None else []
        for allowed, bonus in [*groups, (scope, 0.0)]:
            for ranking in rankings:
                for rank, i in enumerate(self._top(ranking, allowed, memo).tolist()):
                    fused[i] += bonus + ranking.weight / (RRF_K + rank + 1)
        return sorted(fused, key=lambda i: -fused[i])

    def _hop_scope(self, hop: Hop) -> tuple[Scope | None, Scope | None]:
        """The hop's outlets' passages, and those of them of its named day/time (None: no
        such); the day scope lists its rows, found by bisection (``Scopes``)."""
        scopes = self.scopes
        outlets = None
        if hop.sources and self.options.outlets:
            names = tuple(s for s in hop.sources if s in self._codes)
            outlets = scopes.outlets(names, [self._codes[s] for s in names])
        if not self.options.dates or not (hop.days or hop.times):
            return outlets, None
        day = scopes.days(hop.days) if hop.days else None
        clock = scopes.times(hop.times) if hop.times else None
        both = np.intersect1d(day, clock, assume_unique=True) \
            if day is not None and clock is not None else None
        for first in (both, day if day is not None else clock):
            if first is None:
                continue
            if outlets is not None:
                first = first[scopes.admits(outlets, first)]
            if len(first):
                key = (*(outlets.key if outlets is not None else _WHOLE.key), "&", "day", hop)
                return outlets, Scope(rows=first, key=key)
        return outlets, None

    def _score_texts(self, texts: Sequence[str]) -> dict[str, list[_Ranking]]:
        """Each text's rankings: BM25 for every text, and the embedding for the first (the
        whole question) only; embedding the clauses and claims too cost four times the
        latency and gained nothing on the dev questions."""
        out: dict[str, list[_Ranking]] = {t: [] for t in texts}
        if self.options.vector and texts:
            out[texts[0]].append(_Ranking(self.options.vector_weight,
                                          vector=self.embed_question(texts[0])))
        if self.options.keyword:
            for text in texts:
                out[text].append(_Ranking(1.0, scores=self.keyword_scores(text)))
        return out

    def plan(self, question: str) -> Plan:
        """The question's hops (outlets of this index it names, with days and times) and
        claims, as retrieval follows them."""
        if not self.keyword.rows:
            return Plan()
        opts = self.options
        return plan_hops(question, self._patterns if opts.outlets else [], dates=opts.dates)

    def outlet_spans(self, question: str) -> list[tuple[int, int]]:
        """Where ``question`` names an outlet of this index (start, end), as ``plan`` reads them."""
        return [m.span() for pattern, _names in self._patterns for m in pattern.finditer(question)]

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """BM25's inverse document frequency of each stemmed term over this index's passages
        (Robertson-Sparck Jones with +1 inside the log, as bm25s and Lucene use); a term no
        passage holds gets the highest value."""
        return self.keyword.idf(terms)

    def retrieve(self, question: str, *, top_k: int | None = None,
                 within: Within | None = None) -> list[ScoredChunk]:
        """The passages for a question, best first, every named hop and claim represented;
        only those ``within`` admits, newest first among the matching when it asks for the
        latest. Raises ``StoreError`` when the store cannot be read."""
        if not self.keyword.rows or not question.strip():
            return []
        opts = self.options
        within = within or Within()
        base = self._within(within) if within.restricts else _WHOLE
        if base.rows is not None and not len(base.rows):
            return []
        top_k = top_k or opts.top_k
        plan = self.plan(question)
        clauses = {h: c for h, c in plan.clauses.items() if opts.clauses}
        claims = plan.claims if opts.claims else ()
        texts = list(dict.fromkeys([question, *(t for c in clauses.values() for t in c),
                                    *claims]))
        scores = self._score_texts(texts)
        full = scores[question]
        memo: dict[Any, Any] = {}
        hop_rankings: list[tuple[list[int], int]] = []
        named: list[Scope] = []
        for hop in plan.hops:
            outlets, first = self._hop_scope(hop)
            if outlets is None and first is None:
                continue
            if outlets is not None:
                named.append(outlets)
            scope = self._narrow(outlets or _WHOLE, base)
            if first is not None:  # the day named, within the period set: else no day first
                first = self._narrow(first, base)
                first = first if first.rows is not None and len(first.rows) else None
            count = plan.counts[hop] if opts.hops_first else 0
            own = clauses.get(hop, ())
            if own and len(own) == count:  # one ranking per mention, each by its own words
                hop_rankings += [(self._ranked(full + scores[t], scope, first, memo), 1)
                                 for t in own]
            else:
                extra = [r for t in own for r in scores[t]]
                hop_rankings.append((self._ranked(full + extra, scope, first, memo), count))
        claim_scope = _WHOLE
        if named:
            names = tuple(dict.fromkeys(n for s in named for n in s.sources))
            claim_scope = self.scopes.outlets(names, [self._codes[n] for n in names])
        claim_scope = self._narrow(claim_scope, base)
        claim_rankings = [self._ranked(full + scores[c], claim_scope, None, memo) for c in claims]
        rows = assemble(
            hop_rankings,
            self._ranked(full, base, None, memo),
            self.keyword.article,
            top_k=top_k * LATEST_POOL if within.latest else top_k,
            per_article=opts.per_article,
            claim_rankings=claim_rankings,
        )
        found = self._passages(rows, full)
        return newest_first(found, top_k) if within.latest else found

    def _passages(self, rows: list[int], full: list[_Ranking]) -> list[ScoredChunk]:
        """The top rows as scored passages, read from the store (a passage it no longer holds,
        removed by a build under way, is left out)."""
        vec = next((r.vector for r in full if r.vector is not None), None)
        kw = next((r.scores for r in full if r.scores is not None), None)
        ids = self.keyword.ids_of(rows)
        found = self.index.passages(ids, vectors=vec is not None)
        n = len(rows)
        out = []
        for rank, cid in enumerate(ids):
            if cid not in found:
                continue
            chunk, stored = found[cid]
            assert chunk is not None
            similarity = None
            if vec is not None and stored is not None:
                similarity = float(stored @ vec) / max(float(np.linalg.norm(stored)), 1e-12)
            out.append(ScoredChunk(chunk=chunk, score=float(n - rank) / n,
                                   vector_score=similarity,
                                   bm25_score=float(kw[rows[rank]]) if kw is not None
                                   else None))
        return out


def best_similarity(passages: Sequence[ScoredChunk]) -> float:
    """Highest cosine similarity among the passages (0 when none has one)."""
    return max((p.vector_score for p in passages if p.vector_score is not None), default=0.0)


__all__ = [
    "Hop",
    "Plan",
    "RetrievalOptions",
    "Retriever",
    "Within",
    "assemble",
    "best",
    "best_similarity",
    "newest_first",
    "outlet_patterns",
    "plan_hops",
    "rrf",
]
