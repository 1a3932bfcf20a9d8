"""Per-hop verdicts (issue 21, item 2): can the local model tell, article by article, whether
what a yes-or-no question says of each named article holds?

For each yes-or-no comparison or temporal question of the chosen MultiHop-RAG dev records
(Tang & Yang 2024, ODC-BY 1.0) whose gold answer is Yes or No, the service's own evidence is
selected, and for each outlet the question names (a hop of ``qa.retrieval.plan``) the model
reads only that outlet's snippets and is asked whether the article says what the question says
of it (three tokens, Yes or No; a reply that is neither counts as Yes). The composed answer
is Yes when every hop read says Yes (a hop with no snippet of its outlet is not asked). For
comparison, the model is also asked the whole question over all the snippets, to reply Yes
or No only. Printed: accuracy of both, of always answering Yes, and how often the hop
verdicts say Yes when the gold answer is Yes and when it is No. Run it on an idle machine.

    python benchmarks/hop_verdicts.py --index /tmp/mh-index --records 1-200
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from qa.answering.answer import evidence_block
from qa.answering.hop_coverage import hop_coverage
from qa.config import Settings
from qa.faces.metrics import load_queries
from qa.retrieval.plan import asks_yes_or_no, on_days
from qa.service import QAService

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
QUERIES = SHARED / "eval" / "multihop-rag" / "queries-dev.json"


def verdict(service: QAService, user: str) -> float:
    """1.0 for a reply opening with Yes, 0.0 with No, 0.5 otherwise."""
    reply = service.llm.complete(
        [{"role": "system", "content": service.prompts.system.render()},
         {"role": "user", "content": user}], max_tokens=3).strip().lower()
    return 1.0 if reply.startswith("yes") else 0.0 if reply.startswith("no") else 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True, help="index of corpus.json")
    parser.add_argument("--records", default="1-200", help="1-based inclusive, e.g. 1-200")
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON")
    args = parser.parse_args()
    first, last = (int(x) for x in args.records.split("-"))
    service = QAService(Settings.load(index_dir=args.index, progress=False))
    rows = []
    started = time.perf_counter()
    for q in load_queries(QUERIES, limit=last)[first - 1:]:
        gold = q.answer.strip().lower()
        if q.question_type not in ("comparison_query", "temporal_query") or gold not in (
                "yes", "no") or not asks_yes_or_no(q.text):
            continue
        snippets = service.select_evidence(q.text, service.retrieve(q.text))
        hops = []
        for c in hop_coverage(q.text, service.retriever.plan(q.text), snippets,
                              service.retriever.idf):
            own = [s for s in snippets if s.passage.source in c.hop.sources and (
                not c.hop.days or on_days(s.passage.published_at, c.hop.days))]
            if not own:
                continue
            outlet = " or ".join(c.hop.sources)
            hops.append(verdict(service, (
                f"Passages:\n{evidence_block(own, service.prompts)}\n\nThe full question: "
                f"{q.text}\n\nLook only at what the {outlet} article says. Does it say this: "
                f"\"{c.clause}\"? Reply Yes or No.")))
        whole = verdict(service, f"Passages:\n{evidence_block(snippets, service.prompts)}\n\n"
                                 f"Question: {q.text}\n\nReply Yes or No.")
        rows.append({"question": q.text, "gold": gold, "hops": hops, "whole": whole})
    scored = [r for r in rows if r["hops"]]
    yes = [r for r in rows if r["gold"] == "yes"]
    print(f"{len(rows)} yes-or-no questions ({len(yes)} Yes), {len(scored)} with a hop read; "
          f"{time.perf_counter() - started:.0f} s")
    composed = sum((min(r["hops"]) >= 0.5) == (r["gold"] == "yes") for r in scored)
    print(f"all hops Yes: right {composed} of {len(scored)}")
    whole = sum((r["whole"] >= 0.5) == (r["gold"] == "yes") for r in rows)
    print(f"whole question, Yes or No only: right {whole} of {len(rows)}")
    print(f"always Yes: right {len(yes)} of {len(rows)}")
    for gold in ("yes", "no"):
        said = [h for r in rows if r["gold"] == gold for h in r["hops"]]
        asked = [r["whole"] for r in rows if r["gold"] == gold]
        print(f"gold {gold}: hop verdicts Yes {sum(said) / max(1, len(said)):.3f} of "
              f"{len(said)}; whole question Yes {sum(asked) / max(1, len(asked)):.3f}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
