"""Questions that name articles by outlet: is each named article among those read?"""

from __future__ import annotations

from pathlib import Path

from qa.answering.hop_coverage import hop_coverage, uncovered
from qa.models import Answer, Chunk, Evidence, Snippet
from qa.retrieval.plan import on_days, outlet_patterns, plan_hops
from qa.service import QAService

GADGETS = ("Foldable phones sell out\nSource: Gadget Weekly\nDate: 2023-10-05\n\n"
           "The new foldable phone sold out within a day of its launch, the maker said. "
           "Supply of hinge parts limited the first batch to 40,000 units.\n")
HARBOUR = ("Harbour bridge reopens\nSource: City Ledger\nDate: 2023-10-06\n\n"
           "The harbour bridge reopened to traffic on Friday after a year of repairs. "
           "Engineers replaced the cables and resurfaced the deck.\n")


def _snippet(text: str, source: str, title: str) -> Snippet:
    chunk = Chunk(id=f"{source}:0000", article_id=source, index=0, text=text, start=0,
                  end=len(text), title=title, source=source)
    return Snippet(1, chunk, text, 0, len(text))


def test_each_named_outlet_is_measured_on_what_the_question_says_of_it() -> None:
    question = ("Does the Gadget Weekly article say the foldable phone sold out, while the "
                "City Ledger reports that the harbour bridge reopened?")
    plan = plan_hops(question, outlet_patterns(["Gadget Weekly", "City Ledger"]))
    snippets = [_snippet("The new foldable phone sold out within a day.", "Gadget Weekly",
                         "Foldable phones sell out")]
    coverage = hop_coverage(question, plan, snippets, lambda terms: {t: 1.0 for t in terms})
    assert [c.hop.sources for c in coverage] == [("Gadget Weekly",), ("City Ledger",)]
    assert coverage[0].share > 0.5 and coverage[1].share == 0.0
    assert uncovered(coverage, 0.2) == (f"City Ledger on “{coverage[1].clause}”",)


class NoModel:
    """Fails the test if the answer path asks the model anything."""

    def stream(self, *_args: object, **_kwargs: object) -> None:
        raise AssertionError("the model was asked")

    complete = stream


def _two_articles(tmp_path: Path, make_settings, embedder) -> QAService:  # type: ignore[no-untyped-def]
    """A service over the gadgets and harbour articles whose model fails the test if asked."""
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "gadgets.txt").write_text(GADGETS, encoding="utf-8")
    (folder / "harbour.txt").write_text(HARBOUR, encoding="utf-8")
    service = QAService(make_settings(), llm=NoModel(), embedder=embedder)  # type: ignore[arg-type]
    service.ingest(folder)
    return service


def test_a_yes_or_no_question_about_an_absent_article_is_refused_without_the_model(
    tmp_path: Path, make_settings, embedder  # type: ignore[no-untyped-def]
) -> None:
    service = _two_articles(tmp_path, make_settings, embedder)
    question = "Did the City Ledger report that the foldable phone sold out within a day?"
    evidence, answer = list(service.stream(question))
    assert isinstance(evidence, Evidence) and isinstance(answer, Answer)
    assert answer.refused and answer.citations == ()
    assert answer.uncovered and answer.uncovered[0].startswith("City Ledger on “")
    assert "Not among the articles read: City Ledger" in answer.text


def test_a_comparison_whose_second_article_does_not_discuss_the_claim_is_refused_naming_it(
    tmp_path: Path, make_settings, embedder  # type: ignore[no-untyped-def]
) -> None:
    """One article the question names is read and holds its half; the other outlet's article
    is about something else. Yes or No would be a guess: the answer refuses without the model
    and names the outlet whose half is missing, not the one that was found."""
    service = _two_articles(tmp_path, make_settings, embedder)
    question = ("Does the Gadget Weekly article say the foldable phone sold out within a day, "
                "while the City Ledger reports that the stadium roof collapsed in a storm?")
    evidence, answer = list(service.stream(question))
    assert isinstance(evidence, Evidence) and isinstance(answer, Answer)
    assert {s.passage.source for s in evidence.snippets} == {"Gadget Weekly", "City Ledger"}
    gadgets, ledger = evidence.hops  # the evidence event groups the snippets by named article
    assert gadgets.outlets == ("Gadget Weekly",) and gadgets.read and gadgets.snippets
    assert all(evidence.snippets[n - 1].passage.source == "Gadget Weekly"
               for n in gadgets.snippets)
    assert ledger.outlets == ("City Ledger",) and not ledger.read and ledger.share < 0.2
    assert answer.refused and answer.citations == ()
    assert [u.split(" on “")[0] for u in answer.uncovered] == ["City Ledger"]
    assert "Not among the articles read: City Ledger" in answer.text


def test_a_hop_that_names_a_day_counts_only_that_days_snippets_of_its_outlet() -> None:
    question = ("Did the City Ledger article published on October 9, 2023 report that the "
                "harbour bridge reopened to traffic?")
    plan = plan_hops(question, outlet_patterns(["City Ledger"]))
    assert plan.hops[0].days == ("2023-10-09",)
    text = "The harbour bridge reopened to traffic on Friday after a year of repairs."
    chunk = Chunk(id="ledger:0000", article_id="ledger", index=0, text=text, start=0,
                  end=len(text), title="Harbour bridge reopens", source="City Ledger",
                  published_at="2023-10-06T09:00:00")
    other_day = [Snippet(1, chunk, text, 0, len(text))]
    idf = lambda terms: {t: 1.0 for t in terms}  # noqa: E731
    coverage = hop_coverage(question, plan, other_day, idf)
    assert coverage[0].share == 0.0, "another day's article of the outlet is another article"
    assert uncovered(coverage, 0.2)[0].startswith("City Ledger of 2023-10-09 on “")
    named_day = plan_hops(question.replace("October 9", "October 6"),
                          outlet_patterns(["City Ledger"]))
    assert hop_coverage(question, named_day, other_day, idf)[0].share > 0.5
    assert on_days("2023-10-06T09:00:00", ["10-06"]) and not on_days("2023-10-06", ["10-07"])
    assert not on_days("", ["2023-10-06"])


def test_a_yes_or_no_about_an_outlets_article_of_another_day_is_refused_naming_the_day(
    tmp_path: Path, make_settings, embedder  # type: ignore[no-untyped-def]
) -> None:
    """The City Ledger's only article is of 6 October; a yes-or-no question about its article
    of 9 October is refused before the model, naming the outlet and day; asked about 6
    October, the hop is read."""
    service = _two_articles(tmp_path, make_settings, embedder)
    question = ("Did the City Ledger article published on October 9, 2023 report that the "
                "harbour bridge reopened to traffic after a year of repairs?")
    evidence, answer = list(service.stream(question))
    assert isinstance(evidence, Evidence) and isinstance(answer, Answer)
    assert answer.refused and answer.citations == ()
    assert [u.split(" on “")[0] for u in answer.uncovered] == ["City Ledger of 2023-10-09"]
    stream = service.stream(question.replace("October 9", "October 6"))
    found = next(stream)
    stream.close()  # the model would be asked next: the evidence is what is checked here
    assert isinstance(found, Evidence)
    assert [(h.outlets, h.read) for h in found.hops] == [(("City Ledger",), True)]
