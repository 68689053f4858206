"""Readers for the shared evaluation data sets (read in place, never copied)."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from alliance_digest.evaluation import require
from alliance_digest.pipeline.dates import parse_date
from alliance_digest.pipeline.records import ArticleRecord
from alliance_digest.pipeline.text import description_text, html_to_text
from alliance_digest.pipeline.urls import canonicalise


@dataclass
class Window:
    name: str
    start: date
    end: date
    items: list[dict]  # window rows: guid, url, title, pubDate, label, event
    events: list[dict]  # events.json "events"
    character: str = ""


def news_items(data_dir: Path) -> dict[str, dict]:
    """The news-windows items file by GUID."""
    path = require(next((data_dir / "news-windows").glob("items_*.jsonl.gz"), data_dir / "news-windows" / "items.jsonl.gz"))
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return {obj["guid"]: obj for obj in map(json.loads, handle)}


def windows(data_dir: Path) -> list[Window]:
    base = require(data_dir / "news-windows" / "windows")
    meta = json.loads((base / "windows.json").read_text("utf-8"))
    out = []
    for w in meta["windows"]:
        rows = [json.loads(line) for line in (base / w["file"]).read_text("utf-8").splitlines() if line.strip()]
        events = json.loads((base / w["events_file"]).read_text("utf-8"))["events"]
        out.append(Window(w["name"], date.fromisoformat(w["start"]), date.fromisoformat(w["end"]), rows, events,
                          w.get("character", "")))
    return out


def record(item: dict) -> ArticleRecord:
    """An items-file object as the ingest would read it (title + description)."""
    return ArticleRecord(
        url=item["url"], canonical_url=canonicalise(item["url"]), guid=item.get("guid"),
        title=html_to_text(item["title"]), summary=description_text(item.get("summary") or ""),
        source=item.get("source") or "", published=parse_date(item["published"]) if item.get("published") else None,
    )


def ecb_documents(data_dir: Path) -> list[dict]:
    path = require(data_dir / "ecbplus" / "ecbplus_docs.jsonl")
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
