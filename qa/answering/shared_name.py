"""The name several articles agree on, for who-or-which questions that join them (pure logic).

"Which company, reported by The Verge and TechCrunch, …?" joins articles: each holds part of
the description and the answer is the name they share. A 1.5B model reading three outlets'
sentences at once often declines such a question, and asked again without the refusal option
it writes long sentences that restate the question and name nothing it cites. Asked for the
name alone (``prompts/answer_name_only.txt``) it mostly gives the right one, and the wrong ones
it gives are named by a single article. Near-miss rows of MultiHop-RAG dev records 1-165
(tuning set): the 43 inference questions the first pass declined or the old second look
answered, each asked for the name alone over the same evidence, with its evidence articles
present or left out. Names held by the snippets of two or more different articles were right
18 times of 19 (present 11 of 12, the wrong one a witness named beside the defendant in two
trial reports; absent 7 of 7, other articles on the same story); names held by one article or
none were wrong 14 times of 22.

So ``shared_name`` keeps a name only when snippets of at least ``MIN_ARTICLES`` different
articles hold it, and composes the answer as that name cited to the first such snippet of
each article: one citation per article that names it, which the citation checker then checks
like any other sentence. This is the shared-entity composition of issue 21 ("a shared entity
from the names the hops agree on"), with the articles read standing in for the hops.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.answering.refusal import declines, strip_markers
from qa.models import Snippet

MIN_ARTICLES = 2  # a name one article or none gives was wrong 14 of 22 times (see above)
MAX_CITED = 3  # articles cited for the name; more adds markers, not trust
MAX_WORDS = 6  # a longer reply is a sentence, not a name
_SEVERAL = re.compile(r",|;| and | or | & ")


def reply_name(raw: str) -> str:
    """The name in a name-only reply ("Sam Bankman-Fried [2]." -> "Sam Bankman-Fried"); ""
    when the reply is no single name: empty, a decline, a list ("Gary Wang and Caroline
    Ellison"), longer than ``MAX_WORDS`` words, or not capitalised."""
    text = strip_markers(raw).strip().strip(".\"'“”").strip()
    if not text or "\n" in text or declines(text) or _SEVERAL.search(text):
        return ""
    if len(text.split()) > MAX_WORDS or not text[0].isupper():
        return ""
    return text


def naming_snippets(name: str, snippets: Sequence[Snippet]) -> list[Snippet]:
    """The first snippet of each article whose text, headline or full names hold ``name`` as
    whole words (case as written), in the order the model read them."""
    pattern = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
    seen: dict[str, Snippet] = {}
    for s in snippets:
        where = " ".join((s.text, s.passage.title, *s.names))
        if s.passage.article_id not in seen and pattern.search(where):
            seen[s.passage.article_id] = s
    return list(seen.values())


def shared_name(raw: str, snippets: Sequence[Snippet]) -> str:
    """The answer text for a name-only reply: "Name [a][b]." citing the first snippet of each
    article that holds the name (at most ``MAX_CITED``), or "" when the reply gives no single
    name (``reply_name``) or fewer than ``MIN_ARTICLES`` articles hold it."""
    name = reply_name(raw)
    if not name:
        return ""
    naming = naming_snippets(name, snippets)
    if len(naming) < MIN_ARTICLES:
        return ""
    markers = "".join(f"[{s.number}]" for s in sorted(naming[:MAX_CITED], key=lambda s: s.number))
    return f"{name} {markers}."


__all__ = ["MAX_CITED", "MIN_ARTICLES", "naming_snippets", "reply_name", "shared_name"]
