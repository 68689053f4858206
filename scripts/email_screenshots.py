"""Screenshots of the sample issue's email at phone and desktop widths.

    python scripts/email_screenshots.py OUTDIR

Builds the demo workspace from the bundled sample corpus (in a temporary
directory), renders the latest issue's email HTML, and with headless Debian
Chromium (``/usr/bin/chromium``, driven by the ``playwright`` package; never
``playwright install``) saves ``email-375.png`` and ``email-800.png`` (full
page) plus ``email-375-dark.png`` under OUTDIR, with ``email.html`` beside
them. Nothing is fetched from the network: the lead image is answered with
a local placeholder. Exits 1 when the layout overflows horizontally at a
width (``document.documentElement.scrollWidth`` > viewport width), 2 when
Chromium or playwright is missing.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
WIDTHS = (375, 800)
PLACEHOLDER = (b'<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="675" viewBox="0 0 1200 675">'
               b'<rect width="1200" height="675" fill="#8da2bb"/>'
               b'<text x="600" y="350" font-family="Arial" font-size="48" fill="#fff" text-anchor="middle">'
               b'lead image placeholder</text></svg>')


def sample_email_html(unsubscribe_url: str | None = "https://digest.example.org/unsubscribe/sample-token",
                      web_url: str | None = "https://digest.example.org/issues/sample") -> str:
    """The sample issue's email HTML (runs the demo in a temporary directory)."""
    from alliance_digest.demo import run_demo

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "demo"
        run_demo(home, echo=lambda m: None)
        from alliance_digest import services  # after run_demo has set Django up
        from alliance_digest.profile import load_profile
        from alliance_digest.render.email import build_email

        profile = load_profile(home / "digest.toml")
        data = services.issue_data(services.find_issue("latest"), profile)
        return build_email(data, profile, unsubscribe_url=unsubscribe_url, web_url=web_url).html


def screenshots(html: str, outdir: Path, widths=WIDTHS) -> dict[str, dict]:
    """Save the screenshots; return ``{name: {"width", "scroll_width", "overflow", "path"}}``."""
    from playwright.sync_api import sync_playwright

    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "email.html").write_text(html, "utf-8")
    results = {}

    def answer(route):
        if route.request.resource_type == "image":
            route.fulfill(status=200, content_type="image/svg+xml", body=PLACEHOLDER)
        elif route.request.url.startswith("data:"):
            route.continue_()
        else:
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            shots = [(f"email-{w}", w, "light") for w in widths] + [(f"email-{widths[0]}-dark", widths[0], "dark")]
            for name, width, scheme in shots:
                page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
                page.route("**/*", answer)
                page.set_content(html, wait_until="load")
                scroll_width = page.evaluate("document.documentElement.scrollWidth")
                path = outdir / f"{name}.png"
                page.screenshot(path=str(path), full_page=True)
                results[name] = {"width": width, "scroll_width": scroll_width,
                                 "overflow": scroll_width > width, "path": path}
                page.close()
        finally:
            browser.close()
    return results


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: email_screenshots.py OUTDIR", file=sys.stderr)
        return 2
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} not found (apt-get install chromium)", file=sys.stderr)
        return 2
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        print("playwright is not installed (pip install playwright; never `playwright install`)", file=sys.stderr)
        return 2
    html = sample_email_html()
    print(f"email HTML: {len(html.encode('utf-8')):,} bytes")
    failed = False
    for name, result in screenshots(html, Path(argv[0])).items():
        verdict = "OVERFLOWS" if result["overflow"] else "ok"
        print(f"{name}: viewport {result['width']} px, scrollWidth {result['scroll_width']} px: {verdict} "
              f"-> {result['path']}")
        failed |= result["overflow"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
