"""Articles -> near-duplicates folded -> sentence-aligned ``Chunk`` with stable ids and exact
body offsets. Reading and parsing files is ``qa.sources.formats``.

Ids come from the path relative to the indexed folder (plus the url or title for JSON records),
so re-ingesting or moving the folder keeps every id, and BM25, Chroma and citations agree.
"""

from __future__ import annotations

import dataclasses
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
from qa.models import Article, Chunk, IngestProblem, chunk_id, header_line
from qa.sources.formats import read_articles

CHUNKER_VERSION = "2"  # bump when chunk boundaries change, so every article re-embeds


def load_articles(
    path: Path, *, max_article_mb: float, max_pdf_mb: float = 50.0
) -> tuple[list[Article], list[IngestProblem]]:
    """``qa.sources.formats.read_articles`` with near-duplicates folded (see
    ``fold_duplicates``)."""
    articles, problems = read_articles(path, max_article_mb=max_article_mb, max_pdf_mb=max_pdf_mb)
    return fold_duplicates(articles)[0], problems


# --- near-duplicates -------------------------------------------------------------------------

_WORD = re.compile(r"\w+")
# 32 bands of 2 rows: a pair is a candidate with probability 1 - (1 - J^2)^32, 99.86% at the
# Jaccard of 0.43 that the loosest pair folded (90% of a text half as long) can have.
_PERMS, _ROWS = 64, 2
_MIN_RATIO = 0.5  # a copy has at least half the words of the fuller one, else it only quotes it
_RNG = np.random.default_rng(20231127)
_PERM_A = _RNG.integers(0, 2**63, _PERMS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_PERM_B = _RNG.integers(0, 2**63, _PERMS, dtype=np.uint64)


def _shingles(ids: np.ndarray, size: int = 5) -> np.ndarray:
    """Sorted unique 64-bit hashes of word-id n-grams (one shingle for shorter texts)."""
    k = min(size, len(ids))
    h = np.zeros(len(ids) - k + 1 if k else 0, dtype=np.uint64)
    for j in range(k):
        h = h * np.uint64(0x9E3779B97F4A7C15) + ids[j : len(ids) - k + 1 + j]
        h = (h ^ (h >> np.uint64(31))) * np.uint64(0xBF58476D1CE4E5B9)  # splitmix64 finaliser
        h ^= h >> np.uint64(29)
    return np.unique(h)


def fold_duplicates(
    articles: Sequence[Article], *, threshold: float = 0.9
) -> tuple[list[Article], int]:
    """Index a wire story once: MinHash + LSH bands find candidates, exact overlap confirms them.

    Two articles are copies when at least ``threshold`` of the shorter one's word 5-shingles
    are in the longer one and it has at least half as many: an outlet's edit of a few words,
    a sentence added or the story trimmed still folds, an article quoting a paragraph of
    another does not. Per group of copies the fullest (most shingles; then the smallest id) is
    kept, with ``duplicates`` naming the others and ``also_in`` their outlets. Returns the
    kept articles in input order and how many were folded away.
    """
    words = [_WORD.findall(a.body.lower()) for a in articles]
    vocab = {w: n for n, w in enumerate(dict.fromkeys(itertools.chain.from_iterable(words)), 1)}
    sets = [_shingles(np.fromiter(map(vocab.__getitem__, w), np.uint64, len(w))) for w in words]
    sigs = [(np.multiply.outer(_PERM_A, s) + _PERM_B[:, None]).min(axis=1) if len(s) else None
            for s in sets]  # row p of the signature: min over shingles of (a_p * s + b_p) mod 2^64
    pairs: set[tuple[int, int]] = set()
    for band in range(0, _PERMS, _ROWS):
        buckets: dict[bytes, list[int]] = {}
        for i, sig in enumerate(sigs):
            if sig is not None:
                buckets.setdefault(sig[band : band + _ROWS].tobytes(), []).append(i)
        pairs.update(itertools.chain.from_iterable(
            itertools.combinations(b, 2) for b in buckets.values() if len(b) > 1))
    copies: list[tuple[float, int, int]] = []
    for a, b in sorted(pairs):
        small, large = sorted((len(sets[a]), len(sets[b])))
        inter = len(np.intersect1d(sets[a], sets[b], assume_unique=True))
        if small >= _MIN_RATIO * large and inter >= threshold * small:
            copies.append((inter / (small + large - inter), a, b))
    parent = list(range(len(articles)))
    sizes = {i: (len(s), len(s)) for i, s in enumerate(sets)}  # root -> (fewest, most) shingles

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = i = parent[parent[i]]
        return i

    # Closest copies join first, and a group never spans more than _MIN_RATIO in size, so a
    # chain of ever shorter excerpts does not fold a quote into the story it quotes.
    for _jaccard, a, b in sorted(copies, reverse=True):
        ra, rb = root(a), root(b)
        low, high = min(sizes[ra][0], sizes[rb][0]), max(sizes[ra][1], sizes[rb][1])
        if ra != rb and low >= _MIN_RATIO * high:
            parent[ra] = rb
            sizes[rb] = (low, high)
    groups: dict[int, list[int]] = {}
    for i in range(len(articles)):
        groups.setdefault(root(i), []).append(i)
    kept: dict[int, Article] = {}
    for members in groups.values():
        first = min(members, key=lambda i: (-len(sets[i]), articles[i].id))
        dups = {d for i in members if i != first for d in (articles[i].id, *articles[i].duplicates)}
        art = articles[first]
        outlets = {o for i in members for o in (articles[i].source, *articles[i].also_in) if o}
        kept[first] = dataclasses.replace(art, duplicates=tuple(sorted(dups.union(art.duplicates))),
                                          also_in=tuple(sorted(outlets - {art.source})))
    return [kept[i] for i in sorted(kept)], len(articles) - len(kept)


# --- chunking --------------------------------------------------------------------------------

_ABBREV = frozenset({
    "mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "gen", "gov", "sen", "rep", "lt",
    "col", "sgt", "capt", "cmdr", "adm", "maj", "rev", "hon", "pres", "inc", "ltd", "co", "corp",
    "bros", "vs", "etc", "approx", "dept", "est", "fig", "nos", "vol", "ca", "jan", "feb", "mar",
    "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mt", "ft", "op"})
_TABLE_ROW = re.compile(r"[ \t]*\|.*\|[ \t]*$")  # a markdown table row: | cell | cell |
_END = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)")
_NEXT = re.compile(r"\s*(\S)")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of sentences, whitespace trimmed; a newline always ends a sentence."""
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        seg, base, cuts = line.group(), line.start(), [0]
        if _TABLE_ROW.match(seg):  # a table row is one unit: its cells mean nothing apart
            lead = len(seg) - len(seg.lstrip())
            spans.append((base + lead, base + len(seg.rstrip())))
            continue
        for m in _END.finditer(seg):
            nxt = _NEXT.match(seg, m.end())
            if not nxt or nxt[1].islower():
                continue
            before = seg[max(cuts[-1], m.start() - 30) : m.start()].split()
            word = before[-1].lstrip("\"'“‘([") if before else ""
            if m.group().rstrip("\"'”’»)]") == "." and (
                    word.lower() in _ABBREV or re.fullmatch(r"[A-Z]|(?:[A-Za-z]\.)+[A-Za-z]", word)
                    or word.lower() == "no" and nxt[1].isdigit()):
                continue  # "Mr. Smith", "J. K. Rowling", "U.S. Army", "No. 5"
            cuts.append(m.end())
        for a, b in itertools.pairwise([*cuts, len(seg)]):
            piece = seg[a:b]
            if piece.strip():
                lead = len(piece) - len(piece.lstrip())
                spans.append((base + a + lead, base + a + len(piece.rstrip())))
    return spans


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


def table_blocks(body: str) -> list[tuple[int, int, int]]:
    """Markdown tables in ``body``: (header row start, header row end, table end) each."""
    blocks: list[tuple[int, int, int]] = []
    for m in re.finditer(r"(?:^[ \t]*\|.*\|[ \t]*(?:\n|$))+", body, re.M):
        first = body[m.start() : m.end()].split("\n", 1)[0]
        lead = len(first) - len(first.lstrip())
        blocks.append((m.start() + lead, m.start() + len(first.rstrip()), m.end()))
    return blocks


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
