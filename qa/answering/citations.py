"""Citation checking, pure logic: every answer sentence is checked against what it cites.

Small models cite badly, so each marker is re-derived. A sentence's claim is its proper names,
its numbers and its other content words (``qa.text.words``); the snippets it cites must hold every
name and every number, and all but a few of the other words (``holds``). When the cited
snippets fall short, the smallest set of snippets (up to three) that holds the claim takes the
markers; two rows of one table are never joined (a row is a record); when no set holds the
claim, the sentence is unsupported and loses its markers.
A fragment answer ("Bucha [3].", "76% [1].") claims its words about the question's subject, so
the question's names join its claim. Bracketed numbers that name no snippet ("[150] billion")
are answer text and stay as written.

An answer often restates the question around what it adds ("Valve, covered by Engadget and
Polygon, will release it on November 16"), and the question's premises may be in no snippet.
Such a sentence is judged on what it adds beyond the question, but only when the snippets that
hold its new names and numbers are tied to the question: together they hold at least ``LINK`` of
the question's claim. The answer to a multi-hop question is a bridge entity named beside the
facts of each hop (the bridge-entity reading of multi-hop QA, Yang et al. 2018, HotpotQA); a
name that is merely somewhere in the evidence ("Kyiv" for "the capital of NATO's newest
member", held only by a sentence on drones over Kyiv) is not. Table rows are records and never
vouch this way: a row's figure belongs to the name in its row.

An answer in another language than the articles' (``language``) shares no content words with
its snippets, so it is judged by its names and numbers alone (``qa.text.languages.foreign_claim``:
names spelt as the evidence spells them, "Selenskyj" as "Zelenskyy", numbers as "1,5" ->
"1.5"), and the snippets it rests on must be tied to the (English) question: hold at least
``LINK`` of its claim. A sentence with no name or number keeps its markers only when they are
so tied. What such a check cannot see (a translated noun, a name the evidence lacks) the
English check would; the gap is measured in ``benchmarks/languages.py``.
"""

from __future__ import annotations

import functools
import itertools
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from qa.answering.polarity import contradicts
from qa.text.languages import ENGLISH, foreign_claim
from qa.text.sentences import split_sentences  # the same sentence rules as the chunker
from qa.text.words import Claim, Coverage, Support, claim, coverage, support_of, terms

MARKER = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
# A bracketed number where a marker would stand (before punctuation, a marker or the end):
# kept in the text, but no number the sentence claims.
_STRAY = re.compile(r"\[\d+(?:\s*[,;]\s*\d+)*\](?=\s*(?:[.!?;:,)”\"'\n\[]|$))")
FRAGMENT = 3  # a sentence with fewer names, numbers and content words than this is a fragment
MAX_SET = 3  # most snippets one sentence may rest on
SLACK = 8  # one content word in this many may be missing (paraphrase); names and numbers never
LINK = 1 / 3  # share of the question's claim the snippets naming an answer's new words must hold
_NOTHING = Claim(frozenset(), frozenset(), frozenset())
# A snippet number where a value belongs ("is [2] billion", "$[3]"): the model put a marker in
# place of the amount, so the sentence states no amount; it stays as written, and unsupported.
_SLOT_AFTER = re.compile(
    r"\s*(?:%|percent\b|per cent\b|(?:hundred|thousand|million|billion|trillion)s?\b|"
    r"(?:euros?|dollars?|pounds?|yen|yuan|rupees?|francs?)\b)", re.I)
_SLOT_BEFORE = re.compile(r"(?:[$€£¥]|\b(?:USD|EUR|GBP))\s*$")


@dataclass(frozen=True)
class CheckedSentence:
    """One answer sentence after checking: the snippets (1-based) that support it."""

    text: str
    cited: tuple[int, ...]
    supported: bool
    score: float  # weighted share of its claim that the cited (or best) snippets hold
    contradicted_by: tuple[int, ...] = ()  # snippets that hold its words with the opposite
    # polarity ("does not say X" against "X"; ``qa.answering.polarity``): it is unsupported


@dataclass(frozen=True)
class CheckResult:
    """The re-marked answer text, the sentences, and which snippets ended up cited."""

    text: str
    sentences: tuple[CheckedSentence, ...]
    unsupported: tuple[str, ...] = field(default=())

    @property
    def cited(self) -> list[int]:
        """Snippet numbers in order of first citation."""
        seen: list[int] = []
        for s in self.sentences:
            seen.extend(n for n in s.cited if n not in seen)
        return seen


