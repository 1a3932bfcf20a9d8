"""Words as evidence selection and citation checking compare them: stemmed content words,
exact numbers and proper names.

Both stages must agree on what a word is, or a sentence picked for holding "65 billion" could
be judged not to hold it; so both read words through this module. Stems come from the
Snowball English stemmer (PyStemmer), the one bm25s indexes with, so a word's stem is also its
key in the keyword index.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]|\d+(?:[.,]\d+)*")
_NAME = re.compile(r"[A-Z][A-Za-z'’-]*|[a-z]+[A-Z][A-Za-z]*")  # Kyiv, NATO, McDonald, iPhone

STOPWORDS = frozenset(
    """
    a an the and or but if of to in on at by for with from as is are was were be been being it
    its this that these those he she they them his her their we our you your i me my has have
    had do does did not no so than then there here which who whom whose what when where why
    how all any both each few more most other some such only own same too very can will just
    should would could may might must also into over after before about against between during
    through under again further once said says say according yes him us himself herself
    itself themselves ourselves yourself
    """.split()
)
# Words an answer uses to frame a claim, not to make one ("the article reports that ...").
FRAMING = frozenset(
    """
    article articles report reports reported reporting passage passages snippet snippets text
    mention mentions mentioned state states stated note notes noted indicate indicates indicated
    suggest suggests suggested describe describes described discuss discusses discussed
    highlight highlights highlighted publish published answer final based provided information
    """.split()
)
_MONTHS = (
    "January February March April May June July August September October November December"
).split()


# Past forms of common irregular verbs, which a suffix stemmer cannot bring back to their verb:
# "Who did Stoltenberg meet?" must match "Stoltenberg met ...".
_IRREGULAR = {
    past: verb
    for verb, forms in {
        "arise": "arose arisen", "be": "was were been", "bear": "bore borne", "become":
        "became", "begin": "began begun", "bite": "bit bitten", "blow": "blew blown", "break":
        "broke broken", "bring": "brought", "build": "built", "buy": "bought", "catch":
        "caught", "choose": "chose chosen", "come": "came", "deal": "dealt", "dig": "dug",
        "draw": "drew drawn", "drive": "drove driven", "eat": "ate eaten", "fall": "fell fallen",
        "feed": "fed", "feel": "felt", "fight": "fought", "find": "found", "flee": "fled", "fly":
        "flew flown", "forget": "forgot forgotten", "freeze": "froze frozen", "get": "got gotten",
        "give": "gave given", "go": "went gone", "grow": "grew grown", "hang": "hung", "have":
        "had", "hear": "heard", "hide": "hid hidden", "hold": "held", "keep": "kept", "know":
        "knew known", "lay": "laid", "lead": "led", "leave": "left", "lend": "lent", "lose":
        "lost", "make": "made", "mean": "meant", "meet": "met", "pay": "paid", "ride":
        "rode ridden", "ring": "rang rung", "rise": "rose risen", "run": "ran", "say": "said",
        "see": "saw seen", "seek": "sought", "sell": "sold", "send": "sent", "shake":
        "shook shaken", "shoot": "shot", "sing": "sang sung", "sink": "sank sunk", "sit": "sat",
        "sleep": "slept", "speak": "spoke spoken", "spend": "spent", "stand": "stood", "steal":
        "stole stolen", "strike": "struck", "swear": "swore sworn", "swim": "swam", "take":
        "took taken", "teach": "taught", "tear": "tore torn", "tell": "told", "think":
        "thought", "throw": "threw thrown", "understand": "understood", "wake": "woke woken",
        "wear": "wore worn", "win": "won", "withdraw": "withdrew withdrawn", "write":
        "wrote written",
    }.items()
    for past in forms.split()
}


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def stem(words: list[str]) -> list[str]:
    """Snowball English stems of lower-case words, irregular past forms as their verb's."""
    return list(_stemmer().stemWords([_IRREGULAR.get(w, w) for w in words]))


def number_token(word: str) -> str:
    """A number as it is compared: thousands separators dropped ("1,500" -> "1500")."""
    return word.replace(",", "")


def terms(text: str) -> set[str]:
    """Stemmed content words and exact numbers: what keyword overlap is measured in."""
    words = [w.lower().strip("'’-") for w in _WORD.findall(text)]
    words = [w for w in words if w and w not in STOPWORDS and w not in FRAMING]
    numbers = {number_token(w) for w in words if w[0].isdigit()}
    return numbers | set(stem([w for w in words if not w[0].isdigit() and len(w) > 1]))


def _base(word: str) -> str:
    """A name without its possessive: "Ukraine's" -> "ukraine"."""
    return re.sub(r"['’]s?$", "", word).lower()


@dataclass(frozen=True)
class Claim:
    """What a sentence asserts, as words: its proper names and numbers (each must be found in
    the evidence), and its other content words, stemmed (most of which must be)."""

    names: frozenset[str]
    numbers: frozenset[str]
    words: frozenset[str]

    def __len__(self) -> int:
        return len(self.names) + len(self.numbers) + len(self.words)

    def __or__(self, other: Claim) -> Claim:
        return Claim(self.names | other.names, self.numbers | other.numbers,
                     self.words | other.words)


