"""The PDF edition: `digest render --format pdf` (the web page's print rendering)."""

from __future__ import annotations

import io
import json

import pytest

from conftest import write
from faulty_server import FaultyServer


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 40), (31, 78, 140)).save(buffer, "PNG")
    return buffer.getvalue()


def _items(image_url: str) -> str:
    rows = [
        {"url": "https://harbor.example/1", "title": "US and Japan sign defense alliance pact in Tokyo",
         "text": "The United States and Japan signed a defense alliance pact in Tokyo on Tuesday. The pact commits "
                 "Washington and Tokyo to joint planning for regional security crises. Japanese and American "
                 "ministers called it the biggest alliance upgrade in a decade.",
         "published": "2026-10-27T09:00:00Z", "source": "Harbor", "image": image_url},
        {"url": "https://coast.example/2", "title": "Japan, US agree alliance pact for joint crisis planning",
         "text": "Japan and the United States agreed an alliance pact in Tokyo on Tuesday to plan jointly for "
                 "regional crises. Officials in Tokyo said the security pact includes $3 billion of joint missile "
                 "production.", "published": "2026-10-27T10:00:00Z", "source": "Coast"},
    ]
    return "\n".join(json.dumps(r) for r in rows) + "\n"


@pytest.fixture
def server():
    with FaultyServer() as srv:
        srv.routes["/lead.png"] = lambda q: (200, {"Content-Type": "image/png"}, _png())
        srv.routes["/not-an-image"] = lambda q: (200, {"Content-Type": "text/html"}, b"<p>hello</p>")
        yield srv


def _drafted(home, cli, tmp_path, image_url: str, allow_private: bool = True):
    toml = home / "digest.toml"
    if allow_private:  # the test server is on 127.0.0.1
        toml.write_text(toml.read_text("utf-8").replace("allow_private_addresses = false",
                                                        "allow_private_addresses = true"), "utf-8")
    assert cli(home, "ingest", write(tmp_path / "items.jsonl", _items(image_url))).exit_code == 0
    assert cli(home, "draft", "--start", "2026-10-26", "--end", "2026-11-08").exit_code == 0


def _read(pdf: bytes):
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    links = {annot.get_object().get("/A", {}).get("/URI") for page in reader.pages
             for annot in (page.get("/Annots") or [])}
    images = sum(len(page.images) for page in reader.pages)
    return reader, text, links - {None}, images


def test_pdf_edition_carries_the_issue_links_image_and_page_numbers(home, cli, tmp_path, server):
    _drafted(home, cli, tmp_path, server.url("/lead.png"))
    out = tmp_path / "issue.pdf"
    result = cli(home, "render", "latest", "--format", "pdf", "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF-")
    reader, text, links, images = _read(out.read_bytes())
    assert reader.metadata.title == "US-Japan Alliance Digest Vol: 1.1"
    data = json.loads(cli(home, "render", "latest", "--format", "json").output)
    for story in data["stories"]:
        assert story["headline"] in text
        assert {a["url"] for a in story["articles"]} & links  # the sources stay clickable
    assert "Image Source: Harbor" in text and f"1 / {len(reader.pages)}" in text
    assert images == 1 and len(server.hits("/lead.png")) == 1  # the lead image, read once
    # without -o and with stdout not a terminal, the bytes go to stdout
    piped = cli(home, "render", "latest", "--format", "pdf")
    assert piped.exit_code == 0 and piped.stdout_bytes.startswith(b"%PDF-")


def test_pdf_without_the_image_leaves_out_its_credit_and_says_why(home, cli, tmp_path, server):
    _drafted(home, cli, tmp_path, server.url("/missing.png"))
    result = cli(home, "render", "latest", "--format", "pdf", "-o", tmp_path / "a.pdf")
    assert result.exit_code == 0
    assert "lead image not embedded: the image was not found (HTTP 404)" in result.stderr
    _, text, _, images = _read((tmp_path / "a.pdf").read_bytes())
    assert images == 0 and "Image Source" not in text and "alliance pact" in text
    server.reset()
    quiet = cli(home, "render", "latest", "--format", "pdf", "--no-images", "-o", tmp_path / "b.pdf")
    assert quiet.exit_code == 0 and quiet.stderr == "" and server.hits() == []  # nothing fetched
    wrong = cli(home, "render", "latest", "--format", "md", "--no-images")
    assert wrong.exit_code != 0 and "--no-images only applies to --format pdf" in wrong.output


def test_lead_images_are_read_with_the_fetchers_safety_checks(profile, server):
    import dataclasses

    from alliance_digest.render.pdf import lead_image_loader

    refused = lead_image_loader(profile)(server.url("/lead.png"))  # loopback: refused by default
    assert isinstance(refused, str) and "refused for safety" in refused
    assert server.hits() == []
    allowed = dataclasses.replace(profile, fetch=dataclasses.replace(profile.fetch, allow_private_addresses=True))
    load = lead_image_loader(allowed)
    body, mime = load(server.url("/lead.png"))
    assert mime == "image/png" and body == _png()
    assert "is not an image (text/html)" in load(server.url("/not-an-image"))
    assert "only http(s) images" in load("file:///etc/passwd")


def test_characters_no_font_can_draw_are_named_not_printed_as_silent_boxes(home, cli, tmp_path):
    """A headline quoting Japanese on a machine without a CJK font: the PDF would show boxes; the command says so."""
    import shutil

    from alliance_digest.render.pdf import missing_glyphs_note

    if shutil.which("fc-list") is None:
        pytest.skip("fontconfig's fc-list is not installed: the check says nothing")
    assert missing_glyphs_note("Plain text, “quotes” — and café") == []
    unassigned = "\ufdd0"  # a noncharacter: no font anywhere draws it
    (note,) = missing_glyphs_note(f"A headline {unassigned}")
    assert unassigned in note and "empty boxes" in note and "fonts-noto-cjk" in note
    _drafted(home, cli, tmp_path, "")
    from alliance_digest.db.models import Story

    story = Story.objects.filter(selected=True).first()
    Story.objects.filter(pk=story.pk).update(headline=story.headline + f" {unassigned}")
    result = cli(home, "render", "latest", "--format", "pdf", "--no-images", "-o", tmp_path / "c.pdf")
    assert result.exit_code == 0 and "empty boxes" in result.stderr
