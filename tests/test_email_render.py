"""The email edition of an issue (render/email.py): subject, HTML with CSS inlined, text part."""

from __future__ import annotations

import copy
import importlib.util
import re
from pathlib import Path

import pytest
from lxml import html as lxml_html

from alliance_digest.demo import run_demo
from alliance_digest.profile import load_profile

ROOT = Path(__file__).resolve().parent.parent
UNSUBSCRIBE = "https://digest.example.org/unsubscribe/tok-123"
WEB = "https://digest.example.org/issues/1.1"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The demo issue's data and profile."""
    home = tmp_path_factory.mktemp("email") / "demo"
    run_demo(home, echo=lambda m: None)
    from alliance_digest import services  # after run_demo has set Django up

    profile = load_profile(home / "digest.toml")
    return services.issue_data(services.find_issue("latest"), profile), profile


def _build(data, profile, **kwargs):
    from alliance_digest.render.email import build_email

    return build_email(data, profile, **kwargs)


@pytest.fixture(scope="module")
def email(sample):
    data, profile = sample
    return _build(data, profile, unsubscribe_url=UNSUBSCRIBE, web_url=WEB)


def _doc(html: str):
    return lxml_html.document_fromstring(html)


def test_subject_follows_the_profile(sample, email):
    data, profile = sample
    assert profile.subject == "{title} Vol {volume}.{number} — {date}"
    # the date as the issue writes it, so subject and body agree (the reference: "October 27, 2023")
    assert email.subject == f"US-Japan Alliance Digest Vol {data['volume']}.{data['number']} — November 8, 2026"
    profile = copy.copy(profile)
    profile.subject = "{title} {volume}/{number} ({date})"
    assert _build(dict(data, date="2023-10-27", date_text="27. Oktober 2023", volume=2, number=20),
                  profile).subject == "US-Japan Alliance Digest 2/20 (27. Oktober 2023)"
    frozen_before = {key: value for key, value in data.items() if key != "date_text"}  # approved before
    assert _build(dict(frozen_before, date="2023-10-27", volume=2, number=20), profile).subject == \
        "US-Japan Alliance Digest 2/20 (27 October 2023)"


def test_html_is_small_complete_and_inlined(email):
    assert len(email.html.encode("utf-8")) < 100_000
    assert len(email.html.encode("utf-8")) < 50_000, "the sample should be well under Gmail's clipping size"
    assert email.html.lstrip().lower().startswith("<!doctype html>")
    doc = _doc(email.html)
    assert doc.find(".//title").text == email.subject
    metas = {m.get("name"): m.get("content") for m in doc.iter("meta") if m.get("name")}
    assert metas["color-scheme"] == "light dark" and "viewport" in metas
    paragraphs = doc.find_class("p")
    assert len(paragraphs) >= 5 and all("font" in (p.get("style") or "") for p in paragraphs)
    for anchor in doc.iter("a"):
        assert "color" in (anchor.get("style") or ""), "links carry their colour inline"
    style = "".join(s.text_content() for s in doc.iter("style"))
    assert "@media only screen and (max-width: 620px)" in style
    assert "@media (prefers-color-scheme: dark)" in style
    container = doc.find_class("card")[0]
    assert container.tag == "table" and container.get("width") == "600"


def test_html_carries_the_issue(sample, email):
    data, _ = sample
    doc = _doc(email.html)
    text = " ".join(doc.text_content().split())
    assert data["label"] in text and "November 8, 2026" in text
    assert "Image Source: US Embassy Tokyo Bulletin" in text
    credit = [a for a in doc.iter("a") if a.text_content() == data["image"]["credit"]]
    assert credit and credit[0].get("href") == data["image"]["credit_url"]
    headlines = [" ".join(td.text_content().split()) for td in doc.find_class("hl")]
    assert headlines == [s["headline"] for s in data["stories"]]
    for story in data["stories"]:
        for article in story["articles"]:
            if f"]({article['url']})" in story["summary_markdown"]:
                assert f'href="{article["url"]}"' in email.html
    flat = " ".join(text.split())  # the footer is wrapped like the paragraphs
    assert data["footer"]["text"] in flat and data["footer"]["contact"] in flat
    unsubscribe = [a for a in doc.iter("a") if a.text_content() == "Unsubscribe"]
    assert unsubscribe and unsubscribe[0].get("href") == UNSUBSCRIBE
    assert any(a.get("href") == WEB and "View in your browser" in a.text_content() for a in doc.iter("a"))
    assert "test send" not in text and "\\$" not in text


