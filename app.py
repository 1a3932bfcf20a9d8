"""``python app.py``: the chat window over the index that the QA_* settings name.

A thin shell over ``qa.faces.server.serve``; any ``QAError`` leaves as one line and its exit code.
"""

from __future__ import annotations

import sys

from qa.config import Settings
from qa.errors import QAError
from qa.faces.server import serve


def main() -> int:
    try:
        serve(Settings.load())
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
