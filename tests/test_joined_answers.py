"""End to end with the real local model: questions that join articles the test writes (three
outlets' articles about one person; two outlets' halves of a comparison). What any correct
answer must hold, never its wording: the person is named and what the answer cites names her;
the comparison is answered Yes, citing each article once, each for its own half."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from qa.config import Settings
from qa.models import Answer, Evidence
from qa.service import QAService

pytestmark = pytest.mark.llm

ARTICLES = {
    "ledger.txt": (
        "A ferry line grows up\nSource: Harbour Ledger\nDate: 2023-09-12\n\n"
        "Marta Quell founded the Northsound ferry company in 2009 with a single boat. "
        "Quell now runs twelve boats between the islands and the mainland. "
        "Passenger numbers rose by a fifth last year, the company said.\n"
    ),
    "courier.txt": (
        "Batteries for the islands\nSource: Island Courier\nDate: 2023-10-03\n\n"
        "The ferries between the islands will run on batteries by 2026, Marta Quell said on "
        "Monday. The first electric boat is being built at the Vik yard. "
        "Charging points will be fitted at both piers.\n"
    ),
    "gazette.txt": (
        "Port fines operator over late sailings\nSource: Coast Gazette\nDate: 2023-11-20\n\n"
        "The port authority fined Northsound 40,000 crowns over late sailings in the summer. "
        "Marta Quell, the company's founder, said the delays were caused by engine repairs. "
        "The harbour master, Tomas Brandt, said the fine was the largest this year.\n"
    ),
}


def _service(tmp_path_factory: pytest.TempPathFactory, articles: dict[str, str], name: str,
             embedder, local_llm, cache_dir: Path) -> QAService:  # type: ignore[no-untyped-def]
    """A service over ``articles`` (file name: text), answering with the local model."""
    folder = tmp_path_factory.mktemp(f"{name}-articles")
    for file, text in articles.items():
        (folder / file).write_text(text, encoding="utf-8")
    settings = Settings.load(index_dir=folder.parent / f"{name}-index", cache_dir=cache_dir,
                             progress=False)
    service = QAService(settings, llm=local_llm, embedder=embedder)
    service.ingest(folder)
    return service


@pytest.fixture(scope="module")
def ferry_service(tmp_path_factory: pytest.TempPathFactory, embedder, local_llm,  # type: ignore[no-untyped-def]
                  cache_dir: Path) -> QAService:
    """A service over the three outlets' articles about one person."""
    return _service(tmp_path_factory, ARTICLES, "ferry", embedder, local_llm, cache_dir)


def test_a_three_outlet_shared_person_question_names_the_person(
    ferry_service: QAService,
) -> None:
    question = ("Who is the person who, according to the Harbour Ledger, founded a ferry "
                "company with a single boat, told the Island Courier that the ferries will run "
                "on batteries, and, according to the Coast Gazette, blamed late sailings on "
                "engine repairs?")
    items = list(ferry_service.stream(question))
    evidence, answer = items[0], items[-1]
    assert isinstance(evidence, Evidence) and isinstance(answer, Answer)
    assert {h.outlets for h in evidence.hops} >= {("Harbour Ledger",), ("Island Courier",)}
    assert not answer.refused, answer.text
    assert "Quell" in answer.text and "Brandt" not in answer.text, answer.text
    assert any("Quell" in f"{c.title} {c.quote}" for c in answer.citations), answer.text


TRAM_ARTICLES = {
    "ledger.txt": (
        "City council approves new tram line\nSource: Harbour Ledger\nDate: 2023-09-12\n\n"
        "The city council approved a new tram line to the eastern docks on Tuesday. The line "
        "will cost 210 million crowns and open in 2027. Mayor Ilse Varn said the tram would cut "
        "car traffic in the harbour district.\n"
    ),
    "courier.txt": (
        "Harbour traffic falls as bike lanes open\nSource: Island Courier\nDate: 2023-10-03\n\n"
        "Car traffic in the harbour district fell by a tenth after new bike lanes opened in "
        "August, the city's transport office said. Cyclists now make up a quarter of commuters "
        "on the dock road.\n"
    ),
    "gazette.txt": (
        "Shops fear tram works\nSource: Coast Gazette\nDate: 2023-10-20\n\n"
        "Shop owners on the harbour road said the tram works would block their doors for two "
        "years. The council said the road would stay open to buses.\n"
    ),
}


@pytest.fixture(scope="module")
def tram_service(tmp_path_factory: pytest.TempPathFactory, embedder, local_llm,  # type: ignore[no-untyped-def]
                 cache_dir: Path) -> QAService:
    """A service over two outlets' halves of a comparison and a third outlet on the subject."""
    return _service(tmp_path_factory, TRAM_ARTICLES, "tram", embedder, local_llm, cache_dir)


def test_a_two_outlet_comparison_is_answered_yes_citing_each_article_once(
    tram_service: QAService,
) -> None:
    """Issue 21: the halves are in different articles; both hold, so the answer is Yes."""
    question = ("Does the Harbour Ledger article say the tram would cut car traffic in the "
                "harbour district, while the Island Courier article reports that car traffic in "
                "the harbour district fell after bike lanes opened?")
    answer = list(tram_service.stream(question))[-1]
    assert isinstance(answer, Answer) and not answer.refused, answer
    assert answer.text.lstrip().lower().startswith("yes"), answer.text
    cited = Counter(c.source for c in answer.citations)
    assert cited == Counter({"Harbour Ledger": 1, "Island Courier": 1}), answer.citations
    quotes = {c.source: c.quote for c in answer.citations}
    assert "cut car traffic" in quotes["Harbour Ledger"]
    assert "fell by a tenth" in quotes["Island Courier"]
