"""Screenshots of the web chat for the README: `.venv/bin/python docs/screenshots.py`.

Indexes seeds/ into a temporary folder with the real model, serves it, asks the seed's question
in Debian's chromium (desktop and phone widths) and writes docs/chat-desktop.png and
docs/chat-phone.png, and docs/article-desktop.png: the page a citation opens.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
QUESTION = "What does the Treaty of Le Touquet do?"
VIEWS = {  # file name: (width, height, device scale)
    "chat-desktop.png": (1280, 900, 1),
    "chat-phone.png": (360, 780, 1),
}


def main() -> int:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as folder:
        embeddings = Path(folder) / "embeddings"
        subprocess.run([sys.executable, "-m", "newsdesk.cli", "index", "--seeds", str(ROOT / "seeds"),
                        "--embeddings", str(embeddings), "--quiet"], check=True, env=env)
        port = _free_port()
        server = subprocess.Popen([sys.executable, "-m", "newsdesk.cli", "serve", "--embeddings",
                                   str(embeddings), "--port", str(port)], env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_for(url + "/health")
            _ask(url, QUESTION)  # warm up, so the pictures show a typical answer time
            _shoot(url)
        finally:
            server.terminate()
            server.wait(10)
    return 0


def _shoot(url: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for name, (width, height, scale) in VIEWS.items():
            context = browser.new_context(viewport={"width": width, "height": height},
                                          device_scale_factor=scale, color_scheme="light",
                                          reduced_motion="reduce")
            page = context.new_page()
            page.goto(url)
            box = page.get_by_label("Your question")
            box.fill(QUESTION)
            box.press("Enter")
            expect(page.locator(".turn .answer")).to_be_visible(timeout=30_000)
            page.locator(".turn").last.scroll_into_view_if_needed()
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(DOCS / name))
            _wrote(name)
            if width >= 1000:
                page.locator(".answer-text a.marker").first.click()
                expect(page.locator("mark#cited")).to_be_in_viewport()
                page.screenshot(path=str(DOCS / "article-desktop.png"))
                _wrote("article-desktop.png")
            context.close()
        browser.close()


def _wrote(name: str) -> None:
    print(f"wrote docs/{name} ({(DOCS / name).stat().st_size // 1024} KB)")


def _ask(url: str, question: str) -> None:
    request = urllib.request.Request(url + "/ask", data=json.dumps({"question": question}).encode(),
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=60):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server did not answer {url} within {timeout:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
