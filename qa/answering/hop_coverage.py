"""Does the evidence hold each article a question names? (pure logic)

A question that joins articles names them by outlet ("Does the TechCrunch article on … while The
Verge reports …?"). When the evidence holds no passage of that outlet on what the question says of
it, nothing the model writes can answer for that article; a 1.5B model still answers Yes or No.
``hop_coverage`` measures, for each named outlet (a hop of ``qa.retrieval.plan``), how much of what
the question says right after naming it (its clause, else the whole question) the best snippet of
that outlet holds, as the IDF-weighted share of its content words (the snippet's headline counts).
Evidence selection already scores sentences this way; here the figure asks whether any sentence of
that outlet is on the hop's subject at all. A hop that also names the day ("the TechCrunch
article published on October 31, 2023") counts only that outlet's snippets of that day: another
day's article of the outlet is another article. Near-miss rows of dev records 1-165 (evidence
only, no model): of the 97 yes-or-no questions, 31 name a day; with the day counted, 13 more
are refused when their evidence is left out (11 of them had been answered) and 3 more when it
is there (the named day's article was not among the snippets).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from qa.answering.hop_quotes import HopQuote
from qa.models import HopEvidence, Snippet
from qa.retrieval.plan import Hop, Plan, on_days
from qa.text.words import terms


@dataclass(frozen=True)
class HopCoverage:
    """One named outlet's hop: its outlets, the words the question says of it, and the share
    (0-1, IDF-weighted) of them that its best snippet holds (0 when it has no snippet), and
    which snippet that is."""

    hop: Hop
    clause: str
    share: float
    snippet: int = 0  # the number of that best snippet (0: none)


def of_hop(hop: Hop, snippet: Snippet) -> bool:
    """Whether ``snippet`` is from the hop's article: its outlet's, of the day it names if any."""
    return snippet.passage.source in hop.sources and (
        not hop.days or on_days(snippet.passage.published_at, hop.days))


def hop_coverage(
    question: str, plan: Plan, snippets: Sequence[Snippet],
    idf: Callable[[Iterable[str]], dict[str, float]],
) -> list[HopCoverage]:
    """For each hop of ``plan`` that names outlets, in order, how well ``snippets`` cover it;
    ``idf`` gives each stemmed term's weight (``Retriever.idf``)."""
    out = []
    for hop in plan.hops:
        if not hop.sources:
            continue
        clause = " ".join(plan.clauses.get(hop, ())) or question
        want = terms(clause)
        weights = idf(want) if want else {}
        total = sum(weights.get(t, 1.0) for t in want)
        best, number = 0.0, 0
        for s in snippets:
            if not total or not of_hop(hop, s):
                continue
            have = terms(f"{s.passage.title} {s.text}")
            share = sum(weights.get(t, 1.0) for t in want & have) / total
            if share > best or not number:
                best, number = max(best, share), s.number
        out.append(HopCoverage(hop, clause, best, number))
    return out


def hop_evidence(coverage: Sequence[HopCoverage], snippets: Sequence[Snippet],
                 floor: float) -> tuple[HopEvidence, ...]:
    """Each hop with the numbers of its outlet's snippets and whether it reaches ``floor``,
    for the evidence event (a snippet is listed under the first hop whose outlet gave it)."""
    listed: set[int] = set()
    out = []
    for c in coverage:
        numbers = tuple(s.number for s in snippets
                        if s.number not in listed and of_hop(c.hop, s))
        listed.update(numbers)
        out.append(HopEvidence(c.hop.sources, c.clause, round(c.share, 3), numbers,
                               c.share >= floor))
    return tuple(out)


def hop_quotes(coverage: Sequence[HopCoverage], snippets: Sequence[Snippet],
               floor: float) -> list[HopQuote]:
    """The hops reaching ``floor``, each to be quoted under a yes-or-no answer that cites none
    of its snippets (``qa.answering.hop_quotes``): its best snippet's outlet and number, and
    the numbers of all its snippets (its outlets', of its days if it names any)."""
    return [HopQuote(snippets[c.snippet - 1].passage.source, c.clause, c.snippet, tuple(
        s.number for s in snippets if of_hop(c.hop, s)))
        for c in coverage if c.snippet and c.share >= floor]


def uncovered(coverage: Sequence[HopCoverage], floor: float) -> tuple[str, ...]:
    """The hops below ``floor``, each as 'The Verge on “what the question says of it”'."""
    return tuple(dict.fromkeys(hop_label(c.hop.sources, c.clause, c.hop.days)
                               for c in coverage if c.share < floor))


def hop_label(outlets: Sequence[str], clause: str, days: Sequence[str] = ()) -> str:
    """'The Verge on “what the question says of it”', the clause cut to about 90 characters;
    with the days the question names, 'The Verge of 2023-10-31 on “…”'."""
    said = clause if len(clause) <= 90 else clause[:87].rsplit(" ", 1)[0] + "…"
    of = f" of {' or '.join(days)}" if days else ""
    return f"{' or '.join(outlets)}{of} on “{said}”"


__all__ = ["HopCoverage", "hop_coverage", "hop_evidence", "hop_label", "hop_quotes",
           "uncovered"]