def holds(cov: Coverage, size: int, *, joined: bool = False) -> bool:
    """Whether evidence with this coverage supports a claim of ``size`` words: every name and
    number found, and of the other words all but one in ``SLACK`` (plus one for paraphrase
    when a single snippet holds a claim of four or more words; joining snippets is riskier)."""
    slack = size // SLACK + (0 if joined or size < 4 else 1)
    return not cov.missing_names and not cov.missing_numbers and (
        len(cov.missing_words) <= slack)


def binds(bound: Claim, support: Support) -> bool:
    """Whether evidence holds every number and word of ``bound`` (a question's constraints,
    ``qa.answering.asks.constraints``): no slack, unlike ``holds``."""
    if not len(bound):
        return True
    found = coverage(bound, support)
    return not found.missing_numbers and not found.missing_words and not found.missing_names


def split_marked(text: str, count: int) -> list[tuple[str, tuple[int, ...], str]]:
    """Split model output into (sentence without markers, snippet numbers it cited, the
    whitespace before it), in order. A bracket group is a marker when it names a snippet
    (1..``count``); one that names none stays in the sentence as text."""
    plain_parts: list[str] = []
    marks: list[tuple[int, tuple[int, ...]]] = []  # (position in plain text, numbers)
    pos = length = 0
    for m in MARKER.finditer(text):
        numbers = tuple(int(n) for n in re.split(r"\s*[,;]\s*", m.group(1)))
        named = tuple(n for n in numbers if 1 <= n <= count)
        if not named or is_slot(text, m):
            continue  # "[150] billion", "is [2] billion": text, left where it is
        plain_parts.append(text[pos : m.start()])
        length += m.start() - pos
        marks.append((length, named))
        pos = m.end()
    plain_parts.append(text[pos:])
    plain = "".join(plain_parts)
    spans = split_sentences(plain)
    cited: list[list[int]] = [[] for _ in spans]
    for at, numbers in marks:
        # a marker belongs to the last sentence that starts before it: "X happened. [1]" -> X
        owner = max((i for i, (start, _end) in enumerate(spans) if start < at), default=0)
        if spans:
            cited[owner].extend(n for n in numbers if n not in cited[owner])
    out = []
    previous = 0
    for (start, end), numbers in zip(spans, cited, strict=True):
        gap = plain[previous:start]
        out.append((plain[start:end].strip(), tuple(numbers), "\n" * gap.count("\n") or " "))
        previous = end
    return out


def is_slot(text: str, marker: re.Match[str]) -> bool:
    """Whether a bracketed number stands where a value belongs ("is [2] billion", "$[3]")."""
    return bool(_SLOT_AFTER.match(text, marker.end())
                or _SLOT_BEFORE.search(text, 0, marker.start() + len(marker.group())
                                       - len(marker.group().lstrip())))


def _names_snippet(marker: re.Match[str], count: int) -> bool:
    return any(1 <= int(n) <= count for n in re.split(r"\s*[,;]\s*", marker.group(1)))


def check_citations(
    text: str, evidence: Sequence[Support | str], *, question: str = "",
    bound: Claim = _NOTHING, language: str = ENGLISH, known: frozenset[str] = frozenset(),
) -> CheckResult:
    """Re-derive the markers of ``text`` against numbered snippets (1-based).

    ``evidence`` holds each snippet's words (``qa.text.words.support_of`` over its title, outlet,
    date, table header and text); a plain string is read as such a text. ``question`` lends
    its names to fragment answers. ``bound`` (``qa.answering.asks.constraints`` of the question: its
    years, figures and qualifiers) must be held, with no slack, by the snippets a sentence
    rests on whenever it adds a name or number to the question: "X won in 2022 [1]" does not
    answer "Who won in 2018?", even when the answer writes "in 2018" itself.
    A sentence with a snippet number where a value belongs (``is_slot``) is unsupported, and so
    is one its snippets contradict (``qa.answering.polarity``: "does not say X" against "X"),
    whose ``contradicted_by`` names them.
    ``language`` is the answer's (a ``qa.text.languages.NAMES`` code); another than English is
    judged across the gap (see the module docstring), ``known`` holding the names its words
    may be (``qa.text.languages.names_in`` of the snippets).
    """
    supports = [e if isinstance(e, Support) else support_of(e) for e in evidence]
    asked = claim(question) if question else _NOTHING
    about = _about(asked, supports)
    checked: list[tuple[CheckedSentence, str]] = []
    for sentence, cited, gap in split_marked(text, len(supports)):
        if any(is_slot(sentence, m) and _names_snippet(m, len(supports))
               for m in MARKER.finditer(sentence)):
            checked.append((CheckedSentence(sentence, (), False, 0.0), gap))
            continue
        if language != ENGLISH:
            checked.append((_across(sentence, cited, supports, asked, about, bound, known), gap))
            continue
        own = claim(_STRAY.sub("", sentence))
        if not len(own):  # "Yes [2].": nothing to judge; in-range markers stay as written
            checked.append((CheckedSentence(sentence, cited, True, 1.0), gap))
            continue
        adds = own.names - asked.names or own.numbers - asked.numbers
        must = bound if adds else _NOTHING
        what = own | Claim(asked.names, frozenset(), frozenset()) if len(own) < FRAGMENT else own
        judged = _judge(sentence, what, cited, supports, must)
        if not judged.supported and len(asked):
            judged = _beyond_question(sentence, own, asked, about, cited, supports,
                                      must) or judged
        if judged.supported and judged.cited and contradicts(
                sentence, own, [supports[n - 1] for n in judged.cited]):
            judged = CheckedSentence(sentence, (), False, judged.score,
                                     contradicted_by=judged.cited)
        checked.append((judged, gap))
    return _rewrite(checked)


