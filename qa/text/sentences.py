"""Sentence spans and markdown table blocks: the rules by which the chunker cuts articles,
evidence selection picks sentences and the citation checker reads quotes, so all three agree.
"""

from __future__ import annotations

import itertools
import re

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


def table_blocks(body: str) -> list[tuple[int, int, int]]:
    """Markdown tables in ``body``: (header row start, header row end, table end) each."""
    blocks: list[tuple[int, int, int]] = []
    for m in re.finditer(r"(?:^[ \t]*\|.*\|[ \t]*(?:\n|$))+", body, re.M):
        first = body[m.start() : m.end()].split("\n", 1)[0]
        lead = len(first) - len(first.lstrip())
        blocks.append((m.start() + lead, m.start() + len(first.rstrip()), m.end()))
    return blocks
