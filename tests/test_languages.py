"""Questions in another language than the articles' (issue 27, item 3): which language a question
is in, names and numbers across the gap, a translated answer checked against what it cites
(pure logic); and, with the real local model, a German question answered in German with the
English sentence cited."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import pytest
from conftest import MULTIHOP, ROOT

from qa.answering.citations import check_citations
from qa.answering.languages import REFUSALS, answer_in, checked_translation, first_line, with_scales
from qa.answering.prompts import load_prompt
from qa.llm.client import Usage
from qa.models import Answer, Citation
from qa.service import QAService
from qa.text.languages import foreign_claim, language_of, local_number, names_in, same_name

sys.path.insert(0, str(ROOT / "benchmarks"))
from languages import QUESTIONS  # noqa: E402  (the benchmark's question sets)

AID = ("NATO allies have provided training for tens of thousands of Ukrainian soldiers, and "
       "since March 2022, they have also delivered more than 150 billion euros in support, "
       "including 65 billion euros in military aid.")
MEETING = ("Stoltenberg met with Ukrainian President Volodymyr Zelenskyy and toured the city, "
           "seeing burned out Russian tanks.")
QUESTION = "How much military aid have NATO allies delivered to Ukraine?"


@pytest.mark.parametrize("code", ["de", "fr", "es", "da"])
def test_each_benchmark_question_is_read_as_its_language(code: str) -> None:
    assert [language_of(q) for q in QUESTIONS[code]] == [code] * len(QUESTIONS[code])


def test_english_questions_stay_english() -> None:
    """No English question may take the other-language path (a model call, other checks)."""
    questions = list(QUESTIONS["en"]) + [
        "Who won the women's final of the Coastal Open in 2022?",
        "What did the Le Monde article say about la Liga and El Pais?",  # foreign names
        "Was the Ramstein meeting held in Germany?", "Die Hard: who directed it?", ""]
    queries = MULTIHOP / "queries-dev.json"
    if queries.exists():
        questions += [q["query"] for q in json.loads(queries.read_text(encoding="utf-8"))]
    assert [q for q in questions if language_of(q) != "en"] == []


def test_refusals_read_as_their_language() -> None:
    assert {code: language_of(text) for code, text in REFUSALS.items()} == {
        code: code for code in REFUSALS}


def test_names_match_across_spellings_but_not_other_names() -> None:
    assert same_name("Selenskyj", "zelenskyy") and same_name("Butscha", "bucha")
    assert same_name("Kiew", "kiev") and same_name("Stoltenbergs", "stoltenberg")
    assert not same_name("Deutschland", "germany") and not same_name("Australien", "austria")
    assert not same_name("Russland", "russia") and not same_name("OTAN", "nato")


def test_numbers_as_other_languages_write_them() -> None:
    assert [local_number(n) for n in ("1,5", "1.500", "65", "12.345.678", "3,25")] == [
        "1.5", "1500", "65", "12345678", "3.25"]


def test_a_foreign_sentence_claims_the_evidence_names_it_gives() -> None:
    known = names_in(MEETING)
    names, numbers = foreign_claim("Stoltenberg traf in Kiew den Präsidenten Selenskyj.", known)
    assert {"stoltenberg", "zelenskyy"} <= names <= known and numbers == frozenset()
    _, numbers = foreign_claim("Es waren 1,5 Milliarden und 1.500 Soldaten.", known)
    assert numbers == {"1.5", "1500"}


def test_scale_words_follow_the_english_answer() -> None:
    english = "Allies delivered 150 billion euros, including 65 billion euros [1]."
    assert with_scales("150 billion Euro, davon 65 Billionen Euro [1].", english, "de") == (
        "150 Milliarden Euro, davon 65 Milliarden Euro [1].")
    assert with_scales("150 billones de euros [1].", english, "es") == (
        "150 mil millones de euros [1].")
    assert with_scales("2 millions d'euros", "2 million euros", "fr") == "2 millions d'euros"
    assert with_scales("1 Milliarden", "1 billion", "de") == "1 Milliarde"
    assert with_scales("65 Milliarden", "65 euros", "de") == "65 Milliarden"  # no scale given


def test_the_checker_judges_a_german_sentence_by_names_and_numbers() -> None:
    evidence = [AID, MEETING]
    known = names_in(" ".join(evidence))
    right = check_citations("Die Verbündeten lieferten 65 Milliarden Euro Militärhilfe [2].",
                            evidence, question=QUESTION, language="de", known=known)
    assert right.sentences[0].supported and right.sentences[0].cited == (1,)  # re-marked
    wrong = check_citations("Die Verbündeten lieferten 70 Milliarden Euro Militärhilfe [1].",
                            evidence, question=QUESTION, language="de", known=known)
    assert wrong.unsupported and not wrong.cited
    met = check_citations("Stoltenberg traf Selenskyj [1].", evidence,
                          question="Who did Stoltenberg meet in Kyiv?", language="de",
                          known=known)
    assert met.cited == [2]  # the name in its own spelling found where the article has it


def _answer(text: str, quotes: list[str]) -> Answer:
    citations = tuple(Citation(number=n, article_id="seed.txt", title="All NATO Allies Favor "
                               "Ukraine's Membership: Stoltenberg", source="", published_at="",
                               url="", path="seed.txt", quote=q, start=0, end=len(q))
                      for n, q in enumerate(quotes, start=1))
    return Answer(question=QUESTION, text=text, citations=citations,
                  standalone_question=QUESTION, seconds=1.0, completion_tokens=20)


ENGLISH_ANSWER = "NATO allies delivered 65 billion euros in military aid [1]."


def test_a_translation_is_kept_only_when_it_holds_up() -> None:
    english = _answer(ENGLISH_ANSWER, [AID])
    kept = checked_translation("Die NATO-Verbündeten lieferten 65 Milliarden Euro "
                               "Militärhilfe [1].", english, QUESTION, "de")
    assert kept is not None and kept.citations == english.citations
    assert kept.text.startswith("Die NATO-Verbündeten lieferten 65 Milliarden")
    for bad in ("Die NATO-Verbündeten lieferten Militärhilfe [1].",  # the amount left out
                "Die Verbündeten lieferten 65 Milliarden Euro bis 2024 [1].",  # a new number
                "Die NATO-Verbündeten lieferten keine 65 Milliarden Euro [1].",  # a denial
                "NATO allies delivered 65 Milliarden euros in military aid [1].",  # English
                ""):
        assert checked_translation(bad, english, QUESTION, "de") is None, bad


class _Translator:
    """Replies with one fixed text, streamed word by word: for the hold-back logic of
    ``answer_in`` only (a unit test of pure logic, never an answer end to end)."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.sent: list[list[dict[str, str]]] = []

    def stream(self, messages: list[dict[str, str]], *, max_tokens: int,
               **_: object) -> Iterator[str | Usage]:
        assert "German" in messages[-1]["content"] and ENGLISH_ANSWER in messages[-1]["content"]
        self.sent.append(messages)
        yield from (w + " " for w in self.replies.pop(0).split())
        yield Usage(prompt_tokens=1, completion_tokens=1)


