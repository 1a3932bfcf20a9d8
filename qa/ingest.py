"""Files -> ``Article`` -> sentence-aligned ``Chunk`` with stable ids and exact body offsets.

Ids come from the path relative to the indexed folder (plus the url or title for JSON records),
so re-ingesting or moving the folder keeps every id, and BM25, Chroma and citations agree.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from qa.errors import IngestError, ModelError
from qa.models import Article, Chunk, IngestProblem, header_line

CHUNKER_VERSION = "2"  # bump when chunk boundaries change, so every article re-embeds
SUFFIXES = frozenset({".txt", ".md", ".html", ".htm", ".json", ".jsonl"})

_MB = 1024 * 1024
_Loaded = tuple[list[Article], list[IngestProblem]]
_FIELDS = {"source": "source", "date": "published_at", "published": "published_at",
           "url": "url", "link": "url", "author": "author", "by": "author"}
_HEADER = re.compile(r"\s*[*_]*(source|date|published|url|link|author|by)[*_]*\s*:[*_]*\s*(.*?)\s*",
                     re.I)
_TRAILER = re.compile(r"\s*(?:source\s*:\s*)?(?:read\s+(?:the\s+)?full\s+(?:article|story)"
                      r"|read\s+more|continue\s+reading)\W*", re.I)
_DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%B %d %Y", "%Y/%m/%d",
                 "%B %d, %Y %I:%M %p", "%b %d, %Y %I:%M %p", "%B %d, %Y %H:%M", "%b %d, %Y %H:%M")


# --- loading ---------------------------------------------------------------------------------


def load_articles(path: Path, *, max_article_mb: float) -> _Loaded:
    """Read a folder (recursively) or one file; a bad file or record is a problem, not a crash.

    Near-duplicates are folded (see ``fold_duplicates``). For .json/.jsonl the size limit applies
    to each record, since one file holds many articles.
    """
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(_walk(path), key=lambda f: f[1])
    elif path.suffix.lower() in SUFFIXES:
        files = [(path, path.name)]
    else:
        raise IngestError(f"{path}: unsupported file type {path.suffix or '(none)'!r}; "
                          f"use one of {', '.join(sorted(SUFFIXES))}")
    articles: list[Article] = []
    problems: list[IngestProblem] = []
    for file, rel in files:
        got, bad = _load_file(file, rel, limit_mb=max_article_mb)
        articles += got
        problems += bad
    return fold_duplicates(articles)[0], problems


def _walk(root: Path) -> Iterable[tuple[Path, str]]:
    """Supported files under root with their posix paths relative to it; hidden ones skipped."""
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            file = Path(folder) / name
            if not name.startswith(".") and file.suffix.lower() in SUFFIXES:
                yield file, file.relative_to(root).as_posix()


def _load_file(file: Path, rel: str, *, limit_mb: float) -> _Loaded:
    """Decode one file and parse it by suffix; every failure is one short problem line."""
    suffix = file.suffix.lower()
    try:
        size = file.stat().st_size
        if size > limit_mb * _MB and suffix not in (".json", ".jsonl"):
            return [], [IngestProblem(rel, _too_big(size, limit_mb))]
        data = file.read_bytes()
    except OSError as exc:
        return [], [IngestProblem(rel, f"cannot read file: {exc.strerror or exc}")]
    if b"\x00" in data[:8192]:
        return [], [IngestProblem(rel, "looks like a binary file (NUL byte); skipped")]
    try:
        text = data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        at = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        return [], [IngestProblem(rel, f"not valid UTF-8 (at byte {at}); re-save it as UTF-8")]
    if not text.strip():
        return [], [IngestProblem(rel, "empty file")]
    if suffix in (".json", ".jsonl"):
        return _parse_json(text, rel, jsonl=suffix == ".jsonl", limit_mb=limit_mb)
    try:
        article = _parse_html(text, rel) if suffix in (".html", ".htm") else _parse_text(text, rel)
    except ValueError as exc:
        return [], [IngestProblem(rel, str(exc))]
    if article is None or not article.body:
        return [], [IngestProblem(rel, "empty article (no body text)")]
    return [article], []


def _too_big(size: float, limit_mb: float) -> str:
    return f"{size / _MB:.3g} MB is over the QA_MAX_ARTICLE_MB limit of {limit_mb:g} MB"


def _parse_text(text: str, rel: str) -> Article:
    """Headline, then optional ``Key: value`` header lines, then the body minus scrape trailers."""
    lines = text.split("\n")
    i = next(n for n, line in enumerate(lines) if line.strip())
    title = lines[i].strip()
    title = title.lstrip("#").strip() if rel.lower().endswith(".md") else title
    fields: dict[str, str] = {}
    i += 1
    while i < len(lines):
        match = _HEADER.fullmatch(lines[i])
        if lines[i].strip() and (not match or _TRAILER.fullmatch(lines[i])):
            break
        if match:
            fields.setdefault(_FIELDS[match[1].lower()], match[2])
        i += 1
    end = len(lines)
    while end > i and (not lines[end - 1].strip() or _TRAILER.fullmatch(lines[end - 1])):
        end -= 1
    return Article(id=rel, title=title, body="\n".join(lines[i:end]).strip(), path=rel,
                   source=fields.get("source", ""), author=fields.get("author", ""),
                   published_at=parse_date(fields.get("published_at", "")),
                   url=fields.get("url", ""))


def _parse_html(text: str, rel: str) -> Article | None:
    """Main text and metadata by trafilatura, which knows boilerplate better than regexes do."""
    import trafilatura  # heavy; only needed when a folder has HTML

    try:
        doc = trafilatura.bare_extraction(text, with_metadata=True, favor_recall=True)
    except Exception as exc:  # lxml and trafilatura raise many kinds on broken markup
        raise ValueError(f"cannot extract text from HTML: {exc}") from None
    if doc is None:
        return None
    meta = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    return Article(id=rel, title=_str(meta.get("title")) or Path(rel).stem,
                   body=_str(meta.get("text")), path=rel, source=_str(meta.get("sitename")),
                   author=_str(meta.get("author")), published_at=parse_date(_str(meta.get("date"))),
                   url=_str(meta.get("url")))


def _parse_json(text: str, rel: str, *, jsonl: bool, limit_mb: float) -> _Loaded:
    """Records of a .json list (or {"articles": [...]}) or of a .jsonl; bad records are skipped."""
    records: list[tuple[int, Any]] = []
    if jsonl:
        for n, line in enumerate(text.split("\n"), start=1):
            try:
                records += [(n, json.loads(line))] if line.strip() else []
            except json.JSONDecodeError as exc:
                records.append((n, exc))
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            return [], [IngestProblem(rel, f"not valid JSON ({where}): {exc.msg}")]
        if isinstance(data, dict):
            data = data["articles"] if isinstance(data.get("articles"), list) else [data]
        if not isinstance(data, list):
            return [], [IngestProblem(rel, 'expected a list of articles or {"articles": [...]}')]
        records = list(enumerate(data, start=1))
    problems: list[IngestProblem] = []
    articles: list[Article] = []
    seen: dict[str, int] = {}
    for n, rec in records:
        title, body = (_str(rec.get("title")), _str(rec.get("body") or rec.get("text"))
                       ) if isinstance(rec, dict) else ("", "")
        size = len(body.encode())
        reason = (f"not valid JSON: {rec.msg}" if isinstance(rec, json.JSONDecodeError)
                  else "record is not a JSON object" if not isinstance(rec, dict)
                  else "record has no title and no body" if not title and not body
                  else "empty article (no body text)" if not body
                  else _too_big(size, limit_mb) if size > limit_mb * _MB else "")
        if reason:
            problems.append(IngestProblem(f"{rel}#{n}", reason))
            continue
        url = _str(rec.get("url"))
        title = title or body.split("\n", 1)[0][:100].strip()
        key = f"{rel}#{url or title}"
        seen[key] = seen.get(key, 0) + 1
        articles.append(Article(
            id=key if seen[key] == 1 else f"{key}~{seen[key]}", title=title, body=body, path=rel,
            source=_str(rec.get("source")), author=_str(rec.get("author")),
            published_at=parse_date(_str(rec.get("published_at") or rec.get("date"))), url=url))
    return articles, problems


def _str(value: object) -> str:
    """JSON and metadata values as clean text; null and containers become ``""``."""
    return "" if value is None or isinstance(value, dict | list) else str(value).strip()


def parse_date(raw: str) -> str:
    """ISO 8601 (a bare date when no time was given) so dates sort and filter; else ``raw``."""
    raw = raw.strip()
    if not raw:
        return ""
    try:
        dt = datetime.fromisoformat(raw)
        timed = re.search(r"\d[T ]\d", raw)
        return dt.isoformat(timespec="seconds") if timed else dt.date().isoformat()
    except ValueError:
        pass
    clean = re.sub(r"\bSept\b", "Sep", re.sub(r"(?<=[A-Za-z])\.", "", raw))
    for fmt in _DATE_FORMATS:
        try:
            dt = datetime.strptime(clean, fmt)
        except ValueError:
            continue
        return dt.isoformat() if "%M" in fmt else dt.date().isoformat()
    try:
        return parsedate_to_datetime(raw).isoformat(timespec="seconds")  # RFC 2822, as in feeds
    except (TypeError, ValueError, IndexError):
        return raw


# --- near-duplicates -------------------------------------------------------------------------

_WORD = re.compile(r"\w+")
_PERMS, _ROWS = 64, 4  # 16 bands of 4 rows: a pair at Jaccard 0.8 is a candidate 99.98% of times
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
    articles: Sequence[Article], *, threshold: float = 0.8
) -> tuple[list[Article], int]:
    """Index a wire story once: MinHash + LSH bands find candidates, exact Jaccard confirms them.

    Per group of articles whose word 5-shingles overlap >= ``threshold``, the one with the
    smallest id is kept with ``duplicates`` naming the others. Returns the kept articles in input
    order and how many were folded away.
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
    parent = list(range(len(articles)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = i = parent[parent[i]]
        return i

    for a, b in sorted(pairs):
        inter = len(np.intersect1d(sets[a], sets[b], assume_unique=True))
        if inter >= threshold * (len(sets[a]) + len(sets[b]) - inter):
            parent[root(a)] = root(b)
    groups: dict[int, list[int]] = {}
    for i in range(len(articles)):
        groups.setdefault(root(i), []).append(i)
    kept: dict[int, Article] = {}
    for members in groups.values():
        first = min(members, key=lambda i: articles[i].id)
        dups = {d for i in members if i != first for d in (articles[i].id, *articles[i].duplicates)}
        art = articles[first]
        kept[first] = dataclasses.replace(art, duplicates=tuple(sorted(dups.union(art.duplicates))))
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
            result[i] = [Chunk(id=f"{art.id}:{n:04d}", article_id=art.id, index=n,
                               text=art.body[a:b], start=a, end=b, title=titles[i],
                               source=art.source, published_at=art.published_at, url=art.url,
                               path=art.path, **_continued_table(art.body, tables[i], a))
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
