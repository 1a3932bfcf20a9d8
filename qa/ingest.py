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

CHUNKER_VERSION = "1"  # bump when chunk boundaries change, so every article re-embeds
TEXT_SUFFIXES = frozenset({".txt", ".md"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
JSON_SUFFIXES = frozenset({".json", ".jsonl"})
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES

_MB = 1024 * 1024
_HEADER_KEYS = {"source": "source", "date": "published_at", "published": "published_at",
                "url": "url", "link": "url", "author": "author", "by": "author"}
_HEADER_RE = re.compile(
    r"\s*[*_]*(source|date|published|url|link|author|by)[*_]*\s*:[*_]*\s*(.*?)\s*$", re.I
)
_TRAILER_RE = re.compile(
    r"\s*(?:source\s*:\s*)?(?:read\s+(?:the\s+)?full\s+(?:article|story)|read\s+more"
    r"|continue\s+reading)\W*$", re.I
)
_DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%B %d %Y", "%Y/%m/%d",
                 "%B %d, %Y %I:%M %p", "%b %d, %Y %I:%M %p", "%B %d, %Y %H:%M", "%b %d, %Y %H:%M")


# --- loading -----------------------------------------------------------------------------


def load_articles(
    path: Path, *, max_article_mb: float
) -> tuple[list[Article], list[IngestProblem]]:
    """Read a folder (recursively) or one file; bad files become problems, not exceptions."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path}: no such file or folder")
    if path.is_dir():
        files = _walk(path)
    elif path.suffix.lower() in SUFFIXES:
        files = [(path, path.name)]
    else:
        raise IngestError(
            f"{path}: unsupported file type {path.suffix or '(none)'!r}; "
            f"use one of {', '.join(sorted(SUFFIXES))}"
        )
    articles: list[Article] = []
    problems: list[IngestProblem] = []
    for file, rel in files:
        got, bad = _load_file(file, rel, max_bytes=max_article_mb * _MB, limit_mb=max_article_mb)
        articles.extend(got)
        problems.extend(bad)
    kept, _ = fold_duplicates(articles)
    return kept, problems


def _walk(root: Path) -> list[tuple[Path, str]]:
    """Supported files under root, hidden files and folders skipped, in sorted relative order."""
    found: list[tuple[Path, str]] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            file = Path(folder) / name
            if not name.startswith(".") and file.suffix.lower() in SUFFIXES:
                found.append((file, file.relative_to(root).as_posix()))
    return sorted(found, key=lambda f: f[1])


def _load_file(
    file: Path, rel: str, *, max_bytes: float, limit_mb: float
) -> tuple[list[Article], list[IngestProblem]]:
    """Decode one file and dispatch on its suffix; every failure is one short problem line."""
    suffix = file.suffix.lower()

    def problem(message: str) -> tuple[list[Article], list[IngestProblem]]:
        return [], [IngestProblem(rel, message)]

    try:
        size = file.stat().st_size
        if size > max_bytes and suffix not in JSON_SUFFIXES:  # JSON: the limit is per record
            return problem(_too_big(size, limit_mb))
        data = file.read_bytes()
    except OSError as exc:
        return problem(f"cannot read file: {exc.strerror or exc}")
    if b"\x00" in data[:8192]:
        return problem("looks like a binary file (NUL byte); skipped")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
        return problem(f"not valid UTF-8 (at byte {exc.start + bom}); re-save it as UTF-8")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        return problem("empty file")
    if suffix in JSON_SUFFIXES:
        return _parse_json(text, rel, jsonl=suffix == ".jsonl", max_bytes=max_bytes,
                           limit_mb=limit_mb)
    article = _parse_html(text, rel) if suffix in HTML_SUFFIXES else _parse_text(text, rel, suffix)
    if article is None or not article.body:
        return problem("empty article (no body text)")
    return [article], []


def _too_big(size: float, limit_mb: float) -> str:
    return f"{size / _MB:.3g} MB is over the QA_MAX_ARTICLE_MB limit of {limit_mb:g} MB"


def _parse_text(text: str, rel: str, suffix: str) -> Article | None:
    """Headline, then optional ``Key: value`` header lines, then the body minus scrape trailers."""
    lines = text.split("\n")
    i = next(n for n, line in enumerate(lines) if line.strip())
    title = lines[i].strip()
    if suffix == ".md":
        title = title.lstrip("#").strip()
    fields: dict[str, str] = {}
    i += 1
    while i < len(lines):
        match = _HEADER_RE.fullmatch(lines[i])
        if lines[i].strip() and (match is None or _TRAILER_RE.fullmatch(lines[i])):
            break
        if match:
            fields.setdefault(_HEADER_KEYS[match[1].lower()], match[2])
        i += 1
    end = len(lines)
    while end > i and (not lines[end - 1].strip() or _TRAILER_RE.fullmatch(lines[end - 1])):
        end -= 1
    body = "\n".join(lines[i:end]).strip()
    return Article(id=rel, title=title, body=body, path=rel, source=fields.get("source", ""),
                   author=fields.get("author", ""),
                   published_at=parse_date(fields.get("published_at", "")),
                   url=fields.get("url", ""))


def _parse_html(text: str, rel: str) -> Article | None:
    """Main text and metadata by trafilatura, which knows boilerplate better than regexes do."""
    import trafilatura  # heavy import, only needed when a folder has HTML

    doc = trafilatura.bare_extraction(text, with_metadata=True, include_comments=False,
                                      favor_recall=True)
    if doc is None:
        return None
    meta = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    body = (meta.get("text") or "").strip()
    title = (meta.get("title") or "").strip() or Path(rel).stem
    return Article(id=rel, title=title, body=body, path=rel, source=_str(meta.get("sitename")),
                   author=_str(meta.get("author")), published_at=parse_date(_str(meta.get("date"))),
                   url=_str(meta.get("url")))


def _parse_json(
    text: str, rel: str, *, jsonl: bool, max_bytes: float, limit_mb: float
) -> tuple[list[Article], list[IngestProblem]]:
    """Records of a .json list (or {"articles": [...]}) or a .jsonl; bad records are skipped."""
    problems: list[IngestProblem] = []
    records: list[tuple[int, Any]] = []
    if jsonl:
        for n, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                records.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                problems.append(IngestProblem(f"{rel}#{n}", f"not valid JSON: {exc.msg}"))
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            return [], [IngestProblem(rel, f"not valid JSON ({where}): {exc.msg}")]
        if isinstance(data, dict) and isinstance(data.get("articles"), list):
            data = data["articles"]
        elif isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            return [], [IngestProblem(rel, 'expected a list of articles or {"articles": [...]}')]
        records = list(enumerate(data, start=1))
    articles: list[Article] = []
    seen: dict[str, int] = {}
    for n, rec in records:
        where = f"{rel}#{n}"
        if not isinstance(rec, dict):
            problems.append(IngestProblem(where, "record is not a JSON object"))
            continue
        title = _str(rec.get("title"))
        body = _str(rec.get("body") or rec.get("text"))
        if not title and not body:
            problems.append(IngestProblem(where, "record has no title and no body"))
            continue
        if not body:
            problems.append(IngestProblem(where, "empty article (no body text)"))
            continue
        if len(body.encode()) > max_bytes:
            problems.append(IngestProblem(where, _too_big(len(body.encode()), limit_mb)))
            continue
        url = _str(rec.get("url"))
        title = title or body.split("\n", 1)[0][:100].strip()
        key = f"{rel}#{url or title}"
        seen[key] = seen.get(key, 0) + 1
        articles.append(Article(
            id=key if seen[key] == 1 else f"{key}~{seen[key]}", title=title, body=body, path=rel,
            source=_str(rec.get("source")), author=_str(rec.get("author")),
            published_at=parse_date(_str(rec.get("published_at") or rec.get("date"))), url=url,
        ))
    return articles, problems


def _str(value: object) -> str:
    """JSON and metadata values as clean text; null and non-text become ``""``."""
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()


def parse_date(raw: str) -> str:
    """ISO 8601 (date only when no time was given) so dates sort and filter; else the raw text."""
    raw = raw.strip()
    if not raw:
        return ""
    try:
        dt = datetime.fromisoformat(raw)
        return dt.isoformat(timespec="seconds") if re.search(r"\d[T ]\d", raw) else dt.date().isoformat()
    except ValueError:
        pass
    clean = re.sub(r"\b(Sept)\b", "Sep", re.sub(r"(?<=[A-Za-z])\.", "", raw))
    for fmt in _DATE_FORMATS:
        try:
            dt = datetime.strptime(clean, fmt)
        except ValueError:
            continue
        return dt.date().isoformat() if "%H" not in fmt and "%I" not in fmt else dt.isoformat()
    try:
        return parsedate_to_datetime(raw).isoformat(timespec="seconds")  # RFC 2822 (feeds)
    except (TypeError, ValueError, IndexError):
        return raw


# --- near-duplicates ---------------------------------------------------------------------

_SHINGLE = 5
_WORD = re.compile(r"\w+")
_PERMS, _BANDS = 64, 16  # 16 bands of 4 rows: a pair at Jaccard 0.8 is a candidate 99.98%
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
_RNG = np.random.default_rng(20231127)
_PERM_A = _RNG.integers(1, 2**63, _PERMS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_PERM_B = _RNG.integers(0, 2**63, _PERMS, dtype=np.uint64)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads multiply-add hashes over all 64 bits."""
    h = h ^ (h >> np.uint64(31))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    return h ^ (h >> np.uint64(29))


def _shingles(ids: np.ndarray) -> np.ndarray:
    """Sorted unique 64-bit hashes of word-id 5-grams (one shingle for shorter texts)."""
    k = min(_SHINGLE, len(ids))
    h = np.zeros(len(ids) - k + 1 if k else 0, dtype=np.uint64)
    for j in range(k):
        h = _mix(h * np.uint64(0x9E3779B97F4A7C15) + ids[j : len(ids) - k + 1 + j])
    return np.unique(h)


def fold_duplicates(
    articles: Sequence[Article], *, threshold: float = 0.8
) -> tuple[list[Article], int]:
    """Index a wire story once: MinHash+LSH finds candidates, exact shingle Jaccard confirms.

    The article with the smallest id of each group is kept with ``duplicates`` naming the others;
    returns the kept articles in input order and how many were folded away.
    """
    words = [_WORD.findall(a.body.lower()) for a in articles]
    vocab = {w: n for n, w in enumerate(dict.fromkeys(itertools.chain.from_iterable(words)), 1)}
    sets = [_shingles(np.fromiter(map(vocab.__getitem__, w), np.uint64, len(w))) for w in words]
    sigs = np.full((len(articles), _PERMS), _MASK, dtype=np.uint64)
    for i, s in enumerate(sets):
        if len(s):
            sigs[i] = (s[None, :] * _PERM_A[:, None] + _PERM_B[:, None]).min(axis=1)
    rows = _PERMS // _BANDS
    pairs: set[tuple[int, int]] = set()
    for band in range(_BANDS):
        buckets: dict[bytes, list[int]] = {}
        for i in range(len(articles)):
            if len(sets[i]):
                buckets.setdefault(sigs[i, band * rows : (band + 1) * rows].tobytes(), []).append(i)
        for members in buckets.values():
            pairs.update((a, b) for n, a in enumerate(members) for b in members[n + 1 :])
    parent = list(range(len(articles)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in sorted(pairs):
        inter = len(np.intersect1d(sets[a], sets[b], assume_unique=True))
        if inter / (len(sets[a]) + len(sets[b]) - inter) >= threshold:
            parent[root(a)] = root(b)
    groups: dict[int, list[int]] = {}
    for i in range(len(articles)):
        groups.setdefault(root(i), []).append(i)
    keep: dict[int, Article] = {}
    for members in groups.values():
        first = min(members, key=lambda i: articles[i].id)
        others = [articles[i] for i in members if i != first]
        dups = {d for a in others for d in (a.id, *a.duplicates)} | set(articles[first].duplicates)
        keep[first] = dataclasses.replace(articles[first], duplicates=tuple(sorted(dups)))
    kept = [keep[i] if i in keep and keep[i].duplicates != articles[i].duplicates
            else articles[i] for i in sorted(keep)]
    return kept, len(articles) - len(kept)


# --- chunking ----------------------------------------------------------------------------

_ABBREV = frozenset(
    ["mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "gen", "gov", "sen", "rep", "lt", "col", "sgt", "capt", "cmdr", "adm", "maj", "rev", "hon", "pres", "inc", "ltd", "co", "corp", "bros", "vs", "etc", "approx", "dept", "est", "fig", "no", "nos", "vol", "ca", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mt", "ft", "op"]
)
_END_RE = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)")
_OPENERS = "\"'“‘(["


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of sentences (whitespace trimmed); newlines always end a sentence."""
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        seg, base, start = line.group(), line.start(), 0
        cuts: list[int] = []
        for m in _END_RE.finditer(seg):
            rest = seg[m.end() :].lstrip()
            if not rest or rest[0].islower():
                continue
            if m.group().rstrip("\"'”’»)]") == ".":
                before = seg[start : m.start()].split()
                word = before[-1].lstrip(_OPENERS) if before else ""
                if (word.lower() in _ABBREV or re.fullmatch(r"[A-Z]|(?:[A-Za-z]\.)+[A-Za-z]", word)
                        or (word.lower() == "no" and rest[0].isdigit())):
                    continue
            cuts.append(m.end())
            start = m.end()
        for a, b in zip([0, *cuts], [*cuts, len(seg)], strict=True):
            piece = seg[a:b]
            lead = len(piece) - len(piece.lstrip())
            if piece.strip():
                spans.append((base + a + lead, base + a + len(piece.rstrip())))
    return spans


def load_tokenizer(model_dir: Path) -> Tokenizer:
    """The embedder's own word-piece tokenizer, untruncated, so chunk budgets count exactly."""
    file = Path(model_dir) / "tokenizer.json"
    if not file.is_file():
        raise ModelError(f"{file}: no tokenizer.json; is {model_dir} a sentence-transformers model?")
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
           article.author, article.published_at, article.url, article.path,
           list(article.duplicates)]
    return hashlib.sha256(json.dumps(key, ensure_ascii=False).encode()).hexdigest()


def chunk_article(
    article: Article, *, tokenizer: Tokenizer, max_tokens: int = 256, overlap: int = 32
) -> list[Chunk]:
    """One article's chunks; see ``chunk_articles``."""
    return chunk_articles([article], tokenizer=tokenizer, max_tokens=max_tokens, overlap=overlap)


def chunk_articles(
    articles: Iterable[Article], *, tokenizer: Tokenizer, max_tokens: int = 256, overlap: int = 32
) -> list[Chunk]:
    """Sentence-aligned chunks whose ``embed_text()`` is at most ``max_tokens`` word-pieces.

    The count includes the header line and [CLS]/[SEP], so the embedder never truncates a chunk.
    Each body is tokenized once and spans are counted from its token offsets; chunks where that
    sum may be inexact (a cut inside a word, or a tokenizer that is not WordPiece over whitespace)
    are re-counted, and their article re-packed tighter if one ran over.
    """
    articles = list(articles)
    if tokenizer.truncation or tokenizer.padding:  # counts must be of the whole text
        tokenizer = Tokenizer.from_str(tokenizer.to_str())
        tokenizer.no_truncation()
        tokenizer.no_padding()
    exact = _additive(tokenizer)
    titles = [_fit_title(a, tokenizer, max_tokens) for a in articles]
    heads = [header_line(t, a.source, a.published_at) for t, a in zip(titles, articles, strict=True)]
    budgets = [max_tokens - len(e.ids) for e in tokenizer.encode_batch(heads)]
    encodings = tokenizer.encode_batch([a.body for a in articles], add_special_tokens=False)
    starts = [np.sort(np.fromiter(itertools.chain.from_iterable(e.offsets), np.int64)[::2])
              for e in encodings]
    sentences = [split_sentences(a.body) for a in articles]
    result: dict[int, list[Chunk]] = {}
    todo = range(len(articles))
    while todo:
        for i in todo:
            if budgets[i] < 1:
                raise IngestError(f"{articles[i].id}: its header leaves no room in {max_tokens} tokens")
            spans = _pack(articles[i].body, sentences[i], starts[i], budgets[i], overlap)
            result[i] = [_chunk(articles[i], titles[i], n, a, b) for n, (a, b) in enumerate(spans)]
        check = [(i, c) for i in todo for c in result[i]
                 if not exact or not _at_spaces(articles[i].body, c.start, c.end)]
        over: dict[int, int] = {}
        for (i, _), enc in zip(check, tokenizer.encode_batch([c.embed_text() for _, c in check]),
                               strict=True):
            if len(enc.ids) > max_tokens:
                over[i] = max(over.get(i, 0), len(enc.ids) - max_tokens)
        for i, extra in over.items():
            budgets[i] -= extra
        todo = sorted(over)
    return [c for i in range(len(articles)) for c in result[i]]


def _additive(tokenizer: Tokenizer) -> bool:
    """True when token counts add up across whitespace (BERT-style WordPiece), so sums are exact."""
    return (isinstance(tokenizer.model, models.WordPiece)
            and isinstance(tokenizer.normalizer, normalizers.BertNormalizer | None)
            and isinstance(tokenizer.pre_tokenizer, pre_tokenizers.BertPreTokenizer
                           | pre_tokenizers.Whitespace | pre_tokenizers.WhitespaceSplit))


def _at_spaces(body: str, start: int, end: int) -> bool:
    return (start == 0 or body[start - 1].isspace()) and (end == len(body) or body[end].isspace())


def _fit_title(article: Article, tokenizer: Tokenizer, max_tokens: int) -> str:
    """The headline, cut if the header alone would take more than half the budget."""
    head = header_line(article.title, article.source, article.published_at)
    extra = len(tokenizer.encode(head).ids) - max_tokens // 2
    if extra <= 0:
        return article.title
    offsets = tokenizer.encode(article.title, add_special_tokens=False).offsets
    keep = len(offsets) - extra
    return article.title[: offsets[keep][0]].rstrip() if keep > 0 else ""


def _chunk(article: Article, title: str, n: int, start: int, end: int) -> Chunk:
    return Chunk(id=f"{article.id}:{n:04d}", article_id=article.id, index=n,
                 text=article.body[start:end], start=start, end=end, title=title,
                 source=article.source, published_at=article.published_at, url=article.url,
                 path=article.path)


def _units(
    body: str, sentences: list[tuple[int, int]], starts: np.ndarray, budget: int
) -> list[tuple[int, int, int]]:
    """(start, end, tokens) of sentences; one over budget is cut on word, then token, bounds."""
    def count(a: int, b: int) -> int:
        return int(starts.searchsorted(b) - starts.searchsorted(a))

    units: list[tuple[int, int, int]] = []
    for a, b in sentences:
        tokens = count(a, b)
        if tokens <= budget:
            units.append((a, b, tokens))
            continue
        pieces: list[tuple[int, int, int]] = []
        for m in re.finditer(r"\S+", body[a:b]):
            wa, wb = a + m.start(), a + m.end()
            wt = count(wa, wb)
            if pieces and pieces[-1][2] + wt <= budget:
                pieces[-1] = (pieces[-1][0], wb, pieces[-1][2] + wt)
            elif wt <= budget:
                pieces.append((wa, wb, wt))
            else:  # one "word" (a URL, a table row) longer than the budget: cut between tokens
                lo = int(starts.searchsorted(wa))
                cuts = [wa, *(int(starts[t]) for t in range(lo + budget, lo + wt, budget)), wb]
                pieces += [(x, y, count(x, y)) for x, y in itertools.pairwise(cuts)]
        units.extend(pieces)
    return units


def _pack(
    body: str, sentences: list[tuple[int, int]], starts: np.ndarray, budget: int, overlap: int
) -> list[tuple[int, int]]:
    """Greedy chunk spans; each next chunk repeats whole trailing units of <= overlap tokens."""
    units = _units(body, sentences, starts, budget)
    spans: list[tuple[int, int]] = []
    first = 0
    while first < len(units):
        total, nxt = 0, first
        while nxt < len(units) and total + units[nxt][2] <= budget:
            total += units[nxt][2]
            nxt += 1
        spans.append((units[first][0], units[nxt - 1][1]))
        if nxt == len(units):
            break
        back, repeated = nxt, 0
        while back - 1 > first and repeated + units[back - 1][2] <= overlap:
            back -= 1
            repeated += units[back][2]
        while back < nxt and repeated + units[nxt][2] > budget:
            repeated -= units[back][2]
            back += 1
        first = back
    return spans
