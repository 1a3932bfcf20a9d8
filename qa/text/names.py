"""Full names for the names a snippet gives only in part, pure logic.

A news article names a person or a company in full once ("Sam Bankman-Fried", "Alameda
Research") and then in part ("Bankman-Fried", "Alameda"). A picked sentence that gives only the
short form leaves the model to answer "Bankman-Fried" to a question that asks who, and the reader
to guess who that is. So the evidence names, above an article's snippets, the full form of each
name they give in part, taken from the same article's retrieved passages when exactly one full
name there begins or ends with that word (``expansions``).

Of the MultiHop-RAG dev questions answered by a name or phrase, the share whose gold answer the
model reads rose from 0.684 to 0.807 (57 questions, records 1-200, where most misses were such
names: "Sam Altman", "Sam Bankman-Fried", "Brock Purdy") and, not tuned on, from 0.777 to 0.856
(188 questions, records 201-700) (``benchmarks/evidence.py``, answer held).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# Two or more capitalised words in a row (a word has a lower-case second letter, so "CEO" and
# "US" end a run: "OpenAI CEO Sam Altman" gives "Sam Altman").
_RUN = re.compile(r"[A-Z][a-z][\w’'-]*(?: [A-Z][a-z][\w’'-]*)+")
_POSSESSIVE = re.compile(r"[’']s$")
# Capitalised words that open a sentence, a dateline or a title rather than a name.
_OPENERS = frozenset("""
president prime minister chair chairman chairwoman chief executive senator governor judge
secretary former coach quarterback founder director general king queen prince pope mayor
spokesman spokeswoman spokesperson attorney commissioner officer sheriff captain rep sen gov
a an and as at after according before but by during for from he her his if in it its last
meanwhile mr mrs ms dr next on our she since so that the their then these they this those
to when while with yet did does do is was were will would can could should has have had how
what why who where which not now also even just only here there every all some many most
both each other monday tuesday wednesday thursday friday saturday sunday january
february march april may june july august september october november december
""".split())
MAX_WORDS = 3  # a longer run is a title before a name ("Fed Chair Jerome Powell"): its last two


def full_names(text: str) -> list[str]:
    """The multi-word names in ``text`` (2-3 capitalised words, openers and a possessive "'s"
    dropped), in order of first appearance, each once."""
    out: dict[str, None] = {}
    for m in _RUN.finditer(text):
        words = m.group().split()
        while words and words[0].lower() in _OPENERS:
            words.pop(0)
        if len(words) > MAX_WORDS:
            words = words[-2:]
        if len(words) >= 2:
            words[-1] = _POSSESSIVE.sub("", words[-1])
            out.setdefault(" ".join(words), None)
    return list(out)


def short_forms(texts: Iterable[str]) -> dict[str, str]:
    """Map each word that stands for one full name of ``texts`` (one article's passages) to
    that name: the name's first or last word, when no other name there begins or ends with it,
    it has at least three letters, and the texts never use it in lower case (so "Research"
    stays a word when the texts speak of "research")."""
    texts = list(texts)
    names = full_names("\n".join(texts))
    # a name inside a longer one ("Joe Biden" in "President Joe Biden") is the one to give
    shortest = [n for n in names if not any(o != n and o in n for o in names)]
    lower = set(re.findall(r"\b[a-z][\w’'-]*", "\n".join(texts)))
    claims: dict[str, set[str]] = {}
    for name in shortest:
        words = name.split()
        for word in dict.fromkeys((words[0], words[-1])):  # not a set: the same order each run
            if len(word) >= 3 and word.lower() not in lower and word.lower() not in _OPENERS:
                claims.setdefault(word, set()).add(name)
    return {word: next(iter(full)) for word, full in claims.items() if len(full) == 1}


def expansions(sentence: str, forms: Mapping[str, str]) -> tuple[str, ...]:
    """The full names ``sentence`` gives only in part, by ``forms`` (``short_forms`` of its
    article): a short form standing alone, not next to another capitalised word (a
    different "Kimbal Musk" or the full name itself)."""
    out: dict[str, None] = {}
    for word, full in forms.items():
        if full in sentence:
            continue
        for m in re.finditer(rf"(?<![\w’'-]){re.escape(word)}(?![\w-])", sentence):
            before = sentence[: m.start()].rstrip().rsplit(" ", 1)[-1]
            after = sentence[m.end():].lstrip().split(" ", 1)[0]
            if not _capitalised(before) and not _capitalised(after):
                out.setdefault(full, None)
                break
    return tuple(out)


def _capitalised(word: str) -> bool:
    return len(word) > 1 and word[0].isupper() and word[1].islower()
