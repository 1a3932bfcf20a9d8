"""The answer step's control flow, pure logic: a scripted LLM stands in for the model.

The real model runs end to end in test_answer.py; here only what ``generate`` does with the
text it gets back is under test (held-back refusals, the second look, when it is believed).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from qa.answering.answer import Prompts, build_messages, finish, generate
from qa.answering.evidence import whole_passages
from qa.answering.hop_quotes import HopQuote, quote_lines
from qa.answering.reading import CONFIRMED, LEXICAL, UNSUPPORTED, ReadingCheck
from qa.llm.client import Usage
from qa.models import Answer, Chunk, ScoredChunk
from qa.retrieval.plan import asks_yes_or_no

PASSAGES = whole_passages([
    ScoredChunk(
        Chunk(
            id=f"a.txt:{i:04d}",
            article_id="a.txt",
            index=i,
            text=text,
            start=0,
            end=len(text),
            title="NATO aid",
            source="Example News",
        ),
        score=1.0,
    )
    for i, text in enumerate(
        [
            "Stoltenberg spoke at Ramstein Air Base in Germany on Friday.",
            "Since March 2022 allies have delivered more than 150 billion euros in support, "
            "including 65 billion euros in military aid.",
        ]
    )
])


class ScriptedLLM:
    """Replies with the given texts in turn and records the prompts it was sent."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.sent: list[list[dict[str, str]]] = []

    def stream(self, messages: list[dict[str, str]], *, max_tokens: int) -> Iterator[str]:
        self.sent.append(messages)
        reply = self.replies.pop(0)
        for i in range(0, len(reply), 7):  # arbitrary token boundaries
            yield reply[i : i + 7]

    def complete(self, messages: list[dict[str, str]], *, max_tokens: int,
                 stop: list[str] | None = None) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens))


def _run(llm: ScriptedLLM, question: str = "How much of that was military?", *,
         reads: bool = False) -> list[object]:
    """``generate``'s items; with ``reads``, the reading check asks ``llm`` too (its next
    scripted reply is the re-answer)."""
    return list(
        generate(
            question,
            PASSAGES,
            llm,  # type: ignore[arg-type]
            Prompts.load(),
            standalone=question,
            max_tokens=100,
            started=time.perf_counter(),
            reader=ReadingCheck(llm, "rules", Prompts.load().reading)  # type: ignore[arg-type]
            if reads else None,
        )
    )


def test_a_direct_answer_streams_and_asks_once() -> None:
    llm = ScriptedLLM("Allies delivered 65 billion euros in military aid [2].")
    items = _run(llm)
    answer = items[-1]
    assert isinstance(answer, Answer) and not answer.refused and not answer.second_look
    assert "".join(i for i in items[:-1] if isinstance(i, str)).startswith("Allies delivered")
    assert len(llm.sent) == 1


def test_a_refusal_gets_a_second_look_that_is_believed_when_supported() -> None:
    prompts = Prompts.load()
    llm = ScriptedLLM(
        prompts.refusal_text,
        "Allies delivered 65 billion euros in military aid since March 2022 [2].",
    )
    items = _run(llm)
    answer = items[-1]
    assert isinstance(answer, Answer) and not answer.refused and answer.second_look
    assert "65 billion" in answer.text and answer.citations[0].quote == PASSAGES[1].text
    streamed = "".join(i for i in items[:-1] if isinstance(i, str))
    assert prompts.refusal_text not in streamed  # the held-back refusal never flashed up
    assert "" in items[:-1]  # held-back tokens still come by, so a consumer may stop there
    assert len(llm.sent) == 2
    first, retry = (m[-1]["content"] for m in llm.sent)
    assert prompts.refusal_text in first and prompts.refusal_text not in retry


def test_an_unsupported_second_look_leaves_the_refusal() -> None:
    prompts = Prompts.load()
    for second in (
        "France promised Ukraine 100 tanks at Ramstein [1].",  # a figure no passage holds
        "Stoltenberg did not say anything about China [1].",
        "Stoltenberg spoke at Ramstein Air Base in Germany on Friday [1].",  # true, but no answer
        prompts.refusal_text,
    ):
        items = _run(ScriptedLLM(prompts.refusal_text, second), "How many tanks did France send?")
        answer = items[-1]
        assert isinstance(answer, Answer) and answer.refused and answer.citations == ()
        assert not any(items[:-1]), second  # nothing shown: the refusal is the answer