def _english_stream() -> Iterator[str | Answer]:
    yield from ("NATO ", "allies ", "delivered ")
    yield _answer(ENGLISH_ANSWER, [AID])


@pytest.mark.parametrize(("reply", "translated"), [
    ("Die NATO-Verbündeten lieferten 65 Milliarden Euro Militärhilfe [1].", True),
    ("Die NATO-Verbündeten lieferten Militärhilfe [1].", False),
])
def test_the_english_answer_is_held_back_and_replaced(reply: str, translated: bool) -> None:
    prompt, system = load_prompt("answer_translate"), load_prompt("answer_translate_system")
    items = list(answer_in("Wie viel Militärhilfe hat die NATO geliefert?", _english_stream(),
                           _Translator(reply), prompt, system, standalone=QUESTION,
                           max_tokens=60))
    *text, final = items
    assert text[:3] == ["", "", ""]  # the English words are never shown
    assert isinstance(final, Answer)
    assert language_of(final.text) == ("de" if translated else "en")
    assert "65" in final.text and final.citations[0].quote == AID


def test_first_line_drops_a_label() -> None:
    assert first_line('\nEnglish question: "Who met whom?"\nMore') == "Who met whom?"


@pytest.mark.llm
def test_a_german_question_is_answered_in_german_citing_the_english_sentence(
        seed_service: QAService) -> None:
    answer = seed_service.ask(QUESTIONS["de"][0])  # how much military aid, in German
    assert language_of(answer.standalone_question) == "en"
    assert not answer.refused, answer.text
    assert "65" in answer.text
    assert any("65 billion euros in military aid" in c.quote for c in answer.citations)
    assert language_of(answer.text) == "de", answer.text  # any German wording, not English


@pytest.mark.llm
def test_a_question_the_article_cannot_answer_is_refused_in_french(
        seed_service: QAService) -> None:
    answer = seed_service.ask(QUESTIONS["fr"][7])  # the boiling point on Mount Everest
    assert answer.refused and answer.citations == ()
    assert answer.text.startswith(REFUSALS["fr"])



def test_a_reply_left_in_english_is_asked_for_once_more() -> None:
    llm = _Translator(ENGLISH_ANSWER, "Die NATO-Verbündeten lieferten 65 Milliarden Euro [1].")
    *_, final = answer_in("Wie viel Militärhilfe hat die NATO geliefert?", _english_stream(),
                          llm, load_prompt("answer_translate"),
                          load_prompt("answer_translate_system"), standalone=QUESTION,
                          max_tokens=60)
    assert isinstance(final, Answer) and language_of(final.text) == "de"
    assert [m[0]["role"] for m in llm.sent] == ["user", "system"]
    assert "German" in llm.sent[1][0]["content"]
