"""Articles -> sentence-aligned ``Chunk`` with stable ids and exact body offsets. Reading files
and folding near-duplicates is ``qa.sources.articles``; sentence rules are ``qa.text.sentences``.

Ids come from the path relative to the indexed folder (plus the url or title for JSON records),
so re-ingesting or moving the folder keeps every id, and BM25, Chroma and citations agree.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from qa.errors import IngestError, ModelError
from qa.models import Article, Chunk, chunk_id, header_line
from qa.text.sentences import split_sentences, table_blocks

CHUNKER_VERSION = "2"  # bump when chunk boundaries change, so every article re-embeds


# --- chunking --------------------------------------------------------------------------------

def load_tokenizer(model_dir: Path) -> Tokenizer:
    """The embedder's own tokenizer, untruncated and unpadded, so chunk budgets count exactly."""
    file = Path(model_dir) / "tokenizer.json"
    if not file.is_file():
        raise ModelError(f"{file}: no tokenizer.json; is {model_dir} a sentence-transformers model")
    try:
        tokenizer = Tokenizer.from_file(str(file))
    except Exception as exc:  # the Rust side raises plain Exception
        raise ModelError(f"{file}: cannot load tokenizer: {exc}") from None
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def content_hash(article: Article, *, max_tokens: int, overlap: int) -> str:
    """Changes when the article or the chunker does, so only those articles are re-embedded."""
    key = [CHUNKER_VERSION, max_tokens, overlap, article.title, article.body, article.source,
           article.author, article.published_at, article.url, article.path, article.duplicates]
    if article.also_in:  # appended only when present: indexes made before it stay unchanged
        key.append(article.also_in)
    return hashlib.sha256(json.dumps(key, ensure_ascii=False).encode()).hexdigest()


def chunk_article(
    article: Article, *, tokenizer: Tokenizer, max_tokens: int = 256, overlap: int = 32
) -> list[Chunk]:
    """One article's chunks; see ``chunk_articles``."""
    return chunk_articles([article], tokenizer=tokenizer, max_tokens=max_tokens, overlap=overlap)


def chunk_articles(
    articles: Iterable[Article], *, tokenizer: Tokenizer, max_tokens: int = 256, overlap: int = 32
) -> list[Chunk]:
    """Sentence-aligned chunks whose ``embed_text()`` is at most ``max_tokens`` tokens.

    The count includes the header line and [CLS]/[SEP], so the embedder never truncates a chunk.
    Each body is tokenized once and spans are counted from its token offsets; chunks where that
    sum may be inexact (a cut inside a word, or a tokenizer other than WordPiece over whitespace)
    are re-counted, and their article re-packed tighter if one ran over.
    """
    articles = list(articles)
    if tokenizer.truncation or tokenizer.padding:  # counts must be of the whole text
        tokenizer = Tokenizer.from_str(tokenizer.to_str())
        tokenizer.no_truncation()
        tokenizer.no_padding()
    exact = _additive(tokenizer)
    titles = [_fit_title(a, tokenizer, max_tokens) for a in articles]
    heads = [header_line(t, a.source, a.published_at)
             for t, a in zip(titles, articles, strict=True)]
    budgets = [max_tokens - len(e.ids) for e in tokenizer.encode_batch(heads)]
    tables = [table_blocks(a.body) for a in articles]
    for i, blocks in enumerate(tables):  # room for a table's header row repeated in a chunk
        if blocks:
            rows = [articles[i].body[h0:h1] for h0, h1, _end in blocks]
            budgets[i] -= max(len(e.ids) for e in tokenizer.encode_batch(
                rows, add_special_tokens=False))
    encodings = tokenizer.encode_batch([a.body for a in articles], add_special_tokens=False)
    starts = [np.sort(np.fromiter(itertools.chain.from_iterable(e.offsets), np.int64)[::2])
              for e in encodings]
    sentences = [split_sentences(a.body) for a in articles]
    result: dict[int, list[Chunk]] = {}
    todo: Sequence[int] = range(len(articles))
    while todo:
        for i in todo:
            art = articles[i]
            if budgets[i] < 1:
                raise IngestError(f"{art.id}: its header leaves no room in {max_tokens} tokens")
            spans = _pack(art.body, sentences[i], starts[i], budgets[i], overlap)
            result[i] = [Chunk(id=chunk_id(art.id, n), article_id=art.id, index=n,
                               text=art.body[a:b], start=a, end=b, title=titles[i],
                               source=art.source, published_at=art.published_at, url=art.url,
                               path=art.path, also_in=art.also_in,
                               **_continued_table(art.body, tables[i], a))
                         for n, (a, b) in enumerate(spans)]
        check = [(i, c) for i in todo for c in result[i] if not exact  # else only cuts in words
                 or not (_space_at(articles[i].body, c.start - 1)
                         and _space_at(articles[i].body, c.end))]
        texts = [c.embed_text() for _, c in check]
        over: dict[int, int] = {}
        for (i, _), enc in zip(check, tokenizer.encode_batch(texts), strict=True):
            if len(enc.ids) > max_tokens:
                over[i] = max(over.get(i, 0), len(enc.ids) - max_tokens)
        for i, extra in over.items():
            budgets[i] -= extra
        todo = sorted(over)
    return [c for i in range(len(articles)) for c in result[i]]


