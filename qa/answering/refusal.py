"""Telling a refusal from an answer, and saying what the articles cover instead (pure logic).

A small model declines in many wordings ("The articles do not contain …", "No, the passages
do not provide the answer to this question [1][2]."); every one of them is a refusal, with or
without a leading "No," or citation markers. A sentence that says what an article does not
mention ("No, the Verge article does not mention a recall [2].") answers a yes-or-no question
and is no refusal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.answering.evidence import short_title
from qa.models import Snippet

# Phrases with which models decline; matched on the normalised answer.
_DECLINE = re.compile(
    r"(do(es)? not (contain|mention|say|provide|include|specify|state)|no information|"
    r"not (mentioned|provided|specified|stated|available)|cannot (answer|determine)|"
    r"insufficient information|not enough information)"
)
# A sentence that declines to answer, in any wording ("No, the articles do not contain the
# answer to this question [1][2]."), unlike one that says what an article does not mention
# ("No, the Verge article does not mention a recall [2]", an answer to a yes-or-no question).
_NO_ANSWER = re.compile(
    r"(answer to (this|the|that|your) question|no (relevant |specific )?information|"
    r"(not|insufficient) (enough )?information|cannot (be )?(answer|determine)|"
    r"(do(es)?n[o']?t|do(es)? not) (contain|provide|include|have|give|offer|state|specify) "
    r"(any |the |an |enough |specific |relevant |clear )*(answer|information|details?)|"
    r"not (mentioned|provided|specified|stated|available) in the (passages|articles|text)|"
    r"unable to (answer|determine|find))"
)


def is_refusal(text: str, refusal_text: str) -> bool:
    """Whether the model said the passages do not hold the answer."""
    norm = " ".join(strip_markers(text).lower().split())
    if not norm:
        return True
    return refusal_text.lower().rstrip(".") in norm or bool(_DECLINE.search(norm))


def declines(sentence: str) -> bool:
    """Whether an answer sentence declines to answer (``_NO_ANSWER``), whatever else it says."""
    return bool(_NO_ANSWER.search(" ".join(strip_markers(sentence).lower().split())))


def strip_markers(text: str) -> str:
    """The text without its [n] citation markers."""
    return re.sub(r"\s*\[\d+(?:\s*[,;]\s*\d+)*\]", "", text)


def nearest_articles(snippets: Sequence[Snippet], *, most: int = 3) -> str:
    """What the evidence does cover, for a refusal: 'The nearest articles: “Headline”
    (Outlet, 2023-11-02); …', at most ``most`` articles, best first ("" for none)."""
    seen = dict.fromkeys((s.passage.title or s.passage.path, s.passage.source,
                          s.passage.published_at[:10]) for s in snippets)
    named = [f"“{short_title(t)}” ({', '.join(x for x in (src, day) if x) or 'undated'})"
             for t, src, day in list(seen)[:most]]
    return f"The nearest articles: {'; '.join(named)}." if named else ""


__all__ = ["declines", "is_refusal", "nearest_articles", "strip_markers"]
