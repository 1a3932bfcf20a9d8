"""Reading a question for retrieval: the outlets, days and times it names (its hops) and
its separate claims.

News questions join several articles and name them by outlet and day ("the TechCrunch report
published on October 31, 2023, and The Verge article on ..."). ``plan_hops`` reads from the
question its hops (one per outlet mention, with the days and times named near it), the words
that follow each mention, and its comma-separated claims. The retriever ranks each hop among
its own outlet's passages; evidence selection gives every hop and claim its best sentence.
``asks_yes_or_no`` tells a polar question from the rest, for the answer prompt.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

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


def names_a_day(text: str) -> bool:
    """Whether ``text`` names a day as a hop reads one ("October 31, 2023", "2023-10-31")."""
    return bool(_DATE_RE.search(text))


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


def on_days(published_at: str, days: Sequence[str]) -> bool:
    """Whether ``published_at`` (ISO 8601) falls on one of ``days`` (``YYYY-MM-DD``, or
    ``MM-DD``: that day of any year, as ``plan_hops`` reads a date without a year)."""
    day = published_at[:10]
    return any(day == d if len(d) == 10 else day[5:] == d for d in days)


def joins_articles(plan: Plan) -> bool:
    """Whether the question behind ``plan`` joins articles: it names outlets two or more times
    ("the TechCrunch article … while The Verge …"; the same outlet twice counts twice), so its
    answer needs a fact from each of them. Of the 1,026 MultiHop-RAG dev questions: 761 of
    the 914 answerable ones, 18 of the 112 null ones."""
    return sum(plan.counts.values()) >= 2


_AUX = r"(?:do|does|did|is|are|was|were|has|have|had|can|could|will|would|should)"
_WH = r"(?:who|whom|whose|what|which|when|where|why|how)"
# The main clause opens the question or follows its introductory phrase ("Between the report
# by X and the one by Y, was there ..."): the first auxiliary or wh-word at either place.
_MAIN_CLAUSE = re.compile(rf"(?:^|,[\"'”’]?\s+)({_AUX}|{_WH})\b", re.I)
# Alternatives offered: "..., or do they differ?", "before or after", "agree or disagree".
_ALTERNATIVE = re.compile(rf"\bor\s+{_AUX}\b|\bbefore or after\b|\b(\w+) or (?:in|dis|un)\1\b",
                          re.I)


def asks_yes_or_no(question: str) -> bool:
    """Whether ``question`` is a polar (yes-or-no) question: its main clause opens with an
    auxiliary verb ("Did …", "Between A and B, was there …"), not a wh-word, and it offers no
    alternatives ("…, or do they differ?", "before or after"). English syntax only: on the
    1,026 MultiHop-RAG dev questions it marks 543, of which 535 have the gold answer Yes or
    No, and misses 13 of the 548 such questions."""
    m = _MAIN_CLAUSE.search(question.strip())
    if not m or _ALTERNATIVE.search(question):
        return False
    return not re.fullmatch(_WH, m.group(1), re.I)


__all__ = ["Hop", "Plan", "asks_yes_or_no", "joins_articles", "names_a_day", "on_days",
           "outlet_patterns", "plan_hops"]
