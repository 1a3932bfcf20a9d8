"""Question + evidence snippets -> prompt -> LLM -> checked citations -> ``Answer``.

The model only writes prose; which snippet backs which sentence is decided afterwards by
``qa.answering.citations`` against the exact snippet text, and the quotes come from the index, never
from the model.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import groupby
from pathlib import Path
from typing import Any

from qa.answering import languages  # questions in another language than the articles'
from qa.answering.answer_rules import answers, check, gives_unchecked, second_look
from qa.answering.asks import NAME, expected
from qa.answering.citations import CheckResult, highlight_spans, renumber
from qa.answering.evidence import short_title
from qa.answering.hop_quotes import HopQuote, with_quotes
from qa.answering.prompts import PROMPTS_DIR, Prompt, load_prompt, prompts_hash
from qa.answering.reading import CONFIRMED, PARTIAL, ReadingCheck, confirm
from qa.answering.refusal import declines, is_refusal, nearest_articles, strip_markers
from qa.answering.shared_name import shared_name
from qa.llm.client import LLM, Usage
from qa.models import Answer, Citation, Snippet
from qa.retrieval.plan import asks_yes_or_no
from qa.text.sentences import split_sentences

Turn = tuple[str, str]  # (question, answer) of an earlier exchange

@dataclass(frozen=True)
class Prompts:
    """The prompt files an answer uses, loaded once per service."""

    system: Prompt
    user: Prompt
    retry: Prompt
    passage: Prompt
    article: Prompt
    refusal: Prompt
    condense_system: Prompt
    condense_user: Prompt
    yes_no: Prompt
    names: Prompt
    reading: Prompt
    name_only: Prompt
    translate: Prompt  # a question in another language (qa.answering.languages)
    condense_language: Prompt
    answer_translate: Prompt
    answer_translate_system: Prompt

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
                    "answer_article",
                    "answer_refusal",
                    "condense_system",
                    "condense_user",
                    "answer_yes_no",
                    "answer_names",
                    "reading_user",
                    "answer_name_only",
                    "condense_translate",
                    "condense_language",
                    "answer_translate",
                    "answer_translate_system",
                )
            )
        )

    @property
    def refusal_text(self) -> str:
        return self.refusal.template.strip()

    @property
    def hash(self) -> str:
        return prompts_hash(
            [self.system, self.user, self.retry, self.passage, self.article, self.refusal,
             self.yes_no, self.names, self.reading, self.name_only]
        )


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


def evidence_block(snippets: Sequence[Snippet], prompts: Prompts) -> str:
    """The numbered snippets as the model reads them, under one heading per article (their
    order keeps each article's snippets together), with the full names its snippets give
    only in part ("Bankman-Fried": "Names in full: Sam Bankman-Fried")."""
    blocks = []
    for _article, group in groupby(snippets, key=lambda s: s.passage.article_id):
        group = list(group)
        c = group[0].passage
        lines = [prompts.article.render(title=short_title(c.title) or c.path,
                                        source=c.source or "unknown source",
                                        date=c.published_at[:10] or "undated")]
        if names := list(dict.fromkeys(n for s in group for n in s.names)):
            lines.append(prompts.names.render(names="; ".join(names)))
        lines += [prompts.passage.render(number=s.number, text=defang(s.prompt_text))
                  for s in group]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def build_messages(
    question: str,
    snippets: Sequence[Snippet],
    prompts: Prompts,
    *,
    instructions: str = "",
    retry: bool = False,
) -> list[dict[str, str]]:
    """The chat messages for one answer: rules in the system turn, snippets as quoted data.

    The system turn is the same for every question, so the local server keeps it cached.
    ``instructions`` (the caller's, never an article's) follow the question, e.g. the
    benchmark's "end on a short final answer"; a yes-or-no question (``asks_yes_or_no``) is
    first told to open with Yes or No, which a 1.5B model otherwise seldom does ("Both
    articles agree that …"), leaving the reader to infer the answer. ``retry`` ends on the
    prompt without the refusal option; everything before that ending is the same text, so
    the local server reuses its cached prompt and a second look costs only the new tokens."""
    if asks_yes_or_no(question):
        instructions = "\n\n".join(filter(None, (prompts.yes_no.render(), instructions.strip())))
    return [
        {"role": "system", "content": prompts.system.render()},
        {"role": "user", "content": (prompts.retry if retry else prompts.user).render(
            passages=evidence_block(snippets, prompts),
            question="\n\n".join(filter(None, (question.strip(), instructions.strip()))),
            refusal=prompts.refusal_text)},
    ]


# A name-only reply is a name and a marker; a few more tokens let a long name finish.
NAME_TOKENS = 24


def name_messages(question: str, snippets: Sequence[Snippet], prompts: Prompts
                  ) -> list[dict[str, str]]:
    """The chat messages asking for the name alone (``prompts/answer_name_only.txt``): the same
    system turn and snippets as the answer's, so the server reuses its cached prompt."""
    return [
        {"role": "system", "content": prompts.system.render()},
        {"role": "user", "content": prompts.name_only.render(
            passages=evidence_block(snippets, prompts), question=question.strip())},
    ]


def condense(question: str, history: Sequence[Turn], llm: LLM, prompts: Prompts) -> str:
    """Rewrite a follow-up into a standalone question, so retrieval sees what it refers to; a
    question in another language than the articles' is written in English
    (``qa.answering.languages``), follow-up or not. An English question with no ``history``
    is returned as it is, with no request."""
    if not history:
        if languages.is_foreign(question):
            return languages.translate(question, llm, prompts.translate)
        return question
    lines = []
    for q, a in history[-3:]:
        lines.append(f"User: {q.strip()}")
        lines.append(f"Assistant: {strip_markers(a).strip()[:600]}")
    messages = [
        {"role": "system", "content": "\n\n".join(filter(None, (
            prompts.condense_system.render(),
            languages.in_english_note(question, prompts.condense_language))))},
        {"role": "user", "content": prompts.condense_user.render(
            history="\n".join(lines), question=question.strip())},
    ]
    rewritten = llm.complete(messages, max_tokens=80).strip().splitlines()
    text = rewritten[0].strip().strip('"') if rewritten else ""
    return text if len(text) > 3 else question


def refused_answer(
    question: str, prompts: Prompts, *, standalone: str = "", started: float | None = None,
    snippets: Sequence[Snippet] = (), missing: Sequence[str] = (),
) -> Answer:
    """The plain 'not in the articles' answer, with no citations; it names the articles the
    question names that were not found (``missing``, ``qa.answering.hop_coverage.uncovered``) and,
    from the ``snippets`` the model read, the nearest articles (``nearest_articles``). The
    refusal sentence is in the question's language (``qa.answering.languages.refusal_in``)."""
    absent = f"Not among the articles read: {'; '.join(missing)}." if missing else ""
    return Answer(
        question=question,
        text=" ".join(filter(None, (languages.refusal_in(question, prompts.refusal_text), absent,
                                    nearest_articles(snippets)))),
        uncovered=tuple(missing),
        refused=True,
        standalone_question=standalone or question,
        prompt_hash=prompts.hash,
        seconds=time.perf_counter() - started if started else 0.0,
    )


def finish(
    question: str,
    raw: str,
    snippets: Sequence[Snippet],
    prompts: Prompts,
    *,
    standalone: str,
    started: float,
    checked: CheckResult | None = None,
) -> Answer:
    """Check the model's markers against the snippets (unless ``checked`` already holds that
    check of ``raw``) and build the ``Answer``."""
    refusal = prompts.refusal_text
    declined = refused_answer(question, prompts, standalone=standalone, started=started,
                              snippets=snippets)
    if refusal.rstrip(".") in raw:
        rest = strip_markers(raw.replace(refusal.rstrip("."), "")).strip(" .\n")
        if len(rest.split()) < 3:  # the refusal sentence, perhaps with a stray marker
            return declined
        raw = raw.replace(refusal, "")  # an answer with a stray refusal line is an answer
        checked = None
    checked = checked or check(raw, snippets, standalone)
    if is_refusal(raw, refusal) and not any(s.cited for s in checked.sentences
                                            if not declines(s.text)):
        return declined  # a hedge plus a supported claim is an answer; a bare decline is not
    if not answers(checked, standalone) and not gives_unchecked(raw, checked, snippets,
                                                                standalone):
        return declined  # "… is billion euros", a restated headline, another year's winner
    order = checked.cited
    citations = []
    for number, old in enumerate(order, start=1):
        snippet = snippets[old - 1]
        c = snippet.passage
        citing = [s.text for s in checked.sentences if old in s.cited]
        offset = snippet.start - c.start
        spans = [(a + offset, b + offset) for a, b in highlight_spans(snippet.text, citing)]
        if snippet.header_start >= c.start:  # a header row inside the passage shows too
            h = snippet.header_start - c.start
            spans.insert(0, (h, h + len(snippet.header)))
        citations.append(
            Citation(
                number=number,
                article_id=c.article_id,
                title=c.title,
                source=c.source,
                published_at=c.published_at,
                url=c.url,
                path=c.path,
                quote=snippet.text,
                start=snippet.start,
                end=snippet.end,
                passage=c.text,
                passage_start=c.start,
                highlights=tuple(spans),
                header=snippet.header,
                header_start=snippet.header_start,
                also_in=c.also_in,
            )
        )
    return Answer(
        question=question,
        text=renumber(checked.text, order),
        citations=tuple(citations),
        unsupported=checked.unsupported,
        standalone_question=standalone,
        prompt_hash=prompts.hash,
        seconds=time.perf_counter() - started,
    )


@dataclass
class _Reply:
    """One model reply as it streams: its text, first-token time and token counts."""

    parts: list[str]
    first: float | None = None
    usage: Usage | None = None


def _quietly(stream: Iterator[str | Usage], reply: _Reply) -> Iterator[str]:
    """Collect a reply that is shown only once believed, yielding "" per token meanwhile so
    the consumer may stop (and the model with it)."""
    for delta in stream:
        if isinstance(delta, Usage):
            reply.usage = delta
        else:
            reply.parts.append(delta)
            yield ""


def _add(completion: int | None, reply: _Reply) -> int | None:
    """Completion tokens so far plus ``reply``'s (None when the server does not count)."""
    if completion is not None and reply.usage and reply.usage.completion_tokens:
        return completion + reply.usage.completion_tokens
    return completion


def generate(question: str, snippets: Sequence[Snippet], llm: LLM, prompts: Prompts,
             **options: Any) -> Iterator[str | Answer]:
    """``answer_stream`` (its ``options``); for a question in another language than the
    articles', its English answer held back and then written in the question's language
    (``qa.answering.languages.answer_in``). An English question's stream is untouched."""
    stream = answer_stream(question, snippets, llm, prompts, **options)
    if not languages.is_foreign(question):
        return stream
    return languages.answer_in(question, stream, llm, prompts.answer_translate,
                               prompts.answer_translate_system,
                               standalone=options["standalone"],
                               max_tokens=options["max_tokens"])


def answer_stream(
    question: str,
    snippets: Sequence[Snippet],
    llm: LLM,
    prompts: Prompts,
    *,
    standalone: str,
    max_tokens: int,
    started: float,
    instructions: str = "",
    evidence_seconds: float | None = None,
    mode: str = "snippets",
    reader: ReadingCheck | None = None,
    threshold: float = 0.5,
    uncovered: tuple[str, ...] = (),
    joins: bool = False,
    hop_quotes: Sequence[HopQuote] = (),
) -> Iterator[str | Answer]:
    """Stream the model's text as it comes, then yield the checked ``Answer`` last.

    Small models over-refuse: the 1.5B default declines "how much of that was military?"
    although a snippet says "including 65 billion euros in military aid". So text that is
    still the start of the refusal sentence is held back, and when the model refuses, it is
    asked once more without the refusal option (cheap: the server reuses the cached prompt).
    That answer is shown only if ``second_look`` finds it firmly supported and, with a
    ``reader``, the reading check confirms it (``confirm``); otherwise the refusal stands.
    A who-or-which question that ``joins`` articles (names outlets) and is still refused is
    asked for the name alone, which stands only when the snippets of two or more articles
    hold it (``qa.answering.shared_name``), cited to one snippet of each.
    A first answer gets the reading check's verdict too; an answer to a question naming
    articles that are not among those read (``uncovered``) is ``"partial"``. Text held back
    is yielded as empty strings, one per token, so a consumer can stop at any token; closing
    this generator early closes the model's stream, and a question nobody waits for any more
    stops using the model. A yes-or-no answer gets a quoted line for each of ``hop_quotes`` (the
    named articles read) it does not cite (``qa.answering.hop_quotes``), streamed last.
    """
    messages = build_messages(standalone, snippets, prompts, instructions=instructions)
    refusal = prompts.refusal_text
    reply = _Reply([])
    holding = True
    for delta in llm.stream(messages, max_tokens=max_tokens):
        if isinstance(delta, Usage):
            reply.usage = delta
            continue
        if reply.first is None:
            reply.first = time.perf_counter() - started
        reply.parts.append(delta)
        if not holding:
            yield delta
        elif not refusal.startswith("".join(reply.parts).strip()):
            holding = False
            yield "".join(reply.parts)
        else:
            yield ""  # held back; the consumer may still stop here, and the model with it
    checking = time.perf_counter()
    answer = finish(question, "".join(reply.parts), snippets, prompts, standalone=standalone,
                    started=started)
    answer = confirm(answer, reader, standalone, threshold=threshold)
    checked_in = time.perf_counter() - checking
    completion = reply.usage.completion_tokens if reply.usage else None
    written = "".join(reply.parts)  # the text of the answer that stands
    if answer.refused:
        retry = build_messages(standalone, snippets, prompts, instructions=instructions,
                               retry=True)
        second = _Reply([])
        yield from _quietly(llm.stream(retry, max_tokens=max_tokens), second)
        completion = _add(completion, second)
        raw = "".join(second.parts)
        checking = time.perf_counter()
        checked = check(raw, snippets, standalone)
        forced = None
        if second_look(checked, raw, refusal, standalone):
            forced = finish(question, raw, snippets, prompts, standalone=standalone,
                            started=started, checked=checked)
            forced = confirm(forced, reader, standalone, threshold=threshold)
        checked_in += time.perf_counter() - checking
        if forced is not None and not forced.refused and (
                reader is None or forced.verdict == CONFIRMED):
            yield raw if holding else "\n\n" + raw  # after a streamed decline, a new paragraph
            answer, written = replace(forced, second_look=True), raw
    if answer.refused and joins and expected(standalone) == NAME:
        third = _Reply([])
        yield from _quietly(llm.stream(name_messages(standalone, snippets, prompts),
                                       max_tokens=NAME_TOKENS), third)
        completion = _add(completion, third)
        checking = time.perf_counter()
        composed = shared_name("".join(third.parts), snippets)
        named = finish(question, composed, snippets, prompts, standalone=standalone,
                       started=started) if composed else None
        named = confirm(named, reader, standalone, threshold=threshold) if named else None
        checked_in += time.perf_counter() - checking
        if named is not None and not named.refused and not named.unsupported and (
                reader is None or named.verdict == CONFIRMED):
            yield composed if holding else "\n\n" + composed
            answer, written = replace(named, second_look=True), composed
    if hop_quotes and not answer.refused and asks_yes_or_no(standalone) and not \
            languages.is_foreign(question):  # a translation would not quote them word for word
        lines, answer = with_quotes(answer, written, hop_quotes, check(
            written, snippets, standalone).cited, snippets, lambda text: finish(
                question, text, snippets, prompts, standalone=standalone, started=started))
        if lines:
            yield "\n\n" + lines
    if uncovered and not answer.refused:
        answer = replace(answer, verdict=PARTIAL, uncovered=uncovered)
    yield replace(
        answer,
        seconds=time.perf_counter() - started,
        first_token_seconds=reply.first,
        evidence_seconds=evidence_seconds,
        check_seconds=checked_in,
        prompt_tokens=reply.usage.prompt_tokens if reply.usage else None,
        completion_tokens=completion,
        evidence_mode=mode,
    )
