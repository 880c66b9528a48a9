"""The README's screenshot of the evidence map, regenerated from the real corpus.

    .venv/bin/python -m tests.screenshots            # writes docs/evidence-map.png

Builds ``evidence/`` into a temporary folder, opens ``map.html`` from disk in Debian's Chromium
(headless, as the browser tests do) and saves the page from its heading down (legend, filters and the
first rows of the map). The PNG is committed; run this
again when the map's look or the corpus changes, and look at the result before committing it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "evidence-map.png"
CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1200, "height": 1280}
HEIGHT = 1280  # from the map's heading down: the legend, the filters and the first rows of the map
MAX_BYTES = 200 * 1024  # the README's image stays small enough for a clone and a slow connection


def build_site(evidence: Path, out: Path) -> Path:
    from kb.config import load_config
    from kb.pipeline import build

    return build(load_config(evidence, out_dir=out, cache_dir=out.parent / "cache")).out_dir


def shoot(site: Path, target: Path) -> Path:
    """Save the evidence map of the built ``site`` as a PNG at ``target``; refuse one over MAX_BYTES."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
        try:
            context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1, color_scheme="light",
                                          reduced_motion="reduce")
            page = context.new_page()
            page.goto((site / "map.html").as_uri())
            page.wait_for_selector("#evmap")
            top = page.locator("h1").bounding_box()
            assert top is not None
            clip = {"x": 0, "y": max(top["y"] - 16, 0), "width": VIEWPORT["width"], "height": HEIGHT}
            png = page.screenshot(full_page=True, clip=clip, animations="disabled", caret="hide")
        finally:
            browser.close()
    if len(png) > MAX_BYTES:
        raise ValueError(f"the screenshot is {len(png):,} bytes, over {MAX_BYTES:,}: make the viewport smaller")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(png)
    return target


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else TARGET
    with tempfile.TemporaryDirectory(prefix="kb-screenshot-") as tmp:
        site = build_site(ROOT / "evidence", Path(tmp) / "site")
        shoot(site, target)
    print(f"wrote {target} ({target.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
