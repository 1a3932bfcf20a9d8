"""Evidence selection: from the retrieved passages, the sentences that bear on the question.

The stage between retrieval and the prompt, so the model reads a few hundred tokens instead of
five whole passages. Every sentence of the top passages is scored against the question and
against each hop clause and claim the retriever planned (``qa.retrieval.plan``), by two signals:

- keyword coverage: the IDF-weighted share of the query's stemmed words the sentence holds
  (IDF from the index's BM25 statistics);
- embedding similarity: cosine of the sentence's and the query's all-MiniLM-L6-v2 vectors.

Each query's best sentence is taken first, the closest match first (every hop of a multi-hop
question gets evidence, as the retriever's ``assemble`` gives every hop a passage; a named
outlet's best sentence even past the budget, so every article the question names is read), then the
rest by score while they score at least ``min_share`` of the best and fit the token budget; a
bonus by the rank of a sentence's passage orders both (retrieval already weighed the question's
hops, outlets and days). A picked sentence that leans on the one before it (opens with a
pronoun, "He added", a bare quote) brings that sentence along; picked neighbours merge into one
snippet; a table row is a snippet of its own (a record) and brings its table's header row. A
name a snippet gives only in part ("Bankman-Fried") is named in full above it, from its
article's passages and opening chunk (``qa.text.names``); the names count against the budget.

The weights were chosen on the first 200 MultiHop-RAG dev records (``benchmarks/evidence.py``):
at 260 tokens the rank bonus raised the share of gold facts one snippet holds from 0.343 to
0.366 and 10-word headlines to 0.375; filling by rounds of one sentence per article lowered it.
Taking the queries' best sentences closest match first (not in query order) raised it at 210
tokens from 0.324 to 0.364, and on records 201-400 from 0.332 to 0.369. Full names raised the
share of name-or-phrase questions whose gold answer the model reads from 0.684 to 0.807 (57
questions, records 1-200) and, not tuned on, from 0.777 to 0.856 (188, records 201-700), at a
cost of 0.006 in facts held. all-mpnet-base-v2 in MiniLM's place held 0.486 of the gold facts
against 0.472 (both averaged: 0.474; records 1-200 at the default budgets) but took 6.4 s a
question against 0.5 s (``benchmarks/second_scorer.py``, AVX2 host), so MiniLM stays.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache

import numpy as np

from qa.config import Settings
from qa.models import Chunk, ScoredChunk, Snippet, header_line
from qa.retrieval.plan import Plan, on_days
from qa.text.names import expansions, short_forms
from qa.text.sentences import split_sentences, table_blocks
from qa.text.words import terms

_DEFAULTS = Settings.model_fields
TokenCounter = Callable[[str], int]
Embed = Callable[[list[str]], np.ndarray]  # texts -> unit-length rows
Idf = Callable[[set[str]], dict[str, float]]

# An opening that points back at the sentence before: a pronoun, a connective, or a quote
# that does not say who is speaking (one with "Stoltenberg told reporters" stands alone).
_LEANS = re.compile(
    r"^(?:he|she|it|they|this|that|these|those|his|her|its|their|them|him|such|"
    r"but|and|however|also|still|yet|then|there|here|the latter|the former)\b",
    re.IGNORECASE,
)
_QUOTE = re.compile(r"^[\"“‘']")
_SPEAKER = re.compile(r"\b(?:said|says|told|tells|added|adds|wrote|writes|stated|asked|"
                      r"according to|declared|announced)\b", re.IGNORECASE)


def leans_back(text: str) -> bool:
    """Whether a sentence needs the one before it to be understood."""
    return bool(_LEANS.match(text)) or bool(_QUOTE.match(text)) and not _SPEAKER.search(text)
_ROW = re.compile(r"\s*\|.*\|\s*$")
_RULE = re.compile(r"\s*\|[\s:|-]*\|\s*$")  # a table's |---|---| line


@dataclass(frozen=True)
class SelectionOptions:
    """How much evidence to pick and how (see the module docstring for the method)."""

    # the settings' defaults (QA_EVIDENCE_BUDGET, QA_EVIDENCE_PASSAGES), written down once
    budget: int = _DEFAULTS["evidence_budget"].default  # tokens of snippet text and headings
    passages: int = _DEFAULTS["evidence_passages"].default  # top passages giving candidates
    min_share: float = 0.35  # a sentence added to fill must score this share of the best
    embedding_weight: float = 1.0  # weight of embedding similarity beside keyword coverage
    rank_weight: float = 0.4  # bonus for a sentence of the top passage, falling to 0 at the last
    embed: bool = True  # use the embedding signal at all
    full_names: bool = True  # name in full what a snippet names in part (qa.text.names)


@dataclass(frozen=True)
class _Sentence:
    article: str
    start: int  # in the article body
    end: int
    text: str
    passage: Chunk  # the best-ranked retrieved passage holding it
    rank: int  # that passage's retrieval rank
    order: int  # position among its article's candidate sentences


TITLE_WORDS = 10  # a headline in the evidence is cut to this many words: headings cost tokens


def short_title(title: str, words: int = TITLE_WORDS) -> str:
    """The headline as the evidence heads an article's snippets: its first ``words`` words."""
    parts = title.split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


