"""The answer step's control flow, pure logic: a scripted LLM stands in for the model.

The real model runs end to end in test_answer.py; here only what ``generate`` does with the
text it gets back is under test (held-back refusals, the second look, when it is believed).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from qa.answer import Prompts, build_messages, generate
from qa.models import Answer, Chunk, ScoredChunk

PASSAGES = [
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
]


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

    def complete(self, messages: list[dict[str, str]], *, max_tokens: int) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens))


def _run(llm: ScriptedLLM, question: str = "How much of that was military?") -> list[object]:
    return list(
        generate(
            question,
            PASSAGES,
            llm,  # type: ignore[arg-type]
            Prompts.load(),
            standalone=question,
            max_tokens=100,
            started=time.perf_counter(),
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
    assert "65 billion" in answer.text and answer.citations[0].quote == PASSAGES[1].chunk.text
    streamed = "".join(i for i in items[:-1] if isinstance(i, str))
    assert prompts.refusal_text not in streamed  # the held-back refusal never flashed up
    assert len(llm.sent) == 2
    first, retry = (m[-1]["content"] for m in llm.sent)
    assert prompts.refusal_text in first and prompts.refusal_text not in retry


def test_an_unsupported_second_look_leaves_the_refusal() -> None:
    prompts = Prompts.load()
    for second in (
        "France promised Ukraine 100 tanks at Ramstein [1].",  # a figure no passage holds
        "Stoltenberg did not say anything about China [1].",
        prompts.refusal_text,
    ):
        items = _run(ScriptedLLM(prompts.refusal_text, second), "How many tanks did France send?")
        answer = items[-1]
        assert isinstance(answer, Answer) and answer.refused and answer.citations == ()
        assert items[:-1] == [], second  # nothing streamed: the refusal is the answer


def test_the_second_prompt_repeats_the_first_up_to_its_ending() -> None:
    """The local server reuses the cached prompt only for an identical prefix."""
    prompts = Prompts.load()
    first = build_messages("Q?", PASSAGES, prompts)
    retry = build_messages("Q?", PASSAGES, prompts, retry=True)
    assert first[0] == retry[0]
    shared = len(first[1]["content"]) - len(prompts.refusal_text) - 100
    assert first[1]["content"][:shared] == retry[1]["content"][:shared]
    assert "Question: Q?" in first[1]["content"][:shared]