def _continued_table(body: str, blocks: list[tuple[int, int, int]], start: int) -> dict[str, Any]:
    """The header row a chunk needs when it starts inside a table below that row: repeated in
    what the embedder sees, and kept with any row that evidence selection picks."""
    for h0, h1, end in blocks:
        if h1 < start < end:
            return {"table_header": body[h0:h1], "table_header_start": h0}
    return {}


def _additive(tokenizer: Tokenizer) -> bool:
    """True when counts add up across whitespace (BERT-style WordPiece), so sums are exact."""
    return (isinstance(tokenizer.model, models.WordPiece)
            and isinstance(tokenizer.normalizer, normalizers.BertNormalizer | None)
            and isinstance(tokenizer.pre_tokenizer, pre_tokenizers.BertPreTokenizer
                           | pre_tokenizers.Whitespace | pre_tokenizers.WhitespaceSplit))


def _space_at(body: str, i: int) -> bool:
    return not 0 <= i < len(body) or body[i].isspace()


def _fit_title(article: Article, tokenizer: Tokenizer, max_tokens: int) -> str:
    """The headline, cut if the header alone would take more than half the budget."""
    head = header_line(article.title, article.source, article.published_at)
    extra = len(tokenizer.encode(head).ids) - max_tokens // 2
    if extra <= 0:
        return article.title
    offsets = tokenizer.encode(article.title, add_special_tokens=False).offsets
    keep = len(offsets) - extra
    return article.title[: offsets[keep][0]].rstrip() if keep > 0 else ""


def _pack(body: str, sentences: list[tuple[int, int]], starts: np.ndarray, budget: int,
          overlap: int) -> list[tuple[int, int]]:
    """Greedy chunk spans over sentence units; each next chunk repeats whole trailing units
    of at most ``overlap`` tokens (none when the last one is longer)."""
    units = _units(body, sentences, starts, budget)
    spans: list[tuple[int, int]] = []
    first = 0
    while first < len(units):
        total, nxt = 0, first
        while nxt < len(units) and total + units[nxt][2] <= budget:
            total, nxt = total + units[nxt][2], nxt + 1
        spans.append((units[first][0], units[nxt - 1][1]))
        if nxt == len(units):
            break
        back, repeated = nxt, 0
        while back - 1 > first and repeated + units[back - 1][2] <= overlap:
            back, repeated = back - 1, repeated + units[back - 1][2]
        while back < nxt and repeated + units[nxt][2] > budget:
            back, repeated = back + 1, repeated - units[back][2]
        first = back
    return spans


def _units(body: str, sentences: list[tuple[int, int]], starts: np.ndarray,
           budget: int) -> list[tuple[int, int, int]]:
    """(start, end, tokens) per sentence; one over budget is cut on words, then between tokens."""
    def count(a: int, b: int) -> int:
        return int(starts.searchsorted(b) - starts.searchsorted(a))

    units: list[tuple[int, int, int]] = []
    for a, b in sentences:
        if (tokens := count(a, b)) <= budget:
            units.append((a, b, tokens))
            continue
        for m in re.finditer(r"\S+", body[a:b]):
            wa, wb = a + m.start(), a + m.end()
            wt = count(wa, wb)
            if units and units[-1][0] >= a and units[-1][2] + wt <= budget:
                units[-1] = (units[-1][0], wb, units[-1][2] + wt)
            elif wt <= budget:
                units.append((wa, wb, wt))
            else:  # one "word" (a long URL, a table row) over the budget
                lo = int(starts.searchsorted(wa))
                cuts = [wa, *(int(starts[t]) for t in range(lo + budget, lo + wt, budget)), wb]
                units += [(x, y, count(x, y)) for x, y in itertools.pairwise(cuts)]
    return units
