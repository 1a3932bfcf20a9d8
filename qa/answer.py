"""Question + passages -> prompt -> LLM -> checked citations -> ``Answer``.

The model only writes prose; which passage backs which sentence is decided afterwards by
``qa.citations`` against the exact passage text, and the quotes come from the index, never
from the model.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from qa.citations import check_citations, highlight_spans
from qa.ingest import split_sentences
from qa.llm import LLM
from qa.models import Answer, Citation, ScoredChunk
from qa.prompts import PROMPTS_DIR, Prompt, load_prompt, prompts_hash

Turn = tuple[str, str]  # (question, answer) of an earlier exchange

# Phrases with which models decline; matched on the normalised answer.
_DECLINE = re.compile(
    r"(do(es)? not (contain|mention|say|provide|include|specify|state)|no information|"
    r"not (mentioned|provided|specified|stated|available)|cannot (answer|determine)|"
    r"insufficient information|not enough information)"
)


@dataclass(frozen=True)
class Prompts:
    """The prompt files an answer uses, loaded once per service."""

    system: Prompt
    user: Prompt
    retry: Prompt
    passage: Prompt
    refusal: Prompt
    condense_system: Prompt
    condense_user: Prompt

    @classmethod
    def load(cls, prompts_dir: Path = PROMPTS_DIR) -> Prompts:
        return cls(
            *(
                load_prompt(n, prompts_dir=prompts_dir)
                for n in (
                    "answer_system",
                    "answer_user",
                    "answer_retry",
                    "answer_passage",
                    "answer_refusal",
                    "condense_system",
                    "condense_user",
                )
            )
        )

    @property
    def refusal_text(self) -> str:
        return self.refusal.template.strip()

    @property
    def hash(self) -> str:
        return prompts_hash([self.system, self.user, self.retry, self.passage, self.refusal])


# Sentences in an article that address the model rather than the reader: a planted
# instruction is withheld from the prompt (it stays in the index and in quotes).
_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|rules|prompts?|guidelines)\b"
    r"|\b(system|developer) (notice|prompt|message|instruction)s?\b"
    r"|\b(do not|don't|never) answer (the|this|that|any) (question|user)"
    r"|\b(reply|respond|answer|say) only\b"
    r"|\byou are now\b|\bnew instructions?\b|\bas an ai\b",
    re.IGNORECASE,
)
WITHHELD = "[instruction-like text withheld]"


def defang(text: str) -> str:
    """Replace sentences that try to instruct the model with a visible placeholder."""
    out, last = [], 0
    for start, end in split_sentences(text):
        if _INSTRUCTION.search(text[start:end]):
            out.append(text[last:start] + WITHHELD)
            last = end
    return "".join(out) + text[last:]


def build_messages(
    question: str,
    passages: Sequence[ScoredChunk],
    prompts: Prompts,
    *,
    instructions: str = "",
    retry: bool = False,
) -> list[dict[str, str]]:
    """The chat messages for one answer: rules in the system turn, passages as quoted data.

    ``instructions`` (the caller's, never an article's) follow the question, e.g. the
    benchmark's "end on a short final answer". ``retry`` ends on the prompt without the
    refusal option; everything before that ending is the same text, so the local server
    reuses its cached prompt and a second look costs only the new tokens."""
    blocks = [
        prompts.passage.render(
            number=i,
            title=p.chunk.title or p.chunk.path,
            source=p.chunk.source or "unknown source",
            date=p.chunk.published_at[:10] or "undated",
            text=defang(p.chunk.text).replace('"""', "'''"),  # no closing their own quotes
        )
        for i, p in enumerate(passages, start=1)
    ]
    return [
        {"role": "system", "content": prompts.system.render()},
        {
            "role": "user",
            "content": (prompts.retry if retry else prompts.user).render(
                passages="\n\n".join(blocks),
                question="\n\n".join(filter(None, (question.strip(), instructions.strip()))),
                refusal=prompts.refusal_text,
            ),
        },
    ]


def condense(question: str, history: Sequence[Turn], llm: LLM, prompts: Prompts) -> str:
    """Rewrite a follow-up into a standalone question, so retrieval sees what it refers to."""
    if not history:
        return question
    lines = []
    for q, a in history[-3:]:
        lines.append(f"User: {q.strip()}")
        lines.append(f"Assistant: {_strip_markers(a).strip()[:600]}")
    messages = [
        {"role": "system", "content": prompts.condense_system.render()},
        {
            "role": "user",
            "content": prompts.condense_user.render(
                history="\n".join(lines), question=question.strip()
            ),
        },
    ]
    rewritten = llm.complete(messages, max_tokens=80).strip().splitlines()
    text = rewritten[0].strip().strip('"') if rewritten else ""
    return text if len(text) > 3 else question


def is_refusal(text: str, refusal_text: str) -> bool:
    """Whether the model said the passages do not hold the answer."""
    norm = " ".join(_strip_markers(text).lower().split())
    if not norm:
        return True
    return refusal_text.lower().rstrip(".") in norm or bool(_DECLINE.search(norm))


def _strip_markers(text: str) -> str:
    return re.sub(r"\s*\[\d+(?:\s*[,;]\s*\d+)*\]", "", text)


