"""Which language a question is written in, and the names and numbers of a sentence written in
another language than the articles' (pure logic, no model).

The index is read in English (the embedder, all-MiniLM-L6-v2, and the Snowball stemmer are
English), so a question in another language is rewritten into English before retrieval and its
answer is checked across the language gap by its names and numbers alone. Detection must never
take an English question for another language, since that would cost English questions a model
call and change their answers; so it is a vote of function words and letters found only in one
language ("welche", "combien", "cuántos", "hvor", "ß", "ø", "ñ"), and anything short of a clear
win is English. Measured: every question of MultiHop-RAG's dev set (816) and of the tests reads
as English; the 40 benchmark questions in German, French, Spanish and Danish as their own
language (``benchmarks/languages.py``).
"""

from __future__ import annotations

import difflib
import os
import re
import unicodedata

ENGLISH = "en"
# Languages measured (benchmarks/languages.py) and how the answer prompt names them.
NAMES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "da": "Danish"}

# Function words, lower case. A word in several lists counts a share for each.
_FUNCTION = {
    "en": """the a an of to in is are was were did does do how what who whom which where when
        why much many and that have has had for on at with from by since about this it its he
        she they their been be than into after before""",
    "de": """der die das den dem des ein eine einen einem einer und ist sind war waren hat
        haben hatte hatten wie was wer wen wem welche welcher welches welchen wo wann warum
        viel viele wieviel seit mit von vom zum zur auf für nicht auch sich im bei nach über
        dass er sie es wurde wurden worden insgesamt bisher keine kein diese dieser dieses""",
    "fr": """le la les un une des du de et est sont était étaient a ont avait quel quelle
        quels quelles qui que quoi où quand comment combien pourquoi depuis avec pour dans sur
        par au aux ce cette il elle ils elles été l d qu n y en ne pas""",
    "es": """el la los las un una unos unas y es son fue fueron ha han había qué quién
        quiénes cuál cuáles dónde cuándo cómo cuánto cuánta cuántos cuántas por para con del
        al desde en de que se su sus le les lo esta este""",
    "da": """den det de en et og er var har havde hvad hvem hvilken hvilket hvilke hvor
        hvornår hvordan hvorfor meget mange siden med fra til på af i som at ikke han hun blev
        om for hvis samlet dette denne""",
}
_WEIGHTS: dict[str, dict[str, float]] = {lang: {} for lang in _FUNCTION}
for _lang, _words in _FUNCTION.items():
    for _word in set(_words.split()):
        _holders = [other for other, ws in _FUNCTION.items() if _word in ws.split()]
        _WEIGHTS[_lang][_word] = 1 / len(_holders)
# Letters only one of these languages writes (é, á and the like are shared, so they vote not).
_LETTERS = {"de": "äöüß", "fr": "èêçàâîôûœëï", "es": "ñ¿¡íóú", "da": "æøå"}
_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)
# A clear win: at least this many function words, and this many times English's count.
MIN_VOTES = 1.5
MARGIN = 2.0


def scores(text: str) -> dict[str, float]:
    """Votes per language code: function words (a shared word split among its languages) and
    letters of one language (one vote per word holding one)."""
    words = [w.lower() for w in _TOKEN.findall(text)]
    out = {lang: 0.0 for lang in _FUNCTION}
    for word in words:
        for lang, weights in _WEIGHTS.items():
            out[lang] += weights.get(word, 0.0)
        for lang, letters in _LETTERS.items():
            if any(ch in letters for ch in word):
                out[lang] += 1.0
    return out


def language_of(text: str) -> str:
    """The code (``NAMES``' keys) of the language ``text`` is written in: another language than
    English only when it wins clearly (at least ``MIN_VOTES``, and ``MARGIN`` times English's
    votes); otherwise ``ENGLISH``, for unknown languages too."""
    votes = scores(text)
    best = max(votes, key=lambda lang: votes[lang])
    if best == ENGLISH or votes[best] < MIN_VOTES or votes[best] < MARGIN * votes[ENGLISH]:
        return ENGLISH
    return best


def fold(word: str) -> str:
    """A word lower-cased without its accents ("Zelenskyy" and "Zélensky" compare as Latin)."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).replace("ß", "ss")


# How alike a name and an evidence word must be (difflib ratio, 0-1) to be one name in two
# spellings: "Selenskyj"/"zelenskyy" 0.78, "Butscha"/"bucha" 0.83, "Kiew"/"kiev" 0.75;
# "Russland"/"russia" 0.71 is not, nor "Deutschland"/"germany".
NAME_LIKENESS = 0.75
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CAPITAL = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)


def same_name(word: str, known: str) -> bool:
    """Whether ``word`` (from the answer) and ``known`` (an evidence word, lower case) are one
    name: equal once folded; when they share a prefix of five letters or more, differing in at
    most the last letter of the shorter ("stoltenbergs", "ukraina"; not "australia" for
    "austria"); else at least ``NAME_LIKENESS`` alike, both 4 letters or longer."""
    a, b = fold(word), fold(known)
    if a == b:
        return True
    if len(a) < 4 or len(b) < 4:
        return False
    shared = len(os.path.commonprefix((a, b)))
    if shared >= 5:  # one word's ending, as qa.text.words reads it: "austria" is no "australia"
        return shared >= min(len(a), len(b)) - 1
    return difflib.SequenceMatcher(None, a, b).ratio() >= NAME_LIKENESS


def local_number(token: str) -> str:
    """A number as German, French, Spanish and Danish write it, in the English form the
    evidence is compared in: "1,5" -> "1.5", "1.500" and "1 500" -> "1500"; "65" stays."""
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+", token):
        return token.replace(".", "")
    if re.fullmatch(r"\d+,\d{1,2}", token):
        return token.replace(",", ".")
    return token.replace(",", "")


def names_in(text: str) -> frozenset[str]:
    """The capitalised words of ``text`` (three letters or more, English function words aside),
    lower case and without a possessive: what a name in an answer may be matched with."""
    out = set()
    for word in _CAPITAL.findall(text):
        base = re.sub(r"['’]s?$", "", word)
        if len(base) >= 3 and base[0].isupper() and base.lower() not in _WEIGHTS[ENGLISH]:
            out.add(base.lower())
    return frozenset(out)


def foreign_claim(sentence: str, known: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    """The names and numbers a sentence in another language claims, as the evidence spells them:
    each capitalised word (the opening one too) that is one name (``same_name``) with a word of
    ``known`` (the evidence's and the question's names, ``names_in``) is that name; numbers as
    ``local_number`` reads them. Other words are not judged: a translated word ("Deutschland"
    for "Germany", any German noun) cannot be told from a name the evidence lacks. Returns
    (names, numbers)."""
    numbers = frozenset(local_number(t) for t in _NUMBER.findall(sentence))
    names = set()
    for word in _CAPITAL.findall(sentence):
        base = re.sub(r"['’]s?$", "", word)
        if len(base) < 3 or not base[0].isupper():
            continue
        match = next((k for k in sorted(known) if same_name(base, k)), None)
        if match is not None:
            names.add(match)
    return frozenset(names), numbers


__all__ = ["ENGLISH", "MARGIN", "MIN_VOTES", "NAMES", "NAME_LIKENESS", "fold", "foreign_claim",
           "language_of", "local_number", "names_in", "same_name", "scores"]
