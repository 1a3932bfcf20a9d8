"""Hybrid, multi-hop retrieval: BM25 and embedding similarity fused by rank, planned per hop.

News questions join several articles and name them by outlet and day ("the TechCrunch report
published on October 31, 2023, and The Verge article on ..."). ``plan_hops`` reads from the
question its hops (one per outlet mention, with the days and times named near it), the words
that follow each mention, and its comma-separated claims. Each hop is ranked among its own
outlet's passages (that day's articles first, and by its own words as well as the whole
question); the final top-k takes the best article of every hop first, then the best passage
for every claim, then fills round-robin, at most ``per_article`` passages from one article.

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
    """What a question names: its hops in the order named, how often each was named, what the
    question says right after each mention ("the TechCrunch article *on Meta's GDPR ...*"),
    and its separate claims ("which company ..., *is battling Epic Games in court*, ...")."""

    hops: tuple[Hop, ...] = ()
    counts: dict[Hop, int] = field(default_factory=dict)
    clauses: dict[Hop, tuple[str, ...]] = field(default_factory=dict)
    claims: tuple[str, ...] = ()


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


_STOP = frozenset(re.findall(r"\S+",
    "a an and the of on in at to for from by with as is are was were be been has have had did "
    "do does that this these those which who what whom whose both also not only but while "
    "whereas than then after before between article articles report reports reported "
    "published according suggest suggests indicate indicates discuss discussed regarding "
    "about same day there any its it their his her he she they was",
))
_SPLIT = re.compile(r"[,;:?]|\s(?:and|while|whereas|but|or)\s", re.I)


def _content_words(text: str) -> int:
    return sum(1 for w in re.findall(r"[A-Za-z][\w'’-]+", text) if w.lower() not in _STOP)


def _strip_dates(text: str) -> str:
    return _TIME_RE.sub(" ", _DATE_RE.sub(" ", text))


def plan_hops(
    question: str,
    patterns: Sequence[tuple[re.Pattern[str], tuple[str, ...]]],
    *,
    dates: bool = True,
    min_words: int = 3,
) -> Plan:
    """Split a question into hops: one per outlet mention, each with the days and times named
    between it and the next mention (those before the first mention go to the first hop), and
    into claims: its comma- or conjunction-separated parts of at least ``min_words`` words."""
    spans: list[tuple[int, int, tuple[str, ...]]] = []
    taken = [False] * len(question)
    for pattern, sources in patterns:  # longest names first; a shorter one inside is skipped
        for m in pattern.finditer(question):
            if not any(taken[m.start() : m.end()]):
                spans.append((m.start(), m.end(), sources))
                taken[m.start() : m.end()] = [True] * (m.end() - m.start())
    spans.sort()
    masked = "".join(" " if t else ch for ch, t in zip(question, taken, strict=True))
    claims = tuple(dict.fromkeys(
        " ".join(part.split()) for part in _SPLIT.split(_strip_dates(masked))
        if _content_words(part) >= min_words
    ))
    bounds = [0] + [spans[i + 1][0] for i in range(len(spans) - 1)] + [len(question)]
    hops: list[Hop] = []
    after: list[str] = []
    for i, sources in enumerate([s[2] for s in spans] or [()]):
        part = question[bounds[i] : bounds[i + 1]]
        days = tuple(_dates(part)) if dates else ()
        times = tuple(_times(part)) if dates else ()
        if sources or days or times:
            hops.append(Hop(sources, days, times))
            end = spans[i + 1][0] if i + 1 < len(spans) else len(question)
            text = " ".join(_strip_dates(masked[spans[i][1] : end] if spans else "").split())
            after.append(text if _content_words(text) >= min_words else "")
    if dates:  # "on the same day": a hop without a day takes the day named just before it
        for i in range(1, len(hops)):
            if not hops[i].days and hops[i].times and hops[i - 1].days:
                hops[i] = Hop(hops[i].sources, hops[i - 1].days, hops[i].times)
    counts: dict[Hop, int] = defaultdict(int)
    clauses: dict[Hop, list[str]] = defaultdict(list)
    for hop, text in zip(hops, after, strict=True):
        counts[hop] += 1
        if text:
            clauses[hop].append(text)
    return Plan(tuple(dict.fromkeys(hops)), dict(counts),
                {h: tuple(v) for h, v in clauses.items()}, claims)


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
            self.index.embedder.get_query_embedding("warm up")

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

    def retrieve(self, question: str, *, top_k: int | None = None) -> list[ScoredChunk]:
        """The passages for a question, best first, every named hop and claim represented."""
        if not self._chunks or not question.strip():
            return []
        opts = self.options
        plan = plan_hops(question, self._meta["patterns"] if opts.outlets else [],
                         dates=opts.dates)
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