def heading(passage: Chunk) -> str:
    """An article's line above its snippets, as counted against the budget."""
    return header_line(short_title(passage.title), passage.source, passage.published_at)


def candidates(passages: Sequence[ScoredChunk]) -> list[_Sentence]:
    """Sentences of the passages, each once, with article body offsets: overlapping chunks
    repeat sentences, and newsletters repeat other articles' sentences word for word (the
    best-ranked copy stays); the separator line of a table is no sentence."""
    seen: dict[tuple[str, int], _Sentence] = {}
    texts: set[str] = set()
    for rank, p in enumerate(passages):
        c = p.chunk
        for a, b in split_sentences(c.text):
            key = (c.article_id, c.start + a)
            text = " ".join(c.text[a:b].lower().split())
            if key in seen or _RULE.match(c.text[a:b]) or (text in texts and len(text) > 40):
                continue
            texts.add(text)
            seen[key] = _Sentence(c.article_id, c.start + a, c.start + b, c.text[a:b], c, rank, 0)
    by_article: dict[str, list[_Sentence]] = defaultdict(list)
    for s in seen.values():
        by_article[s.article].append(s)
    out = []
    for sentences in by_article.values():
        sentences.sort(key=lambda s: s.start)
        out += [replace(s, order=i) for i, s in enumerate(sentences)]
    return out


def keyword_coverage(query: set[str], sentence: set[str], idf: dict[str, float]) -> float:
    """IDF-weighted share of the query's terms that the sentence holds (0-1)."""
    total = sum(idf.get(t, 0.0) for t in query)
    if total <= 0:
        return 0.0
    return sum(idf.get(t, 0.0) for t in query & sentence) / total


Query = tuple[str, tuple[str, ...], tuple[str, ...]]  # text, outlets, days (none: any)


def queries_of(question: str, plan: Plan) -> list[Query]:
    """The question, then each hop clause and claim it was planned into, each with the outlets
    and days its sentences must come from (none: any), duplicates and wordless ones left out."""
    # a hop named without words of its own reads the whole question
    hops = [(t, hop.sources, hop.days) for hop in plan.hops if hop.sources
            for t in plan.clauses.get(hop) or (question,)]
    parts = [(question, (), ()), *hops, *((c, (), ()) for c in plan.claims)]
    seen: dict[Query, None] = {}
    for text, sources, days in parts:
        seen.setdefault((" ".join(text.split()), sources, days), None)
    return [q for q in seen if terms(q[0])]


