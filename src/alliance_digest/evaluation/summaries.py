"""Summary quality: drafted details paragraphs against human-written summaries.

``news-windows/summary_pairs.jsonl`` pairs a Wikipedia *Current events*
summary with the feed items (title + description) that report the same
event. Each pair's items become one story, drafted exactly as the product
drafts a story; its paragraph (Markdown stripped) is scored with ROUGE-1/2
F1 against the human summary, next to the lead-item baseline: title +
description of the earliest item. Grounding is the share of drafted
sentences found verbatim in a source the story cites.
"""

from __future__ import annotations

import json
import re

from alliance_digest.evaluation import Report, require
from alliance_digest.evaluation._data import news_items, record
from alliance_digest.evaluation.metrics import rouge_n
from alliance_digest.pipeline import summarise
from alliance_digest.pipeline.records import StoryArticle, StoryDraft
from alliance_digest.pipeline.text import squash

_LINK = re.compile(r"\[([^\]]*)\]\((?:[^()]|\([^)]*\))*\)")


def markdown_to_text(markdown: str) -> tuple[str, list[str]]:
    """Plain text of a drafted paragraph, and the URLs it cites."""
    urls = re.findall(r"\]\(((?:[^()]|\([^)]*\))*)\)", markdown)
    text = _LINK.sub(r"\1", markdown).replace("**", "")
    text = re.sub(r"\\(.)", r"\1", text)
    return squash(text), urls


def grounded(sentence: str, sources: list[str]) -> bool:
    needle = squash(sentence).rstrip(".")
    return any(needle in squash(source) for source in sources)


def run(data_dir) -> Report:
    pairs = [json.loads(line) for line in
             require(data_dir / "news-windows" / "summary_pairs.jsonl").read_text("utf-8").splitlines() if line.strip()]
    items = news_items(data_dir)
    report = Report("summaries", ["system", "pairs", "rouge1 f1", "rouge2 f1", "words (mean)", "grounded"])
    ours1 = ours2 = base1 = base2 = 0.0
    words_ours = words_base = 0
    sentences = supported = 0
    for pair in pairs:
        records = sorted((record(items[g]) for g in pair["rss_items"] if g in items),
                         key=lambda r: (r.published is None, r.published))
        if not records:
            continue
        views = [StoryArticle(id=i, url=r.url, title=r.title, text=r.text, summary=r.summary, source=r.source,
                              published=r.published, relevance=0.0) for i, r in enumerate(records)]
        story = StoryDraft(views)
        summarise.draft(story)
        text, cited = markdown_to_text(story.summary_markdown)
        lead = records[0]
        baseline = squash(f"{lead.title}. {lead.summary}")
        reference = pair["wcep_text"]
        ours1 += rouge_n(text, reference, 1)[2]
        ours2 += rouge_n(text, reference, 2)[2]
        base1 += rouge_n(baseline, reference, 1)[2]
        base2 += rouge_n(baseline, reference, 2)[2]
        words_ours += len(text.split())
        words_base += len(baseline.split())
        # the paragraph's sentences as drafted (re-splitting the text would
        # mis-split at abbreviations such as "U.S." that end a sentence)
        chosen = summarise.select_sentences(story)
        assert squash(" ".join(c.text for c in chosen)) == text, "paragraph is not its sentences"
        sources = [f"{v.title}\n{v.summary}\n{v.text}" for v in views if not cited or v.url in cited]
        for sentence in chosen:
            sentences += 1
            supported += grounded(sentence.text, sources)
    n = len(pairs)
    report.rows.append(["alliance-digest (drafted story)", n, ours1 / n, ours2 / n, words_ours / n,
                        supported / sentences if sentences else 1.0])
    report.rows.append(["lead item (title + description)", n, base1 / n, base2 / n, words_base / n, "-"])
    report.metrics.update({
        "summaries_rouge1_f1": ours1 / n, "summaries_rouge2_f1": ours2 / n,
        "baseline_rouge1_f1": base1 / n, "baseline_rouge2_f1": base2 / n,
        "summaries_rouge1_minus_baseline": (ours1 - base1) / n,
        "summaries_grounded_share": supported / sentences if sentences else 1.0,
    })
    report.notes.append("ROUGE: lower-cased alphanumeric tokens, no stemming, F1 averaged over pairs")
    return report