def _across(
    sentence: str, cited: tuple[int, ...], supports: list[Support], asked: Claim, about: Claim,
    bound: Claim, known: frozenset[str],
) -> CheckedSentence:
    """A sentence in another language judged by its names and numbers, on snippets tied to the
    question (see the module docstring): all of them held, or those beyond the question's own
    when the question's premises are in no snippet."""
    names, numbers = foreign_claim(_STRAY.sub("", sentence), known | asked.names)
    own = Claim(names, numbers, frozenset())
    if not len(own):
        tied = bool(cited) and _linked(about, cited, supports) >= LINK
        return CheckedSentence(sentence, cited if tied else (), tied, 0.0)
    new = Claim(own.names - asked.names, own.numbers - asked.numbers, frozenset())
    must = bound if len(new) else _NOTHING
    judged = _judge(sentence, own, cited, supports, must, about=about)
    if not judged.supported and len(new) and len(new) < len(own):
        judged = _judge(sentence, new, cited, supports, must, about=about)
    return judged


def _anchors(new: Claim, supports: Sequence[Support]) -> list[list[int]]:
    """For each of an answer's new names and numbers (its new words when it adds none: a
    sentence's opening name is read as a word), the snippets (1-based), table rows aside,
    whose texts hold it."""
    items = [Claim(frozenset([n]), frozenset(), frozenset()) for n in new.names]
    items += [Claim(frozenset(), frozenset([n]), frozenset()) for n in new.numbers]
    items = items or [Claim(frozenset(), frozenset(), frozenset([w])) for w in new.words]
    return [[i for i, s in enumerate(supports, start=1)
             if not s.table and coverage(item, s.text_only).share] for item in items]


def _linked(about: Claim, numbers: Sequence[int], supports: Sequence[Support]) -> float:
    """How firmly the snippets ``numbers`` (1-based) tie an answer to the question: the share
    of ``about`` (the question's claim less its outlet names, ``_about``) their texts hold.
    Headings and dates are left out: a title names the article's subject, not this sentence's,
    and the articles' headings settle the outlets ("covered by Engadget")."""
    if not numbers or not len(about):
        return 0.0
    return coverage(about, _pooled(supports, numbers, text_only=True)).share


def _about(asked: Claim, supports: Sequence[Support]) -> Claim:
    """The question's claim less its outlet names (see ``_linked``)."""
    outlets = frozenset().union(*(s.outlet for s in supports))
    return Claim(asked.names - outlets, asked.numbers, asked.words)


def _pooled(
    supports: Sequence[Support], numbers: Sequence[int], *, text_only: bool = False
) -> Support:
    """The union of the snippets ``numbers`` (1-based, at least one), or of their texts alone."""
    chosen = [supports[n - 1].text_only if text_only else supports[n - 1] for n in numbers]
    return functools.reduce(operator.or_, chosen)


def _beyond_question(
    sentence: str, own: Claim, asked: Claim, about: Claim, cited: tuple[int, ...],
    supports: list[Support], bound: Claim = _NOTHING,
) -> CheckedSentence | None:
    """The sentence judged on what it adds to the question (see the module docstring), citing
    the snippets that tie it to the question (at most ``MAX_SET``, those the model cited
    first); ``about`` is the question's claim less its outlets (``_about``). None when it
    adds nothing, what it adds is not tied to the question, or those snippets lack a
    constraint of ``bound``."""
    new = Claim(own.names - asked.names, own.numbers - asked.numbers, own.words - asked.words)
    if not len(new):
        return None
    groups = _anchors(new, supports)  # each new name is tied on its own: "Valve and Sony"
    if any(_linked(about, group, supports) < LINK for group in groups):  # needs both
        return None
    anchors = sorted({n for group in groups for n in group},
                     key=lambda n: (n not in cited, n))[:MAX_SET]
    found = coverage(new, _pooled(supports, anchors))
    if not holds(found, len(new), joined=len(anchors) > 1) or not binds(
            bound, _pooled(supports, anchors)):
        return None
    return CheckedSentence(sentence, tuple(sorted(anchors)), True, found.share)