def refused_answer(
    question: str, prompts: Prompts, *, standalone: str = "", started: float | None = None
) -> Answer:
    """The plain 'not in the articles' answer, with no citations."""
    return Answer(
        question=question,
        text=prompts.refusal_text,
        refused=True,
        standalone_question=standalone or question,
        prompt_hash=prompts.hash,
        seconds=time.perf_counter() - started if started else 0.0,
    )


def finish(
    question: str,
    raw: str,
    passages: Sequence[ScoredChunk],
    prompts: Prompts,
    *,
    standalone: str,
    started: float,
    first_token: float | None,
) -> Answer:
    """Check the model's markers against the passages and build the ``Answer``."""
    elapsed = time.perf_counter() - started
    refusal = prompts.refusal_text
    if refusal.rstrip(".") in raw:
        rest = _strip_markers(raw.replace(refusal.rstrip("."), "")).strip(" .\n")
        if len(rest.split()) < 3:  # the refusal sentence, perhaps with a stray marker
            return refused_answer(question, prompts, standalone=standalone, started=started)
        raw = raw.replace(refusal, "")  # an answer with a stray refusal line is an answer
    if is_refusal(raw, refusal):
        # a hedge plus a supported claim is still an answer; a bare decline is a refusal
        checked = check_citations(raw, [p.chunk.embed_text() for p in passages])
        if not any(s.cited for s in checked.sentences):
            return Answer(
                question=question,
                text=prompts.refusal_text,
                refused=True,
                standalone_question=standalone,
                prompt_hash=prompts.hash,
                seconds=elapsed,
                first_token_seconds=first_token,
            )
    checked = check_citations(raw, [p.chunk.embed_text() for p in passages])
    order = checked.cited
    renumber = {old: new for new, old in enumerate(order, start=1)}
    text = re.sub(r"\[(\d+)\]", lambda m: f"[{renumber[int(m.group(1))]}]", checked.text)
    citations = []
    for old in order:
        chunk = passages[old - 1].chunk
        citing = [s.text for s in checked.sentences if old in s.cited]
        citations.append(
            Citation(
                number=renumber[old],
                article_id=chunk.article_id,
                title=chunk.title,
                source=chunk.source,
                published_at=chunk.published_at,
                url=chunk.url,
                path=chunk.path,
                quote=chunk.text,
                start=chunk.start,
                end=chunk.end,
                highlights=highlight_spans(chunk.text, citing),
            )
        )
    return Answer(
        question=question,
        text=text,
        citations=tuple(citations),
        unsupported=checked.unsupported,
        standalone_question=standalone,
        prompt_hash=prompts.hash,
        seconds=elapsed,
        first_token_seconds=first_token,
    )


# A second look must be held up by the passages more firmly than a first answer: the model
# was not offered the refusal, so it may have forced an answer.
RETRY_SUPPORT = 0.6


def second_look(raw: str, passages: Sequence[ScoredChunk], prompts: Prompts) -> bool:
    """Whether an answer written without the refusal option may replace the model's refusal:
    no decline, no unsupported sentence, and one sentence firmly held by a passage."""
    if is_refusal(raw, prompts.refusal_text):
        return False
    checked = check_citations(raw, [p.chunk.embed_text() for p in passages])
    cited = [s.score for s in checked.sentences if s.cited]
    return not checked.unsupported and bool(cited) and max(cited) >= RETRY_SUPPORT


def generate(
    question: str,
    passages: Sequence[ScoredChunk],
    llm: LLM,
    prompts: Prompts,
    *,
    standalone: str,
    max_tokens: int,
    started: float,
    instructions: str = "",
) -> Iterator[str | Answer]:
    """Stream the model's text as it comes, then yield the checked ``Answer`` last.

    Small models over-refuse: the 1.5B default declines "how much of that was military?"
    although a passage says "including 65 billion euros in military aid". So text that is
    still the start of the refusal sentence is held back, and when the model refuses, it is
    asked once more without the refusal option (cheap: the server reuses the cached prompt).
    That answer is shown only if ``second_look`` finds it firmly supported; otherwise the
    refusal stands.
    """
    messages = build_messages(standalone, passages, prompts, instructions=instructions)
    refusal = prompts.refusal_text
    parts: list[str] = []
    first: float | None = None
    holding = True
    for delta in llm.stream(messages, max_tokens=max_tokens):
        if first is None:
            first = time.perf_counter() - started
        parts.append(delta)
        if not holding:
            yield delta
        elif not refusal.startswith("".join(parts).strip()):
            holding = False
            yield "".join(parts)
    raw = "".join(parts)
    answer = finish(
        question, raw, passages, prompts, standalone=standalone, started=started, first_token=first
    )
    if answer.refused:
        retry = build_messages(standalone, passages, prompts, instructions=instructions, retry=True)
        raw = llm.complete(retry, max_tokens=max_tokens)
        if second_look(raw, passages, prompts):
            yield raw if holding else "\n\n" + raw  # after a streamed decline, a new paragraph
            answer = finish(
                question,
                raw,
                passages,
                prompts,
                standalone=standalone,
                started=started,
                first_token=first,
            )
            answer = replace(answer, second_look=True)
    yield answer
