"""Retrieval: rank fusion, reading outlets and dates from questions, shaping the top-k, and the
retriever over a real index of hand-written articles from several outlets and days."""

from __future__ import annotations

import json

import pytest

from qa.retrieval.plan import joins_articles
from qa.retrieval.retrieve import (
    Hop,
    RetrievalOptions,
    Retriever,
    assemble,
    best_similarity,
    outlet_patterns,
    plan_hops,
    rrf,
)
from qa.store.build import build_index
from qa.store.index import ArticleIndex

SOURCES = ["TechCrunch", "The Verge", "Fortune", "The Age", "The Independent - Life and Style",
           "The Independent - Sports", "Cnbc | World Business News Leader", "CBSSports.com"]
PATTERNS = outlet_patterns(SOURCES)


def test_rrf_adds_reciprocal_ranks() -> None:
    fused = rrf([["a", "b"], ["b", "c"]], k=60)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert max(fused, key=fused.__getitem__) == "b"


def outlets(question: str) -> list[tuple[str, ...]]:
    return [h.sources for h in plan_hops(question, PATTERNS).hops]


def test_outlets_are_read_in_the_order_named() -> None:
    assert outlets("Did The Verge and TechCrunch both report it?") == [("The Verge",),
                                                                        ("TechCrunch",)]
    assert outlets("as the verge put it") == []  # a lower-case "The" only: "verge" is a word
    assert outlets("Does the Verge agree?") == [("The Verge",)]


def test_common_words_do_not_name_outlets() -> None:
    assert outlets("He spent a fortune in the age of AI") == []
    assert outlets("Fortune says so, and The Age too") == [("Fortune",), ("The Age",)]


def test_short_names_cover_every_section_and_full_names_win() -> None:
    both = ("The Independent - Life and Style", "The Independent - Sports")
    assert outlets("according to The Independent") == [both]
    assert outlets("The Independent - Sports reported") == [("The Independent - Sports",)]
    assert outlets("a 'Cnbc | World Business News Leader' piece") == [
        ("Cnbc | World Business News Leader",)]
    assert outlets("as CBSSports reported") == [("CBSSports.com",)]


def test_days_and_times_go_to_the_hop_they_follow() -> None:
    plan = plan_hops("Was the TechCrunch report published on October 31, 2023, consistent with "
                     "The Verge article from 2023-11-02?", PATTERNS)
    assert plan.hops == (Hop(("TechCrunch",), ("2023-10-31",)),
                         Hop(("The Verge",), ("2023-11-02",)))


def test_same_day_is_inherited_and_repeated_outlets_are_counted() -> None:
    plan = plan_hops("After the TechCrunch report published at 13:41:30 on December 6, 2023, "
                     "and the TechCrunch report published at 15:48:10 on the same day?", PATTERNS)
    assert plan.hops == (Hop(("TechCrunch",), ("2023-12-06",), ("13:41:30",)),
                         Hop(("TechCrunch",), ("2023-12-06",), ("15:48:10",)))
    twice = plan_hops("Do the TechCrunch article on A and the TechCrunch article on B agree?",
                      PATTERNS)
    assert twice.hops == (Hop(("TechCrunch",)),) and twice.counts[Hop(("TechCrunch",))] == 2


def test_a_question_joins_articles_when_it_names_two_or_more() -> None:
    def joins(question: str) -> bool:
        return joins_articles(plan_hops(question, PATTERNS))

    assert joins("Did The Verge and TechCrunch both report it?")
    assert joins("Do the TechCrunch article on A and the TechCrunch article on B agree?")
    assert joins("Was the TechCrunch report published on October 31, 2023, consistent with "
                 "the TechCrunch report of November 2, 2023?")
    assert not joins("What did TechCrunch report about Meta's fine?")
    assert not joins("How much military aid have NATO allies delivered to Ukraine?")


def test_day_without_outlet_is_a_hop_and_without_dates_flag_is_ignored() -> None:
    assert plan_hops("What happened on Nov 3rd?", PATTERNS).hops == (Hop((), ("11-03",)),)
    assert plan_hops("What happened on Nov 3rd?", PATTERNS, dates=False).hops == ()


