"""Debian's Chromium driven by Playwright against the session's real `prefect server`: the page fixture and helpers
that find the UI's form fields, tabs and images. Screenshots go to outputs/ui/."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from tests.conftest import ROOT

SHOTS = ROOT / "outputs" / "ui"
# The flags a headless Chromium needs in a container with no network but loopback (see the developers' guide).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str | None:
    for candidate in (os.environ.get("FLUXCAT_CHROMIUM"), "chromium", "chromium-browser"):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    return None


# Module scope, not session: sync Playwright keeps an event loop running on the main thread while it is open, and
# every later test would see it (asyncio.run() and another sync_playwright() refuse to start inside it).
@pytest.fixture(scope="module")
def browser(deployed):
    executable = chromium()
    if not executable:
        pytest.skip("no Chromium found (apt-get install chromium, or set FLUXCAT_CHROMIUM): the browser test needs one")
    sync_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    yield page
    page.close()


def field(page, label: str, within=None):
    """A form field by its label (the form adds " (Optional)" to fields with a default)."""
    name = re.compile(f"^{re.escape(label)}( \\(Optional\\))?$")
    return (within or page).locator(".schema-form-property").filter(
        has=page.locator(":scope > .p-label__header .schema-form-property__label", has_text=name))


def choose(page, label: str, value: str, within=None) -> None:
    field(page, label, within).first.locator("button.p-select-button__control").click()
    page.keyboard.press("ArrowDown")  # opens the option list
    page.locator(".p-select-option", has_text=re.compile(f"^{re.escape(value)}$")).click()


def tab(page, name: str) -> None:
    page.locator("li.p-tab", has_text=re.compile(f"^{name}$")).click()


def images_loaded(page) -> list[int]:
    """The natural width of every image on the page once loaded (0: the browser could not load it)."""
    page.wait_for_function("() => [...document.images].every(image => image.complete)")
    return page.evaluate("() => [...document.images].map(image => image.naturalWidth)")
