"""Timelines: a story's events in date order, from passages retrieved over its whole period.

The stage beside evidence selection for a topic instead of a question (``QAService.timeline``
feeds it). Articles arrive in batches, in the order retrieval ranked them; each batch is read so:

1. **On the topic.** Each sentence of an article's retrieved passages (``evidence.candidates``)
   is scored against the topic as evidence selection scores a sentence against a question:
   IDF-weighted keyword coverage plus the cosine of the two embeddings (0-2). An article whose
   best sentence scores below ``floor`` is off the topic and contributes nothing.
2. **Its events.** The article's best sentence, and up to ``per_article - 1`` others scoring
   at least ``share`` of it, each an event's candidate; a sentence that leans on the one before
   ("He added", a pronoun) brings it along, so the quote stands alone. A quote is always the
   exact span ``Article.body[start:end]``.
3. **Dated.** By a day the sentence states ("on Tuesday", "yesterday", "March 3", "3 March
   2024", "2024-03-03"), resolved against the article's day (a weekday: the latest such day on
   or before it; a day without a year: the article's year, or the one before when that day
   would fall after the article and last year's is within half a year), unless the sentence
   speaks of the future ("will", "next", "due to"), which is reported, not yet happened;
   otherwise by the article's day.
4. **Folded.** A candidate whose embedding is within ``fold`` cosine of a sentence of an event
   already found (from another article) joins that event: the same event reported by several
   outlets, or repeated in later articles, appears once, dated by its earliest report, with
   every outlet that reported it. Sentences of one article never fold together (they are two
   events, or one is left out as a repeat of the other).

Pure: the embedder and the IDF table come in as functions. ``fold`` and the day window were
measured on the tests' story (``tests/story.py``): its reports of one event lie at cosine
0.73-0.95, but its different events lie at up to 0.89 (an offer of 2.1 billion and the raised one
of 2.6 billion): one story's sentences are all alike to the embedder, so the day tells events
apart and the cosine only which of a day's sentences are the same report.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import numpy as np

from qa.answering.evidence import candidates, keyword_coverage, leans_back
from qa.errors import ConfigError
from qa.models import ScoredChunk, Timeline, TimelineEvent, TimelineQuote
from qa.text.words import terms

Embed = Callable[[list[str]], np.ndarray]  # texts -> unit-length rows (float32)
Idf = Callable[[set[str]], dict[str, float]]

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|" \
         r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_STATED = re.compile(
    rf"\b(?:(?P<iso>\d{{4}}-\d\d-\d\d)"
    rf"|(?P<m1>{_MONTH})\.? (?P<d1>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,? (?P<y1>\d{{4}}))?"
    rf"|(?P<d2>\d{{1,2}})(?:st|nd|rd|th)? (?:of )?(?P<m2>{_MONTH})\b(?:,? (?P<y2>\d{{4}}))?"
    rf"|(?:on |last |this |early |late )?(?P<wd>{'|'.join(_WEEKDAYS)})\b"
    r"|(?P<rel>yesterday|today))",
    re.IGNORECASE,
)
# A sentence about what is still to come: its stated day is a plan, the event is its report.
_FUTURE = re.compile(r"\b(?:will|next|due to|is to|are to|plans? to|expected to|scheduled|"
                     r"shall|tomorrow)\b", re.IGNORECASE)


@dataclass(frozen=True)
class TimelineOptions:
    """How sentences become events (see the module docstring)."""

    # An article's best sentence must score this (keyword + cosine, 0-2). On MultiHop-RAG
    # (benchmarks/timeline.py) articles on a topic's story scored 0.98 and up, those merely
    # sharing a word ("fraud" of another trial) 0.77 and below; the tests' story 0.87 and up
    # on an AVX-512 host but 0.849 on an AVX2 one (the int8 embedder's arithmetic differs by
    # CPU), so the floor sits nearer the off-topic side.
    floor: float = 0.8
    per_article: int = 2  # most events one article contributes
    share: float = 0.85  # a second event's sentence must score this share of its article's best
    fold: float = 0.7  # cosine at which two articles' sentences are one event (module docstring)
    days: int = 1  # ... when their days are at most this far apart (either undated: any)


def stated_day(sentence: str, published: str) -> tuple[str, str]:
    """The day a sentence states, as ``(YYYY-MM-DD, the words)``, resolved against its
    article's ``published`` day (ISO 8601); ``("", "")`` when it states none, speaks of the
    future, or the article has no date. Pure."""
    try:
        day = date.fromisoformat(published[:10])
    except ValueError:
        return "", ""
    if _FUTURE.search(sentence):
        return "", ""
    for m in _STATED.finditer(sentence):
        found = _resolve(m, day)
        if found is not None:
            return found.isoformat(), m.group(0).strip()
    return "", ""


def _resolve(m: re.Match[str], day: date) -> date | None:
    """The date one match names, relative to the article's ``day`` (None: not a real date)."""
    try:
        if m.group("iso"):
            return date.fromisoformat(m.group("iso"))
        if m.group("wd"):
            back = (day.weekday() - _WEEKDAYS.index(m.group("wd").lower())) % 7
            return day - timedelta(days=back)
        if m.group("rel"):
            return day - timedelta(days=m.group("rel").lower() == "yesterday")
        month_name = (m.group("m1") or m.group("m2")).lower()
        month = next(n for n, name in enumerate(_MONTHS, 1) if name.startswith(month_name[:3]))
        d = int(m.group("d1") or m.group("d2"))
        year = m.group("y1") or m.group("y2")
        if year:
            return date(int(year), month, d)
        found = date(day.year, month, d)
        if found <= day:
            return found
        # Later in the year than the article: last year's, if that is within half a year
        # ("December 30" in January); otherwise a day to come, not resolved.
        found = date(day.year - 1, month, d)
        return found if (day - found).days <= 183 else None
    except ValueError:  # "February 30", "2023-13-01"
        return None