def claim(sentence: str) -> Claim:
    """Names are capitalised words not opening the sentence (the opening word is judged as an
    ordinary word: "Military aid ..." is no name); numbers are digits; the rest are stemmed
    content words, framing words ("the article reports") left out."""
    names: set[str] = set()
    numbers: set[str] = set()
    others: list[str] = []
    for i, m in enumerate(_WORD.finditer(sentence)):
        word = m.group()
        if word[0].isdigit():
            numbers.add(number_token(word))
            continue
        low = word.lower().strip("'’-")
        if low in STOPWORDS or low in FRAMING or len(low) < 2:
            continue
        if i > 0 and _NAME.fullmatch(word):
            names.add(_base(word))
        else:
            others.append(low)
    return Claim(frozenset(names), frozenset(numbers), frozenset(stem(others)))


@dataclass(frozen=True)
class Support:
    """The words a piece of evidence holds, to check claims against: lower-case words (for
    names), numbers, and stems."""

    plain: frozenset[str]
    numbers: frozenset[str]
    stems: frozenset[str]
    table: str = ""  # rows of one table share this key: a record, never joined with another
    outlet: frozenset[str] = frozenset()  # the words of the article's outlet's name
    text_plain: frozenset[str] = frozenset()  # ``plain`` and ``numbers`` of the text alone,
    text_numbers: frozenset[str] = frozenset()  # without its heading and date
    text: str = ""  # the text itself, for what words cannot tell (``qa.answering.polarity``)

    def __or__(self, other: Support) -> Support:
        """The words of both; no ``text`` (polarity reads one snippet at a time, and citation
        checking pools snippets for every set it tries)."""
        return Support(self.plain | other.plain, self.numbers | other.numbers,
                       self.stems | other.stems, outlet=self.outlet | other.outlet,
                       text_plain=self.text_plain | other.text_plain,
                       text_numbers=self.text_numbers | other.text_numbers)

    @property
    def text_only(self) -> Support:
        """What the text itself holds, its heading and date aside."""
        return Support(self.text_plain, self.text_numbers, self.stems, self.table,
                       text=self.text)


def support_of(
    text: str, *, heading: str = "", published_at: str = "", table: str = "", outlet: str = ""
) -> Support:
    """The words of ``text``, and the names and numbers of its article's ``heading`` (title,
    outlet) and of ``published_at`` (ISO: day, month name, year, so "on October 5" is held by
    an article dated 2023-10-05). A heading vouches for who and when, not for what happened:
    its other words are no support. ``table`` marks a table row; ``outlet`` is the article's
    outlet (also vouched for as a heading)."""
    words = _WORD.findall(text)
    plain = {_base(w) for w in words if not w[0].isdigit()}
    numbers = {number_token(w) for w in words if w[0].isdigit()}
    stems = set(stem(sorted(plain)))
    text_plain, text_numbers = frozenset(plain), frozenset(numbers)
    source = frozenset(_base(w) for w in _WORD.findall(outlet) if not w[0].isdigit())
    plain |= source
    head = _WORD.findall(heading)
    plain |= {_base(w) for w in head if not w[0].isdigit()}
    numbers |= {number_token(w) for w in head if w[0].isdigit()}
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)", published_at)
    if m:
        plain.add(_MONTHS[int(m[2]) - 1].lower())
        numbers |= {m[1], str(int(m[3])), m[3]}
    return Support(frozenset(plain), frozenset(numbers), frozenset(stems), table,
                   outlet=source, text_plain=text_plain, text_numbers=text_numbers, text=text)


def _holds(word: str, pool: frozenset[str]) -> bool:
    """Exact, or sharing a prefix of at least 5 letters that is all but at most one letter of
    the shorter word: "ukraine" holds "ukrainian", "russia" "russian"; "austria" not
    "australia"."""
    if word in pool:
        return True
    if len(word) < 5:
        return False
    for p in pool:
        if len(p) >= 5 and p[:5] == word[:5]:
            shared = len(os.path.commonprefix((p, word)))
            if shared >= max(5, min(len(p), len(word)) - 1):
                return True
    return False


@dataclass(frozen=True)
class Coverage:
    """How much of a claim some evidence holds: what is missing, and the weighted share
    found (names and numbers count double)."""

    missing_names: frozenset[str]
    missing_numbers: frozenset[str]
    missing_words: frozenset[str]
    share: float


def coverage(c: Claim, s: Support) -> Coverage:
    """Which of the claim's names, numbers and words the support lacks."""
    names = frozenset(n for n in c.names if not _holds(n, s.plain))
    numbers = frozenset(n for n in c.numbers if n not in s.numbers)
    words = frozenset(w for w in c.words if not _holds(w, s.stems))
    total = 2 * (len(c.names) + len(c.numbers)) + len(c.words)
    lost = 2 * (len(names) + len(numbers)) + len(words)
    return Coverage(names, numbers, words, 1.0 - lost / total if total else 0.0)
