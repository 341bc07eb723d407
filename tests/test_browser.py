"""The HTML report in a real browser: headless Chromium opens reports/index.html, follows every
link, and checks that each page loads with its figures and asks nothing of the network. The
report is the small study's (see small_study.py), built once per session.

Chromium is driven over the Chrome DevTools Protocol (a websocket on a loopback port that Chromium
picks itself), which reports every request a page makes. CI installs Debian's chromium; without it
the tests are skipped and say why.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from small_study import Study

pytestmark = pytest.mark.browser

websocket = pytest.importorskip("websocket", reason="websocket-client is not installed")

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PAGES = [
    "01_clean_transcripts.html",
    "02_code_themes.html",
    "03_analyze_themes.html",
    "04_key_takeaways.html",
]
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")
TIMEOUT = 60.0


def find_browser() -> str | None:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


class Chromium:
    """A headless Chromium and one page of it, driven over the DevTools protocol."""

    def __init__(self, binary: str) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="qualcode-chromium-"))
        self.process = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-default-apps",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.events: list[dict] = []
        self._next_id = 0
        try:
            port = self._port()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                targets = json.load(r)
            page = next(t for t in targets if t.get("type") == "page")
            self.ws = websocket.create_connection(
                page["webSocketDebuggerUrl"], timeout=TIMEOUT, suppress_origin=True
            )
            for domain in ("Page", "Network", "Runtime", "Log"):
                self.call(f"{domain}.enable")
        except BaseException:
            self.close()
            raise

    def _port(self) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with code {self.process.returncode}")
            if marker.exists():
                lines = marker.read_text().splitlines()
                if lines and lines[0].isdigit():
                    return int(lines[0])
            time.sleep(0.1)
        raise RuntimeError("chromium did not open its DevTools port")

    def call(self, method: str, params: dict | None = None) -> dict:
        """Send one DevTools command and wait for its answer (events are kept meanwhile)."""
        self._next_id += 1
        message_id = self._next_id
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params or {}}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, *, since: int) -> dict:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            for event in self.events[since:]:
                if event.get("method") == method:
                    return event
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(method)

    def open(self, url: str) -> list[dict]:
        """Load a page and wait for its load event. RETURNS: the events it caused."""
        since = len(self.events)
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise RuntimeError(f"{url}: {result['errorText']}")
        self.wait_for("Page.loadEventFired", since=since)
        # Let late requests (images, fonts) show up before the page is judged.
        self.evaluate("new Promise(r => setTimeout(r, 300))", await_promise=True)
        return self.events[since:]

    def evaluate(self, expression: str, *, await_promise: bool = False) -> object:
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": await_promise},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)


def requested_urls(events: list[dict]) -> list[str]:
    return [
        e["params"]["request"]["url"]
        for e in events
        if e.get("method") == "Network.requestWillBeSent"
    ]


def page_errors(events: list[dict]) -> list[str]:
    errors = [
        json.dumps(e["params"]["exceptionDetails"])[:300]
        for e in events
        if e.get("method") == "Runtime.exceptionThrown"
    ]
    errors += [
        e["params"]["errorText"] for e in events if e.get("method") == "Network.loadingFailed"
    ]
    return errors


@pytest.fixture(scope="module")
def browser():
    binary = find_browser()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install chromium; CI installs it)")
    chromium = Chromium(binary)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def report(small_study: Study) -> Path:
    """The small study's report (see small_study.py)."""
    return small_study.reports


def test_the_network_check_catches_a_request(browser, tmp_path):
    """The detector itself: a page that asks for an image over http is caught (loopback only)."""
    page = tmp_path / "probe.html"
    page.write_text('<html><body><img src="http://127.0.0.1:9/probe.png"></body></html>')
    events = browser.open(page.as_uri())
    assert "http://127.0.0.1:9/probe.png" in requested_urls(events)


def test_report_pages_load_with_figures_and_no_network(browser, report):
    index = report / "index.html"
    events = browser.open(index.as_uri())
    assert browser.evaluate("document.readyState") == "complete"
    body = browser.evaluate("document.body.innerText")
    assert "Run manifest" in body
    links = browser.evaluate("Array.from(document.querySelectorAll('a[href]'), a => a.href)")
    targets = sorted({link.split("#")[0] for link in links})
    expected = {(report / name).as_uri() for name in [*PAGES, "study_report.html"]}
    assert expected <= set(targets), targets

    visited = {index.as_uri(): events}
    queue = list(targets)
    while queue:  # follow every link, and the links of the pages it reaches
        url = queue.pop(0)
        if url in visited:
            continue
        assert url.startswith("file://"), f"a link leaves the report: {url}"
        assert Path(urllib.request.url2pathname(url[len("file://") :])).exists(), url
        if not url.endswith(".html"):
            visited[url] = []  # manifest.json: a download beside the index, not a page
            continue
        visited[url] = browser.open(url)
        found = browser.evaluate("Array.from(document.querySelectorAll('a[href]'), a => a.href)")
        queue += [link.split("#")[0] for link in found]
        title = browser.evaluate("document.title")
        assert title, url
        images = browser.evaluate(
            "Array.from(document.images, i => "
            "({src: i.src.slice(0, 22), ok: i.complete && i.naturalWidth > 0}))"
        )
        page = url.rsplit("/", 1)[-1]
        if page in PAGES or page == "study_report.html":
            assert images, f"{page} shows no figure"
        for image in images:
            assert image["ok"], f"{page}: an image did not load"
            assert image["src"].startswith("data:image/"), f"{page}: {image['src']}"

    assert set(visited) >= expected | {index.as_uri()}
    for url, page_events in visited.items():
        remote = [u for u in requested_urls(page_events) if not u.startswith(LOCAL_SCHEMES)]
        assert not remote, f"{url} requested {remote}"
        assert not page_errors(page_events), f"{url}: {page_errors(page_events)}"