@dataclass
class _Candidate:
    quote: TimelineQuote  # number 0 until the timeline is numbered
    vector: np.ndarray
    day: str
    stated: str
    order: int  # arrival order, to keep ties stable


@dataclass
class _Event:
    members: list[_Candidate] = field(default_factory=list)

    @property
    def first(self) -> _Candidate:
        return min(self.members, key=_first_key)


def _first_key(c: _Candidate) -> tuple[str, str, int]:
    return (c.day or "9999", c.quote.published_at or "9999", c.order)


class TimelineBuilder:
    """Events of one topic, built batch by batch: ``add`` a batch of passages (any number
    of articles, each article's passages in one batch), then ``events()`` for the timeline so
    far. ``embed`` turns texts into unit vectors, ``idf`` weighs stemmed terms."""

    def __init__(self, topic: str, *, embed: Embed, idf: Idf,
                 options: TimelineOptions | None = None) -> None:
        self.topic = " ".join(topic.split())
        self.embed = embed
        self.options = options or TimelineOptions()
        self._terms = terms(self.topic)
        self._idf = idf(self._terms)
        self._topic_vector: np.ndarray | None = None
        self._events: list[_Event] = []
        self._count = 0
        self.days: Counter[str] = Counter()  # on-topic articles per published day
        self.read = 0  # articles read
        self.on_topic = 0  # articles that passed the floor

    def add(self, passages: Sequence[ScoredChunk]) -> int:
        """Read a batch of passages (best first); returns the events found so far."""
        sentences = candidates(passages)
        if not sentences:
            self.read += len({p.chunk.article_id for p in passages})
            return len(self._events)
        texts = [s.text for s in sentences]
        head = [] if self._topic_vector is not None else [self.topic]
        vectors = np.asarray(self.embed(head + texts), dtype=np.float32)
        if head:
            self._topic_vector, vectors = vectors[0], vectors[1:]
        assert self._topic_vector is not None
        cosine = np.clip(vectors @ self._topic_vector, 0.0, None)
        scores = np.array([keyword_coverage(self._terms, terms(t), self._idf) for t in texts],
                          dtype=np.float32) + cosine
        by_article: dict[str, list[int]] = defaultdict(list)
        for i, s in enumerate(sentences):
            by_article[s.article].append(i)
        for idx in by_article.values():
            self.read += 1
            self._article(sentences, idx, scores, vectors)
        self.read += len({p.chunk.article_id for p in passages} - set(by_article))
        return len(self._events)

    def _article(self, sentences: list[Any], idx: list[int], scores: np.ndarray,
                 vectors: np.ndarray) -> None:
        """One article's events: its best sentences, dated, folded into the events found."""
        opts = self.options
        ranked = sorted(idx, key=lambda i: -float(scores[i]))
        best = float(scores[ranked[0]])
        if best < opts.floor:
            return
        self.on_topic += 1
        passage = sentences[ranked[0]].passage
        self.days[passage.published_at[:10]] += 1
        picked: list[int] = []
        for i in ranked:
            if len(picked) >= opts.per_article or float(scores[i]) < opts.share * best:
                break
            if all(float(vectors[i] @ vectors[j]) < opts.fold for j in picked):
                picked.append(i)
        spans: list[tuple[int, int]] = []
        for i in picked:
            cand = self._candidate(sentences, idx, i, float(scores[i]), vectors[i])
            q = cand.quote
            if any(q.start < b and a < q.end for a, b in spans):
                continue  # it leans on the sentence picked before it: one quote, one event
            spans.append((q.start, q.end))
            self._place(cand)

    def _candidate(self, sentences: list[Any], idx: list[int], i: int, score: float,
                   vector: np.ndarray) -> _Candidate:
        s = sentences[i]
        start = s.start
        if leans_back(s.text):  # bring the sentence it leans on, when one passage holds both
            before = [sentences[j] for j in idx if sentences[j].order == s.order - 1]
            if before and s.passage.start <= before[0].start:
                start = before[0].start
        c = s.passage
        text = c.text[start - c.start : s.end - c.start]
        day, stated = stated_day(s.text, c.published_at)
        quote = TimelineQuote(0, c.article_id, c.title, c.source, c.published_at, c.url, c.path,
                              text, start, s.end, c.also_in, round(score, 4))
        self._count += 1
        return _Candidate(quote, vector, day or c.published_at[:10], stated, self._count)

    def _place(self, cand: _Candidate) -> None:
        """Fold the candidate into the closest event of other articles, or start one."""
        best, where = self.options.fold, None
        for event in self._events:
            if any(m.quote.article_id == cand.quote.article_id for m in event.members):
                continue
            near = [m for m in event.members if _near(m.day, cand.day, self.options.days)]
            sim = max((float(m.vector @ cand.vector) for m in near), default=-1.0)
            if sim >= best:
                best, where = sim, event
        if where is None:
            self._events.append(_Event([cand]))
        else:
            where.members.append(cand)

    def events(self) -> tuple[TimelineEvent, ...]:
        """The events so far in date order (undated last), quotes numbered from 1 in that
        order, each event's first report first."""
        out: list[TimelineEvent] = []
        number = 0
        for event in sorted(self._events, key=lambda e: _first_key(e.first)):
            first = event.first
            members = sorted(event.members, key=_first_key)
            quotes = []
            for m in members:
                number += 1
                quotes.append(_numbered(m.quote, number))
            outlets = tuple(dict.fromkeys(o for m in members
                                          for o in (m.quote.source, *m.quote.also_in) if o))
            out.append(TimelineEvent(
                date=first.day, line=" ".join(first.quote.text.split()), quotes=tuple(quotes),
                outlets=outlets, dated_by="stated" if first.stated else "published",
                stated=first.stated))
        return tuple(out)

    def snapshot(self, *, total: int, complete: bool, **fields: object) -> Timeline:
        """The timeline so far; ``fields`` are ``Timeline``'s other fields (topic, since,
        until, outlets, seconds, first_event_seconds, stopped)."""
        days = tuple(sorted((d, n) for d, n in self.days.items() if d))
        return Timeline(topic=self.topic, events=self.events(), articles_read=self.read,
                        articles_total=total, articles_per_day=days, complete=complete,
                        **fields)  # type: ignore[arg-type]


