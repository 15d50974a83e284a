"""Headless Debian Chromium for the report tests (driven by Playwright; never
``playwright install``): the ``browser`` fixture and a loaded page that records console errors,
dialogs and every request."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium package to run the browser tests)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class Loaded:
    """A report file opened in a fresh browser context, waited on until it says it is ready."""

    def __init__(self, browser, path: Path, init_script: str | None = None):
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        if init_script:
            self.page.add_init_script(init_script)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", self._dialog)
        self.url = path.resolve().as_uri()
        self.page.goto(self.url)
        self.page.wait_for_selector('body[data-ready="1"]', timeout=30_000)

    def _dialog(self, d):
        self.dialogs.append(d.message)
        d.dismiss()

    def check_clean(self):
        assert self.errors == []
        assert self.dialogs == []
        assert self.requests == [self.url], self.requests  # the file itself, nothing else

    def close(self):
        self.context.close()
