"""Articles from files with near-duplicates folded: a wire story that several outlets carry is
indexed once, naming the outlets that also ran it. Reading and parsing files is
``qa.sources.formats``.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa.models import Article, IngestProblem
from qa.sources.formats import read_articles


def load_articles(
    path: Path, *, max_article_mb: float, max_pdf_mb: float = 50.0
) -> tuple[list[Article], list[IngestProblem]]:
    """``qa.sources.formats.read_articles`` with near-duplicates folded (see
    ``fold_duplicates``)."""
    articles, problems = read_articles(path, max_article_mb=max_article_mb, max_pdf_mb=max_pdf_mb)
    return fold_duplicates(articles)[0], problems


_WORD = re.compile(r"\w+")
# Candidates: MinHash over word 3-shingles, 32 bands of 2 rows. A pair is a candidate with
# probability 1 - (1 - J^2)^32: 96% at J = 0.32, the 3-shingle Jaccard of a 60-word story and
# a copy with five two-word edits, and 99.9% at the 0.43 of a text half as long.
_PERMS, _ROWS, _SHINGLE = 64, 2, 3
_MIN_RATIO = 0.5  # a copy has at least half the words of the fuller one, else it only quotes it
_MIN_SHINGLES = 0.4  # a cheap bound before aligning words: 3-shingles of the shorter text held
_RNG = np.random.default_rng(20231127)
_PERM_A = _RNG.integers(0, 2**63, _PERMS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_PERM_B = _RNG.integers(0, 2**63, _PERMS, dtype=np.uint64)


def _shingles(ids: np.ndarray, size: int = _SHINGLE) -> np.ndarray:
    """Sorted unique 64-bit hashes of word-id n-grams (one shingle for shorter texts)."""
    k = min(size, len(ids))
    h = np.zeros(len(ids) - k + 1 if k else 0, dtype=np.uint64)
    for j in range(k):
        h = h * np.uint64(0x9E3779B97F4A7C15) + ids[j : len(ids) - k + 1 + j]
        h = (h ^ (h >> np.uint64(31))) * np.uint64(0xBF58476D1CE4E5B9)  # splitmix64 finaliser
        h ^= h >> np.uint64(29)
    return np.unique(h)


def aligned_share(shorter: Sequence[int], longer: Sequence[int]) -> float:
    """The share (0-1) of ``shorter``'s words that ``longer`` holds in the same order: the
    matching blocks of ``difflib.SequenceMatcher`` over word ids, without its junk heuristic.
    Each edited, added or cut word costs one word, where a word n-gram measure loses n
    shingles per edit: five edits in a 60-word story leave 92% aligned, 58% of its 5-shingles."""
    if not shorter:
        return 0.0
    matcher = difflib.SequenceMatcher(None, shorter, longer, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / len(shorter)


def fold_duplicates(
    articles: Sequence[Article], *, threshold: float = 0.85
) -> tuple[list[Article], int]:
    """Index a wire story once: MinHash + LSH bands find candidates, word alignment confirms.

    Two articles are copies when at least ``threshold`` of the shorter one's words are in the
    longer one in the same order (``aligned_share``) and it has at least half as many words:
    an outlet's edit of a few words, a sentence added or cut, its boilerplate added or the
    story trimmed still folds, however short the story; an article quoting a paragraph of
    another does not, nor do different articles on one event (on MultiHop-RAG's 609 the
    closest pair aligns 65%; ``benchmarks/fold_study.py`` measures both sides). Per group of
    copies the fullest (most words; then the smallest id) is kept, with ``duplicates`` naming
    the others and ``also_in`` their outlets. Returns the kept articles in input order and
    how many were folded away.
    """
    words = [_WORD.findall(a.body.lower()) for a in articles]
    vocab = {w: n for n, w in enumerate(dict.fromkeys(itertools.chain.from_iterable(words)), 1)}
    ids = [np.fromiter(map(vocab.__getitem__, w), np.uint64, len(w)) for w in words]
    sets = [_shingles(i) for i in ids]
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
        (small, s), (large, _l) = sorted(((len(ids[a]), a), (len(ids[b]), b)))
        if small < _MIN_RATIO * large:
            continue
        inter = len(np.intersect1d(sets[a], sets[b], assume_unique=True))
        if inter < _MIN_SHINGLES * min(len(sets[a]), len(sets[b])):
            continue
        share = aligned_share(ids[s].tolist(), ids[b if s == a else a].tolist())
        if share >= threshold:
            copies.append((share * small / large, a, b))
    parent = list(range(len(articles)))
    sizes = {i: (len(w), len(w)) for i, w in enumerate(ids)}  # root -> (fewest, most) words

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
        first = min(members, key=lambda i: (-len(ids[i]), articles[i].id))
        dups = {d for i in members if i != first for d in (articles[i].id, *articles[i].duplicates)}
        art = articles[first]
        outlets = {o for i in members for o in (articles[i].source, *articles[i].also_in) if o}
        kept[first] = dataclasses.replace(art, duplicates=tuple(sorted(dups.union(art.duplicates))),
                                          also_in=tuple(sorted(outlets - {art.source})))
    return [kept[i] for i in sorted(kept)], len(articles) - len(kept)
