"""Hybrid retrieval: llama-index's vector retriever over Chroma plus BM25, fused by rank.

News questions name outlets ("according to TechCrunch") and compare several articles, so
after fusion the ranking boosts passages from named outlets, then spreads the final top-k over
articles and over each named outlet so every hop of a multi-hop question gets a passage.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from qa.index import ArticleIndex
from qa.models import Chunk, ScoredChunk

RRF_K = 60  # the constant of reciprocal rank fusion (Cormack et al., 2009)


@dataclass(frozen=True)
class RetrievalOptions:
    """How wide each side searches and how the fused list is shaped."""

    top_k: int = 10
    candidates: int = 50  # per side, before fusion
    per_article: int = 3  # most passages one article may hold in the top-k
    source_boost: float = 1.0  # added fused weight (in RRF units of rank 1) for a named outlet


def rrf(rankings: Sequence[Sequence[str]], *, k: int = RRF_K) -> dict[str, float]:
    """Reciprocal rank fusion of several best-first id lists (pure)."""
    scores: dict[str, float] = defaultdict(float)
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] += 1.0 / (k + rank + 1)
    return dict(scores)


def named_sources(question: str, sources: Sequence[str]) -> list[str]:
    """Outlets from ``sources`` that the question names, in the order it names them."""
    lowered = question.lower()
    found = []
    for source in sources:
        name = source.lower().strip()
        if len(name) < 3:
            continue
        pos = lowered.find(name)
        if pos >= 0 and re.match(r"\W|$", lowered[pos + len(name) : pos + len(name) + 1] or " "):
            found.append((pos, source))
    return [s for _pos, s in sorted(found)]


def diversify(ranked: Sequence[ScoredChunk], *, top_k: int, per_article: int,
              sources: Sequence[str] = ()) -> list[ScoredChunk]:
    """Pick ``top_k`` from a best-first list, each named outlet first, few per article (pure)."""
    chosen: list[ScoredChunk] = []
    taken: set[str] = set()
    per: dict[str, int] = defaultdict(int)

    def take(item: ScoredChunk) -> None:
        chosen.append(item)
        taken.add(item.chunk.id)
        per[item.chunk.article_id] += 1

    for source in sources:  # the best passage of each named outlet is guaranteed a place
        for item in ranked:
            if item.chunk.source == source and item.chunk.id not in taken:
                take(item)
                break
    for item in ranked:
        if len(chosen) >= top_k:
            break
        if item.chunk.id not in taken and per[item.chunk.article_id] < per_article:
            take(item)
    for item in ranked:  # few articles: fill the rest regardless of the cap
        if len(chosen) >= top_k:
            break
        if item.chunk.id not in taken:
            take(item)
    chosen = chosen[:top_k]
    return sorted(chosen, key=lambda s: -s.score)


class Retriever:
    """Answers ``retrieve(question)`` from one snapshot of the index."""

    def __init__(self, index: ArticleIndex, options: RetrievalOptions | None = None) -> None:
        self.index = index
        self.options = options or RetrievalOptions()

    @cached_property
    def _chunks(self) -> list[Chunk]:
        return self.index.chunks()

    @cached_property
    def _by_id(self) -> dict[str, Chunk]:
        return {c.id: c for c in self._chunks}

    @cached_property
    def _sources(self) -> list[str]:
        return sorted({c.source for c in self._chunks if c.source}, key=len, reverse=True)

    @cached_property
    def _bm25(self) -> Any:
        import bm25s
        import Stemmer

        stemmer = Stemmer.Stemmer("english")
        tokens = bm25s.tokenize(
            [c.embed_text() for c in self._chunks], stopwords="en", stemmer=stemmer,
            show_progress=False,
        )
        model = bm25s.BM25()
        model.index(tokens, show_progress=False)
        return model, stemmer

    @cached_property
    def _vector(self) -> Any:
        from llama_index.core import VectorStoreIndex

        vindex = VectorStoreIndex.from_vector_store(
            self.index.vector_store, embed_model=self.index.embedder
        )
        return vindex.as_retriever(similarity_top_k=self.options.candidates)

    def warm(self) -> None:
        """Load the embedder, BM25 and the vector retriever now instead of on the first query."""
        if self._chunks:
            self._bm25  # noqa: B018
            self._vector  # noqa: B018
            self.index.embedder.get_query_embedding("warm up")

    def vector_search(self, question: str) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) best first, from llama-index's retriever over Chroma."""
        import math

        found = self._vector.retrieve(question)
        # ChromaVectorStore reports exp(-distance); with cosine space distance = 1 - cos.
        return [(n.node.node_id, 1.0 + math.log(max(n.score or 1e-9, 1e-9))) for n in found]

    def keyword_search(self, question: str) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) best first."""
        import bm25s

        model, stemmer = self._bm25
        query = bm25s.tokenize([question], stopwords="en", stemmer=stemmer, show_progress=False)
        if not query.ids or not query.ids[0]:
            return []
        k = min(self.options.candidates, len(self._chunks))
        docs, scores = model.retrieve(query, k=k, show_progress=False, n_threads=1)
        return [(self._chunks[int(d)].id, float(s)) for d, s in zip(docs[0], scores[0], strict=True)
                if s > 0]

    def retrieve(self, question: str, *, top_k: int | None = None) -> list[ScoredChunk]:
        """The fused, boosted and diversified passages for a question, best first."""
        if not self._chunks:
            return []
        opts = self.options
        vec = self.vector_search(question)
        kw = self.keyword_search(question)
        fused = rrf([[i for i, _ in vec], [i for i, _ in kw]])
        sources = named_sources(question, self._sources)
        if sources:
            bonus = opts.source_boost / (RRF_K + 1)
            for cid in fused:
                if self._by_id[cid].source in sources:
                    fused[cid] += bonus
        vec_scores, kw_scores = dict(vec), dict(kw)
        ranked = [
            ScoredChunk(
                chunk=self._by_id[cid],
                score=score,
                vector_score=vec_scores.get(cid),
                bm25_score=kw_scores.get(cid),
            )
            for cid, score in sorted(fused.items(), key=lambda kv: -kv[1])
            if cid in self._by_id
        ]
        return diversify(ranked, top_k=top_k or opts.top_k, per_article=opts.per_article,
                         sources=sources)


def best_similarity(passages: Sequence[ScoredChunk]) -> float:
    """Highest cosine similarity among passages the vector side found (0 when none)."""
    return max((p.vector_score for p in passages if p.vector_score is not None), default=0.0)


__all__ = ["Retriever", "RetrievalOptions", "rrf", "diversify", "named_sources", "best_similarity"]
