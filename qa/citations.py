"""Citation checking, pure logic: small models cite badly, so every marker is re-derived.

Each answer sentence is compared with each numbered passage by how many of its content words
(stemmed, numbers kept exact) the passage contains. Markers that name no passage are dropped,
a marker is moved when another passage clearly supports the sentence better, one is added where
the model gave none, and a sentence that no passage supports is reported as unsupported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from qa.ingest import split_sentences  # the same sentence rules as the chunker

MARKER = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d+(?:[.,]\d+)*")
STOPWORDS = frozenset(
    """
    a an the and or but if of to in on at by for with from as is are was were be been being it
    its this that these those he she they them his her their we our you your i me my has have
    had do does did not no so than then there here which who whom whose what when where why
    how all any both each few more most other some such only own same too very can will just
    should would could may might must also into over after before about against between during
    through under again further once said says say according yes
    """.split()
)

SUPPORTED = 0.5  # share of a sentence's content words a passage must hold to support it
KEEP = 0.25  # a cited passage holding this share stays cited
ADDS = 0.15  # a second passage stays cited beside the best one if it adds this much support
MOVE_MARGIN = 0.25  # a better passage must beat the cited one by this much to take the marker


@dataclass(frozen=True)
class CheckedSentence:
    """One answer sentence after checking: the passages (1-based) that support it."""

    text: str
    cited: tuple[int, ...]
    supported: bool
    score: float


@dataclass(frozen=True)
class CheckResult:
    """The re-marked answer text, the sentences, and which passages ended up cited."""

    text: str
    sentences: tuple[CheckedSentence, ...]
    unsupported: tuple[str, ...] = field(default=())

    @property
    def cited(self) -> list[int]:
        """Passage numbers in order of first citation."""
        seen: list[int] = []
        for s in self.sentences:
            seen.extend(n for n in s.cited if n not in seen)
        return seen


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def content_words(text: str) -> set[str]:
    """Stemmed content words and exact numbers: what support is measured in."""
    words = [w.lower().strip("'’-") for w in _WORD.findall(text)]
    words = [w for w in words if w and w not in STOPWORDS]
    numbers = {w.replace(",", "") for w in words if w[0].isdigit()}
    names = [w for w in words if not w[0].isdigit() and len(w) > 1]
    return numbers | set(_stemmer().stemWords(names))


def support(sentence_words: set[str], passage_words: set[str]) -> float:
    """Share of the sentence's content words found in the passage; numbers count double.

    A number the passage does not hold caps the share below ``SUPPORTED``: a sentence with a
    wrong figure is not supported however many other words match.
    """
    if not sentence_words:
        return 0.0
    weight = {w: 2.0 if w[0].isdigit() else 1.0 for w in sentence_words}
    found = sum(weight[w] for w in sentence_words if w in passage_words)
    share = found / sum(weight.values())
    if any(w[0].isdigit() and w not in passage_words for w in sentence_words):
        share = min(share, SUPPORTED - 0.01)
    return share


def split_marked(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """Split model output into (sentence without markers, numbers it cited), in order."""
    out: list[tuple[str, tuple[int, ...]]] = []
    plain_parts: list[str] = []
    marks: list[tuple[int, tuple[int, ...]]] = []  # (position in plain text, numbers)
    pos = 0
    length = 0
    for m in MARKER.finditer(text):
        plain_parts.append(text[pos : m.start()])
        length += m.start() - pos
        nums = tuple(int(n) for n in re.split(r"\s*[,;]\s*", m.group(1)))
        marks.append((length, nums))
        pos = m.end()
    plain_parts.append(text[pos:])
    plain = "".join(plain_parts)
    spans = split_sentences(plain)
    cited: list[list[int]] = [[] for _ in spans]
    for at, numbers in marks:
        # a marker belongs to the last sentence that starts before it: "X happened. [1]" -> X
        owner = max((i for i, (start, _end) in enumerate(spans) if start < at), default=0)
        if spans:
            cited[owner].extend(n for n in numbers if n not in cited[owner])
    for (start, end), nums in zip(spans, cited, strict=True):
        out.append((plain[start:end].strip(), tuple(nums)))
    return out


def check_citations(text: str, passages: Sequence[str]) -> CheckResult:
    """Re-derive the markers of ``text`` against numbered ``passages`` (1-based)."""
    passage_words = [content_words(p) for p in passages]
    checked: list[CheckedSentence] = []
    for sentence, cited in split_marked(text):
        words = content_words(sentence)
        if len(words) < 2:  # "Yes [2]." or "Bucha [3].": too short to judge, so not unsupported
            if words:  # keep a marker whose passage holds the word, else point at the first
                holding = [n for n in range(1, len(passages) + 1) if words <= passage_words[n - 1]]
                keep = [n for n in cited if n in holding] or holding[:1]
            else:  # nothing to check against: in-range markers stay as the model put them
                keep = [n for n in cited if 1 <= n <= len(passages)]
            checked.append(CheckedSentence(sentence, tuple(keep), True, 1.0))
            continue
        scores = [support(words, pw) for pw in passage_words]
        best = max(range(len(scores)), key=scores.__getitem__, default=-1)
        best_score = scores[best] if best >= 0 else 0.0
        keep = [n for n in cited if 1 <= n <= len(passages) and scores[n - 1] >= KEEP]
        union_score = support(words, set().union(*(passage_words[n - 1] for n in keep)))
        if max(best_score, union_score) < SUPPORTED and best >= 0:
            # a multi-hop sentence joins two passages' facts: try the best one with each other
            pair, pair_score = _best_pair(words, passage_words, best)
            if pair_score >= SUPPORTED and pair_score >= best_score + ADDS:
                keep, union_score = [best + 1, pair + 1], pair_score
        if max(best_score, union_score) < SUPPORTED:
            checked.append(CheckedSentence(sentence, (), False, max(best_score, union_score)))
            continue
        if not keep or best_score > max(scores[n - 1] for n in keep) + MOVE_MARGIN:
            # the marker moves to the best passage; other cited ones stay if they add facts
            base = passage_words[best]
            keep = [best + 1] + [
                n
                for n in keep
                if n != best + 1
                and support(words, base | passage_words[n - 1]) >= best_score + ADDS
            ]
        checked.append(
            CheckedSentence(
                sentence, tuple(dict.fromkeys(keep)), True, max(best_score, union_score)
            )
        )
    return _renumber(checked)


def _best_pair(words: set[str], passage_words: list[set[str]], best: int) -> tuple[int, float]:
    """The passage that, with passage ``best``, supports ``words`` most, and that support."""
    others = [i for i in range(len(passage_words)) if i != best]
    if not others:
        return best, 0.0
    scored = [(support(words, passage_words[best] | passage_words[i]), i) for i in others]
    score, index = max(scored)
    return index, score


def _renumber(sentences: list[CheckedSentence]) -> CheckResult:
    """Write the text back with markers before each sentence's closing punctuation."""
    parts = []
    for s in sentences:
        if not s.cited:
            parts.append(s.text)
            continue
        marks = "".join(f"[{n}]" for n in s.cited)
        m = re.search(r"[.!?]+[\"'”’)]*$", s.text)
        if m:
            parts.append(f"{s.text[: m.start()].rstrip()} {marks}{s.text[m.start() :]}")
        else:
            parts.append(f"{s.text} {marks}")
    unsupported = tuple(s.text for s in sentences if not s.supported)
    return CheckResult(
        text=" ".join(parts).strip(), sentences=tuple(sentences), unsupported=unsupported
    )


def highlight_spans(quote: str, sentences: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """Spans of ``quote``'s sentences that best match each citing answer sentence."""
    spans = split_sentences(quote)
    words = [content_words(quote[a:b]) for a, b in spans]
    found: set[tuple[int, int]] = set()
    for sentence in sentences:
        target = content_words(sentence)
        if not target or not spans:
            continue
        scores = [len(target & w) for w in words]
        best = max(range(len(spans)), key=scores.__getitem__)
        if scores[best]:
            found.add(spans[best])
    return tuple(sorted(found))
