"""Questions in another language than the articles': asked in English, answered in the question's
language (issue 27, item 3).

The articles are read in English (``qa.text.languages``). A question that
``qa.text.languages.language_of`` reads as German, French, Spanish or Danish is rewritten into
English by the condensing step the model already runs for follow-ups (one short request;
``prompts/condense_translate.txt`` when there is no conversation, the follow-up prompt told the
language otherwise), so retrieval, evidence selection, the answer prompt and every English check
work as for an English question. The checked English answer is then written in the question's
language by the model (``prompts/answer_translate.txt``, one more request, streamed), and that
text is checked in turn against the cited snippets across the language gap
(``qa.answering.citations``, ``language``: names and numbers): every sentence supported, the
same numbers as the English answer with its scale words ("65 billion" is "65 Milliarden", never
"65 Billionen", which is a thousand times more; ``with_scales`` writes them). A translation that
fails is not shown: the English answer stands. Answering in the question's language directly was
measured first and was worse: the 1.5B model mostly refused or answered in English
(``benchmarks/languages.py``, README). An English question takes none of these paths: no extra
request, the same prompts, the same checks.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace

from qa.answering.citations import check_citations, renumber
from qa.answering.prompts import Prompt
from qa.answering.refusal import strip_markers
from qa.llm.client import LLM
from qa.models import Answer
from qa.text.languages import ENGLISH, NAMES, language_of, local_number, names_in
from qa.text.words import number_token, support_of

# The refusal sentence (prompts/answer_refusal.txt) in each measured language, so a question
# refused is refused in its own language. Written here, not by the model: a refusal costs no
# request.
REFUSALS = {
    "de": "Die Artikel enthalten keine Antwort auf diese Frage.",
    "fr": "Les articles ne contiennent pas la réponse à cette question.",
    "es": "Los artículos no contienen la respuesta a esta pregunta.",
    "da": "Artiklerne indeholder ikke svaret på dette spørgsmål.",
}
TRANSLATE_TOKENS = 80  # a one-line English question is seldom longer, in tokens
# Scale words after a number, per language: (million, billion, trillion), plural then singular
# (for 1). German, French and Danish "billion" and Spanish "billón" are 10^12.
SCALES = {
    "de": (("Millionen", "Million"), ("Milliarden", "Milliarde"), ("Billionen", "Billion")),
    "fr": (("millions", "million"), ("milliards", "milliard"), ("billions", "billion")),
    "es": (("millones", "millón"), ("mil millones", "mil millones"), ("billones", "billón")),
    "da": (("millioner", "million"), ("milliarder", "milliard"), ("billioner", "billion")),
}
_ENGLISH_SCALE = re.compile(r"(\d+(?:[.,]\d+)*)\s+(million|billion|trillion)s?\b", re.I)
_ANY_SCALE = re.compile(
    r"(\d+(?:[.,]\d+)*)(\s+)(mil\s+millones|mill(?:ion|ón|ones|ioner|ionen|ions)?|"
    r"milliard(?:e|en|er|s)?|bill(?:ion|ón|ones|ioner|ionen|ions)|trillions?)\b", re.I)


# Words that deny, per language: a translation must deny what the English denies and nothing
# else ("Les alliés n'ont pas donné plus de 150 milliards" was written for "have provided more
# than 150 billion").
_NEGATION = {
    "en": r"\b(not|no|never|none|nor|neither)\b|n't\b",
    "de": r"\b(nicht|kein|keine|keinen|keinem|keiner|nie|niemals|weder)\b",
    "fr": r"\b(ne|n|pas|jamais|aucun|aucune|ni)\b",
    "es": r"\b(no|nunca|ningún|ninguno|ninguna|ni|jamás)\b",
    "da": r"\b(ikke|ingen|intet|aldrig|hverken)\b",
}


def denies(text: str, language: str) -> bool:
    """Whether ``text`` (in ``language``) holds a word that denies (``_NEGATION``)."""
    return bool(re.search(_NEGATION.get(language, _NEGATION[ENGLISH]), text.lower()))


def is_foreign(question: str) -> bool:
    """Whether ``question`` is in another language than the articles' (English)."""
    return language_of(question) != ENGLISH


def refusal_in(question: str, english: str) -> str:
    """The refusal sentence in ``question``'s language (``REFUSALS``), else ``english``."""
    return REFUSALS.get(language_of(question), english)


def first_line(reply: str) -> str:
    """The first non-empty line of a model's reply, without quotes or a "…question:" label."""
    for line in reply.strip().splitlines():
        line = line.strip().strip('"“”')
        if ":" in line[:20] and line.split(":", 1)[0].lower().endswith("question"):
            line = line.split(":", 1)[1].strip().strip('"“”')
        if line:
            return line
    return ""


def translate(question: str, llm: LLM, user: Prompt) -> str:
    """``question`` (not English) written in English by the model, for retrieval; the question
    as asked when the reply is empty or itself not English. ``user`` is
    ``prompts/condense_translate.txt``. Raises ``LLMError`` as the client does."""
    messages = [{"role": "user", "content": user.render(question=question.strip())}]
    text = first_line(llm.complete(messages, max_tokens=TRANSLATE_TOKENS))
    return text if len(text) > 3 and not is_foreign(text) else question