# Three outlets' articles on one person: two name her, one names someone else.
FERRY = whole_passages([
    ScoredChunk(Chunk(id=f"{article}:0000", article_id=article, index=0, text=text, start=0,
                      end=len(text), title=f"Ferries ({article})", source=article), score=1.0)
    for article, text in (
        ("Ledger", "Marta Quell founded the ferry company in 2009."),
        ("Courier", "Marta Quell says the ferries will run on batteries by 2026."),
        ("Herald", "Tomas Brandt, the harbour master, approved the new berth."),
    )
])
WHO = ("Who founded a ferry company, according to the Ledger, and plans battery ferries, "
       "according to the Courier?")


def _ask_who(llm: ScriptedLLM, *, joins: bool = True) -> list[object]:
    return list(generate(WHO, FERRY, llm, Prompts.load(), standalone=WHO,  # type: ignore[arg-type]
                         max_tokens=100, started=time.perf_counter(), joins=joins))


def test_a_declined_question_joining_articles_is_answered_by_the_name_two_of_them_hold() -> None:
    prompts = Prompts.load()
    restated = "The person who founded a ferry company plans battery ferries."  # names nobody
    llm = ScriptedLLM(prompts.refusal_text, restated, "Marta Quell [2].")
    items = _ask_who(llm)
    answer = items[-1]
    assert isinstance(answer, Answer) and not answer.refused and answer.second_look
    assert answer.text == "Marta Quell [1][2]."  # one citation per article that names her
    assert [c.source for c in answer.citations] == ["Ledger", "Courier"]
    assert "Marta Quell [1][2]." in "".join(i for i in items[:-1] if isinstance(i, str))
    assert len(llm.sent) == 3
    name_prompt = llm.sent[2][-1]["content"]
    assert name_prompt.endswith(prompts.name_only.template.strip().rsplit("\n", 1)[-1])
    assert llm.sent[2][0] == llm.sent[0][0]  # the same cached system turn


def test_a_name_only_one_article_gives_leaves_the_refusal() -> None:
    prompts = Prompts.load()
    for name in ("Tomas Brandt [3].", "Elon Musk [1].", "Marta Quell [1] and Tomas Brandt [3].",
                 prompts.refusal_text):
        answer = _ask_who(ScriptedLLM(prompts.refusal_text, prompts.refusal_text, name))[-1]
        assert isinstance(answer, Answer) and answer.refused and answer.citations == (), name


def test_a_question_that_joins_no_articles_is_not_asked_for_a_name() -> None:
    prompts = Prompts.load()
    llm = ScriptedLLM(prompts.refusal_text, prompts.refusal_text)
    answer = _ask_who(llm, joins=False)[-1]
    assert isinstance(answer, Answer) and answer.refused and len(llm.sent) == 2


def test_the_second_prompt_repeats_the_first_up_to_its_ending() -> None:
    """The local server reuses the cached prompt only for an identical prefix."""
    prompts = Prompts.load()
    first = build_messages("Q?", PASSAGES, prompts)
    retry = build_messages("Q?", PASSAGES, prompts, retry=True)
    assert first[0] == retry[0]
    shared = len(first[1]["content"]) - len(prompts.refusal_text) - 100
    assert first[1]["content"][:shared] == retry[1]["content"][:shared]
    assert "Question: Q?" in first[1]["content"][:shared]


def test_a_yes_or_no_question_is_told_to_open_with_yes_or_no() -> None:
    """Only a polar question gets the line, before the caller's own instructions, and in the
    first prompt and the second look alike; the system turn never changes (prompt cache)."""
    prompts = Prompts.load()
    line = prompts.yes_no.render().strip()
    polar = "Did allies deliver military aid, as the NATO aid article says?"
    for retry in (False, True):
        told = build_messages(polar, PASSAGES, prompts, instructions="End on X.", retry=retry)
        user = told[1]["content"]
        assert line in user and user.index(line) < user.index("End on X.")
        assert told[0] == build_messages("Q?", PASSAGES, prompts)[0]
    for question in ("How much military aid did allies deliver?",
                     "Did allies deliver the aid before or after Friday?",
                     "Did allies deliver aid, or do the articles disagree?"):
        assert line not in build_messages(question, PASSAGES, prompts)[1]["content"]


