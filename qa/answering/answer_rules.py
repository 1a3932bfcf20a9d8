"""What makes a model's reply an answer: its citations checked against the snippets, the
question's constraints bound, the kind of answer it asks for given, and the firmer bar a
second look must clear (pure logic, used by ``qa.answering.answer``).
"""

from __future__ import annotations

from collections.abc import Sequence

from qa.answering.asks import OTHER, constraints, expected, gives
from qa.answering.citations import CheckResult, check_citations
from qa.answering.refusal import declines, is_refusal
from qa.models import Snippet
from qa.retrieval.plan import asks_yes_or_no
from qa.text.words import Support, support_of, terms


def snippet_support(snippet: Snippet) -> Support:
    """What a snippet can vouch for: its article's title, outlet and date, the full names it
    gives in part, and its text (with its table's header row)."""
    c = snippet.passage
    table = f"{c.article_id}@{snippet.header_start}" if snippet.header else ""
    return support_of(snippet.prompt_text, heading=" ".join((c.title, *snippet.names)),
                      outlet=c.source, published_at=c.published_at, table=table)


def check(raw: str, snippets: Sequence[Snippet], question: str) -> CheckResult:
    """``qa.answering.citations.check_citations`` of the model's text against the snippets, the
    question's constraints (``qa.answering.asks.constraints``) bound unless it asks yes or no."""
    bound = constraints(question, yes_or_no=asks_yes_or_no(question))
    return check_citations(raw, [snippet_support(s) for s in snippets], question=question,
                           bound=bound)


def misread(checked: CheckResult, question: str) -> bool:
    """Whether a reply to a yes-or-no question has a sentence its own snippets contradict
    (``qa.answering.polarity``): its Yes or No rests on a misreading ("No, the Ledger does
    not say X [1]" where [1] says X), so no other sentence of it may carry that verdict."""
    return asks_yes_or_no(question) and any(s.contradicted_by for s in checked.sentences)


def answers(checked: CheckResult, question: str) -> bool:
    """Whether a checked reply answers: some sentence that does not decline is cited and
    supported, and, when the question asks for an amount, a date or a name
    (``qa.answering.asks.expected``), gives one beyond the question's own words
    (``qa.answering.asks.gives``); a reply that ``misread`` its snippets does not."""
    if misread(checked, question):
        return False
    kind = expected(question, yes_or_no=asks_yes_or_no(question))
    return any(s.cited and s.supported and not declines(s.text)
               and (kind == OTHER or gives(kind, s.text, question))
               for s in checked.sentences)


def gives_unchecked(raw: str, checked: CheckResult, snippets: Sequence[Snippet],
                    question: str) -> bool:
    """Whether a reply that does not answer (``answers``) still gives what the question asks
    for in a sentence left unsupported, which is then shown as unsupported rather than
    refused: true for a question asking for no amount, date or name, false when no sentence
    gives one, and false when a sentence giving one fails only on the question's constraints
    (held by its snippets once the years and qualifiers are not bound): that is another
    year's winner or another quarter's figure, a near miss, and is refused; so is a reply
    that ``misread`` its snippets."""
    if misread(checked, question):
        return False
    kind = expected(question, yes_or_no=asks_yes_or_no(question))
    if kind == OTHER:
        return True
    giving = [i for i, s in enumerate(checked.sentences)
              if not declines(s.text) and gives(kind, s.text, question)]
    if not giving:
        return False
    if not len(constraints(question)):
        return True
    loose = check_citations(raw, [snippet_support(s) for s in snippets], question=question)
    return not any(loose.sentences[i].supported for i in giving
                   if i < len(loose.sentences) and not checked.sentences[i].supported)


# A second look must be held up by the snippets more firmly than a first answer: the model
# was not offered the refusal, so it may have forced an answer.
RETRY_SUPPORT = 0.6


# ... and must be about what was asked: a true sentence from the evidence that shares little
# with the question ("He visited Bucha" for "How many tanks did France promise?") is no answer.
RETRY_OVERLAP = 1 / 3


def second_look(checked: CheckResult, raw: str, refusal_text: str, question: str) -> bool:
    """Whether an answer written without the refusal option may replace the model's refusal:
    no decline, no unsupported sentence, one sentence firmly held by its snippets, and at
    least ``RETRY_OVERLAP`` of the question's content words in the answer."""
    if is_refusal(raw, refusal_text) or not answers(checked, question):
        return False
    asked = terms(question)
    if asked and len(asked & terms(raw)) < RETRY_OVERLAP * len(asked):
        return False
    cited = [s.score for s in checked.sentences if s.cited]
    return not checked.unsupported and bool(cited) and max(cited) >= RETRY_SUPPORT


__all__ = ["RETRY_OVERLAP", "RETRY_SUPPORT", "answers", "check", "gives_unchecked",
           "misread", "second_look", "snippet_support"]
