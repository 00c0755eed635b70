"""A real browser on the console (and billing's guest payment pages): Debian's headless Chromium driven by Selenium
through Debian's chromedriver.

Selenium's calls block, so the async tests run each step in a thread (`await asyncio.to_thread(...)`) while
their simulated stations keep talking OCPP on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from voltline_devinfra.browser import chromedriver_binary, chromium_arguments, chromium_binary

WAIT_S = 30.0


def start_chromium(width: int = 1280, height: int = 900) -> Any:
    """A headless Chromium, or a skip saying why there can be none here (not root and not installed)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is a dev dependency: run uv sync")
    try:
        binary, driver = chromium_binary(), chromedriver_binary()
    except RuntimeError as exc:
        pytest.skip(f"no Chromium for the browser tests: {exc}")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in chromium_arguments(width, height):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))


class ConsolePage:
    """The few things the tests do with a page: go, log in (console), wait for an element or a text, click, type,
    work inside an iframe, screenshot. Any server-rendered page of voltline uses it (billing's pay pages too)."""

    def __init__(self, driver: Any, base_url: str, shots: Path) -> None:
        self.driver, self.base_url, self.shots = driver, base_url.rstrip("/"), shots

    def go(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def login(self, token: str, within: float = WAIT_S) -> None:
        """Log in; a key issued a moment ago may not have reached the console's key feed yet: try again."""
        deadline = time.monotonic() + within
        while True:
            self.go("/login")
            self.type("#token", token)
            self.click("button[type=submit]")
            if not self.driver.current_url.split("?")[0].endswith("/login"):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"login refused: {self.text('#token-error')}")
            time.sleep(0.5)

    def find(self, css: str, within: float = WAIT_S) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, within, poll_frequency=0.1).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, css)), message=f"no {css} on {self.driver.current_url}"
        )

    def all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, css: str) -> str:
        found = self.all(css)
        return str(found[0].text) if found else ""

    def click(self, css: str) -> None:
        self.find(css).click()

    def type(self, css: str, value: str) -> None:
        element = self.find(css)
        element.clear()
        element.send_keys(value)

    def press_enter_on_focused(self, expected_css: str, within: float = WAIT_S) -> None:
        """Keyboard use: the element that has the focus is `expected_css` (the page put it there), and Enter works.

        The browser applies `autofocus` at a rendering step after the element is in the document, not when it is
        parsed: a loaded machine showed the focus still on the link that led there right after the button was
        found. So the focus is waited for (the positive signal), and then Enter pressed on it."""
        from selenium.webdriver.common.keys import Keys

        deadline = time.monotonic() + within
        while True:
            expected = self.find(expected_css)
            focused = self.driver.switch_to.active_element
            if focused == expected:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the focus is on {focused.tag_name} {focused.text!r}, not on {expected_css}")
            time.sleep(0.05)
        focused.send_keys(Keys.ENTER)

    def wait_text(self, css: str, predicate: Any, within: float = WAIT_S) -> str:
        """The text of `css` once `predicate(text)` holds (the page may reload itself meanwhile)."""
        deadline = time.monotonic() + within
        while True:
            try:
                text = self.text(css)
            except Exception:  # the page was replaced between finding and reading
                text = ""
            if text and predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{css} on {self.driver.current_url} never matched; last text {text!r}")
            time.sleep(0.2)

    @contextmanager
    def inside_frame(self, css: str) -> Iterator[None]:
        """Work inside an iframe (a payment provider's hosted fields), then back on the page."""
        self.driver.switch_to.frame(self.find(css))
        try:
            yield
        finally:
            self.driver.switch_to.default_content()

    def accept_dialog(self, within: float = WAIT_S) -> str:
        """Accept the page's confirm() (htmx's hx-confirm) and return its text."""
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        alert = WebDriverWait(self.driver, within, poll_frequency=0.1).until(ec.alert_is_present())
        text = str(alert.text)
        alert.accept()
        return text

    def attribute(self, css: str, name: str) -> str:
        return str(self.find(css).get_attribute(name) or "")

    def mark(self) -> None:
        """Leave a mark in the page's JavaScript state: a reload would wipe it (see `not_reloaded`)."""
        self.driver.execute_script("window.__voltlineMark = 'kept';")

    def not_reloaded(self) -> bool:
        return bool(self.driver.execute_script("return window.__voltlineMark === 'kept';"))

    def screenshot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path
