"""The built wheel serves the chat page: installed in a fresh venv, run from a folder far from
the checkout, `newsdesk serve` finds its templates and static files inside the package.

The fresh venv borrows this venv's installed dependencies through a .pth file (nothing is
downloaded); the wheel itself goes in with --no-deps.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, SEED, Server

pytestmark = pytest.mark.slow  # indexes one article with the real model, then serves it


def build_wheel(folder: Path) -> Path:
    # Without build isolation when hatchling is here (the test extra installs it): no download.
    isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-build-isolation"]
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation,
                           "-w", str(folder), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (wheel,) = folder.glob("newsdesk-*.whl")
    return wheel


def fresh_venv(folder: Path) -> Path:
    """A venv without newsdesk that sees this venv's packages after its own; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    python = folder / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # Plain path lines: the .pth files in there (this checkout's editable install) are not read.
    # Every site-packages folder this interpreter sees, in its order: `make test`'s .venv-test
    # holds only the test extras and borrows the rest from .venv through a .pth file.
    borrowed = [sysconfig.get_paths()["purelib"]]
    borrowed += [p for p in sys.path if p.endswith("site-packages") and p not in borrowed]
    (Path(purelib) / "borrowed.pth").write_text("".join(f"{p}\n" for p in borrowed))
    return python


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin folder of a fresh venv with the wheel built from this checkout installed."""
    root = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(root / "dist")
    python = fresh_venv(root / "venv")
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                           "--no-index", str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return python.parent


def test_the_wheel_carries_the_web_folder_as_package_data(installed):
    (wheel,) = (installed.parent.parent / "dist").glob("newsdesk-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    checkout = {f"newsdesk/web/{p.relative_to(ROOT / 'web').as_posix()}"
                for p in (ROOT / "web").rglob("*") if p.is_file()}
    assert checkout and checkout <= names
    assert "newsdesk/server/app.py" in names and "newsdesk/articles/__init__.py" in names


def test_the_installed_wheel_serves_the_chat_page_from_any_folder(installed, tmp_path):
    away = tmp_path / "elsewhere"  # no web/ here or above: the page must come from the package
    (away / "seeds").mkdir(parents=True)
    shutil.copy(SEED, away / "seeds" / SEED.name)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}

    where = subprocess.run([str(installed / "python"), "-c",
                            "import newsdesk.server.app as app; print(app.WEB_ROOT)"],
                           cwd=away, env=env, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stderr
    web_root = Path(where.stdout.strip())
    assert web_root.is_relative_to(installed.parent) and web_root.parts[-2:] == ("newsdesk", "web")

    indexed = subprocess.run([str(installed / "newsdesk"), "index", "--seeds", "seeds",
                              "--embeddings", "embeddings", "--quiet"],
                             cwd=away, env=env, capture_output=True, text=True, timeout=600)
    assert indexed.returncode == 0, indexed.stderr

    server = Server(away / "embeddings", env={"PYTHONPATH": ""}, newsdesk=[str(installed / "newsdesk")], cwd=away)
    try:
        page = httpx.get(server.url + "/", timeout=30)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert 'id="question"' in page.text and "/static/style.css" in page.text
        style = httpx.get(server.url + "/static/style.css", timeout=30)
        assert style.status_code == 200
        assert style.content == (ROOT / "web" / "static" / "style.css").read_bytes()
    finally:
        server.stop()
