"""An app process for the several-processes tests: one ``QAService`` built from the QA_*
environment, as every face builds it, driven by JSON lines on stdin; one JSON line out each.

    {"ingest": "FOLDER"}      -> {"summary": "..."}
    {"retrieve": "QUESTION"}  -> {"articles": [...], "stamp": "...", "keyword_folder": "..."}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from qa.config import Settings
from qa.errors import QAError
from qa.service import QAService


def main() -> None:
    service = QAService(Settings.load(progress=False))
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if "ingest" in request:
                reply = {"summary": service.ingest(Path(request["ingest"])).summary()}
            else:
                passages = service.retrieve(request["retrieve"])
                keyword = service.retriever.keyword
                data = keyword.arrays["data"]
                reply = {"articles": [p.chunk.article_id for p in passages],
                         "stamp": keyword.stamp,
                         "keyword_folder": str(Path(data.filename).parent)
                         if getattr(data, "filename", None) else ""}
        except QAError as exc:
            reply = {"error": str(exc)}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