def test_polar_questions_are_told_apart_by_their_main_clause() -> None:
    assert asks_yes_or_no("Does TechCrunch report a layoff?")
    assert asks_yes_or_no("Between the report by The Verge on May 1 and the one by Wired, "
                          "was there a change in tone?")
    assert asks_yes_or_no("After Fortune reported on it, did The Age agree?")
    assert not asks_yes_or_no("Which company, covered by Engadget, is set to release it?")
    assert not asks_yes_or_no('Considering the film "Dance The Night," which character sings?')
    assert not asks_yes_or_no("Is the portrayal consistent or inconsistent?")
    assert not asks_yes_or_no("Who said it?")


class CountingLLM(ScriptedLLM):
    """Ends each reply with the token counts a server reports."""

    def stream(self, messages: list[dict[str, str]], *, max_tokens: int) -> Iterator[object]:
        yield from super().stream(messages, max_tokens=max_tokens)
        yield Usage(prompt_tokens=321, completion_tokens=12)


def test_the_answer_carries_token_counts_and_times() -> None:
    started = time.perf_counter()
    items = list(generate("Q?", PASSAGES, CountingLLM("Allies delivered 65 billion euros [2]."),
                          Prompts.load(), standalone="Q?", max_tokens=50, started=started,
                          evidence_seconds=0.25, mode="passages"))
    answer = items[-1]
    assert isinstance(answer, Answer)
    assert (answer.prompt_tokens, answer.completion_tokens) == (321, 12)
    assert answer.evidence_seconds == 0.25 and answer.evidence_mode == "passages"
    assert answer.first_token_seconds is not None and answer.first_token_seconds <= answer.seconds
    assert not any(isinstance(i, Usage) for i in items)  # counts never leak into the text


def test_closing_the_stream_closes_the_models_stream() -> None:
    """A question nobody waits for any more must not keep the model busy."""
    closed: list[bool] = []

    class Watched(ScriptedLLM):
        def stream(self, messages: list[dict[str, str]], *, max_tokens: int) -> Iterator[str]:
            try:
                yield from super().stream(messages, max_tokens=max_tokens)
            finally:
                closed.append(True)

    items = generate("Q?", PASSAGES, Watched("Allies delivered 65 billion euros in military "
                                              "aid since March 2022 [2]."),  # type: ignore[arg-type]
                     Prompts.load(), standalone="Q?", max_tokens=50, started=time.perf_counter())
    assert isinstance(next(items), str)
    items.close()
    assert closed == [True]


def test_a_dressed_up_refusal_is_a_refusal() -> None:
    """A decline with a leading "No," and markers, or in other words, is no answer."""
    for reply in ("No, the articles do not contain the answer to this question [1][2].",
                  "The passages do not provide any information about tanks [1].",
                  "Unfortunately, there is not enough information to answer this [2]."):
        answer = _run(ScriptedLLM(reply, reply), "How many tanks did France send?")[-1]
        assert isinstance(answer, Answer) and answer.refused and answer.citations == (), reply


def test_a_marker_where_the_amount_belongs_is_no_answer() -> None:
    """"… is [2] billion euros" states no amount: never shipped as "… is billion euros [1]"."""
    question = "What is the total value of support that allies have delivered since March 2022?"
    slot = "The total value of support delivered since March 2022 is [2] billion euros."
    answer = _run(ScriptedLLM(slot, slot), question)[-1]
    assert isinstance(answer, Answer) and answer.refused
    right = _run(ScriptedLLM("Allies have delivered more than 150 billion euros in support "
                             "since March 2022 [2]."), question)[-1]
    assert isinstance(right, Answer) and not right.refused and "150 billion" in right.text