def _judge(
    sentence: str, what: Claim, cited: tuple[int, ...], supports: list[Support],
    bound: Claim = _NOTHING, *, about: Claim | None = None,
) -> CheckedSentence:
    """The markers a sentence keeps: the cited snippets when they hold its claim (less any
    that add nothing), else the smallest set that does, preferring the cited ones; every
    number and word of ``bound`` (the question's constraints) must be held too, and, given
    ``about`` (a question's claim, ``_about``), at least ``LINK`` of it (``_linked``)."""
    size = len(what)

    def cov(numbers: Sequence[int]) -> Coverage:
        return coverage(what, _pooled(supports, numbers))

    def joinable(numbers: Sequence[int]) -> bool:  # two rows of one table are two records
        tables = [supports[n - 1].table for n in numbers if supports[n - 1].table]
        return len(tables) == len(set(tables))

    def ok(numbers: Sequence[int]) -> bool:
        return (joinable(numbers) and holds(cov(numbers), size, joined=len(numbers) > 1)
                and binds(bound, _pooled(supports, numbers))
                and (about is None or not len(about)
                     or _linked(about, numbers, supports) >= LINK))

    if cited and ok(cited):
        cited_cov = cov(cited)
        keep = list(cited)
        for n in cited:  # drop a marker whose snippet adds nothing the others lack
            rest = [k for k in keep if k != n]
            if rest and cov(rest).share >= cited_cov.share and ok(rest):
                keep = rest
        return CheckedSentence(sentence, tuple(keep), True, cited_cov.share)
    singles = sorted(range(1, len(supports) + 1), key=lambda n: -cov([n]).share)
    pool = sorted(set(singles[:6]) | set(cited))
    for k in range(1, MAX_SET + 1):
        found = [c for c in itertools.combinations(pool, k) if ok(c)]
        if found:
            best = max(found, key=lambda c: (len(set(c) & set(cited)), cov(c).share))
            ordered = tuple(sorted(best, key=lambda n: (n not in cited, n)))
            return CheckedSentence(sentence, ordered, True, cov(best).share)
    best_share = max((cov([n]).share for n in singles[:1]), default=0.0)
    return CheckedSentence(sentence, (), False, best_share)


def _rewrite(checked: list[tuple[CheckedSentence, str]]) -> CheckResult:
    """Write the text back with markers before each sentence's closing punctuation, keeping
    the model's line breaks between sentences."""
    parts = []
    for i, (s, gap) in enumerate(checked):
        if i:
            parts.append(gap)
        if not s.cited:
            parts.append(s.text)
            continue
        marks = "".join(f"[{n}]" for n in s.cited)
        m = re.search(r"[.!?:]+[\"'”’)]*$", s.text)
        if m:
            parts.append(f"{s.text[: m.start()].rstrip()} {marks}{s.text[m.start() :]}")
        else:
            parts.append(f"{s.text} {marks}")
    sentences = tuple(s for s, _gap in checked)
    unsupported = tuple(s.text for s in sentences if not s.supported)
    return CheckResult(text="".join(parts).strip(), sentences=sentences, unsupported=unsupported)


def renumber(text: str, order: Sequence[int]) -> str:
    """Markers of snippet numbers renumbered to citation numbers (1.. in ``order``); bracketed
    numbers outside ``order`` are text and stay as they are."""
    new = {old: i for i, old in enumerate(order, start=1)}

    def swap(m: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*[,;]\s*", m.group(1))]
        if not all(n in new for n in numbers):
            return m.group()
        return "".join(f"[{new[n]}]" for n in numbers)

    return re.sub(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]", swap, text)


def highlight_spans(quote: str, sentences: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """Spans of ``quote``'s sentences that best match each citing answer sentence (by shared
    content words), so a source card can mark what the answer rests on."""
    spans = split_sentences(quote)
    words = [terms(quote[a:b]) for a, b in spans]
    found: set[tuple[int, int]] = set()
    for sentence in sentences:
        target = terms(sentence)
        if not target or not spans:
            continue
        scores = [len(target & w) for w in words]
        best = max(range(len(spans)), key=scores.__getitem__)
        if scores[best]:
            found.add(spans[best])
    return tuple(sorted(found))