def in_english_note(question: str, prompt: Prompt) -> str:
    """What the follow-up prompt adds for a follow-up in another language (``prompt`` is
    ``prompts/condense_language.txt``); "" for an English one."""
    language = language_of(question)
    return "" if language == ENGLISH else prompt.render(language=NAMES[language])


def with_scales(text: str, english: str, language: str) -> str:
    """``text`` (a translation of ``english`` into ``language``) with the scale word after each
    number written as ``language`` writes the English one: "65 billion Euro" and "65 Billionen"
    become "65 Milliarden" when the English says "65 billion". Numbers the English gives no
    scale, and languages without ``SCALES``, are left as they are."""
    scales = {number_token(n): ("million", "billion", "trillion").index(s.lower())
              for n, s in _ENGLISH_SCALE.findall(english)}
    words = SCALES.get(language)
    if not words or not scales:
        return text

    def scale(m: re.Match[str]) -> str:
        at = scales.get(local_number(m.group(1)))
        if at is None:
            return m.group()
        plural, single = words[at]
        return f"{m.group(1)}{m.group(2)}{single if m.group(1) == '1' else plural}"

    return _ANY_SCALE.sub(scale, text)


def _numbers(text: str, language: str) -> set[str]:
    found = re.findall(r"\d+(?:[.,]\d+)*", strip_markers(text))
    return {local_number(n) if language != ENGLISH else number_token(n) for n in found}


def checked_translation(text: str, answer: Answer, question: str, language: str
                        ) -> Answer | None:
    """``answer`` (checked, English) with ``text``, its translation into ``language``, as its
    text, when the translation holds up: every sentence supported by the cited snippets across
    the language gap (``qa.answering.citations.check_citations``, ``question`` the English
    standalone question), some sentence cited, the same numbers as the English answer, a
    denial only where the English denies (``denies``), and read as ``language`` (a reply left
    in English is no translation). Citations no sentence cites any more are dropped and the
    rest renumbered. None otherwise."""
    if not text.strip() or _numbers(text, language) != _numbers(answer.text, ENGLISH):
        return None
    if denies(strip_markers(text), language) != denies(answer.text, ENGLISH) or (
            language_of(strip_markers(text)) != language):
        return None
    supports = [support_of(c.quote, heading=c.title, outlet=c.source,
                           published_at=c.published_at) for c in answer.citations]
    known = frozenset().union(*(names_in(f"{c.title} {c.quote}") for c in answer.citations))
    checked = check_citations(text, supports, question=question, language=language,
                              known=known)
    order = checked.cited
    if checked.unsupported or not order:
        return None
    citations = tuple(replace(answer.citations[old - 1], number=new)
                      for new, old in enumerate(order, start=1))
    return replace(answer, text=renumber(checked.text, order), citations=citations)


def _translation(llm: LLM, messages: list[dict[str, str]], max_tokens: int,
                 parts: list[str]) -> Iterator[str]:
    """Stream the model's reply to ``messages``, collecting its text in ``parts``."""
    for delta in llm.stream(messages, max_tokens=max_tokens):
        if isinstance(delta, str):
            parts.append(delta)
            yield delta


def answer_in(question: str, stream: Iterator[str | Answer], llm: LLM, prompt: Prompt,
              system: Prompt, *, standalone: str, max_tokens: int) -> Iterator[str | Answer]:
    """The English answer's ``stream`` with its text held back (an empty string per token, so
    the consumer may stop), then its translation into ``question``'s language as the model
    writes it (``prompt`` is ``prompts/answer_translate.txt``), then the ``Answer``: translated
    when ``checked_translation`` accepts the translation, else the English one. A reply left
    in English is asked for once more, after a system turn (``system``,
    ``prompts/answer_translate_system.txt``) that names the language. A refusal is already in
    the question's language (``refusal_in``) and asks nothing more. Raises ``LLMError`` as the
    client does."""
    language = language_of(question)
    answer = None
    for item in stream:
        if isinstance(item, Answer):
            answer = item
        else:
            yield ""
    if answer is None:
        return
    finished = time.perf_counter()
    if answer.refused or not answer.citations:
        yield answer.text
        yield answer
        return
    messages = [{"role": "user", "content": prompt.render(language=NAMES[language],
                                                          answer=answer.text.strip())}]
    parts: list[str] = []
    yield from _translation(llm, messages, max_tokens, parts)
    tokens = len(parts)
    text = with_scales(" ".join("".join(parts).split()), answer.text, language)
    if language_of(strip_markers(text)) == ENGLISH:  # echoed, not translated: ask once more
        parts = []
        retry = [{"role": "system", "content": system.render(language=NAMES[language])},
                 *messages]
        yield "\n\n"
        yield from _translation(llm, retry, max_tokens, parts)
        tokens += len(parts)
        text = with_scales(" ".join("".join(parts).split()), answer.text, language)
    translated = checked_translation(text, answer, standalone, language)
    seconds = answer.seconds + time.perf_counter() - finished
    done = translated or answer
    yield replace(done, seconds=seconds, completion_tokens=(
        answer.completion_tokens + tokens if answer.completion_tokens is not None else None))


__all__ = ["ENGLISH", "REFUSALS", "SCALES", "TRANSLATE_TOKENS", "answer_in",
           "checked_translation", "denies", "first_line", "in_english_note", "is_foreign",
           "language_of", "refusal_in", "translate", "with_scales"]