def test_an_answer_must_give_what_the_question_asks_for() -> None:
    """A who/where question needs a name, a how-much one an amount, a when one a day."""
    cases = [
        ("Where did Stoltenberg speak on Friday?", "Stoltenberg spoke on Friday [1].", True),
        ("Where did Stoltenberg speak on Friday?",
         "Stoltenberg spoke at Ramstein Air Base on Friday [1].", False),
        ("How much military aid was delivered?", "Allies delivered military aid [2].", True),
        ("When did Stoltenberg speak at Ramstein?", "Stoltenberg spoke at Ramstein [1].", True),
        ("When did Stoltenberg speak at Ramstein?",
         "Stoltenberg spoke at Ramstein on Friday [1].", False),
    ]
    for question, reply, refused in cases:
        answer = _run(ScriptedLLM(reply, reply), question)[-1]
        assert isinstance(answer, Answer) and answer.refused == refused, (question, reply)


def test_a_refusal_names_the_nearest_articles() -> None:
    prompts = Prompts.load()
    answer = _run(ScriptedLLM(prompts.refusal_text, prompts.refusal_text),
                  "How many tanks did France send?")[-1]
    assert isinstance(answer, Answer) and answer.refused
    assert answer.text.startswith(prompts.refusal_text)
    assert "“NATO aid” (Example News)" in answer.text


def test_the_reading_check_gives_the_verdict() -> None:
    """The check's re-answer agreeing with the answer confirms it; "none" leaves it checked by
    its words only; both are shown, and each citation carries the verdict and score."""
    reply = "Allies delivered 65 billion euros in military aid [2]."
    confirmed = _run(ScriptedLLM(reply, "65 billion euros"), reads=True)[-1]
    assert isinstance(confirmed, Answer) and not confirmed.refused
    assert confirmed.verdict == CONFIRMED and confirmed.support_score == 1.0
    assert [(c.verdict, c.score) for c in confirmed.citations] == [(CONFIRMED, 1.0)]
    assert confirmed.check_seconds is not None
    lexical = _run(ScriptedLLM(reply, "none"), reads=True)[-1]
    assert isinstance(lexical, Answer) and not lexical.refused
    assert lexical.verdict == LEXICAL and lexical.support_score == 0.0
    unread = _run(ScriptedLLM(reply))[-1]
    assert isinstance(unread, Answer) and unread.verdict == LEXICAL
    assert unread.support_score is None


def test_a_second_look_stands_only_when_the_reading_check_confirms_it() -> None:
    prompts = Prompts.load()
    forced = "Allies delivered 65 billion euros in military aid since March 2022 [2]."
    kept = _run(ScriptedLLM(prompts.refusal_text, forced, "65 billion euros"), reads=True)[-1]
    assert isinstance(kept, Answer) and kept.second_look and kept.verdict == CONFIRMED
    items = _run(ScriptedLLM(prompts.refusal_text, forced, "none"), reads=True)
    dropped = items[-1]
    assert isinstance(dropped, Answer) and dropped.refused and not dropped.second_look
    assert not any(items[:-1])  # the unconfirmed forced answer was never shown


def test_another_years_winner_is_refused_but_an_unsupported_name_is_shown_as_such() -> None:
    """Failing only on the question's year is a near miss: refused. A name the snippets do not
    hold is an answer shown unsupported, as before (not certified, and not hidden)."""
    text = "Ana Ruiz won the women's final of the Coastal Open in 2022, beating Mei Lin."
    open_2022 = whole_passages([ScoredChunk(Chunk(id="o.txt:0000", article_id="o.txt", index=0,
                                                  text=text, start=0, end=len(text),
                                                  title="Coastal Open", source="Example News"),
                                            score=1.0)])
    prompts = Prompts.load()

    def answer(question: str, reply: str) -> Answer:
        return finish(question, reply, open_2022, prompts, standalone=question,
                      started=time.perf_counter())

    near = answer("Who won the women's final of the Coastal Open in 2018?",
                  "Ana Ruiz won the women's final of the Coastal Open in 2018 [1].")
    assert near.refused and near.citations == ()
    unheld = answer("Who won the women's final of the Coastal Open in 2022?",
                    "Carla Diaz won the women's final of the Coastal Open in 2022 [1].")
    assert not unheld.refused and unheld.unsupported and unheld.citations == ()
    held = answer("Who won the women's final of the Coastal Open in 2022?", "Ana Ruiz [1].")
    assert not held.refused and not held.unsupported and len(held.citations) == 1


HALVES = {"Harbour Ledger": "Mayor Ilse Varn said the tram would cut car traffic in the "
                            "harbour district.",
          "Island Courier": "Shops reopened on the dock road. Car traffic in the harbour "
                            "district fell by a tenth after new bike lanes opened in August."}
