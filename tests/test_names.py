"""Full names for names given in part: pure logic (``qa.text.names``)."""

from __future__ import annotations

from qa.text.names import expansions, full_names, short_forms

ARTICLE = (
    "OpenAI CEO Sam Altman was fired on Friday, and Fed Chair Jerome Powell said nothing. "
    "Sam Bankman-Fried's firm Alameda Research lost the money; the research was wrong. "
    "President Joe Biden spoke. Did Altman know? Kimbal Musk and Elon Musk were not there."
)


def test_names_drop_titles_openers_and_possessives() -> None:
    assert full_names(ARTICLE) == ["Sam Altman", "Jerome Powell", "Sam Bankman-Fried",
                                   "Alameda Research", "Joe Biden", "Kimbal Musk", "Elon Musk"]


def test_a_word_stands_for_a_name_only_when_one_name_claims_it() -> None:
    forms = short_forms([ARTICLE])
    assert forms["Altman"] == "Sam Altman"  # "Did Altman" is no name
    assert forms["Alameda"] == "Alameda Research"
    assert "Sam" not in forms  # two Sams
    assert "Musk" not in forms  # two Musks
    assert "Research" not in forms  # the article also writes "research"


def test_a_sentence_with_a_short_form_alone_gets_the_full_name() -> None:
    forms = short_forms([ARTICLE])
    assert expansions("Altman told staff that Alameda had borrowed.", forms) == (
        "Sam Altman", "Alameda Research")
    assert expansions("Sam Altman told staff.", forms) == ()  # already in full
    assert expansions("Powell and CEO Altman met.", forms) == ("Sam Altman", "Jerome Powell")
    assert expansions("Gary Altman is someone else.", forms) == ()  # another first name
    assert expansions("Altmanesque views.", forms) == ()  # not the word