def select(
    question: str,
    passages: Sequence[ScoredChunk],
    *,
    plan: Plan,
    idf: Idf,
    count_tokens: TokenCounter,
    embed: Embed | None = None,
    options: SelectionOptions = SelectionOptions(),  # noqa: B008 - frozen, never mutated
    openings: Sequence[Chunk] = (),
) -> list[Snippet]:
    """Numbered snippets for the prompt, grouped by article in order of their best score.

    ``passages`` are the retriever's, best first; ``idf`` weighs stemmed terms; ``embed``
    turns texts into unit vectors (``None``: keyword coverage only); ``count_tokens`` counts
    what the budget is measured in; ``openings`` are the first chunks of the passages'
    articles, where names are given in full. Raises nothing: no candidates gives no snippets.
    """
    sentences = candidates(passages[: options.passages])
    queries = queries_of(question, plan)
    if not sentences or not queries:
        return []
    names_of = (full_names_of([p.chunk for p in passages] + list(openings))
                if options.full_names else lambda _s: ())
    scores = score_sentences(queries, sentences, idf, embed if options.embed else None,
                             options)
    chosen = pick(scores, sentences, count_tokens, options, names_of,
                  hops=[bool(sources) for _q, sources, _d in queries])
    return _snippets(sentences, chosen, scores.max(axis=0), names_of)


NamesOf = Callable[[_Sentence], tuple[str, ...]]


def full_names_of(chunks: Sequence[Chunk]) -> NamesOf:
    """A function giving the full names a sentence gives only in part, by the ``chunks`` of
    its article (``qa.text.names``); a name its article's heading shows is known. Each article's
    names and each sentence's are worked out when first asked for: of about 60 candidates,
    selection asks for the few that fit the budget."""
    texts: dict[str, dict[str, None]] = defaultdict(dict)
    for c in chunks:
        texts[c.article_id].setdefault(c.text, None)
    forms: dict[str, dict[str, str]] = {}
    found: dict[tuple[str, int], tuple[str, ...]] = {}

    def names_of(s: _Sentence) -> tuple[str, ...]:
        if (s.article, s.start) not in found:
            if s.article not in forms:
                forms[s.article] = short_forms(texts.get(s.article, {}))
            found[s.article, s.start] = tuple(
                n for n in expansions(s.text, forms[s.article])
                if n not in short_title(s.passage.title))
        return found[s.article, s.start]

    return names_of


def rank_prior(sentences: list[_Sentence], options: SelectionOptions) -> np.ndarray:
    """A bonus by the rank of the passage a sentence comes from: retrieval already weighed
    each hop, claim, outlet and day of the question, which sentence scores alone do not."""
    return np.array([options.rank_weight * (1 - s.rank / options.passages) for s in sentences],
                    dtype=np.float32)


def score_sentences(queries: list[Query], sentences: list[_Sentence],
                    idf: Idf, embed: Embed | None, options: SelectionOptions) -> np.ndarray:
    """(queries x sentences) relevance; a hop's rows are zero outside its own outlets, and
    outside the days it names when its outlet has sentences of those days."""
    scores = _scores([q for q, _s, _d in queries], sentences, idf, embed, options)
    for row, (_q, sources, days) in zip(scores, queries, strict=True):
        if sources:  # a hop's clause is about its own outlet's article
            own = np.array([s.passage.source in sources for s in sentences])
            # "the TechCrunch article of October 31": another day's article of the outlet is
            # another article, and hop coverage (qa.answering.hop_coverage) counts only that
            # day's; without a sentence of that day, the outlet's best stands as before.
            dated = own & np.array([on_days(s.passage.published_at, days) for s in sentences])
            row *= (dated if days and dated.any() else own).astype(np.float32)
    return scores