HALF_SNIPPETS = whole_passages([
    ScoredChunk(Chunk(id=f"{i}.txt:0000", article_id=f"{i}.txt", index=0, text=text,
                      start=0, end=len(text), title="Harbour news", source=outlet), score=1.0)
    for i, (outlet, text) in enumerate(HALVES.items())])
HALVES_Q = ("Does the Harbour Ledger article say the tram would cut car traffic, while the "
            "Island Courier article reports that car traffic fell after bike lanes opened?")


def test_a_yes_or_no_answer_its_own_snippet_contradicts_is_never_shown_as_answered() -> None:
    """"No, the Ledger does not say X [1]" where [1] says X passed the word check (issue 28):
    it is a misreading, so the model is asked again; a second misreading leaves a refusal."""
    texts, snippets, question = HALVES, HALF_SNIPPETS, HALVES_Q
    misread = ("No, the Harbour Ledger article does not say the tram would cut car traffic [1]. "
               "The Island Courier article reports that car traffic fell after bike lanes "
               "opened [2].")
    right = ("Yes, the Harbour Ledger article says the tram would cut car traffic [1], and the "
             "Island Courier article reports that car traffic fell after bike lanes opened [2].")

    def ask(*replies: str) -> Answer:
        items = list(generate(question, snippets, ScriptedLLM(*replies),  # type: ignore[arg-type]
                              Prompts.load(), standalone=question, max_tokens=100,
                              started=time.perf_counter()))
        assert isinstance(items[-1], Answer)
        return items[-1]

    again = ask(misread, right)
    assert again.second_look and again.text.startswith("Yes")
    assert {c.source for c in again.citations} == set(texts)
    assert ask(misread, misread).refused


def _halves(*replies: str) -> list[object]:
    quotes = [HopQuote("Harbour Ledger", "say the tram would cut car traffic", 1),
              HopQuote("Island Courier", "reports that car traffic fell after bike lanes "
                                         "opened", 2)]
    return list(generate(HALVES_Q, HALF_SNIPPETS, ScriptedLLM(*replies),  # type: ignore[arg-type]
                         Prompts.load(), standalone=HALVES_Q, max_tokens=100,
                         started=time.perf_counter(), hop_quotes=quotes))


def test_each_named_article_the_answer_does_not_cite_is_quoted_under_it() -> None:
    """Issue 21: the reader sees which sentence answers each half; the product writes the
    line (a word-for-word quote of the hop's closest sentence), and it adds no verdict."""
    items = _halves("Yes, the Harbour Ledger article says the tram would cut car traffic [1].")
    answer = items[-1]
    assert isinstance(answer, Answer) and answer.verdict == LEXICAL
    line = ("Island Courier: “Car traffic in the harbour district fell by a tenth after new "
            "bike lanes opened in August” [2].")
    assert answer.text.endswith(line) and items[-2] == "\n\n" + line
    assert [c.source for c in answer.citations] == ["Harbour Ledger", "Island Courier"]
    both = _halves("Yes, the Harbour Ledger says the tram would cut car traffic [1], and the "
                   "Island Courier reports that car traffic fell after bike lanes opened [2].")[-1]
    assert isinstance(both, Answer) and "“" not in both.text  # both cited: nothing to add
    bare = _halves("Yes, the tram is the reason the dock road is busy.")[-1]
    assert isinstance(bare, Answer) and bare.verdict == UNSUPPORTED  # quotes vouch for nothing
    assert len(bare.citations) == 2 and bare.unsupported


def test_a_hop_is_quoted_only_when_none_of_its_snippets_is_cited() -> None:
    quote = HopQuote("Island Courier", "car traffic fell after bike lanes opened", 2, (2, 3))
    assert quote_lines([quote], [3], HALF_SNIPPETS) == ""  # another snippet of it is cited
    line = quote_lines([quote], [1], HALF_SNIPPETS)
    assert line.startswith("Island Courier: “Car traffic") and line.endswith("” [2].")
    unrelated = HopQuote("Island Courier", "ferry fares rose", 2, (2,))
    assert quote_lines([unrelated], [1], HALF_SNIPPETS) == ""  # no sentence on its claim
