"""A question's scope: the period, outlets and order its articles are restricted to, and the
earlier turns it follows.

Between the question and retrieval. The bounds a person set (``--since``, ``--until``,
``--outlet``; the same on every face) are checked here, with the timeline's one-line errors
(``qa.answering.timeline``: ``parse_day``, ``known_outlets``); the words the question says of
when ("latest", "last week", "in March") are read by ``qa.retrieval.dates`` against a reference
day (today, or the newest article's day for an archive); the two combine, the narrower winning,
into the ``Within`` retrieval keeps to and the ``Period`` the answer reports.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from qa.answering.answer import Turn
from qa.answering.timeline import known_outlets, parse_day
from qa.config import Settings
from qa.errors import ConfigError
from qa.models import Answer, Period, ScoredChunk, Snippet
from qa.retrieval.dates import Within, narrowest, period_label, read_when, reference_day
from qa.retrieval.retrieve import Retriever

HistoryLike = Sequence[Turn] | Sequence[Answer] | Sequence[dict[str, Any]] | None


def normalise_history(history: HistoryLike) -> list[Turn]:
    """Accept (question, answer) pairs, ``Answer`` objects or {"question","answer"} dicts."""
    turns: list[Turn] = []
    for turn in history or ():
        if isinstance(turn, Answer):
            turns.append((turn.question, turn.text))
        elif isinstance(turn, dict):
            turns.append((str(turn.get("question", "")), str(turn.get("answer", ""))))
        else:
            q, a = turn
            turns.append((str(q), str(a)))
    return turns


@dataclass(frozen=True)
class Bounds:
    """What a person set, checked: ``since``..``until`` (``YYYY-MM-DD``, "" open) and
    ``outlets`` (names as the index holds them; empty: all)."""

    since: str = ""
    until: str = ""
    outlets: tuple[str, ...] = ()


def check_bounds(since: str, until: str, outlets: Sequence[str], held: Sequence[str]) -> Bounds:
    """``since``/``until`` as ``YYYY-MM-DD`` ("" open) and ``outlets`` among those the index
    ``held`` (any case). Raises ``ConfigError`` in one line for a malformed or reversed day or
    an outlet the index does not hold."""
    since, until = parse_day(since or "", "since"), parse_day(until or "", "until")
    if since and until and since > until:
        raise ConfigError(f"since ({since}) is after until ({until})")
    wanted = known_outlets(list(outlets or ()), held)
    names = tuple(sorted({o for o in held if o and o.lower() in wanted}))
    return Bounds(since, until, names)


def scope(question: str, bounds: Bounds, retriever: Retriever, settings: Settings, *,
          today: date | None = None) -> tuple[str, Within, Period | None]:
    """The text retrieval ranks by (``question`` without the words of when it read), where
    it looks, and the period the answer reports (None when neither the question nor
    ``bounds`` restricts or orders anything). Relative words resolve against ``today`` (None:
    the date today), or against the index's newest article's day when that is more than
    ``QA_ARCHIVE_AFTER_DAYS`` older."""
    reference, newest = reference_day(retriever.newest_day, today or date.today(),
                                      settings.archive_after_days)
    when = read_when(question, reference, masked=retriever.outlet_spans(question))
    since, until = narrowest(when, bounds.since, bounds.until)
    within = Within(since, until, bounds.outlets, when.latest, when.topic)
    text = when.rest or question
    if not (within.restricts or within.latest):
        return text, within, None
    shown = reference.isoformat() if when.relative else ""
    label = period_label(since, until, words=when.words, reference=shown, newest=newest,
                         outlets=bounds.outlets, latest=when.latest)
    return text, within, Period(since, until, bounds.outlets, when.words, when.latest, shown,
                                ("newest article" if newest else "today") if shown else "",
                                label)


# For "the latest on X": the excerpts come newest first (``newest_numbered``), and the model
# is told so. Without it the packaged model, asked the latest on the tests' story, wrote the
# older shareholders' vote, which three excerpts told, over the newest article's news; told
# "answer with what [1] reports" it wrote "… is reported in [1]"; this wording gave the newest
# article's news, cited, for both wordings of the question tried.
LATEST_HINT = ("The excerpts are numbered newest first. Answer with the news that excerpt [1] "
               "reports, in a full sentence, citing [1].")


def instructions_for(within: Within, instructions: str) -> str:
    """The caller's ``instructions`` to the model, with ``LATEST_HINT`` for the latest news."""
    return "\n\n".join(filter(None, (instructions, LATEST_HINT if within.latest else "")))


def selection_text(question: str, within: Within, passages: Sequence[ScoredChunk]) -> str:
    """What evidence selection scores sentences against: the question; for one naming no
    topic ("What happened last week?"), with the headlines of the articles found, which stand
    for it (scored against the question alone, the period's least telling sentences won:
    "Only a few small investors objected." over the shareholders' vote it followed)."""
    if within.topic:
        return question
    return " ".join([question, *dict.fromkeys(p.chunk.title for p in passages if p.chunk.title)])


def newest_numbered(snippets: Sequence[Snippet]) -> tuple[Snippet, ...]:
    """Snippets renumbered newest article first (ties keep their order), for a question
    about the latest news: the model reads, and most often cites, the first ones first."""
    ordered = sorted(snippets, key=lambda s: s.passage.published_at[:10], reverse=True)
    return tuple(dataclasses.replace(s, number=n) for n, s in enumerate(ordered, start=1))


def refusal_in(period: Period | None, answer: Answer, *, foreign: bool = False) -> Answer:
    """A refusal made without the model that names the period its articles were restricted
    to ("No article published from 25 March 2024 to 31 March 2024 (…) answers this question."),
    and carries it. For a question in another language (``foreign``) the refusal keeps its
    sentence in that language and adds the period after it."""
    if period is None:
        return answer
    if not (period.since or period.until or period.outlets):
        return dataclasses.replace(answer, period=period)
    label = period_label(period.since, period.until, words=period.words,
                         reference=period.reference, outlets=period.outlets,
                         newest=period.reference_is == "newest article")
    text = f"{answer.text} ({label})" if foreign else f"No article {label} answers this question."
    return dataclasses.replace(answer, text=text, period=period)


__all__ = ["LATEST_HINT", "Bounds", "HistoryLike", "check_bounds", "instructions_for",
           "newest_numbered", "normalise_history", "refusal_in", "scope", "selection_text"]
