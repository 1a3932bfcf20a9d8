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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from qa.answering.reading import LEXICAL
from qa.models import Answer, Snippet
from qa.text.sentences import split_sentences
from qa.text.words import terms


@dataclass(frozen=True)
class HopQuote:
    """A named article to quote: its outlet's name, what the question says of it, the number
    of its best snippet (1-based), and the numbers of all its snippets (its outlet's, of the
    day the question names, if any): citing any of them cites the article."""

    outlet: str
    clause: str
    snippet: int
    snippets: tuple[int, ...] = ()


def quote_lines(quotes: Sequence[HopQuote], cited: Sequence[int],
                snippets: Sequence[Snippet]) -> str:
    """One line per hop none of whose snippets is in ``cited`` (snippet numbers, 1-based):
    'Island Courier: “sentence” [n].', the sentence of its best snippet sharing most content
    words with the hop's clause (the first on a tie), without its closing punctuation; none for
    a hop whose best snippet has no sentence sharing a word with its clause (it matched by its
    headline only). "" when there is nothing to add. Hops sharing a snippet are quoted once."""
    lines: list[str] = []
    done = set(cited)
    for q in quotes:
        if done & {q.snippet, *q.snippets} or not 1 <= q.snippet <= len(snippets):
            continue
        done.add(q.snippet)
        text = snippets[q.snippet - 1].text
        want = terms(q.clause)
        spans = split_sentences(text) or [(0, len(text))]
        start, end = max(spans, key=lambda sp: (len(want & terms(text[sp[0]:sp[1]])),
                                                -sp[0]))
        if not want & terms(text[start:end]):
            continue
        sentence = re.sub(r"[\s.!?;:,]+$", "", " ".join(text[start:end].split()))
        if sentence:
            lines.append(f"{q.outlet}: “{sentence}” [{q.snippet}].")
    return "\n".join(lines)


def with_quotes(answer: Answer, written: str, quotes: Sequence[HopQuote],
                cited: Sequence[int], snippets: Sequence[Snippet],
                recheck: Callable[[str], Answer]) -> tuple[str, Answer]:
    """The lines to stream (``quote_lines``; "" for none) and the answer with them: ``recheck``
    builds the checked ``Answer`` of ``written`` (the model's text that stands) plus the lines.
    The quotes vouch for nothing the model wrote, so the answer keeps its verdict, support
    score and second look (an answer whose own sentences cite nothing stays ``unsupported``);
    the model's citations keep their verdicts, a quote's is ``lexical`` (it passed the word
    rules, and no reading check read it); a line that fails the check is listed unsupported.
    ``answer`` itself, and "", when there is nothing to add or the check would refuse it."""
    lines = quote_lines(quotes, cited, snippets)
    quoted = recheck(f"{written.rstrip()}\n\n{lines}") if lines else None
    if quoted is None or quoted.refused:
        return "", answer
    before = {(c.article_id, c.start, c.end): c for c in answer.citations}
    citations = tuple(
        replace(c, verdict=before[key].verdict, score=before[key].score)
        if (key := (c.article_id, c.start, c.end)) in before
        else replace(c, verdict=LEXICAL, score=None) for c in quoted.citations)
    return lines, replace(quoted, citations=citations, verdict=answer.verdict,
                          support_score=answer.support_score, second_look=answer.second_look)


__all__ = ["HopQuote", "quote_lines", "with_quotes"]