def pick(scores: np.ndarray, sentences: list[_Sentence], count_tokens: TokenCounter,
         options: SelectionOptions, names_of: NamesOf,
         hops: Sequence[bool] = ()) -> dict[int, None]:
    """The sentences to show, in the order taken: every query's best first (the best-matched
    query's first), then the rest by score plus rank bonus, while a sentence scores
    ``min_share`` of the best and fits the budget. ``hops`` flags the rows of ``scores`` that
    are a named outlet's hop: their best sentences are taken even past the budget. Sentences
    a pick leans on come with it."""
    overall = scores.max(axis=0)
    prior = rank_prior(sentences, options)
    order = overall + prior
    chosen: dict[int, None] = {}
    per_article: dict[str, int] = defaultdict(int)
    named: dict[str, dict[str, None]] = defaultdict(dict)  # full names shown, per article
    used = 0

    @cache
    def shown(i: int) -> list[int]:  # sentence i with the ones it leans on, in text order
        return [*_leaning(sentences, i), i]

    def cost(i: int) -> tuple[int, list[str]]:
        """Tokens that showing sentence ``i`` adds (with what it leans on, its article's
        heading and the full names new to its article), and those names; the names
        are worked out only when the rest fits."""
        extra = shown(i)
        text = " ".join(sentences[j].text for j in extra if j not in chosen)
        if not text:
            return 0, []
        article = sentences[i].article
        head = "" if per_article[article] else heading(sentences[i].passage)
        tokens = count_tokens(text) + count_tokens(head) + 4
        if chosen and used + tokens > options.budget:
            return tokens, []
        known = named[article]
        names = [n for n in dict.fromkeys(n for j in extra for n in names_of(sentences[j]))
                 if n not in known]
        if names:  # the "Names in full:" line, once per article, then each name
            tokens += count_tokens("; ".join(names)) + (1 if known else 5)
        return tokens, names

    def take(i: int, tokens: int, names: list[str]) -> None:
        nonlocal used
        used += tokens
        per_article[sentences[i].article] += 1
        named[sentences[i].article].update(dict.fromkeys(names))
        for j in shown(i):
            chosen.setdefault(j, None)

    # Every query's best sentence first, the closest match first: taken in query order, a
    # query nothing matches well (often the whole question) spent the budget on a loose
    # sentence before a hop's exact one (gold facts held, dev records 1-200: 0.324 -> 0.364;
    # 201-400: 0.332 -> 0.369). A hop's best (a named outlet's) is taken even past the budget:
    # without it the model reads nothing of that article, and a yes or no about it is a guess
    # (dev records 1-200 at 210 tokens: facts held 0.358 -> 0.366, every fact 0.139 -> 0.161,
    # median 126 -> 129 tokens; present yes/no hops with no snippet of their outlet, records
    # 1-165: 9 of 179 -> 0).
    bests = [(float(row[b]), b, hop) for row, hop in zip(scores, hops or [False] * len(scores),
                                                       strict=True)
             for b in [int((row + prior * (row > 0)).argmax())]]
    for score, best, hop in sorted(bests, key=lambda sbh: -sbh[0]):
        if score > 0 and best not in chosen:
            tokens, names = cost(best)
            if not chosen or used + tokens <= options.budget or hop:
                take(best, tokens, names)
    top = float(overall.max())
    ranked = [i for i in np.argsort(-order, kind="stable").tolist()
              if overall[i] >= options.min_share * top]
    for i in ranked:
        if i not in chosen:
            tokens, names = cost(i)
            if used + tokens <= options.budget:
                take(i, tokens, names)
    return chosen


def _scores(queries: list[str], sentences: list[_Sentence], idf: Idf, embed: Embed | None,
            options: SelectionOptions) -> np.ndarray:
    """(queries x sentences) relevance: keyword coverage plus weighted cosine similarity."""
    sentence_terms = [terms(s.text) for s in sentences]
    query_terms = [terms(q) for q in queries]
    weights = idf(set().union(*query_terms))
    keyword = np.array([[keyword_coverage(q, s, weights) for s in sentence_terms]
                        for q in query_terms], dtype=np.float32)
    if embed is None:
        return keyword
    vectors = embed(queries + [s.text for s in sentences])
    cosine = vectors[: len(queries)] @ vectors[len(queries) :].T
    return keyword + options.embedding_weight * np.clip(cosine, 0.0, None)


