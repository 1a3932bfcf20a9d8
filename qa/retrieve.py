"""Hybrid, multi-hop retrieval: BM25 and embedding similarity fused by rank, planned per hop.

News questions join several articles and name them by outlet and day ("the TechCrunch report
published on October 31, 2023, and The Verge article ..."). ``plan_hops`` reads those names,
dates and times from the question; each hop is then ranked among its own outlet's passages
(boosted towards the named day and time), and the final top-k takes the best article of every
hop before anything else, so no part of a multi-hop question is left without evidence.

Both searches are exact and in memory: BM25 (bm25s) scores every passage, and the passage
embeddings, read once from the index, are one matrix product away from the query's.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from qa.index import ArticleIndex
from qa.models import Chunk, ScoredChunk

RRF_K = 60  # the constant of reciprocal rank fusion (Cormack et al., 2009)


@dataclass(frozen=True)
class RetrievalOptions:
    """How wide each side searches and which steps shape the ranking (all on by default)."""

    top_k: int = 10
    candidates: int = 100  # per ranking, before fusion
    per_article: int = 3  # most passages one article may hold in the top-k
    keyword: bool = True  # BM25 ranking
    vector: bool = True  # embedding ranking
    outlets: bool = True  # a named outlet is a hop ranked among its own passages
    dates: bool = True  # a named day or time ranks that day's articles of the hop first
    hops_first: bool = True  # every hop's best article enters the top-k before the rest


def rrf(rankings: Sequence[Sequence[str]], *, k: int = RRF_K) -> dict[str, float]:
    """Reciprocal rank fusion of several best-first id lists (pure)."""
    scores: dict[str, float] = defaultdict(float)
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] += 1.0 / (k + rank + 1)
    return dict(scores)


# --- reading the question ---------------------------------------------------------------------

_MONTHS = {
    m: n
    for n, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for m in names
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_RE = re.compile(
    rf"\b(?:(?P<y1>\d{{4}})-(?P<m1>\d\d)-(?P<d1>\d\d)"
    rf"|(?P<m2>{_MONTH})\.? (?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,? (?P<y2>\d{{4}}))?"
    rf"|(?P<d3>\d{{1,2}})(?:st|nd|rd|th)? (?P<m3>{_MONTH}),? (?P<y3>\d{{4}}))\b",
    re.I,
)
_TIME_RE = re.compile(r"\b(\d{1,2}):(\d\d)(?::(\d\d))?\b")


@dataclass(frozen=True)
class Hop:
    """One part of a question: the outlets it is restricted to (none: any), and the days
    (``YYYY-MM-DD``, or ``MM-DD`` when no year was given) and times (``HH:MM[:SS]``) named."""

    sources: tuple[str, ...] = ()
    days: tuple[str, ...] = ()
    times: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """What a question names: its hops in the order named, and how often each was named."""

    hops: tuple[Hop, ...] = ()
    counts: dict[Hop, int] = field(default_factory=dict)


def outlet_patterns(sources: Sequence[str]) -> list[tuple[re.Pattern[str], tuple[str, ...]]]:
    """Patterns for the names a question may give each outlet, longest first.

    An outlet is matched by its full name or by its name before " - ", " | " or ": "
    ("The Independent" names every "The Independent - ..." section); case is kept, except
    for a leading "The", so the common words in "Fortune" or "The Age" do not match by chance.
    """
    names: dict[str, set[str]] = defaultdict(set)
    for source in sources:
        full = source.strip()
        if len(full) < 3:
            continue
        names[full].add(source)
        short = re.split(r" - | \| |: ", full)[0].strip()
        if short != full and len(short) >= 3:
            names[short].add(source)
        if full.lower().endswith(".com"):
            names[full[:-4]].add(source)
    out = []
    for name in sorted(names, key=len, reverse=True):
        body = re.escape(name)
        if name.startswith("The "):
            body = "[Tt]he " + re.escape(name[4:])
        if name.upper() != name:
            body = f"(?:{body}|{re.escape(name.upper())})"
        out.append((re.compile(rf"(?<![\w-]){body}(?![\w-])"), tuple(sorted(names[name]))))
    return out


def _dates(text: str) -> list[str]:
    found = []
    for m in _DATE_RE.finditer(text):
        if m["y1"]:
            found.append(f"{m['y1']}-{m['m1']}-{m['d1']}")
            continue
        month = _MONTHS[(m["m2"] or m["m3"]).lower().rstrip(".")]
        day, year = int(m["d2"] or m["d3"]), m["y2"] or m["y3"]
        if 1 <= day <= 31:
            found.append(f"{year}-{month:02d}-{day:02d}" if year else f"{month:02d}-{day:02d}")
    return found


def _times(text: str) -> list[str]:
    return [
        f"{int(h):02d}:{mi}" + (f":{s}" if s else "")
        for h, mi, s in _TIME_RE.findall(text)
        if int(h) < 24
    ]


def plan_hops(
    question: str,
    patterns: Sequence[tuple[re.Pattern[str], tuple[str, ...]]],
    *,
    dates: bool = True,
) -> Plan:
    """Split a question into hops: one per outlet mention, each with the days and times named
    between it and the next mention (those before the first mention go to the first hop)."""
    spans: list[tuple[int, int, tuple[str, ...]]] = []
    taken = [False] * len(question)
    for pattern, sources in patterns:  # longest names first; a shorter one inside is skipped
        for m in pattern.finditer(question):
            if not any(taken[m.start() : m.end()]):
                spans.append((m.start(), m.end(), sources))
                taken[m.start() : m.end()] = [True] * (m.end() - m.start())
    spans.sort()
    if not spans and not dates:
        return Plan()
    bounds = [0] + [spans[i + 1][0] for i in range(len(spans) - 1)] + [len(question)]
    hops = []
    for i, sources in enumerate([s[2] for s in spans] or [()]):
        part = question[bounds[i] : bounds[i + 1]]
        days = tuple(_dates(part)) if dates else ()
        times = tuple(_times(part)) if dates else ()
        if sources or days or times:
            hops.append(Hop(sources, days, times))
    if dates:  # "on the same day": a hop without a day takes the day named just before it
        for i in range(1, len(hops)):
            if not hops[i].days and hops[i].times and hops[i - 1].days:
                hops[i] = Hop(hops[i].sources, hops[i - 1].days, hops[i].times)
    counts: dict[Hop, int] = defaultdict(int)
    for hop in hops:
        counts[hop] += 1
    return Plan(tuple(dict.fromkeys(hops)), dict(counts))


# --- shaping the top-k (pure) -------------------------------------------------------------------


def assemble(
    hop_rankings: Sequence[tuple[Sequence[int], int]],
    rest: Sequence[int],
    article_of: Sequence[str],
    *,
    top_k: int,
    per_article: int,
) -> list[int]:
    """The final top-k: first the best passage of as many distinct articles as each hop was
    named, hop by hop; then, round-robin over the hops and the overall ranking, the next best
    passages, at most ``per_article`` from one article (relaxed when too few are left)."""
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
    queues = [list(r) for r, _c in hop_rankings] + [list(rest)]
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
        row = {c.id: i for i, c in enumerate(self._chunks)}
        matrix = None
        collection, offset = self.index.collection, 0
        while True:
            page = collection.get(include=["embeddings"], limit=5000, offset=offset)
            vectors = np.asarray(page["embeddings"], dtype=np.float32)
            if matrix is None:
                dim = vectors.shape[1] if len(vectors) else 0
                matrix = np.zeros((len(self._chunks), dim), dtype=np.float32)
            for cid, vec in zip(page["ids"], vectors, strict=True):
                if cid in row:
                    matrix[row[cid]] = vec
            if len(page["ids"]) < 5000:
                break
            offset += 5000
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms > 0, norms, 1.0)

    def warm(self) -> None:
        """Load the embedder, BM25 and the embeddings now instead of on the first query."""
        if self._chunks:
            self._meta  # noqa: B018
            self._bm25  # noqa: B018
            self._matrix  # noqa: B018
            self.index.embedder.get_query_embedding("warm up")

    # --- the two searches, scoring every passage ----------------------------------------
    def vector_scores(self, question: str) -> np.ndarray:
        """Cosine similarity of every passage to the question."""
        query = np.asarray(self.index.embedder.get_query_embedding(question), dtype=np.float32)
        query /= max(float(np.linalg.norm(query)), 1e-12)
        return self._matrix @ query

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
        scores: Sequence[tuple[np.ndarray, bool]],
        mask: np.ndarray | None,
        first: np.ndarray | None = None,
    ) -> list[int]:
        """Passage rows fused by RRF over each (scores, positive only) ranking within
        ``mask``; rows in ``first`` (a boolean array) come before all others."""
        n = self.options.candidates
        fused: dict[int, float] = defaultdict(float)
        groups = [(first, 1.0)] if first is not None else []
        for group, bonus in [*groups, (None, 0.0)]:
            allowed = mask if group is None else (group if mask is None else mask & group)
            for arr, positive in scores:
                vals = arr if allowed is None else np.where(allowed, arr, -np.inf)
                top = np.argpartition(-vals, min(n, len(vals) - 1))[:n]
                top = top[np.argsort(-vals[top], kind="stable")]
                keep = vals[top] > 0 if positive else np.isfinite(vals[top])
                for rank, i in enumerate(top[keep].tolist()):
                    fused[i] += bonus + 1.0 / (RRF_K + rank + 1)
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

    def retrieve(self, question: str, *, top_k: int | None = None) -> list[ScoredChunk]:
        """The passages for a question, best first, every named hop represented."""
        if not self._chunks or not question.strip():
            return []
        opts = self.options
        vec = self.vector_scores(question) if opts.vector else None
        kw = self.keyword_scores(question) if opts.keyword else None
        scores = [(s, positive) for s, positive in ((vec, False), (kw, True)) if s is not None]
        plan = plan_hops(question, self._meta["patterns"] if opts.outlets else [], dates=opts.dates)
        overall = self._ranked(scores, None)
        hop_rankings = []
        for hop in plan.hops:
            mask, first = self._hop_mask(hop)
            if mask is None and first is None:
                continue
            ranking = self._ranked(scores, mask, first)
            hop_rankings.append((ranking, plan.counts[hop] if opts.hops_first else 0))
        rows = assemble(
            hop_rankings,
            overall,
            self._meta["article"],
            top_k=top_k or opts.top_k,
            per_article=opts.per_article,
        )
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
