"""What a question asks for, and whether an answer gives it (pure logic).

An answer must answer: a how-much or how-many question needs an amount, a when question a day,
month, year or period, a who, which or where question a name, and none of these may be only
the question's own words ("The 2021 Tour de France is in the books [1]" names no winner;
"… since March 2022 is [2] billion euros" gives no amount). This is the expected-answer-type
check of classic question answering (the answer types of Moldovan et al. 2000, "The structure
and performance of an open-domain question answering system", ACL), reduced to the four types
news questions mostly ask for.

``constraints`` are the words of a question that narrow what it asks: its numbers (years,
days, quarters, figures) and qualifiers ("women's", "first", "final"). The citation checker
requires them in the snippets that hold an answer's new name or number, so that "X won in
2022" is no answer to "Who won in 2018?".
"""

from __future__ import annotations

import re

from qa.answering.refusal import strip_markers
from qa.text.words import FRAMING, STOPWORDS, Claim, claim, number_token, stem

AMOUNT, DATE, NAME, OTHER = "amount", "date", "name", "other"

_AMOUNT_Q = re.compile(
    r"\bhow (much|many|long|old|far|big|large|tall|high|often)\b"
    r"|^\W*(what|which) (is|was|are|were|will be)? ?(the )?(total |combined |estimated )?"
    r"(number|amount|percentage|share|price|value|cost|size|rate|figure|sum|count)\b",
    re.I,
)
_DATE_Q = re.compile(
    r"^\W*when\b|\b(what|which) (year|date|day|month|time|season)\b|\bin what year\b|"
    r"^\W*(since|until) when\b",
    re.I,
)
_NAME_Q = re.compile(r"^\W*(who|whom|whose|where|which)\b|\bwhat is the name\b|"
                     r"^\W*what (company|firm|organi[sz]ation|person|individual|team|country|"
                     r"city|state|platform|app|product|brand|group|club|player|film|movie|show|"
                     r"game|band|artist|network|outlet|publication)\b", re.I)

# Amounts in words; a scale word alone ("billion euros") is none: "is [2] billion euros".
_NUMBER_WORDS = frozenset(
    """one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
    sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety
    dozen dozens half quarter third once twice""".split()
)
_DATE_WORDS = re.compile(
    r"\b(january|february|march|april|may|june|july|august|september|october|november|"
    r"december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|monday|tuesday|wednesday|"
    r"thursday|friday|saturday|sunday|yesterday|today|tomorrow|tonight|weekend|spring|summer|"
    r"autumn|fall|winter|ago|decade|century|(last|next|this|that|earlier this|later this) "
    r"(week|month|year|quarter|season))\b|\b(1[89]|20)\d\d\b|\b\d{1,2}(st|nd|rd|th)\b|"
    r"\b\d{1,2}[:/.-]\d{1,2}\b",
    re.I,
)
# Words that narrow what a question asks, beyond its numbers ("the women's final", "its first
# season"); stemmed as ``qa.text.words`` stems. Not person nouns ("the man who …") nor words with a
# common other sense ("last", "opening": stemmed "open", as in "open about her …").
_QUALIFIERS = frozenset(stem(
    """women men junior senior youth first second third fourth fifth final inaugural annual
    quarterly quarter""".split()))
_CAPITALISED = re.compile(r"\b[A-Z][A-Za-z'’.-]*[A-Za-z]|\b[A-Z]\b|\b[a-z]+[A-Z][A-Za-z]*")


def expected(question: str, *, yes_or_no: bool = False) -> str:
    """What the question asks for: ``AMOUNT``, ``DATE``, ``NAME`` or ``OTHER`` (``OTHER`` for
    a yes-or-no question, ``yes_or_no``, and anything not recognised, which no rule checks)."""
    if yes_or_no:
        return OTHER
    q = question.strip()
    if _AMOUNT_Q.search(q):
        return AMOUNT
    if _DATE_Q.search(q):
        return DATE
    if _NAME_Q.search(q):
        return NAME
    return OTHER


def _names(text: str) -> set[str]:
    """Capitalised words, the opening one included unless it is a common word ("The")."""
    out = set()
    for word in _CAPITALISED.findall(text):
        low = re.sub(r"['’]s?$", "", word.lower()).strip(".")
        if low and low not in STOPWORDS and low not in FRAMING and low not in ("final", "yes"):
            out.add(low)
    return out


def _numbers(text: str) -> set[str]:
    words = re.findall(r"\d+(?:[.,]\d+)*|[A-Za-z]+", text)
    return {number_token(w) if w[0].isdigit() else w.lower() for w in words
            if w[0].isdigit() or w.lower() in _NUMBER_WORDS}


def gives(kind: str, sentence: str, question: str) -> bool:
    """Whether ``sentence`` (citation markers aside) gives an answer of ``kind`` that is not
    only the question's own words; always true for ``OTHER``."""
    text = strip_markers(sentence)
    asked = strip_markers(question)
    if kind == AMOUNT:
        return bool(_numbers(text) - _numbers(asked))
    if kind == DATE:
        found = {m.group().lower() for m in _DATE_WORDS.finditer(text)}
        return bool(found - {m.group().lower() for m in _DATE_WORDS.finditer(asked)})
    if kind == NAME:
        return bool(_names(text) - _names(asked))
    return True


# A full day ("October 31, 2023", "2023-10-31") names an article by its date, which retrieval
# scopes by; a question joining two dated articles cannot have both days in one snippet.
_FULL_DAY = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}(?:st|nd|rd|th)?"
    r"(?:,? \d{4})?\b|\b\d{4}-\d\d-\d\d\b|\b\d{1,2}(?:st|nd|rd|th)? (?:jan|feb|mar|apr|may|"
    r"jun|jul|aug|sep|oct|nov|dec)[a-z]*,? \d{4}\b",
    re.I,
)


def constraints(question: str, *, yes_or_no: bool = False) -> Claim:
    """The question's numbers (those of full days aside, see ``_FULL_DAY``) and qualifier
    words (see the module docstring), as a ``Claim`` whose numbers and stemmed words the
    snippets holding an answer's new name or number must hold; none for a yes-or-no question
    (``yes_or_no``), whose answer adds no name to bind them to."""
    if yes_or_no:
        return Claim(frozenset(), frozenset(), frozenset())
    asked = claim(_FULL_DAY.sub(" ", question))
    return Claim(frozenset(), asked.numbers, asked.words & _QUALIFIERS)


__all__ = ["AMOUNT", "DATE", "NAME", "OTHER", "constraints", "expected", "gives"]
