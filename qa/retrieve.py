"""Hybrid, multi-hop retrieval: BM25 and embedding similarity fused by rank, planned per hop.

``qa.plan`` reads a question's hops (outlet mentions with their days and times) and claims.
Each hop is ranked among its own
outlet's passages (that day's articles first, and by its own words as well as the whole
question); the final top-k takes the best article of every hop first, then the best passage
for every claim, then fills round-robin, at most ``per_article`` passages from one article.

Both searches are exact and in memory: BM25 (bm25s) scores every passage, and the passage
embeddings, read once from the index, are one matrix product away from the query's.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from qa.index import ArticleIndex
from qa.models import Chunk, ScoredChunk
from qa.plan import Hop, Plan, outlet_patterns, plan_hops

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
    article_of: Sequence[str],
    *,
    top_k: int,
    per_article: int,
    claim_rankings: Sequence[Sequence[int]] = (),
) -> list[int]:
    """The final top-k (pure). First the best passage of as many distinct articles as each hop
    was named, hop by hop; then the best passage left for each claim; then, round-robin over
    all those rankings and the overall one, the next best passages, at most ``per_article``
    from one article (relaxed when too few are left)."""
    chosen: list[int] = []
    taken: set[int] = set()
    per: dict[str, int] = defaultdict(int)
    used_by_hop: set[str] = set()

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


class Retriever:
    """Answers ``retrieve(question)`` from one snapshot of the index."""

    def __init__(self, index: ArticleIndex, options: RetrievalOptions | None = None) -> None:
        self.index = index
        self.options = options or RetrievalOptions()

    @cached_property
    def _chunks(self) -> list[Chunk]:
        return self.index.chunks()

    @cached_property
    def _meta(self) -> dict[str, Any]:
        """Per-passage arrays: article, outlet, day and time, for masks and grouping."""
        chunks = self._chunks
        sources = sorted({c.source for c in chunks if c.source})
        code = {s: n for n, s in enumerate(sources, start=1)}
        return {
            "article": [c.article_id for c in chunks],
            "source": np.array([code.get(c.source, 0) for c in chunks], dtype=np.int32),
            "code": code,
            "day": np.array([c.published_at[:10] for c in chunks]),
            "time": np.array([c.published_at[11:19] for c in chunks]),
            "patterns": outlet_patterns(sources),
        }

    @cached_property
    def _bm25(self) -> Any:
        import bm25s
        import Stemmer

        stemmer = Stemmer.Stemmer("english")
        tokens = bm25s.tokenize(
            [c.embed_text() for c in self._chunks],
            stopwords="en",
            stemmer=stemmer,
            show_progress=False,
        )
        model = bm25s.BM25()
        model.index(tokens, show_progress=False)
        return model, stemmer

    @cached_property
    def _matrix(self) -> np.ndarray:
        """Unit-length passage embeddings, row i for ``_chunks[i]``, read from the index once."""
        matrix = self.index.embeddings([c.id for c in self._chunks])
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms > 0, norms, 1.0)

    def warm(self) -> None:
        """Load the embedder, BM25 and the embeddings now instead of on the first query."""
        if self._chunks:
            self._meta  # noqa: B018
            self._bm25  # noqa: B018
            self._matrix  # noqa: B018
            # the whole vector path: the onnx embedders do not import torch for the product
            self.vector_scores_many(["warm up"])

    # --- the two searches, scoring every passage ----------------------------------------
    def vector_scores(self, question: str) -> np.ndarray:
        """Cosine similarity of every passage to the question."""
        return self.vector_scores_many([question])[0]

    def keyword_scores(self, question: str) -> np.ndarray:
        """BM25 score of every passage for the question (zeros when no word is indexed)."""
        import bm25s

        model, stemmer = self._bm25
        tokens = bm25s.tokenize(
            question, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False
        )[0]
        tokens = [t for t in tokens if t in model.vocab_dict]
        if not tokens:
            return np.zeros(len(self._chunks), dtype=np.float32)
        return model.get_scores(tokens)

    def _ranked(
        self,
        scores: Sequence[tuple[np.ndarray, float, bool]],
        mask: np.ndarray | None,
        first: np.ndarray | None = None,
    ) -> list[int]:
        """Passage rows fused by weighted RRF over each (scores, weight, positive only)
        ranking within ``mask``; rows in ``first`` (a boolean array) come before all others."""
        n = self.options.candidates
        fused: dict[int, float] = defaultdict(float)
        groups = [(first, 1.0)] if first is not None else []
        for group, bonus in [*groups, (None, 0.0)]:
            allowed = mask if group is None else (group if mask is None else mask & group)
            for arr, weight, positive in scores:
                vals = arr if allowed is None else np.where(allowed, arr, -np.inf)
                top = np.argpartition(-vals, min(n, len(vals) - 1))[:n]
                top = top[np.argsort(-vals[top], kind="stable")]
                keep = vals[top] > 0 if positive else np.isfinite(vals[top])
                for rank, i in enumerate(top[keep].tolist()):
                    fused[i] += bonus + weight / (RRF_K + rank + 1)
        return sorted(fused, key=lambda i: -fused[i])

    def _hop_mask(self, hop: Hop) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The hop's outlet mask, and the passages of its named day/time (None: no such)."""
        meta = self._meta
        mask = None
        if hop.sources and self.options.outlets:
            codes = [meta["code"][s] for s in hop.sources if s in meta["code"]]
            mask = np.isin(meta["source"], codes)
        if not self.options.dates or not (hop.days or hop.times):
            return mask, None
        within = mask if mask is not None else np.ones(len(self._chunks), dtype=bool)
        day = np.zeros(len(self._chunks), dtype=bool)
        for d in hop.days:
            day |= (meta["day"] == d) if len(d) == 10 else np.char.endswith(meta["day"], "-" + d)
        clock = np.zeros(len(self._chunks), dtype=bool)
        for t in hop.times:
            clock |= np.char.startswith(meta["time"], t)
        for first in (day & clock, day if hop.days else clock):
            if (first & within).any():
                return mask, first
        return mask, None

    def _score_texts(self, texts: Sequence[str]) -> dict[str, list[tuple[np.ndarray, float, bool]]]:
        """Each text's (scores, weight, positive only) rankings: BM25 for every text, and the
        embedding for the first (the whole question) only; embedding the clauses and claims
        too cost four times the latency and gained nothing on the dev questions."""
        out: dict[str, list[tuple[np.ndarray, float, bool]]] = {t: [] for t in texts}
        if self.options.vector and texts:
            sims = self.vector_scores_many(texts[:1])[0]
            out[texts[0]].append((sims, self.options.vector_weight, False))
        if self.options.keyword:
            for text in texts:
                out[text].append((self.keyword_scores(text), 1.0, True))
        return out

    def vector_scores_many(self, texts: Sequence[str]) -> np.ndarray:
        """Cosine similarity of every passage to each text, one row per text.

        The product runs in torch, on the embedder's own threads: a numpy (OpenBLAS) product
        leaves its threads spinning and slows the next query's embedding threefold on 2 cores.
        Each text is embedded as a query: on the onnx backends that is one thread, no spinning.
        """
        import torch

        embedder = self.index.embedder
        vectors = torch.tensor([embedder.get_query_embedding(t) for t in texts],
                               dtype=torch.float32)
        vectors = torch.nn.functional.normalize(vectors, dim=1)
        return (vectors @ torch.from_numpy(self._matrix).T).numpy()

    def plan(self, question: str) -> Plan:
        """The question's hops (outlets of this index it names, with days and times) and
        claims, as retrieval follows them."""
        if not self._chunks:
            return Plan()
        opts = self.options
        return plan_hops(question, self._meta["patterns"] if opts.outlets else [],
                         dates=opts.dates)

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """BM25's inverse document frequency of each stemmed term over this index's passages
        (Robertson-Sparck Jones with +1 inside the log, as bm25s and Lucene use); a term no
        passage holds gets the highest value."""
        model, _stemmer = self._bm25
        indptr = model.scores["indptr"]
        total = len(self._chunks)
        out = {}
        for term in terms:
            tid = model.vocab_dict.get(term)
            df = int(indptr[tid + 1] - indptr[tid]) if tid is not None else 0
            out[term] = math.log(1 + (total - df + 0.5) / (df + 0.5))
        return out

    def retrieve(self, question: str, *, top_k: int | None = None) -> list[ScoredChunk]:
        """The passages for a question, best first, every named hop and claim represented."""
        if not self._chunks or not question.strip():
            return []
        opts = self.options
        plan = self.plan(question)
        clauses = {h: c for h, c in plan.clauses.items() if opts.clauses}
        claims = plan.claims if opts.claims else ()
        texts = list(dict.fromkeys([question, *(t for c in clauses.values() for t in c),
                                    *claims]))
        scores = self._score_texts(texts)
        full = scores[question]
        hop_rankings: list[tuple[list[int], int]] = []
        masks = []
        for hop in plan.hops:
            mask, first = self._hop_mask(hop)
            if mask is None and first is None:
                continue
            masks.append(mask)
            count = plan.counts[hop] if opts.hops_first else 0
            own = clauses.get(hop, ())
            if own and len(own) == count:  # one ranking per mention, each by its own words
                hop_rankings += [(self._ranked(full + scores[t], mask, first), 1) for t in own]
            else:
                extra = [r for t in own for r in scores[t]]
                hop_rankings.append((self._ranked(full + extra, mask, first), count))
        named = [m for m in masks if m is not None]
        claim_mask = np.logical_or.reduce(named) if named else None
        claim_rankings = [self._ranked(full + scores[c], claim_mask) for c in claims]
        rows = assemble(
            hop_rankings,
            self._ranked(full, None),
            self._meta["article"],
            top_k=top_k or opts.top_k,
            per_article=opts.per_article,
            claim_rankings=claim_rankings,
        )
        vec = full[0][0] if opts.vector else None
        kw = full[-1][0] if opts.keyword else None
        n = len(rows)
        return [
            ScoredChunk(
                chunk=self._chunks[i],
                score=float(n - rank) / n,
                vector_score=float(vec[i]) if vec is not None else None,
                bm25_score=float(kw[i]) if kw is not None else None,
            )
            for rank, i in enumerate(rows)
        ]


def best_similarity(passages: Sequence[ScoredChunk]) -> float:
    """Highest cosine similarity among the passages (0 when none has one)."""
    return max((p.vector_score for p in passages if p.vector_score is not None), default=0.0)


__all__ = [
    "Hop",
    "Plan",
    "RetrievalOptions",
    "Retriever",
    "assemble",
    "best_similarity",
    "outlet_patterns",
    "plan_hops",
    "rrf",
]
