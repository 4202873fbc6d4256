"""A phone's browser for the Mini App on this machine: Debian's chromium through its chromedriver (never Selenium
Manager: no downloads), as the browser tests, the screenshots and the benchmark drive it. A 390×844 viewport;
Telegram's script blocked (it cannot be fetched here) and ``window.Telegram.WebApp`` stubbed before the page's
scripts run, with an initData signed by the local bot's token. Selenium is a development dependency."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import ElementClickInterceptedException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
MISSING = "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
HAVE_CHROMIUM = CHROMIUM.exists() and CHROMEDRIVER.exists()
WIDTH, HEIGHT = 390, 844
FLAGS = (
    "--headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "
    f"--disable-component-update --disable-sync --window-size={WIDTH},{HEIGHT}"
).split()
WAIT = 10.0  # seconds for anything the page shows (a loaded CI runner is slow; a working page takes milliseconds)

# The Telegram.WebApp the page uses (as telegram-web-app.js defines it), recording the questions it was asked; the
# theme's CSS variables, which Telegram's script sets from themeParams; and what the page's CSP refused.
STUB = """
window.Telegram = {WebApp: {
  initData: %(init_data)s, initDataUnsafe: {}, version: "8.0", platform: "tdesktop", colorScheme: "light",
  themeParams: %(theme)s, isVersionAtLeast: () => true, ready() {}, expand() {},
  asked: [],
  showConfirm(message, callback) { this.asked.push(message); setTimeout(() => callback(%(yes)s), 0); },
  BackButton: {show() {}, hide() {}, onClick() {}, offClick() {}},
}};
window.refusedByCsp = [];  // what the page's Content-Security-Policy blocked (an inline script or style…)
document.addEventListener("securitypolicyviolation", (e) => {
  window.refusedByCsp.push(`${e.violatedDirective} ${e.blockedURI}`);
});
document.addEventListener("DOMContentLoaded", () => {  // (no document element yet when this runs)
  for (const [key, value] of Object.entries(%(theme)s)) {
    document.documentElement.style.setProperty(`--tg-theme-${key.replaceAll("_", "-")}`, value);
  }
});
"""


def start_chromium() -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    # Headless windows are at least 500 px wide: the phone's viewport is emulated (and the page's meta viewport
    # honoured, as a phone does).
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": True}
    )
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*telegram.org*"]})
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})  # every load counts all its bytes
    return driver


@contextlib.contextmanager
def chromium() -> Iterator[Phone]:
    driver = start_chromium()
    try:
        yield Phone(driver)
    finally:
        driver.quit()


class Phone:
    """The browser, driven from the async tests: each blocking WebDriver call runs in a thread, so that the bot's
    server, on the test's event loop, answers the page meanwhile."""

    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver

    async def open(
        self, url: str, init_data: str, *, confirm: bool = True, theme: dict[str, str] | None = None
    ) -> None:
        """Loads the page as Telegram would open it for the user whose ``init_data`` it is; ``confirm``: the answer
        to every question it asks (Telegram.WebApp.showConfirm); ``theme``: Telegram's themeParams
        (``{"bg_color": "#17212b", …}``; none: the page's own fallbacks)."""
        values = {"init_data": json.dumps(init_data), "yes": json.dumps(confirm), "theme": json.dumps(theme or {})}
        stub = STUB % values
        added = await self._run(self.driver.execute_cdp_cmd, "Page.addScriptToEvaluateOnNewDocument", {"source": stub})
        try:
            await self._run(self.driver.get, url)
        finally:
            forget = {"identifier": added["identifier"]}
            await self._run(self.driver.execute_cdp_cmd, "Page.removeScriptToEvaluateOnNewDocument", forget)

    async def until(self, condition: Callable[[WebDriver], Any], timeout: float = WAIT) -> Any:
        """``condition``'s first truthy value, looked for until ``timeout``."""
        # The page redraws what changed (the misses every few seconds): an element found may be gone a moment later;
        # a message at the bottom may cover a button for a few seconds.
        wait = WebDriverWait(
            self.driver,
            timeout,
            poll_frequency=0.05,
            ignored_exceptions=[StaleElementReferenceException, ElementClickInterceptedException],
        )
        return await self._run(wait.until, condition)

    async def shown(self, css: str, timeout: float = WAIT) -> WebElement:
        """The first element matching ``css`` once it is displayed."""

        def displayed(driver: WebDriver) -> WebElement | None:
            found = [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
            return found[0] if found else None

        element: WebElement = await self.until(displayed, timeout)
        return element

    async def text(self, css: str, contains: str = "", timeout: float = WAIT) -> str:
        """The text of the displayed element matching ``css`` once it contains ``contains``."""

        def has(driver: WebDriver) -> str | None:
            for element in driver.find_elements(By.CSS_SELECTOR, css):
                if element.is_displayed() and contains in (text := element.text):
                    return text
            return None

        return str(await self.until(has, timeout))

    async def click(self, css: str) -> None:
        """Clicks the first displayed element matching ``css``, as a finger would (once it is not covered)."""

        def clicked(driver: WebDriver) -> bool:
            for element in driver.find_elements(By.CSS_SELECTOR, css):
                if element.is_displayed():
                    element.click()
                    return True
            return False

        await self.until(clicked)

    async def type(self, css: str, text: str) -> None:
        element = await self.shown(css)
        await self._run(element.send_keys, text)

    async def cdp(self, command: str, params: dict[str, Any]) -> Any:
        """A Chrome DevTools Protocol command (``Emulation.setEmulatedMedia``…)."""
        return await self._run(self.driver.execute_cdp_cmd, command, params)

    async def js(self, script: str, *args: Any) -> Any:
        return await self._run(self.driver.execute_script, script, *args)

    async def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        await self._run(self.driver.save_screenshot, str(path))

    @staticmethod
    async def _run(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)