def _leaning(sentences: list[_Sentence], i: int) -> list[int]:
    """The sentences that must come before sentence ``i`` for it to make sense: the one before
    it in the same passage when ``i`` leans on it (repeatedly, at most two back)."""
    out: list[int] = []
    j = i
    while len(out) < 2 and leans_back(sentences[j].text):
        prev = _previous(sentences, j)
        if prev is None:
            break
        out.insert(0, prev)
        j = prev
    return out


def _previous(sentences: list[_Sentence], i: int) -> int | None:
    """The candidate sentence right before ``i`` in its article, if one passage holds both."""
    s = sentences[i]
    for j, t in enumerate(sentences):
        if t.article == s.article and t.order == s.order - 1:
            holder = s.passage if s.passage.start <= t.start else t.passage
            if holder.start <= t.start and s.end <= holder.end:
                return j
    return None


def _snippets(sentences: list[_Sentence], chosen: dict[int, None], overall: np.ndarray,
              names_of: NamesOf) -> list[Snippet]:
    """Merge neighbouring picks of one passage into snippets, attach table headers, number
    them: articles in order of their best score, snippets in article order."""
    by_article: dict[str, list[int]] = defaultdict(list)
    for i in chosen:
        by_article[sentences[i].article].append(i)
    groups: list[tuple[float, list[list[int]]]] = []
    for picks in by_article.values():
        picks.sort(key=lambda i: sentences[i].start)
        runs: list[list[int]] = []
        for i in picks:
            last = runs[-1][-1] if runs else None
            if last is not None and _joinable(sentences, runs[-1][0], last, i):
                runs[-1].append(i)
            else:
                runs.append([i])
        groups.append((max(float(overall[i]) for i in picks), runs))
    groups.sort(key=lambda g: -g[0])
    out: list[Snippet] = []
    for _best, runs in groups:
        for run in runs:
            first, last = sentences[run[0]], sentences[run[-1]]
            passage = _holder(first, last)
            a, b = first.start - passage.start, last.end - passage.start
            header, header_start = _table_header(passage, first)
            names = tuple(dict.fromkeys(n for i in run for n in names_of(sentences[i])))
            out.append(Snippet(number=len(out) + 1, passage=passage, text=passage.text[a:b],
                               start=first.start, end=last.end, header=header,
                               header_start=header_start,
                               score=max(float(overall[i]) for i in run), names=names))
    return out


def _holder(first: _Sentence, last: _Sentence) -> Chunk:
    for chunk in (first.passage, last.passage):
        if chunk.start <= first.start and last.end <= chunk.end:
            return chunk
    return first.passage


def _joinable(sentences: list[_Sentence], head: int, last: int, i: int) -> bool:
    """Whether pick ``i`` continues the run from ``head`` to ``last``: the next sentence of
    the article, and one passage holds the whole run, so its text is exact."""
    a, b, c = sentences[head], sentences[last], sentences[i]
    if c.order != b.order + 1 or _ROW.match(c.text):  # a table row stands alone, as a record
        return False
    return any(p.start <= a.start and c.end <= p.end for p in (a.passage, c.passage))


def _table_header(passage: Chunk, first: _Sentence) -> tuple[str, int]:
    """The header row of the table a snippet's first sentence is a row of ("", -1: none)."""
    if not _ROW.match(first.text):
        return "", -1
    offset = first.start - passage.start
    for h0, h1, end in table_blocks(passage.text):
        if h0 <= offset < end:
            if offset == h0 and not passage.table_header:  # the header row itself
                return "", -1
            if h0 == 0 and passage.table_header:  # the chunk starts inside the table
                return passage.table_header, passage.table_header_start
            return passage.text[h0:h1], passage.start + h0
    return "", -1


def whole_passages(passages: Sequence[ScoredChunk]) -> list[Snippet]:
    """The passage path: every passage given whole, as one snippet each."""
    return [Snippet(number=n, passage=p.chunk, text=p.chunk.text, start=p.chunk.start,
                    end=p.chunk.end, score=p.score) for n, p in enumerate(passages, start=1)]
