"""Each named article's own sentence under a yes-or-no answer that joins articles (pure logic).

A question such as "Does the Harbour Ledger say X, while the Island Courier reports Y?" is
answered by two articles, one half each (issue 21: "each hop's sentence is cited in the final
answer"). The model often writes about one half only ("Yes, the Harbour Ledger article says X
[1].") and the reader cannot see which sentence answers the other. So after the model's answer,
each named article that it does not cite gets one line: its outlet and, quoted word for word,
the sentence of its best snippet (``qa.answering.hop_coverage``) that shares most words with
what the question says of it. The product writes these lines, never the model: they state
nothing but a quote, are checked like any sentence, and add no support to the model's own
sentences (the answer keeps the model's verdict).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from qa.models import Answer, Snippet
from qa.text.sentences import split_sentences
from qa.text.words import terms


@dataclass(frozen=True)
class HopQuote:
    """A named article to quote: its outlet's name, what the question says of it, and the
    number of its best snippet (1-based)."""

    outlet: str
    clause: str
    snippet: int


def quote_lines(quotes: Sequence[HopQuote], cited: Sequence[int],
                snippets: Sequence[Snippet]) -> str:
    """One line per hop whose snippet is not in ``cited`` (snippet numbers, 1-based): 'Island
    Courier: “sentence” [n].', the sentence of that snippet sharing most content words with the
    hop's clause (the first on a tie), without its closing punctuation; "" when every hop's
    snippet is cited. Hops sharing a snippet are quoted once."""
    lines: list[str] = []
    done = set(cited)
    for q in quotes:
        if q.snippet in done or not 1 <= q.snippet <= len(snippets):
            continue
        done.add(q.snippet)
        text = snippets[q.snippet - 1].text
        want = terms(q.clause)
        spans = split_sentences(text) or [(0, len(text))]
        start, end = max(spans, key=lambda sp: (len(want & terms(text[sp[0]:sp[1]])),
                                                -sp[0]))
        sentence = re.sub(r"[\s.!?;:,]+$", "", " ".join(text[start:end].split()))
        if sentence:
            lines.append(f"{q.outlet}: “{sentence}” [{q.snippet}].")
    return "\n".join(lines)




def keep_verdict(answer: Answer, quoted: Answer) -> Answer:
    """``quoted`` (the answer with its hop lines, checked anew) carrying ``answer``'s verdict,
    support score, second look and unsupported sentences: the quotes vouch for nothing the
    model wrote, so an answer whose own sentences cite nothing stays ``unsupported``."""
    mark = answer.citations[0] if answer.citations else None
    citations = tuple(replace(c, verdict=mark.verdict if mark else answer.verdict,
                              score=mark.score if mark else None) for c in quoted.citations)
    return replace(quoted, citations=citations, verdict=answer.verdict,
                   support_score=answer.support_score, second_look=answer.second_look,
                   unsupported=answer.unsupported)


__all__ = ["HopQuote", "keep_verdict", "quote_lines"]
