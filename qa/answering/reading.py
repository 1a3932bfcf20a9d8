"""The reading check: does what an answer cites state what the answer says?

The lexical checker (``qa.answering.citations``) cannot tell "X won in 2022" from "X won in 2018"
when the year is the question's own word, nor "photos from Acquire" from "Acquire bought it".
Something that reads must decide, and the only reader here is the local model. Asked "does the text
state the claim?" it separates right from wrong answers no better than chance (issue 28's
measurement: AUC 0.41, 0.59 with a question-aware wording), so it is asked something it does well
instead: to answer the question again from the cited excerpts alone (extractive reading), with
"none" allowed. The answer is confirmed when the re-answer gives the same name, number or Yes/No as
the answer's own words beyond the question. This is the question-answering consistency check of QAGS
(Wang, Cho & Lewis 2020, "Asking and Answering Questions to Evaluate the Factual Consistency of
Summaries", ACL) turned around: the user's question is asked of the evidence, and the reply compared
with the answer.

``read`` costs one short model request: the answer prompt's system turn (so the local server
keeps it cached for the next question), then ``prompts/reading_user.txt`` with the excerpts
an answer cites and the question.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from qa.answering.evidence import short_title
from qa.answering.prompts import Prompt
from qa.answering.refusal import strip_markers
from qa.llm.client import LLM
from qa.models import Answer
from qa.text.words import terms

CONFIRMED, LEXICAL, UNSUPPORTED = "confirmed", "lexical", "unsupported"
PARTIAL = "partial"  # an article the question names is not among those read
_NONE = re.compile(r"^\W*(none|n/?a|no answer|not (stated|mentioned|given))\b", re.I)
_POLAR = re.compile(r"^\W*(yes|no)\b", re.I)


@dataclass(frozen=True)
class Reading:
    """What the reading check found: the model's re-answer from the excerpts alone, the share
    of its words beyond the question that the answer holds (0-1; 0 when it said "none"), and
    the seconds the request took."""

    reply: str
    score: float
    seconds: float

    def verdict(self, threshold: float) -> str:
        """``CONFIRMED`` at or above ``threshold``, else ``LEXICAL`` (the answer passed only
        the lexical rules)."""
        return CONFIRMED if self.score >= threshold else LEXICAL


def agreement(reply: str, answer: str, question: str) -> float:
    """How far the re-answer ``reply`` agrees with ``answer``: 0 when it is "none"; for a
    Yes/No reply, 1 when the answer opens with the same word; else the share of the reply's
    content words (those not in the question) that the answer holds."""
    if not reply.strip() or _NONE.match(reply):
        return 0.0
    polar = _POLAR.match(reply)
    if polar:
        own = _POLAR.match(re.sub(r"^\W+", "", answer))
        return float(bool(own) and own.group(1).lower() == polar.group(1).lower())
    said = terms(reply) - terms(question)
    if not said:
        return 0.0
    return len(said & terms(answer)) / len(said)


class ReadingCheck:
    """Re-asks the question of the cited excerpts with ``llm`` (see the module docstring)."""

    def __init__(self, llm: LLM, system: str, user: Prompt) -> None:
        self.llm = llm
        self.system = system  # the answer prompt's system turn, cached by the local server
        self.user = user  # prompts/reading_user.txt

    def messages(self, question: str, excerpts: Sequence[str]) -> list[dict[str, str]]:
        excerpt = "\n".join(" ".join(e.split()) for e in excerpts)
        return [{"role": "system", "content": self.system},
                {"role": "user", "content": self.user.render(excerpt=excerpt,
                                                             question=question.strip())}]

    def read(self, question: str, answer: str, excerpts: Sequence[str]) -> Reading:
        """The re-answer of ``question`` from ``excerpts`` (each headed by its article, as the
        answer prompt heads them) and its agreement with ``answer``. Raises ``LLMError``."""
        started = time.perf_counter()
        reply = self.llm.complete(self.messages(question, excerpts), max_tokens=24,
                                  stop=["\n"])
        reply = strip_markers(reply).strip()  # the answer prompt's rules ask for markers
        return Reading(reply, agreement(reply, answer, question),
                       time.perf_counter() - started)


def excerpts(answer: Answer) -> list[str]:
    """The cited quotes under their articles' headings, as the reading check reads them."""
    return [f'From "{short_title(c.title) or c.path}" ({c.source or "unknown source"}, '
            f'{c.published_at[:10] or "undated"}): {c.quote}' for c in answer.citations]


def confirm(answer: Answer, reader: ReadingCheck | None, question: str, *,
            threshold: float) -> Answer:
    """The answer with its support verdict: ``UNSUPPORTED`` when it cites nothing, else the reading
    check's (``qa.answering.reading``) when there is a ``reader``, else ``LEXICAL``; a refusal
    is left as it is."""
    if answer.refused:
        return answer
    if not answer.citations:
        return replace(answer, verdict=UNSUPPORTED)
    if reader is None:
        return replace(answer, verdict=LEXICAL)
    reading = reader.read(question, strip_markers(answer.text), excerpts(answer))
    verdict = reading.verdict(threshold)
    citations = tuple(replace(c, verdict=verdict, score=reading.score)
                      for c in answer.citations)
    return replace(answer, citations=citations, verdict=verdict,
                   support_score=reading.score, check_seconds=reading.seconds)


__all__ = ["CONFIRMED", "LEXICAL", "PARTIAL", "UNSUPPORTED", "Reading", "ReadingCheck",
           "agreement", "confirm", "excerpts"]