def test_links_and_images_are_absolute_with_alt_text(email):
    doc = _doc(email.html)
    urls = [el.get("href") for el in doc.iter() if el.get("href") is not None]
    urls += [el.get("src") for el in doc.iter() if el.get("src") is not None]
    assert len(urls) > 10
    for url in urls:
        assert re.match(r"(https?://[^\s\"<>]+|mailto:\S+@\S+)$", url), url
    images = list(doc.iter("img"))
    assert images
    for img in images:
        assert img.get("alt") and img.get("width")
        assert "max-width: 100%" in img.get("style")


def test_preheader_is_the_first_headlines_and_hidden(sample, email):
    data, _ = sample
    assert email.preheader.startswith(data["stories"][0]["headline"])
    assert len(email.preheader) <= 140
    doc = _doc(email.html)
    body_first = doc.body[0]
    assert body_first.text_content().startswith(email.preheader)
    style = body_first.get("style").replace(" ", "")
    assert "display:none" in style and "mso-hide:all" in style and "max-height:0" in style


def test_text_part_lists_links_headlines_and_unsubscribe(sample, email):
    data, _ = sample
    text = email.text
    assert text.startswith(f"View in your browser: {WEB}\n")
    for story in data["stories"]:
        assert story["headline"] in text
    listed = re.findall(r"^\[(\d+)\] (\S+)$", text, re.M)
    assert listed and [int(n) for n, _ in listed] == list(range(1, len(listed) + 1))
    assert all(url.startswith("https://") for _, url in listed)
    cited = {int(n) for n in re.findall(r"\s\[(\d+)\]", text.split("\nLINKS\n")[0])}
    assert cited == set(range(1, len(listed) + 1))
    assert data["image"]["credit_url"] in text
    assert f"Unsubscribe: {UNSUBSCRIBE}" in text
    flat = " ".join(text.split())  # the footer is wrapped like the paragraphs
    assert data["footer"]["text"] in flat and data["footer"]["contact"] in flat
    assert "test send" not in text and "<" not in text.replace("<<", "") and "\\$" not in text


def test_text_lines_fit_a_mail_reader_even_in_japanese(sample):
    """Lines of the text part stay within 76 columns (a Japanese character takes two; a closing 。 may hang
    over), except whole URLs; no line starts with a closing mark."""
    import copy
    import unicodedata

    data, profile = sample
    data = copy.deepcopy(data)
    japanese = "米国と日本は火曜日、東京で開かれた外務・防衛担当閣僚会合で在日米軍の統合司令部への格上げに合意した。" * 2
    data["stories"][0]["summary_markdown"] = f"The allies agreed ({japanese}) on **a new command** in Tokyo."
    text = _build(data, profile, unsubscribe_url=UNSUBSCRIBE, web_url=WEB).text

    def columns(line):
        return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in line)

    long = [line for line in text.splitlines() if columns(line) > 78 and "://" not in line]  # +2: a closing 。
    assert long == []
    assert not any(line.startswith(("。", "、")) for line in text.splitlines())
    assert "在日米軍" in text.replace("\n", "") and "a new command" in " ".join(text.split())


def test_test_send_says_so_without_unsubscribe(sample):
    data, profile = sample
    parts = _build(data, profile)
    for part in (parts.html, parts.text):
        assert "This is a test send." in part
        assert "Unsubscribe" not in part and "unsubscribe" not in part.lower()
    assert "View in your browser" not in parts.html
    # a test send of a draft links where the issue will be: it says those links wait for publishing
    drafted = _build({**data, "status": "draft"}, profile, web_url=WEB)
    assert "View in your browser" in drafted.html
    for part in (drafted.html, " ".join(drafted.text.split())):
        assert "The web and PDF links work once the issue is published." in part
    published = _build({**data, "status": "published"}, profile, web_url=WEB)
    assert "once the issue is published" not in published.html + published.text


