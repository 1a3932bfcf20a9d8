"""Put the scale sections (``make_table.scale_section``, ``start_section``,
``vector_search_section``) into docs/benchmarks.md, before "## Reproduce", replacing an earlier
copy; the rest of the file is left as it is.

    python benchmarks/add_scale_docs.py
"""

from __future__ import annotations

import json
from pathlib import Path

from make_table import RESULTS, scale_section, start_section, vector_search_section

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN, END = "<!-- scale: begin -->", "<!-- scale: end -->"


def _json(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def main() -> None:
    lines = scale_section(_json("scale.json"), _json("parity-parent.json"),
                          _json("parity-ours.json"))
    lines += start_section(_json("start-609.json"))
    lines += vector_search_section(_json("vector-search.json"))
    lines += ["Reproduce:", "", "```", "D=../shared/eval/multihop-rag",
              "python benchmarks/scale.py --sizes 1,10,30 --corpus $D/corpus.json "
              "--queries $D/queries-dev.json --work /tmp/qa-scale --latency-queries 100",
              "python benchmarks/vector_search.py --index /tmp/scale-609 "
              "--queries $D/queries-dev.json",
              "python benchmarks/add_scale_docs.py", "```", ""]
    block = "\n".join([BEGIN, *lines, END]) + "\n\n"
    text = DOC.read_text(encoding="utf-8")
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1].lstrip("\n")
    else:
        head, rest = text.split("## Reproduce", 1)
        text = head + block + "## Reproduce" + rest
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
