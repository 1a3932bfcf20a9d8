"""What a question asks for, the constraints an answer's sources must hold, refusals in any
wording and the reading check's agreement: pure logic."""

from __future__ import annotations

from qa.answering.asks import AMOUNT, DATE, NAME, OTHER, constraints, expected, gives
from qa.answering.citations import check_citations
from qa.answering.reading import agreement
from qa.answering.refusal import declines

OPEN_2022 = "Ana Ruiz won the women's final of the Coastal Open in 2022, beating Mei Lin."


def test_what_a_question_asks_for() -> None:
    assert expected("How much military aid was delivered?") == AMOUNT
    assert expected("What is the total value of support since March 2022?") == AMOUNT
    assert expected("When did the Coastal Open final take place?") == DATE
    assert expected("In what year did Ana Ruiz win?") == DATE
    assert expected("Who won the women's final?") == NAME
    assert expected("Which company bought the studio?") == NAME
    assert expected("Did TechCrunch report a layoff?", yes_or_no=True) == OTHER
    assert expected("Why did the talks fail?") == OTHER


def test_an_answer_gives_it_beyond_the_questions_own_words() -> None:
    question = "What is the total value of support since March 2022?"
    assert not gives(AMOUNT, "The total value of support since March 2022 is [2] billion "
                     "euros.", question)
    assert gives(AMOUNT, "It is 150 billion euros [1].", question)
    assert gives(AMOUNT, "Three tanks [1].", "How many tanks did France send?")
    assert not gives(NAME, "The 2021 Tour de France is in the books, and what a Tour it was!",
                     "Who won the 2021 Tour de France?")
    assert gives(NAME, "Valve [1].", "Which company releases the game?")
    assert gives(DATE, "It came out on Friday [1].", "When did it come out?")
    assert not gives(DATE, "It came out in 2023 [1].", "When in 2023 did it come out?")
    assert gives(OTHER, "Anything.", "Why?")


def test_constraints_are_the_questions_years_figures_and_qualifiers() -> None:
    bound = constraints("Who won the women's final of the Coastal Open in 2018?")
    assert bound.numbers == {"2018"} and bound.words == {"women"} and not bound.names
    # a full day names an article by its date, which retrieval scopes by
    assert not constraints("Which firm did TechCrunch, on October 31, 2023, say was sold?"
                           ).numbers
    assert not len(constraints("Who won in 2018?", yes_or_no=True))


def test_a_winner_of_another_year_is_unsupported_even_when_the_answer_names_the_year() -> None:
    """The question's year is no word that "needs no citing": the snippet must hold it."""
    question = "Who won the women's final of the Coastal Open in 2018?"
    for reply in ("Ana Ruiz won the women's final of the Coastal Open in 2018 [1].",
                  "Ana Ruiz [1].", "Ana Ruiz won it [1]."):
        checked = check_citations(reply, [OPEN_2022], question=question,
                                  bound=constraints(question))
        assert checked.unsupported and not checked.cited, reply
    asked = "Who won the women's final of the Coastal Open in 2022?"
    right = check_citations("Ana Ruiz [1].", [OPEN_2022], question=asked,
                            bound=constraints(asked))
    assert not right.unsupported and right.cited == [1]


def test_a_qualifier_binds_too() -> None:
    men = "Carlos Vega won the men's final of the Coastal Open in 2022."
    question = "Who won the women's final of the Coastal Open in 2022?"
    checked = check_citations("Carlos Vega [1].", [men], question=question,
                              bound=constraints(question))
    assert checked.unsupported


def test_a_marker_in_a_value_slot_stays_as_written_and_is_unsupported() -> None:
    evidence = ["Allies delivered 150 billion euros in support since March 2022.",
                "Stoltenberg visited Bucha."]
    for text in ("The total since March 2022 is [2] billion euros.", "It cost $[1] in all."):
        checked = check_citations(text, evidence, question="How much support?")
        assert checked.text == text and checked.unsupported == (text,), checked
    # a bracketed number that names no snippet is answer text, as before
    kept = check_citations("Allies delivered [150] billion euros [1].", evidence)
    assert kept.text == "Allies delivered [150] billion euros [1]." and not kept.unsupported


def test_declines_in_any_wording_but_not_a_no_about_an_article() -> None:
    assert declines("No, the articles do not contain the answer to this question [1][2].")
    assert declines("The passages don't provide any information about the buyer.")
    assert declines("I am unable to determine who won.")
    assert not declines("No, the Verge article does not mention a recall [2].")
    assert not declines("Ana Ruiz won the final [1].")


def test_the_reading_checks_agreement() -> None:
    question = "Who won the women's final in 2022?"
    assert agreement("Ana Ruiz", "Ana Ruiz won the final [1].", question) == 1.0
    assert agreement("none", "Ana Ruiz won the final [1].", question) == 0.0
    assert agreement("Mei Lin", "Ana Ruiz won the final [1].", question) == 0.0
    assert agreement("Ana", "Ana Ruiz won [1].", question) == 1.0
    assert agreement("Yes", "Yes, both say so [1][2].", "Did both say so?") == 1.0
    assert agreement("No", "Yes, both say so [1][2].", "Did both say so?") == 0.0