def test_hostile_headline_and_summary_are_inert(sample):
    data, profile = sample
    data = copy.deepcopy(data)
    data["stories"][0]["headline"] = 'Pact <script>alert(1)</script> <img src=x onerror=alert(2)> javascript:alert(3)'
    data["stories"][1]["summary_markdown"] = (
        'Bad [click](javascript:alert(4)) and [rel](/relative/path) and [frag](#top) and '
        '<script>alert(5)</script> <a href="javascript:alert(6)">raw</a> and [ok](https://ok.example/a) **bold**.')
    data["image"]["url"] = "javascript:alert(7)"
    data["image"]["credit_url"] = "/credits"
    parts = _build(data, profile, unsubscribe_url=UNSUBSCRIBE)
    doc = _doc(parts.html)
    assert not list(doc.iter("script"))
    assert not [el for el in doc.iter() for attr in el.attrib if attr.lower().startswith("on")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in parts.html  # shown as words
    assert "<script" not in parts.html.lower()
    assert not list(doc.iter("img")), "an unsafe image URL drops the image"
    for el in doc.iter():
        for attr in ("href", "src"):
            value = el.get(attr)
            if value is not None:
                assert re.match(r"(https?://|mailto:)", value), value
    assert 'href="https://ok.example/a"' in parts.html
    paragraph = " ".join(doc.find_class("p")[1].text_content().split())
    assert paragraph.startswith("Bad click and rel and frag and")
    assert "Image Source" not in doc.text_content() and "Image Source" not in parts.text
    assert "/relative/path" not in parts.html and "/credits" not in parts.html
    # the text part is never read as HTML; its links are only the safe one
    listed = re.findall(r"^\[(\d+)\] (\S+)$", parts.text, re.M)
    urls = [url for _, url in listed]
    assert "https://ok.example/a" in urls and all(url.startswith("https://") for url in urls)
    for bad in ("javascript:alert(4)", "javascript:alert(7)", "/relative/path", "/credits"):
        assert bad not in parts.text
    # raw HTML in a summary is never markup: both parts show it as words
    assert '&lt;a href="javascript:alert(6)"&gt;raw&lt;/a&gt;' in parts.html
    assert '<a href="javascript:alert(6)">raw</a>' in " ".join(parts.text.split())
    data["image"]["url"] = "https://images.example/lead.jpg"
    parts = _build(data, profile)
    credit = _doc(parts.html).find_class("credit")[0]
    assert " ".join(credit.text_content().split()) == "Image Source: US Embassy Tokyo Bulletin"
    assert not list(credit.iter("a")), "an unsafe credit link leaves the credit as words"
    assert "Image Source: US Embassy Tokyo Bulletin\n" in parts.text


@pytest.mark.parametrize("kwargs", [{"unsubscribe_url": "javascript:alert(1)"}, {"unsubscribe_url": "/u/1"},
                                    {"unsubscribe_url": ""}, {"web_url": "ftp://example.org/x"}])
def test_bad_unsubscribe_or_web_url_is_refused(sample, kwargs):
    data, profile = sample
    with pytest.raises(ValueError, match="absolute http"):
        _build(data, profile, **kwargs)


def _browser_ready() -> bool:
    return Path("/usr/bin/chromium").exists() and importlib.util.find_spec("playwright") is not None


@pytest.mark.skipif(not _browser_ready(), reason="needs /usr/bin/chromium and the playwright package")
def test_screenshots_do_not_overflow(email):
    import importlib.util as iu

    spec = iu.spec_from_file_location("email_screenshots", ROOT / "scripts" / "email_screenshots.py")
    module = iu.module_from_spec(spec)
    spec.loader.exec_module(module)
    outdir = ROOT / "test-artifacts" / "email"
    results = module.screenshots(email.html, outdir)
    assert set(results) == {"email-375", "email-800", "email-375-dark"}
    for name, result in results.items():
        assert result["path"].stat().st_size > 10_000, name
        assert not result["overflow"], f"{name}: scrollWidth {result['scroll_width']} > {result['width']}"


def test_a_permalink_brings_the_pdf_edition_beside_it(sample):
    data, profile = sample
    permalink = "https://digest.example.org/issues/1-1/"
    parts = _build(data, profile, unsubscribe_url=UNSUBSCRIBE, web_url=permalink)
    hrefs = [a.get("href") for a in _doc(parts.html).iter("a")]
    assert permalink in hrefs and "https://digest.example.org/issues/1-1.pdf" in hrefs
    assert parts.text.startswith(f"View in your browser: {permalink}\n"
                                 "PDF edition: https://digest.example.org/issues/1-1.pdf\n\n")


def test_the_email_speaks_the_digests_language(sample):
    data, profile = sample
    german = {**data, "language": "de", "date_text": "8. November 2026",
              "labels": {**data["labels"], "view_in_browser": "Im Browser ansehen", "unsubscribe": "Abbestellen",
                         "subscribed": "Sie erhalten diese E-Mail, weil Sie {title} abonniert haben.",
                         "headlines": "Schlagzeilen"}}
    parts = _build(german, profile, unsubscribe_url=UNSUBSCRIBE, web_url=WEB)
    assert '<html lang="de"' in parts.html and "Im Browser ansehen" in parts.html and "Schlagzeilen" in parts.html
    assert f"weil Sie {data['title']} abonniert haben." in parts.html and ">Abbestellen</a>" in parts.html
    assert "Im Browser ansehen: " in parts.text and "Abbestellen: " in parts.text and "8. November 2026" in parts.text
    # an issue frozen before the digest had a language still renders, in English
    old = {key: value for key, value in data.items() if key not in ("language", "date_text", "labels")}
    assert "View in your browser" in _build(old, profile, web_url=WEB).html
