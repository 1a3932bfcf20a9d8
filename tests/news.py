"""A running story for the tests of questions about the news (``tests/test_asking.py``): the
timeline tests' story (``tests/story.py``: Vantor Group's takeover of Norrland Steel, 13 dated
articles from three outlets, one off-topic) and its newest turn, the regulator clearing the
deal, published a week after the shareholders' vote.

``write_news`` writes it with every day moved by whole weeks (so each weekday an article
names stays true) to end on ``newest``: the story's own days make an archive, days moved to
this week an index kept up to date."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from story import ARTICLES, LEDGER

NEWEST = ("ledger-0409", LEDGER, "2024-04-09", "Regulator clears Vantor takeover",
          "The competition authority cleared Vantor Group's takeover of Norrland Steel on "
          "Tuesday, on condition that Vantor sells the mill's specialty steel unit in Finland. "
          "The deal is expected to close in May.")
NEWS = [*ARTICLES, NEWEST]
STORY_END = date(2024, 4, 9)  # the newest article's day as written (a Tuesday)


def shift_to(today: date) -> timedelta:
    """Whole weeks moving the story's newest day (a Tuesday) to within the week before or
    on ``today``."""
    return timedelta(weeks=(today - STORY_END).days // 7)


def write_news(folder: Path, *, shift: timedelta = timedelta(0)) -> dict[str, str]:
    """Write each article as a JSON file in ``folder``, its day moved by ``shift`` (whole
    weeks); returns each file name's published day (``YYYY-MM-DD``)."""
    folder.mkdir(parents=True, exist_ok=True)
    days = {}
    for name, outlet, day, title, body in NEWS:
        moved = (date.fromisoformat(day) + shift).isoformat()
        record = {"title": title, "body": body, "source": outlet,
                  "published_at": f"{moved}T08:00:00", "url": f"https://news.example/{name}"}
        (folder / f"{name}.json").write_text(json.dumps(record), encoding="utf-8")
        days[f"{name}.json"] = moved
    return days
