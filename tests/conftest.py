"""Shared fixtures: temporary seeds and index folders, the fake embedder, the real model."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

from ci_required import pytest_runtest_makereport  # noqa: E402,F401 (under CI, browser and Ray tests may not skip)
from fakes import FakeEmbedder  # noqa: E402

from newsdesk.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "000_f789124f10d71b11.txt"
SEED_ID = SEED.stem
SHARED_DATA = ROOT.parent / "shared" / "data"
TREATY_QUESTION = "What does the Treaty of Le Touquet do?"


@pytest.fixture(autouse=True)
def _no_user_environment(monkeypatch):
    """Tests never read the developer's own NEWSDESK_* settings."""
    for name in list(os.environ):
        if name.startswith("NEWSDESK_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _test_client_as_localhost(monkeypatch):
    """TestClient's default Host, `testserver`, is a name newsdesk refuses (DNS rebinding,
    security.py): tests talk to the app as http://localhost, as a browser on this machine does."""
    from starlette.testclient import TestClient

    original = TestClient.__init__

    def init(self, app, base_url: str = "http://localhost", *args, **kwargs):
        original(self, app, base_url, *args, **kwargs)
    monkeypatch.setattr(TestClient, "__init__", init)


@pytest.fixture
def seeds(tmp_path) -> Path:
    folder = tmp_path / "seeds"
    folder.mkdir()
    shutil.copy(SEED, folder / SEED.name)
    return folder


@pytest.fixture
def settings(tmp_path, seeds) -> Settings:
    return Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings")


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def real_embedder():
    from newsdesk.embeddings import load_embedder

    return load_embedder(Settings(backend="torch"))  # the fp32 reference, whatever `auto` picks


def shared_data(relative: str) -> Path:
    """A file of ../shared/data; without it the test skips, except under CI (CI=true), where
    the data must be there and its absence fails the test."""
    path = SHARED_DATA / relative
    if not path.exists():
        reason = f"needs ../shared/data/{relative} (the shared evaluation data is not beside this checkout)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`newsdesk serve` in a subprocess on a free port, as a user would run it."""

    def __init__(self, embeddings: Path, env: dict | None = None, host: str = "127.0.0.1",
                 newsdesk: Sequence[str] = (sys.executable, "-m", "newsdesk.cli"), cwd: Path | None = None):
        """newsdesk: the command that runs newsdesk (an installed `newsdesk` script, say)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = embeddings.parent / f"server-{self.port}.log"
        self.process = subprocess.Popen(
            [*newsdesk, "serve", "--embeddings", str(embeddings), "--host", host, "--port", str(self.port)],
            stdout=open(self.log, "w"), stderr=subprocess.STDOUT, cwd=cwd,
            env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
        )
        self._wait_until_up()

    def _wait_until_up(self, timeout: float = 90) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not start: {self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def run_cli(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "newsdesk.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}, timeout=timeout)


def index_seed_folder(root: Path, extra_articles: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """root/seeds with the user's first article (and any extra files by name), indexed into
    root/embeddings by `newsdesk index` with the real model, as a user runs it."""
    seeds = root / "seeds"
    seeds.mkdir()
    shutil.copy(SEED, seeds / SEED.name)
    for name, text in (extra_articles or {}).items():
        (seeds / name).write_text(text, encoding="utf-8")
    done = run_cli("index", "--seeds", str(seeds), "--embeddings", str(root / "embeddings"), "--quiet")
    assert done.returncode == 0, done.stderr
    return done
