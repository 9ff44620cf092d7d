"""Stateless replicas: several `newsdesk serve` read one index folder and never write to it.

Each replica picks up a new generation by itself; one of them runs with the folder mounted
read-only (a private mount namespace, where the machine allows one).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import TREATY_QUESTION, Server, free_port

from newsdesk.index.build import build_index

pytestmark = pytest.mark.slow


class ReadOnlyServer(Server):
    """`newsdesk serve` that sees the embeddings folder through a read-only bind mount."""

    def __init__(self, embeddings: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = embeddings.parent / f"server-{self.port}.log"
        folder = str(embeddings)
        serve = [sys.executable, "-m", "newsdesk.cli", "serve", "--embeddings", folder,
                 "--port", str(self.port)]
        script = ('mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" && '
                  'shift && exec "$@"')
        self.process = subprocess.Popen(
            ["unshare", "--mount", "sh", "-c", script, "sh", folder, *serve],
            stdout=open(self.log, "w"), stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"})
        self._wait_until_up()


def read_only_mounts_work(folder: Path) -> bool:
    probe = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" && ! touch "$1/probe"'
    try:
        done = subprocess.run(["unshare", "--mount", "sh", "-c", probe, "sh", str(folder)],
                              capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and not (folder / "probe").exists()


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder with its size and modification time: any write shows."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def ask(server: Server, question: str) -> dict:
    response = httpx.post(server.url + "/ask", json={"question": question}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_generation(server: Server, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(server.url + "/health", timeout=10).json()["generation"] == name:
            return
        time.sleep(0.2)
    raise AssertionError(f"{server.url} did not pick up {name}")


def test_two_replicas_share_one_folder_pick_up_new_generations_and_write_nothing(
        settings, seeds, real_embedder):
    first = build_index(settings, real_embedder).generation
    # Without unshare and mount (not root, a locked-down container) the snapshots still show
    # that no replica wrote anything.
    read_only = read_only_mounts_work(settings.embeddings)
    before = snapshot(settings.embeddings)
    replicas = [Server(settings.embeddings)]
    try:
        replicas.append(ReadOnlyServer(settings.embeddings) if read_only else Server(settings.embeddings))
        for replica in replicas:
            wait_for_generation(replica, first)
            assert "passports" in ask(replica, TREATY_QUESTION)["answer"]
        assert snapshot(settings.embeddings) == before

        (seeds / "ferry.txt").write_text(
            "Ferry strike ends\n\nFerries between Dover and Calais sailed again on Tuesday after "
            "a two-day strike by port workers over pay.\n")
        second = build_index(settings, real_embedder).generation
        after_build = snapshot(settings.embeddings)
        for replica in replicas:
            wait_for_generation(replica, second)
            answer = ask(replica, "When did the ferries between Dover and Calais sail again?")
            assert answer["citations"][0]["article_id"] == "ferry"
        assert snapshot(settings.embeddings) == after_build
    finally:
        for replica in replicas:
            replica.stop()
