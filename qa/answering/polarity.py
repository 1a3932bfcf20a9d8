"""Polarity, pure logic: an answer sentence that denies what its cited sentence states, or
states what that sentence denies, is contradicted by its source.

The citation checker (``qa.answering.citations``) reads content words, and "not" is a stopword
there, so "No, the Harbour Ledger article does not say the tram would cut car traffic [1]"
passed on a snippet saying "the tram would cut car traffic": every word is held, the polarity
is the opposite. This is the contradiction case that entailment checkers read for (the
"contradiction" label of natural language inference, Bowman et al. 2015, SNLI); with no
such model on hand it is decided by negation cues, and only where the words leave no doubt:

- the clause of a cited snippet that holds most of the sentence's claim must hold at least
  ``FIRM`` of it (names its heading supplies, such as the outlet, set aside), so a sentence
  about something else is never compared;
- a denying sentence is contradicted only when no sentence of the snippet holding that clause
  has a negation cue at all ("it is not yet known who will replace him" denies too);
- a stating sentence is contradicted when that clause itself carries one ("Apple will not
  release it in March" against "Apple will release it in March"); the other clauses of the
  sentence ("While it is not required to list donors, it reported $8.4 million") do not count.

A Yes or No opening the answer is its verdict, not the sentence's polarity, and is set aside.
On the answered rows of the tuning records (MultiHop-RAG dev 1-165, 103 answers with citations,
74 right) one sentence is contradicted at ``FIRM``, in a wrong answer ("No, the TechCrunch
article does not suggest that Sam Altman is involved in a new venture" against "Altman has been
telling investors that he's planning to launch a new venture"), and none of a right answer. A
first draft at 0.6 also caught a right one ("altered without changing" against "changing ...
alters"), which is why "without" is no cue and the bar is 0.75; "No. 2 receiver" and a bare
name held by many clauses were the draft's other false alarms.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.text.sentences import split_sentences
from qa.text.words import Claim, Support, coverage, support_of

SMALLEST = 3  # names, numbers and content words a claim needs to be judged this way
FIRM = 0.75  # share of a sentence's claim one clause of its snippet must hold to be compared
_NEGATION = re.compile(  # "No. 2 receiver" is a rank, not a denial; "no 2023 figures" is one
    r"\b(?:not|never|none|nobody|nothing|neither|nor|cannot)\b|\bno\b(?!\.\s*\d)|n[’']t\b",
    re.I)
_IDIOM = re.compile(r"\b(?:not only|no doubt|not least|nothing but)\b", re.I)  # no denial
# the answer's verdict word, set off by punctuation: "No, ..." but not "No evidence shows ..."
_OPENING = re.compile(r"^\W*(?:yes|no)(?:\s*[,.;:!—–-]+\s*|\s*$)", re.I)
# clause ends, but not inside figures ("$8,400,000", "13:41", "2019–2020")
_CLAUSE = re.compile(r"\s*(?:;|(?<!\d)[,:—–]|[,:—–](?!\d))\s*|\s+(?=(?:while|but|although|"
                     r"whereas)\b)", re.I)


def negated(text: str) -> bool:
    """Whether ``text`` carries a negation cue ("not", "n't", "no", "never", ...), idioms such
    as "not only" aside."""
    return bool(_NEGATION.search(_IDIOM.sub(" ", text)))


def body(sentence: str) -> str:
    """The sentence without the Yes or No that opens an answer."""
    return _OPENING.sub("", sentence, count=1)


def contradicts(sentence: str, what: Claim, snippets: Sequence[Support]) -> bool:
    """Whether the cited ``snippets`` (with their ``text``) contradict ``sentence``, whose claim
    is ``what`` (``qa.text.words.claim``): see the module docstring. False when no clause of
    theirs holds ``FIRM`` of the claim, and for a claim of fewer than ``SMALLEST`` words (a
    bare name is held by many clauses of either polarity). Among equally close clauses the
    doubt goes to the sentence: a denial is contradicted only when none of their sentences
    denies, a statement only when every one of those clauses denies."""
    best = 0.0
    closest: list[tuple[bool, bool]] = []  # per closest clause: it denies, its sentence does
    for snippet in snippets:
        heading_names = snippet.plain - snippet.text_plain  # outlet and title vouch, not say
        own = Claim(what.names - heading_names, what.numbers, what.words)
        if len(own) < SMALLEST or not snippet.text:
            continue
        for start, end in split_sentences(snippet.text):
            whole = snippet.text[start:end]
            for clause in _CLAUSE.split(whole):
                share = coverage(own, support_of(clause)).share if len(clause) > 3 else 0.0
                if share > best:
                    best, closest = share, []
                if share == best and share:
                    closest.append((negated(clause), negated(whole)))
    if best < FIRM:
        return False
    if negated(body(sentence)):
        return not any(whole for _clause, whole in closest)
    return all(clause for clause, _whole in closest)


__all__ = ["FIRM", "SMALLEST", "body", "contradicts", "negated"]
