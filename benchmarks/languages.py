"""Questions in another language than the articles' (issue 27, item 3): the seed article's
questions from the answers tests (tests/test_answer.py), asked in English, German, French,
Spanish and Danish, one run, the same model, answered over an index of the seed article alone.

Per language it prints: right answers (the fact's name or number in the answer, as the English
test checks it; for the two questions the article cannot answer, a refusal or no claim about
France), right first citations (the first citation quotes the English sentence that holds the
fact; for the unanswerable two, no citation or a right answer), answers whose every citation
quotes that sentence, answers written in the question's language (``qa.text.languages``), and
the median seconds per question. The tenth question is the tests' follow-up ("and how much of
that was military?") asked after the fourth, in the same language. Run it on an idle machine:

    flock /tmp/cpu.lock .venv/bin/python benchmarks/languages.py \
        [--out benchmarks/results/languages.json] [--only de,fr]

The translations are ours, faithful to the English originals; the figures file holds figures
only (no answer text).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest import cpu  # this folder's ingest benchmark

from qa.config import Settings
from qa.models import Answer
from qa.service import QAService
from qa.text.languages import language_of

SEED = Path(__file__).resolve().parents[1].parent / "shared" / "seed" / \
    "nato-ukraine-stoltenberg.txt"
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Item:
    """One question of the set: what a right answer names (any one of ``facts``; none for a
    question to refuse), the English sentence a right citation quotes (a part of it), and
    names the answer must not give (``avoid``, for the unanswerable France question)."""

    facts: tuple[str, ...]
    quote: str
    avoid: tuple[str, ...] = ()


# The English originals (tests/test_answer.py) and what answers them; names as each language
# may write them (Germany, Bucha, Zelenskyy and France in their own spellings).
ITEMS = [
    Item(("65",), "65 billion euros in military aid"),
    Item(("Ramstein", "Germany", "Deutschland", "Allemagne", "Alemania", "Tyskland"), "Ramstein"),
    Item(("Bucha", "Butscha", "Boutcha", "Butja", "Butsja"), "Bucha"),
    Item(("150",), "150 billion euros"),
    Item(("Stoltenberg",), "Secretary General Jens Stoltenberg"),
    Item(("elensk",), "Zelenskyy"),
    Item(("150",), "150 billion euros"),
    Item((), ""),
    Item((), "", avoid=("France", "Frankreich", "Francia", "Frankrig")),
    Item(("65",), "65 billion euros in military aid"),
]
FOLLOW_UP = 9  # asked after question 3 (0-based), with its answer as history
QUESTIONS = {
    "en": [
        "How much military aid have NATO allies delivered to Ukraine?",
        "Where was Stoltenberg when he spoke to reporters on Friday?",
        "Which city did Stoltenberg visit that saw Russian atrocities?",
        "How much support have NATO allies given Ukraine since March 2022?",
        "Who is the Secretary General of NATO?",
        "Who did Stoltenberg meet in Kyiv?",
        "What is the total value of support that allies have delivered since March 2022?",
        "What is the boiling point of water on Mount Everest?",
        "How many tanks did France promise Ukraine at Ramstein?",
        "and how much of that was military?",
    ],
    "de": [
        "Wie viel Militärhilfe haben die NATO-Verbündeten an die Ukraine geliefert?",
        "Wo war Stoltenberg, als er am Freitag mit Reportern sprach?",
        "Welche Stadt, in der russische Gräueltaten verübt wurden, hat Stoltenberg besucht?",
        "Wie viel Unterstützung haben die NATO-Verbündeten der Ukraine seit März 2022 gegeben?",
        "Wer ist der Generalsekretär der NATO?",
        "Wen hat Stoltenberg in Kiew getroffen?",
        "Wie hoch ist der Gesamtwert der Unterstützung, die die Verbündeten seit März 2022 "
        "geliefert haben?",
        "Wie hoch ist der Siedepunkt von Wasser auf dem Mount Everest?",
        "Wie viele Panzer hat Frankreich der Ukraine in Ramstein versprochen?",
        "und wie viel davon war militärisch?",
    ],
    "fr": [
        "Combien d'aide militaire les alliés de l'OTAN ont-ils fournie à l'Ukraine ?",
        "Où était Stoltenberg lorsqu'il a parlé aux journalistes vendredi ?",
        "Quelle ville ayant été le théâtre d'atrocités russes Stoltenberg a-t-il visitée ?",
        "Combien de soutien les alliés de l'OTAN ont-ils apporté à l'Ukraine depuis mars 2022 ?",
        "Qui est le secrétaire général de l'OTAN ?",
        "Qui Stoltenberg a-t-il rencontré à Kyiv ?",
        "Quelle est la valeur totale du soutien que les alliés ont fourni depuis mars 2022 ?",
        "Quel est le point d'ébullition de l'eau au sommet de l'Everest ?",
        "Combien de chars la France a-t-elle promis à l'Ukraine à Ramstein ?",
        "et combien de cela était militaire ?",
    ],
    "es": [
        "¿Cuánta ayuda militar han entregado los aliados de la OTAN a Ucrania?",
        "¿Dónde estaba Stoltenberg cuando habló con los periodistas el viernes?",
        "¿Qué ciudad que sufrió atrocidades rusas visitó Stoltenberg?",
        "¿Cuánto apoyo han dado los aliados de la OTAN a Ucrania desde marzo de 2022?",
        "¿Quién es el secretario general de la OTAN?",
        "¿Con quién se reunió Stoltenberg en Kiev?",
        "¿Cuál es el valor total del apoyo que los aliados han entregado desde marzo de 2022?",
        "¿Cuál es el punto de ebullición del agua en el monte Everest?",
        "¿Cuántos tanques prometió Francia a Ucrania en Ramstein?",
        "¿y cuánto de eso fue militar?",
    ],
    "da": [
        "Hvor meget militær bistand har NATO-allierede leveret til Ukraine?",
        "Hvor var Stoltenberg, da han talte med journalister fredag?",
        "Hvilken by, der var skueplads for russiske grusomheder, besøgte Stoltenberg?",
        "Hvor meget støtte har NATO-allierede givet Ukraine siden marts 2022?",
        "Hvem er generalsekretær for NATO?",
        "Hvem mødte Stoltenberg i Kyiv?",
        "Hvad er den samlede værdi af den støtte, som de allierede har leveret siden marts 2022?",
        "Hvad er vands kogepunkt på Mount Everest?",
        "Hvor mange kampvogne lovede Frankrig Ukraine i Ramstein?",
        "og hvor meget af det var militært?",
    ],
}


def right_answer(item: Item, answer: Answer) -> bool:
    """Whether ``answer`` gives the fact (as the English test checks it), or, for a question
    the article cannot answer, refuses or names none of ``avoid`` in a supported answer."""
    if not item.facts and not item.avoid:
        return answer.refused
    if not item.facts:  # as the English test: refused, flagged, or silent on France
        return answer.refused or bool(answer.unsupported) or not any(
            a in answer.text for a in item.avoid)
    return not answer.refused and any(f in answer.text for f in item.facts)


def right_citations(item: Item, answer: Answer) -> tuple[bool, bool]:
    """(the first citation quotes the fact's sentence, every citation does); for a question to
    refuse, both true when nothing is cited or the answer is right."""
    if not item.quote:
        ok = not answer.citations or right_answer(item, answer)
        return ok, ok
    quotes = [c.quote for c in answer.citations]
    return (bool(quotes) and item.quote in quotes[0],
            bool(quotes) and all(item.quote in q for q in quotes))


def run_language(service: QAService, language: str, questions: list[str]) -> dict[str, Any]:
    """Ask the ten questions of one language; print each, return the figures and rows."""
    rows: list[dict[str, Any]] = []
    answers: list[Answer] = []
    for n, (question, item) in enumerate(zip(questions, ITEMS, strict=True)):
        history = [answers[3]] if n == FOLLOW_UP else None
        started = time.perf_counter()
        answer = service.ask(question, history=history)
        seconds = time.perf_counter() - started
        answers.append(answer)
        first, every = right_citations(item, answer)
        # A refusal's list of the nearest articles is English (their titles, and its words)
        written = language_of(answer.text.split(" The nearest articles:")[0])
        row = {"right": right_answer(item, answer), "first_citation": first,
               "all_citations": every, "in_language": written == language,
               "refused": answer.refused, "citations": len(answer.citations),
               "unsupported": len(answer.unsupported), "second_look": answer.second_look,
               "seconds": round(seconds, 2)}
        rows.append(row)
        mark = "ok " if row["right"] else "BAD"
        print(f"[{language}] {mark} cite={'y' if first else 'n'} lang={written} "
              f"{seconds:5.1f}s  {question}\n      standalone: {answer.standalone_question}\n"
              f"      answer: {' '.join(answer.text.split())[:300]}\n"
              f"      quotes: {[c.quote[:80] for c in answer.citations]}", flush=True)
    return {
        "questions": len(rows),
        "right": sum(r["right"] for r in rows),
        "right_first_citation": sum(r["first_citation"] for r in rows),
        "all_citations_hold_the_fact": sum(r["all_citations"] for r in rows),
        "in_the_question_language": sum(r["in_language"] for r in rows),
        "refused": sum(r["refused"] for r in rows),
        "median_seconds": round(statistics.median(r["seconds"] for r in rows), 2),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="write the figures here (e.g. benchmarks/results/languages.json)")
    parser.add_argument("--only", default="", help="comma-separated codes (default: all)")
    args = parser.parse_args()
    codes = [c for c in args.only.split(",") if c] or list(QUESTIONS)
    load = os.getloadavg()[0]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "seed"
        folder.mkdir()
        shutil.copy(SEED, folder / SEED.name)
        service = QAService(Settings.load(index_dir=Path(tmp) / "index", progress=False))
        try:
            service.ingest(folder)
            service.ask("Who is the NATO Secretary General?")  # starts and warms the model
            for code in codes:
                results[code] = run_language(service, code, QUESTIONS[code])
        finally:
            service.close()
    print(f"\n{'language':<9} {'right':>6} {'1st cite':>9} {'all cite':>9} {'in lang':>8} "
          f"{'refused':>8} {'median s':>9}", file=sys.stdout)
    for code, r in results.items():
        print(f"{code:<9} {r['right']:>3}/{r['questions']:<2} {r['right_first_citation']:>6}/10"
              f" {r['all_citations_hold_the_fact']:>6}/10 {r['in_the_question_language']:>5}/10"
              f" {r['refused']:>8} {r['median_seconds']:>9.1f}")
    if args.out:
        record = {"languages": results, "llm": "the packaged Qwen2.5-Coder-1.5B (Q4_K_M)",
                  "date": time.strftime("%Y-%m-%d"), "cpu": cpu(),
                  "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2)}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