def _near(a: str, b: str, days: int) -> bool:
    """Whether two events' days are at most ``days`` apart (an undated one is near any)."""
    if not a or not b:
        return True
    return abs((date.fromisoformat(a) - date.fromisoformat(b)).days) <= days


def _numbered(quote: TimelineQuote, number: int) -> TimelineQuote:
    return replace(quote, number=number)


def by_article(passages: Sequence[ScoredChunk]) -> list[list[ScoredChunk]]:
    """Passages grouped by article, articles in order of their best passage (pure)."""
    groups: dict[str, list[ScoredChunk]] = {}
    for p in passages:
        groups.setdefault(p.chunk.article_id, []).append(p)
    return list(groups.values())


def in_period(passages: Sequence[ScoredChunk], *, since: str, until: str,
              outlets: set[str], gone: Sequence[str] = ()) -> list[ScoredChunk]:
    """The passages of articles published within ``since``..``until`` (``YYYY-MM-DD``,
    inclusive, "" open) by one of ``outlets`` (lower-cased; a copy it also ran counts; empty:
    any), leaving out files in ``gone`` (deleted since the build). Pure."""
    left_out = set(gone)
    return [p for p in passages if p.chunk.path not in left_out
            and (not since or since <= p.chunk.published_at[:10])
            and (not until or p.chunk.published_at[:10] <= until)
            and (not outlets or outlets & {p.chunk.source.lower(),
                                           *(o.lower() for o in p.chunk.also_in)})]


def known_outlets(asked: Sequence[str], held: Sequence[str]) -> set[str]:
    """The outlets ``asked`` for, lower-cased, from those the index ``held`` (any case);
    raises ``ConfigError`` in one line naming one it does not hold."""
    wanted = {o.strip().lower() for o in asked if o.strip()}
    known = {o.lower(): o for o in held if o}
    missing = sorted(o for o in asked if o.strip() and o.strip().lower() not in known)
    if missing:
        raise ConfigError(f"no articles from {', '.join(missing)} in the index "
                          f"(outlets: {', '.join(sorted(known.values())[:12]) or 'none'})")
    return wanted


def parse_day(text: str, name: str) -> str:
    """A ``YYYY-MM-DD`` bound ("" stays open); raises ``ConfigError`` in one line otherwise."""
    text = text.strip()
    if not text:
        return ""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ConfigError(f"{name} must be a day as YYYY-MM-DD, not {text!r}") from None


def batches(total: int) -> Iterator[int]:
    """Articles per batch: 3 first, so the first events show early, then 8."""
    done, size = 0, 3
    while done < total:
        yield min(size, total - done)
        done += size
        size = 8


__all__ = ["TimelineBuilder", "TimelineOptions", "batches", "by_article", "in_period",
           "known_outlets", "parse_day", "stated_day"]