def test_clauses_follow_each_mention_and_claims_split_the_question() -> None:
    plan = plan_hops("Does the TechCrunch article on Meta's GDPR compliance concerns differ from "
                     "the TechCrunch article on Meta's moderation bias affecting Palestinians?",
                     PATTERNS)
    assert plan.counts[Hop(("TechCrunch",))] == 2
    first, second = plan.clauses[Hop(("TechCrunch",))]
    assert "GDPR" in first and "Palestinians" not in first
    assert "Palestinians" in second
    plan = plan_hops("Which company, covered by TechCrunch, is battling Epic Games in court over "
                     "documents, and has showcased new hardware at an annual event?", PATTERNS)
    assert plan.claims == ("is battling Epic Games in court over documents",
                           "has showcased new hardware at an annual event")
    assert all("TechCrunch" not in c for c in plan.claims)


def test_assemble_gives_each_hop_its_best_articles_first() -> None:
    article_of = ["a", "a", "a", "a", "b", "c", "d"]
    overall = [0, 1, 2, 3, 4, 5, 6]
    hop_b = ([4, 0], 1)
    hop_cd = ([5, 6, 1], 2)
    out = assemble([hop_b, hop_cd], overall, article_of, top_k=5, per_article=2)
    assert out[:3] == [4, 5, 6]
    assert out.count(0) + out.count(1) + out.count(2) + out.count(3) == 2  # cap of 2 for "a"


def test_claims_get_their_best_passage_after_the_hops() -> None:
    article_of = ["a", "a", "b", "c"]
    out = assemble([([0, 1], 1)], [0, 1, 2, 3], article_of, top_k=3, per_article=2,
                   claim_rankings=[[0, 3], [2]])
    assert out == [0, 3, 2]


def test_assemble_relaxes_the_cap_when_few_articles_remain() -> None:
    out = assemble([], [0, 1, 2, 3], ["a", "a", "a", "a"], top_k=4, per_article=1)
    assert out == [0, 1, 2, 3]


ARTICLES = [
    ("TechCrunch", "2023-10-31T10:00:00+00:00", "Startup raises money for battery recycling",
     "Redwood Materials raised one billion dollars to recycle lithium batteries. The company "
     "said its plant in Nevada will process scrap from electric vehicle makers."),
    ("TechCrunch", "2023-11-15T09:00:00+00:00", "Battery startup opens second plant",
     "Redwood Materials opened a second battery recycling plant in South Carolina. The plant "
     "will hire hundreds of workers, the company said."),
    ("The Verge", "2023-10-31T12:00:00+00:00", "Review: the new phone has a great camera",
     "The phone's camera is the best we tested this year, with sharp photos at night. Battery "
     "life lasts two days."),
    ("Fortune", "2023-11-02T08:00:00+00:00", "Bank profits rise as rates stay high",
     "Large banks reported higher profits as interest rates stayed high. Analysts expect "
     "lending to slow next year."),
]


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory, embedder) -> Retriever:  # type: ignore[no-untyped-def]
    from qa.config import Settings

    root = tmp_path_factory.mktemp("outlets")
    records = [{"title": t, "body": b, "source": s, "published_at": d, "url": f"https://x/{i}"}
               for i, (s, d, t, b) in enumerate(ARTICLES)]
    (root / "articles.json").write_text(json.dumps(records))
    settings = Settings.load(index_dir=root / "index", progress=False)
    build_index(root / "articles.json", settings, index=ArticleIndex(settings, embedder=embedder))
    found = Retriever(ArticleIndex(settings, embedder=embedder))
    found.warm()
    return found


def test_named_outlet_and_day_pick_the_article(retriever: Retriever) -> None:
    hits = retriever.retrieve("What did the TechCrunch article published on November 15, 2023 "
                              "say about battery recycling?", top_k=3)
    assert hits[0].chunk.title == "Battery startup opens second plant"
    hits = retriever.retrieve("What did the TechCrunch article published on October 31, 2023 "
                              "say about battery recycling?", top_k=3)
    assert hits[0].chunk.title == "Startup raises money for battery recycling"


def test_every_named_outlet_gets_a_passage(retriever: Retriever) -> None:
    hits = retriever.retrieve("Did TechCrunch report on battery recycling while Fortune covered "
                              "something else?", top_k=2)
    assert {h.chunk.source for h in hits} == {"TechCrunch", "Fortune"}
    assert best_similarity(hits) > 0
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_each_step_can_be_switched_off(retriever: Retriever) -> None:
    plain = Retriever(retriever.index, RetrievalOptions(keyword=False, outlets=False,
                                                        dates=False, hops_first=False))
    hits = plain.retrieve("battery recycling plant", top_k=4)
    assert hits and all(h.bm25_score is None for h in hits)
    assert Retriever(retriever.index).retrieve("   ") == []
