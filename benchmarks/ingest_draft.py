"""Benchmark: `digest ingest` of 5,000 JSONL articles plus `digest draft` over them.

Target (issue 2): both together under 60 s on 2 cores with peak memory under
2 GB. Prints the wall time and peak memory of each step, their ratio to the
target, and the ratio to a reference measured in the same run: the bare
floor of reading the same file with json.loads and inserting the rows into a
fresh SQLite table with executemany.

    python benchmarks/ingest_draft.py [--articles 5000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

TARGET_SECONDS = 60.0
TARGET_BYTES = 2 * 1024**3

OUTLETS = ["Harbor Times", "Capital Ledger", "Pacific Wire", "Defense Weekly", "Tokyo Evening", "Market Daily",
           "World Report", "Asia Review", "Metro Post", "Global Herald", "Evening Star", "Daily Compass"]
COUNTRIES = ["Japan", "the United States", "South Korea", "Germany", "Brazil", "India", "Canada", "France",
             "Australia", "Mexico", "Kenya", "Norway", "Chile", "Egypt", "Vietnam", "Poland", "Spain", "Nigeria",
             "Turkey", "Peru", "Sweden", "Thailand", "Ghana", "Italy"]
VERBS = ["agree on", "announce", "sign", "open talks on", "finalise", "criticise", "launch", "postpone",
         "debate", "unveil", "reject", "expand"]
SYLLABLES = ["ka", "to", "ri", "mo", "sa", "ne", "lu", "vi", "da", "po", "shi", "ga", "ber", "lin", "dor", "mak"]


def _word(rng: random.Random, parts: int = 3) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts))


def generate(path: Path, count: int, seed: int = 7) -> None:
    """Write ``count`` synthetic articles: 800 events, each covered 1-40 times.

    Each event has its own names and subject words (as real events do), two
    countries and a verb; outlets word titles and pick sentences differently.
    """
    rng = random.Random(seed)
    start = datetime(2026, 10, 26, tzinfo=timezone.utc)
    generic = [f"{_word(rng, 2)}" for _ in range(300)]
    events = []
    for e in range(800):
        a, b = rng.sample(COUNTRIES, 2)
        nouns = [_word(rng) for _ in range(5)]
        person, city = f"{_word(rng, 2).title()} {_word(rng).title()}", _word(rng).title()
        figure = rng.randint(2, 900)
        verb = rng.choice(VERBS)
        pool = [
            f"{a} and {b} {verb} a {nouns[0]} {nouns[1]} agreement in {city} on Tuesday, officials said.",
            f"{person} said the {nouns[0]} package is worth ${figure} million over five years.",
            f"The {nouns[2]} plan would also cover {nouns[3]} and {nouns[4]} projects near {city}.",
            f"Critics in {b} said the {nouns[1]} terms favour {a}.",
            f"{person} will travel to {city} again next month to review the {nouns[2]} work.",
            f"Officials from {a} described the {nouns[0]} talks as constructive.",
        ]
        events.append({"a": a, "b": b, "verb": verb, "nouns": nouns, "city": city, "pool": pool,
                       "day": rng.randint(0, 13)})
    weights = [rng.paretovariate(1.5) for _ in events]
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            ev = rng.choices(events, weights)[0]
            outlet = rng.choice(OUTLETS)
            when = start + timedelta(days=ev["day"], hours=rng.randint(0, 47))
            body = rng.sample(ev["pool"], 4) + [" ".join(rng.sample(generic, 8)).capitalize() + "."]
            title = f"{ev['a'].replace('the ', '').title()}, {ev['b'].replace('the ', '')} {ev['verb']} " \
                    f"{rng.choice(ev['nouns'][:3])} deal in {ev['city']}"
            out.write(json.dumps({
                "url": f"https://{outlet.lower().replace(' ', '')}.example/{when:%Y/%m/%d}/story-{n}",
                "title": title, "text": " ".join(body), "published": when.isoformat(), "source": outlet,
            }) + "\n")


def run(cmd: list[str], env: dict) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one child command."""
    begin = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - begin
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    return elapsed, _peak_rss_of_children()


def _peak_rss_of_children() -> int:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux: KiB


def reference(path: Path, db: Path) -> float:
    begin = time.perf_counter()
    db.unlink(missing_ok=True)
    conn = sqlite3.connect(db)
    conn.execute("create table a (url text primary key, title text, text text, published text, source text)")
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    conn.executemany("insert into a values (?, ?, ?, ?, ?)",
                     [(r["url"], r["title"], r["text"], r["published"], r["source"]) for r in rows])
    conn.commit()
    conn.close()
    return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--keep", type=Path, help="keep the workspace and input here")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="digest-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "articles.jsonl"
    generate(data, args.articles)
    home = work / "ws"
    if home.exists():
        shutil.rmtree(home)
    env = dict(os.environ, DIGEST_HOME=str(home))
    digest = [sys.executable, "-m", "alliance_digest"]
    subprocess.run(digest + ["init", str(home)], env=env, check=True, capture_output=True)
    ingest_s, _ = run(digest + ["ingest", str(data)], env)
    draft_s, peak = run(digest + ["draft", "--start", "2026-10-26", "--end", "2026-11-08"], env)
    ref_s = reference(data, work / "reference.sqlite3")
    total = ingest_s + draft_s
    print(f"articles:        {args.articles}")
    print(f"ingest:          {ingest_s:6.2f} s")
    print(f"draft:           {draft_s:6.2f} s")
    print(f"total:           {total:6.2f} s   ratio to 60 s target: {total / TARGET_SECONDS:.3f}")
    print(f"peak memory:     {peak / 1024**2:6.0f} MiB ratio to 2 GB target: {peak / TARGET_BYTES:.3f}")
    print(f"reference:       {ref_s:6.2f} s   (json.loads + sqlite executemany of the same file)")
    print(f"ratio to reference: {total / ref_s:.1f}x")
    if not args.keep:
        shutil.rmtree(work)
    ok = total < TARGET_SECONDS and peak < TARGET_BYTES
    print("PASS" if ok else "FAIL: over target")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
