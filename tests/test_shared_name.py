"""The name several articles agree on, for who-or-which questions that join articles (pure
logic; the control flow that asks for it is in test_generate.py, the real model in
test_answer.py)."""

from __future__ import annotations

from qa.answering.shared_name import naming_snippets, reply_name, shared_name
from qa.models import Chunk, Snippet


def _snippet(number: int, article: str, text: str, *, title: str = "",
             names: tuple[str, ...] = ()) -> Snippet:
    chunk = Chunk(id=f"{article}:0000", article_id=article, index=0, text=text, start=0,
                  end=len(text), title=title or f"About {article}", source=article.title())
    return Snippet(number, chunk, text, 0, len(text), names=names)


SNIPPETS = [
    _snippet(1, "ledger", "Marta Quell founded the ferry company in 2009."),
    _snippet(2, "ledger", "The ferry company now runs twelve boats."),
    _snippet(3, "courier", "Quell, 52, says the ferries will run on batteries by 2026.",
             names=("Marta Quell",)),
    _snippet(4, "gazette", "The harbour board met on Tuesday.", title="Marta Quell's plan"),
    _snippet(5, "herald", "Tomas Brandt, the harbour master, approved the new berth."),
]


def test_a_reply_is_one_name_or_nothing() -> None:
    assert reply_name("Marta Quell [1].") == "Marta Quell"
    assert reply_name(" “Marta Quell” [1][3]") == "Marta Quell"
    assert reply_name("Gary Wang [1] and Caroline Ellison [2].") == ""  # two names
    assert reply_name("Quell, Brandt [1]") == ""
    assert reply_name("The articles do not contain the answer to this question.") == ""
    assert reply_name("the ferry company founder who says the ferries will run on batteries") == ""
    assert reply_name("") == "" and reply_name("[2]") == ""


def test_each_article_naming_the_name_counts_once_by_text_headline_or_full_names() -> None:
    found = naming_snippets("Marta Quell", SNIPPETS)
    assert [s.number for s in found] == [1, 3, 4]  # text; full names; headline
    assert naming_snippets("Quell", SNIPPETS)[0].number == 1
    assert naming_snippets("Marta", [_snippet(1, "x", "Martarello spoke.")]) == []


def test_a_name_stands_only_when_two_articles_hold_it_cited_to_one_snippet_of_each() -> None:
    assert shared_name("Marta Quell [2].", SNIPPETS) == "Marta Quell [1][3][4]."
    # One article only, whatever snippet the model cited: no answer.
    assert shared_name("Tomas Brandt [5].", SNIPPETS) == ""
    # A name no snippet holds (from memory) is no answer either.
    assert shared_name("Elon Musk [1].", SNIPPETS) == ""
