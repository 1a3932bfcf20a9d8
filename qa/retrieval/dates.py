"""When a question asks about: relative and partial dates read from it, and the period they name.

People ask about the news by "latest", "yesterday", "last week", "in March" or "over the past
3 days", not by the day an article was published. ``read_when`` finds such words in a question
and resolves them against a reference day (``reference_day``: today for an index kept up to
date, the newest article's day for an archive). ``narrowest`` combines them with the bounds a
person set (``--since``/``--until``): the narrower wins. ``period_label`` says in one line
which period and reference day an answer used. Pure: no clock, no index.

What is read (R is the reference day; weeks start on Monday; "until" never passes R):

- "latest", "most recent", "newest" naming the news ("the latest on X", "the most recent
  reports about X", "the latest news"): newer articles first, no period;
- "today" (R), "yesterday" (R-1), "this week|month|year" (its start to R), "last
  week|month|year" (the whole previous one), "in March" / "during March" with no day or year
  (the latest March starting on or before R), "the past|last N days|weeks|months", "the past
  week" (R-N days|weeks|months to R; "last week" without "the" is the calendar week before);
- "since" before any of those, a weekday ("since Monday": the latest Monday on or before R)
  or a month: from its start to R.

Why these limits: the MultiHop-RAG dev questions use the same words for events inside the
articles ("attended a conference last year", "concerts in Buenos Aires in November", "last
week's game") in 11 of 1,026 questions, and "Latest"/"Today" inside outlet names ("Business
Today | Latest Stock Market ..."). So dates are read only in the question's main clause (before
its first comma, semicolon, colon or relative word such as "that", "which", "who"), not in a
question that names an absolute day (those name their articles by day, as before), not
in a possessive ("last week's"), not capitalised mid-question, and outlet names are masked
first. No dev question reads as a period or as "latest" (tests/test_dates.py holds that).

Why not ``dateparser`` (installed): it turns a phrase into one instant ("last week" -> seven
days ago at this hour), not a period with a start and an end, and it reads the same words
anywhere in the text; the period rules above are the product's own, so they are written here.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from qa.models import ScoredChunk
from qa.retrieval.plan import names_a_day

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
            "seven": 7, "eight": 8, "nine": 9, "ten": 10, "couple of": 2, "few": 3}
_NUMBER = r"\d{1,3}|" + "|".join(sorted(_NUMBERS, key=len, reverse=True))
_UNIT = r"(?P<unit>days?|weeks?|months?)"
_MONTH = rf"(?P<month>{'|'.join(_MONTHS)})(?!,? \d)"  # no day or year after it
_ANCHOR = (
    rf"(?P<rel>today|tonight|this morning|yesterday)"
    rf"|(?P<which>this|last) (?P<span>week|month|year)"
    rf"|(?:the )?(?:past|last) (?:(?P<n>{_NUMBER}) )?{_UNIT}"
)
_NEWS = r"news|reports?|articles?|updates?|developments?|coverage|stories|story|headlines?|word"
_PERIOD = re.compile(
    rf"\b(?:since (?:last )?(?P<wd>{'|'.join(_WEEKDAYS)})"
    rf"|(?P<prep>since |in |during |over |within |from )?(?:{_ANCHOR})"
    rf"|(?P<mprep>since|in|during) {_MONTH})\b"
    rf"(?!['’]s\b(?! (?:{_NEWS})\b))",  # "last week's game" is an event's time; "today's news" not
    re.IGNORECASE,
)
_LATEST = re.compile(
    rf"\b(?:the )?(?:latest|most recent|newest)(?: (?:{_NEWS}))?"
    rf"(?: (?:on|about|regarding|concerning|from|in|with|of)\b|\s*[?.!]?\s*$)"
    rf"|\b(?:the )?(?:latest|most recent|newest) (?:{_NEWS})\b",
    re.IGNORECASE,
)
# Where the main clause ends: punctuation, or a relative or subordinating word after the first.
_CLAUSE_END = re.compile(r"[,;:]|\s(?:that|which|who|whom|whose|where|while|whereas|when|"
                         r"whether|because|although)\s", re.IGNORECASE)

@dataclass(frozen=True)
class When:
    """What a question says of when: ``since``..``until`` (``YYYY-MM-DD``, inclusive, "" open;
    both "" when it names no period), ``words`` (the words that named it, "" for none) and
    ``latest`` (it asks for the newest articles first). ``rest`` is the question without the
    words read ("What is the latest on X?" -> "What is X?"), for retrieval to rank by its
    topic; ``topic`` is false when nothing is left of it but question words ("What happened
    last week?"), so every article of the period matches."""

    since: str = ""
    until: str = ""
    words: str = ""
    latest: bool = False
    rest: str = ""
    topic: bool = True

    @property
    def relative(self) -> bool:
        """Whether a period was read (and so rests on the reference day)."""
        return bool(self.words)


# Words a question about the news is made of besides its topic ("What happened …?").
_BARE = frozenset(re.findall(r"\S+", "what what's whats which any anything is are was were has "
                  "have had been did do does happen happened happening going on new news "
                  "there tell me show give us the a an of in on about from story stories "
                  "article articles report reports reported headlines events event say said"))


def reference_day(newest: date | None, today: date, archive_after_days: int) -> tuple[date, bool]:
    """The day relative words resolve against, and whether it is the newest article's day:
    ``today``, unless the index's ``newest`` article is more than ``archive_after_days``
    days older (an archive; a question about "last week" means the archive's last week)."""
    if newest is not None and (today - newest).days > archive_after_days:
        return newest, True
    return today, False


def main_clause(question: str, masked: Sequence[tuple[int, int]] = ()) -> str:
    """The question with the ``masked`` spans (outlet names) blanked, cut at the end of its
    main clause (see the module docstring)."""
    chars = list(question)
    for start, end in masked:
        chars[start:end] = " " * (end - start)
    text = "".join(chars)
    stripped = len(text) - len(text.lstrip())
    m = _CLAUSE_END.search(text, stripped + 1)
    return text[: m.start()] if m else text


def read_when(question: str, reference: date, *,
              masked: Sequence[tuple[int, int]] = ()) -> When:
    """The period and recency ``question`` asks about, resolved against ``reference``
    (``masked``: spans to ignore, such as outlet names). ``When()`` when it names none."""
    clause = main_clause(question, masked)
    start = len(clause) - len(clause.lstrip())
    found = [m for m in _LATEST.finditer(clause) if _upright(m, start)]
    latest = bool(found)
    since = until = words = ""
    if not names_a_day(question):  # else named by day, as MultiHop-RAG names its articles
        for m in _PERIOD.finditer(clause):
            span = _resolve(m, reference) if _upright(m, start) else None
            if span is not None:
                since, until = span[0].isoformat(), min(span[1], reference).isoformat()
                words = m.group(0)[len(m["prep"] or "")
                                   if (m["prep"] or "").lower() != "since " else 0:]
                found.append(m)
                break
    if not found:
        return When()
    rest = question
    for m in sorted(found, key=lambda m: -m.start()):  # "the latest on X" -> "X"
        rest = rest[: m.start()] + " " + rest[m.end():]
    rest = " ".join(rest.split())
    topic = any(w.strip("?.,!'’\"").lower() not in _BARE for w in rest.split()
                if w.strip("?.,!'’\""))
    return When(since, until, " ".join(words.split()), latest, rest, topic)


def _upright(m: re.Match[str], start: int) -> bool:
    """Whether a match is the words, not a name: lower case, unless it opens the question."""
    return m.start() == start or not m.group(0)[:1].isupper()


def _resolve(m: re.Match[str], ref: date) -> tuple[date, date] | None:
    """The first and last day a match names (None: no such period)."""
    if m.group("wd"):
        return ref - timedelta(days=(ref.weekday() - _WEEKDAYS.index(m["wd"].lower())) % 7), ref
    span = _anchor(m, ref)
    if span is None:
        return None
    since = (m["prep"] or m["mprep"] or "").strip().lower() == "since"
    return (span[0], ref) if since else span


def _anchor(m: re.Match[str], ref: date) -> tuple[date, date] | None:
    if m.group("rel"):
        day = ref - timedelta(days=m["rel"].lower() == "yesterday")
        return day, day
    if m.group("which"):
        last, span = m["which"].lower() == "last", m["span"].lower()
        if span == "week":
            monday = ref - timedelta(days=ref.weekday() + 7 * last)
            return monday, monday + timedelta(days=6)
        if span == "month":
            year, month = (ref.year, ref.month) if not last else _month_before(ref.year, ref.month)
            return _month(year, month)
        year = ref.year - last
        return date(year, 1, 1), date(year, 12, 31)
    if m.group("unit"):
        n = m["n"] or "1"
        count = int(n) if n.isdigit() else _NUMBERS[" ".join(n.lower().split())]
        unit = m["unit"].lower().rstrip("s")
        if unit == "month":
            year, month = ref.year, ref.month
            for _ in range(count):
                year, month = _month_before(year, month)
            return date(year, month, min(ref.day, calendar.monthrange(year, month)[1])), ref
        return ref - timedelta(days=count * (7 if unit == "week" else 1)), ref
    month = _MONTHS.index(m["month"].lower()) + 1
    return _month(ref.year if month <= ref.month else ref.year - 1, month)


def _month_before(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def _month(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def narrowest(when: When, since: str, until: str) -> tuple[str, str]:
    """The period within both what the question says and the bounds a person set
    (``YYYY-MM-DD``, "" open): the later start and the earlier end. A start after the end
    is a period holding nothing."""
    lo = max((d for d in (when.since, since) if d), default="")
    hi = min((d for d in (when.until, until) if d), default="")
    return lo, hi


def long_day(day: str) -> str:
    """``2024-03-04`` as "4 March 2024"."""
    d = date.fromisoformat(day)
    return f"{d.day} {_MONTHS[d.month - 1].capitalize()} {d.year}"


def period_label(since: str, until: str, *, words: str = "", reference: str = "",
                 newest: bool = False, outlets: Sequence[str] = (), latest: bool = False) -> str:
    """One line naming the period an answer was restricted to: "published from 25 March 2024
    to 31 March 2024 (“last week”, as of 3 April 2024, the newest article) by Nordic Wire";
    "" when there is no period, outlet or recency."""
    if since and until and since == until:
        span = f"published on {long_day(since)}"
    elif since and until:
        span = f"published from {long_day(since)} to {long_day(until)}"
    elif since or until:
        span = f"published {'since' if since else 'until'} {long_day(since or until)}"
    else:
        span = ""
    if since and until and since > until:
        span = f"published from {long_day(since)} to {long_day(until)}, which is no period"
    if words and reference:
        as_of = f"as of {long_day(reference)}, {'the newest article' if newest else 'today'}"
        span += f" (“{words}”, {as_of})"
    if outlets:
        span = " ".join(filter(None, (span, "by " + " or ".join(outlets))))
    if latest:
        span = ", ".join(filter(None, (span, "newest first")))
    return span


@dataclass(frozen=True)
class Within:
    """Where one retrieval may look: articles published within ``since``..``until``
    (``YYYY-MM-DD``, inclusive, "" open) by ``outlets`` (names as the index holds them; empty:
    any). ``latest``: among the passages that match, newer articles first (``newest_first``)."""

    since: str = ""
    until: str = ""
    outlets: tuple[str, ...] = ()
    latest: bool = False
    topic: bool = True  # False: the question names no topic, every passage within matches

    @property
    def restricts(self) -> bool:
        """Whether any passage is left out (a period or outlets; ``latest`` only reorders)."""
        return bool(self.since or self.until or self.outlets)


# "latest": passages of at least this share of the best one's cosine match the question (on
# the tests' story, tests/news.py, its passages scored 0.56-0.95 of the best for four wordings
# of "the latest on it", the off-topic article 0.16 and below; asked of that article, the
# story scored 0.31 and below), and the pool they are taken from is this many times the top-k.
LATEST_SHARE = 0.5
LATEST_POOL = 3


def newest_first(passages: Sequence[ScoredChunk], top_k: int, *,
                 share: float = LATEST_SHARE) -> list[ScoredChunk]:
    """The ``top_k`` passages for a question about the latest news (pure): those of at least
    ``share`` of the best one's cosine, newest article first (ties keep their rank), then the
    others in rank order. A recency order among the matching passages, not a filter."""
    top = share * max((p.vector_score or 0.0 for p in passages), default=0.0)
    matching = [p for p in passages if (p.vector_score or 0.0) >= top]
    rest = [p for p in passages if (p.vector_score or 0.0) < top]
    matching.sort(key=lambda p: p.chunk.published_at[:10], reverse=True)
    return (matching + rest)[:top_k]


__all__ = ["LATEST_SHARE", "LATEST_POOL", "When", "Within", "long_day", "main_clause",
           "narrowest", "newest_first", "period_label", "read_when", "reference_day"]
