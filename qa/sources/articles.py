"""Articles from files with near-duplicates folded: a wire story that several outlets carry is
indexed once, naming the outlets that also ran it. Reading and parsing files is
``qa.sources.formats``.
"""

from __future__ import annotations

import dataclasses
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
