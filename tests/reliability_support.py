"""What the reliability tests share: synthetic articles, servers, crowds of clients, index runs
that can be killed, index snapshots to compare, hostile inputs, and the `make stress` table."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import httpx
from conftest import ROOT, Server, free_port

RUNNER = Path(__file__).resolve().parent / "index_runner.py"
# The environment of the index runs started here; torch, as the tests' real_embedder (the
# in-process builds they are compared with), not what `auto` would pick on this machine.
FAKE_ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "NEWSDESK_BACKEND": "torch"}

# ---------------------------------------------------------------- synthetic articles

_SYLLABLES = ["bra", "kel", "mon", "dri", "sta", "vel", "oru", "pen", "tas", "lim", "gor", "nea"]
_PROJECTS = ["harbour bridge", "tram line", "public library", "flood barrier", "swimming pool",
             "solar farm", "night market", "cycle path", "fire station", "concert hall"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]


def town_name(n: int) -> str:
    """A made-up, unique town name per number, so each article owns its question's words."""
    digits = [(n // 12 ** p) % 12 for p in range(3)]
    return "".join(_SYLLABLES[d] for d in digits).capitalize() + "ford"


@dataclass(frozen=True)
class SyntheticArticle:
    id: str
    title: str
    body: str
    question: str
    answer_fact: str

    @property
    def text(self) -> str:
        return f"{self.title}\n\n{self.body}\n"


def synthetic_article(n: int, version: int = 0) -> SyntheticArticle:
    town, project = town_name(n), _PROJECTS[n % len(_PROJECTS)]
    cost = 7 + 3 * n + 1000 * version
    month = _MONTHS[(n + version) % 12]
    title = f"{town} council approves the {project}"
    body = (f"The council of {town} approved the new {project} on Tuesday after a long debate. "
            f"The {project} in {town} will cost {cost} million crowns, paid over ten years.\n\n"
            f"Work on the {project} starts in {month}, the mayor of {town} said. "
            f"Residents of {town} had asked for it since the old one closed.")
    return SyntheticArticle(f"art-{n:04d}", title, body,
                            f"How much will the {project} in {town} cost?", f"{cost} million crowns")


def synthetic_articles(numbers, version: int = 0) -> list[SyntheticArticle]:
    return [synthetic_article(n, version) for n in numbers]


def write_articles(folder: Path, articles: list[SyntheticArticle]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for article in articles:
        (folder / f"{article.id}.txt").write_text(article.text, encoding="utf-8")


# ---------------------------------------------------------------- servers


class ThreadServer:
    """A real uvicorn server over an app object, in a thread of this process (no model load)."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class ServeProcess(Server):
    """`newsdesk serve` as a user starts it: no --host unless given (so the default is tested)."""

    def __init__(self, embeddings: Path, env: dict | None = None, host: str | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = embeddings.parent / f"server-{self.port}.log"
        command = [sys.executable, "-m", "newsdesk.cli", "serve", "--embeddings", str(embeddings),
                   "--port", str(self.port)]
        if host is not None:
            command += ["--host", host]
        self.process = subprocess.Popen(command, stdout=open(self.log, "w"), stderr=subprocess.STDOUT,
                                        env={**os.environ, **FAKE_ENV, **(env or {})})
        self._wait_until_up()

    def rss_bytes(self) -> int:
        return process_rss_bytes(self.process.pid)


def process_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def listening_addresses(port: int) -> set[str]:
    """The local IPv4 addresses with a socket listening on port (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


# ---------------------------------------------------------------- crowds of clients


@dataclass
class Outcome:
    client: int
    request: str
    status: int  # 0: no response at all (connection error, timeout)
    seconds: float
    body: object = None
    error: str = ""


RequestPlan = Callable[[int, int], tuple[str, str, dict | None]]  # (client, n) -> method, path, json


def crowd(url: str, clients: int, plan: RequestPlan, requests_each: int | None = None,
          seconds: float | None = None, headers: dict | None = None,
          stop: threading.Event | None = None) -> list[Outcome]:
    """`clients` threads, each with its own keep-alive connection, sending what plan says until
    each has sent requests_each or `seconds` have passed (or stop is set)."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds if seconds else None
    stop = stop or threading.Event()

    def client(number: int) -> None:
        with httpx.Client(base_url=url, timeout=120, headers=headers) as session:
            n = 0
            while not stop.is_set():
                if requests_each is not None and n >= requests_each:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                method, path, payload = plan(number, n)
                started = time.perf_counter()
                try:
                    response = session.request(method, path, json=payload)
                    body = response.json() if response.headers.get("content-type", "").startswith(
                        "application/json") else response.text
                    outcome = Outcome(number, f"{method} {path}", response.status_code,
                                      time.perf_counter() - started, body)
                except httpx.HTTPError as error:
                    outcome = Outcome(number, f"{method} {path}", 0, time.perf_counter() - started,
                                      error=repr(error))
                with lock:
                    outcomes.append(outcome)
                n += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def failures(outcomes: list[Outcome], ok=(200,)) -> list[Outcome]:
    return [o for o in outcomes if o.status not in ok]


# ---------------------------------------------------------------- index runs


def index_command(seeds, embeddings: Path, fake: bool = False, kill_at: int = 0, pause_at: int = 0,
                  resume_file: Path | None = None, trace: Path | None = None, extra=()) -> list[str]:
    command = [sys.executable, str(RUNNER)]
    if fake:
        command.append("--fake")
    if kill_at:
        command += ["--kill-at", str(kill_at)]
    if pause_at:
        command += ["--pause-at", str(pause_at), "--resume-file", str(resume_file)]
    if trace:
        command += ["--trace", str(trace)]
    seeds = [seeds] if isinstance(seeds, (str, Path)) else list(seeds)
    return [*command, "--", "--seeds", *map(str, seeds), "--embeddings", str(embeddings), "--quiet",
            *extra]


def run_index(seeds, embeddings: Path, timeout: float = 600, **options) -> subprocess.CompletedProcess:
    return subprocess.run(index_command(seeds, embeddings, **options), capture_output=True, text=True,
                          env={**os.environ, **FAKE_ENV}, timeout=timeout, cwd=ROOT)


def start_index(seeds, embeddings: Path, **options) -> subprocess.Popen:
    return subprocess.Popen(index_command(seeds, embeddings, **options), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **FAKE_ENV}, cwd=ROOT)


def traced_operations(trace: Path) -> list[str]:
    return [line.split(" ", 1)[1] for line in trace.read_text().splitlines()]


def wait_for_lock_holder(embeddings: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    """Until process holds the index lock (it writes its pid there once it has it)."""
    deadline = time.monotonic() + timeout
    lock = embeddings / ".lock"
    while time.monotonic() < deadline:
        if lock.exists() and lock.read_text().strip() == f"pid {process.pid}":
            return
        if process.poll() is not None:
            raise RuntimeError(f"index run ended early: {process.stderr.read()}")
        time.sleep(0.01)
    raise RuntimeError("index run never took the lock")


# ---------------------------------------------------------------- index snapshots


def index_snapshot(embeddings: Path) -> dict:
    """What a build serves, minus what differs between equal builds (time, generation and
    segment names, the order of segments): live articles and passages by id, with their vectors."""
    import numpy as np

    from newsdesk.index.store import load_generation

    generation = load_generation(embeddings)
    manifest = {k: generation.manifest[k] for k in ("format", "model", "chunker", "index_type", "counts")}
    live = generation.live if generation.live is not None else np.ones(len(generation.passages), bool)
    rows = sorted(np.flatnonzero(live), key=lambda row: generation.passages[row].passage_id)
    passages = [generation.passages[row] for row in rows]
    return {"manifest": manifest,
            "articles": [generation.articles[i].to_record() for i in sorted(generation.articles)],
            "passages": [(p.article_id, p.char_start, p.char_end) for p in passages],
            "vectors": generation.vectors.reconstruct(np.asarray(rows, dtype=np.int64))}


def assert_same_index(built: dict, clean: dict) -> None:
    import numpy as np

    assert built["manifest"] == clean["manifest"]
    assert built["articles"] == clean["articles"]
    assert built["passages"] == clean["passages"]
    assert built["vectors"].shape == clean["vectors"].shape
    # Reused vectors were embedded in other batches, and may be stored compressed: equal up to
    # the codec's precision, not bit for bit.
    assert np.allclose(built["vectors"], clean["vectors"], atol=1e-2)


def generation_articles(embeddings: Path, name: str) -> dict[str, dict]:
    """The live article records of generation name: its segments' articles, less the deleted."""
    from newsdesk.index.store import read_manifest

    articles = {}
    for segment in read_manifest(embeddings / "generations" / name)["segments"]:
        deleted = set(segment["deleted"])
        path = embeddings / "generations" / segment["name"] / "articles.jsonl"
        for record in map(json.loads, path.read_text().splitlines()):
            if record["id"] not in deleted:
                articles[record["id"]] = record
    return articles


def answer_problems(body: dict, articles_by_generation: dict[str, dict[str, dict]]) -> list[str]:
    """Why an /ask response is not wholly from one generation (empty when it is)."""
    generation = body.get("generation")
    articles = articles_by_generation.get(generation)
    if articles is None:
        return [f"unknown generation {generation!r}"]
    problems = []
    for citation in body["citations"]:
        article = articles.get(citation["article_id"])
        if article is None:
            problems.append(f"{citation['article_id']} is not in {generation}")
        elif article["text"][citation["char_start"]:citation["char_end"]] != citation["text"]:
            problems.append(f"{citation['passage_id']} text differs from {generation}'s article")
        elif article["title"] != citation["title"]:
            problems.append(f"{citation['passage_id']} title differs from {generation}'s article")
    return problems


# ---------------------------------------------------------------- hostile inputs


@dataclass
class HostileInput:
    what: str
    name: str  # the file name in seeds/
    expect: str  # "indexed", "reported" or "ignored"
    fragment: str = ""  # in the problem line when reported (by name, line for JSONL)
    article_ids: tuple[str, ...] = ()  # articles it must contribute when (partly) indexed
    outcome: str = ""  # filled in by the test: what happened


def make_hostile_seeds(folder: Path, big_bytes: int = 50 * 1024 * 1024,
                       thorough: bool = False) -> list[HostileInput]:
    """A seeds folder of bad and awkward inputs next to good articles; what each should do."""
    folder.mkdir(parents=True, exist_ok=True)
    good = synthetic_articles(range(900, 903))
    write_articles(folder, good)
    inputs = [HostileInput(f"good article {a.id}", f"{a.id}.txt", "indexed", article_ids=(a.id,))
              for a in good]

    def add(what, name, content: bytes | None, expect, fragment="", article_ids=()):
        if content is not None:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(content)
        inputs.append(HostileInput(what, name, expect, fragment, tuple(article_ids)))

    add("empty file", "empty.txt", b"", "reported", "empty file")
    add("binary file", "binary.txt", bytes(range(256)) * 64, "reported", "binary file")
    add("Latin-1 file", "latin1.txt", "Café société in Göteborg\n\nÉté à Zürich.".encode("latin-1"),
        "reported", "not UTF-8")
    with open(folder / "huge.txt", "wb") as handle:
        line = b"All work and no play makes the council a dull committee. " * 16 + b"\n"
        while handle.tell() < big_bytes:
            handle.write(line)
    add(f"{big_bytes // 2**20} MB text file", "huge.txt", None, "reported", "too large")
    ok_line = json.dumps({"doc_id": "jsonl-good", "title": "Ferry strike ends", "text":
                          "The ferry strike in Kelmonford ended on Friday after nine days."})
    dup_line = json.dumps({"doc_id": "jsonl-good", "title": "Same id", "text": "Another text."})
    (folder / "corpus.jsonl").write_text(
        ok_line + "\n" + '{"doc_id": "broken", "title": "cut off", "te\n' + dup_line + "\n")
    inputs.append(HostileInput("JSONL: good line", "corpus.jsonl", "indexed", article_ids=("jsonl-good",)))
    inputs.append(HostileInput("JSONL: broken line", "corpus.jsonl", "reported", "corpus.jsonl:2: not valid JSON"))
    inputs.append(HostileInput("JSONL: duplicate doc_id", "corpus.jsonl", "reported",
                               "corpus.jsonl:3: duplicate doc_id 'jsonl-good'"))
    spaced = synthetic_article(903)
    add("file name with spaces and non-ASCII", "Städte und Flüsse — été 2024.txt",
        spaced.text.encode(), "indexed", article_ids=("Städte und Flüsse — été 2024",))
    os.symlink("loop-b.txt", folder / "loop-a.txt")
    os.symlink("loop-a.txt", folder / "loop-b.txt")
    add("symlink loop (a -> b -> a)", "loop-a.txt", None, "reported", "looping link")
    os.symlink(".", folder / "self-loop")
    add("folder symlink to itself", "self-loop", None, "ignored")
    secret = folder.parent / f"{folder.name}-outside-secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n\nA file that is not in the seeds.\n")
    os.symlink(secret, folder / "leak.txt")  # as `ln -s /etc/passwd seeds/leak.txt` would
    add("file symlink to outside the seeds", "leak.txt", None, "reported", "link to a file outside the seeds")
    os.symlink(f"{good[0].id}.txt", folder / "alias.txt")
    add("file symlink inside the seeds", "alias.txt", None, "indexed", article_ids=("alias",))
    if thorough:
        _more_hostile_inputs(folder, add, big_bytes)
    return inputs


def _more_hostile_inputs(folder: Path, add, big_bytes: int) -> None:
    """The stress run's longer list: what a careless export or a hostile user could drop in."""
    add("UTF-16 file with BOM", "utf16.txt", "Title\n\nBody text.".encode("utf-16"), "reported", "binary")
    (folder / os.fsdecode(b"bad\xffname.txt")).write_bytes(b"Title\n\nBody.")
    add("invalid UTF-8 in the file name", "bad\\udcffname.txt", None, "reported",  # as stderr shows it
        "file name is not valid UTF-8")
    os.mkfifo(folder / "pipe.txt")
    add("named pipe called .txt", "pipe.txt", None, "reported", "not a regular file")
    os.symlink("no-such-target.txt", folder / "dangling.txt")
    add("dangling symlink", "dangling.txt", None, "reported", "broken or looping link")
    (folder / "folder.txt").mkdir()
    add("folder named like an article", "folder.txt", None, "ignored")
    add("whitespace-only file", "blank.md", b"  \n\n\t \n", "reported", "empty file")
    add("control characters only", "controls.txt", b"\x01\x02\x03\n\n\x04\x05", "indexed",
        article_ids=("controls",))
    add("CRLF line endings", "crlf.txt", synthetic_article(904).text.replace("\n", "\r\n").encode(),
        "indexed", article_ids=("crlf",))
    add("hidden file", ".hidden.txt", b"Hidden\n\nNot for indexing.", "ignored")
    add("unsupported extension", "notes.pdf", b"%PDF-1.4 not an article", "ignored")
    big_line = b'{"doc_id": "big", "title": "Big", "text": "' + b"x" * big_bytes + b'"}\n'
    add(f"JSONL with one {big_bytes // 2**20} MB line", "bigline.jsonl", big_line, "reported",
        "bigline.jsonl:1: line too large")
    add("JSONL nested 100,000 deep", "nested.jsonl", b"[" * 100_000 + b"]" * 100_000 + b"\n",
        "reported", "nested.jsonl:1: not valid JSON")
    add("JSONL with a lone surrogate escape", "surrogate.jsonl",
        b'{"doc_id": "s1", "title": "t", "text": "a \\ud800 b"}\n', "reported",
        "surrogate.jsonl:1: invalid Unicode")
    add("JSONL line that is not an object", "array.jsonl", b"[1, 2, 3]\n", "reported",
        "array.jsonl:1: not a JSON object")
    add("JSONL with missing text and bad doc_id types", "fields.jsonl",
        b'{"doc_id": "t1"}\n{"doc_id": ["x"], "text": "y"}\n{"doc_id": "", "text": "y"}\n',
        "reported", "fields.jsonl:1: missing or empty text")
    add("JSONL path-traversal doc_id", "traversal.jsonl",
        json.dumps({"doc_id": "../../etc/passwd", "title": "Traversal",
                    "text": "An id that looks like a path is only a name."}).encode() + b"\n",
        "indexed", article_ids=("../../etc/passwd",))
    add("JSONL with a NUL character in the text", "nul.jsonl",
        json.dumps({"doc_id": "nul-1", "title": "NUL", "text": "before \u0000 after the NUL"}).encode()
        + b"\n", "indexed", article_ids=("nul-1",))
    add("not gzip but named .jsonl.gz", "fake.jsonl.gz", b"plain text, not gzip", "reported",
        "corpus cut short")
    import gzip

    whole = gzip.compress(b"".join(json.dumps({"doc_id": f"gz-{n}", "title": "Gz", "text":
                                               f"Gzip article {n}."}).encode() + b"\n" for n in range(50)))
    add("truncated .jsonl.gz (the lines before the cut are kept)", "cut.jsonl.gz", whole[: len(whole) // 2],
        "reported", "corpus cut short")
    add("empty .jsonl", "nothing.jsonl", b"", "reported", "empty file")
    add("same article id as a .txt (duplicate across files)", "zz-copies/art-0900.md",
        b"Another art-0900\n\nDifferent text.", "reported", "duplicate article id 'art-0900'")


def judge_hostile_run(inputs: list[HostileInput], problem_lines: list[str],
                      indexed_ids: set[str], folder: Path | None = None) -> list[str]:
    """Fills in each input's outcome; returns what went against expectations."""
    if folder is not None:
        problem_lines = [line.replace(f"{folder}/", "") for line in problem_lines]
    wrong = []
    for item in inputs:
        mentions = [line for line in problem_lines if item.name in line]
        if item.expect == "reported":
            hits = [line for line in mentions if item.fragment in line]
            item.outcome = hits[0] if hits else "NOT REPORTED"
            if not hits:
                wrong.append(f"{item.what}: expected a problem with {item.fragment!r}, got {mentions}")
        elif item.expect == "indexed":
            missing = [a for a in item.article_ids if a not in indexed_ids]
            item.outcome = "indexed as " + ", ".join(repr(a) for a in item.article_ids)
            if missing:
                item.outcome = f"NOT INDEXED {missing}"
                wrong.append(f"{item.what}: {missing} not indexed")
        else:
            item.outcome = "ignored (not an article file), nothing reported"
            if mentions:
                item.outcome = "reported: " + mentions[0]
    return wrong


# ---------------------------------------------------------------- the `make stress` table


@dataclass
class StressRow:
    check: str
    requests: int | None = None
    failures: int | None = None
    p95_ms: float | None = None
    crashes_survived: int | None = None
    inputs_tried: int | None = None
    note: str = ""


@dataclass
class StressResults:
    rows: list[StressRow] = field(default_factory=list)
    hostile: list[HostileInput] = field(default_factory=list)

    def record(self, row: StressRow) -> None:
        self.rows.append(row)

    def table(self) -> str:
        def cell(value):
            if value is None:
                return "–"
            return f"{value:,.0f}" if isinstance(value, float) else f"{value:,}"
        lines = ["| check | requests | failures | p95 ms | crashes survived | inputs tried | note |",
                 "|---|---:|---:|---:|---:|---:|---|"]
        lines += [f"| {r.check} | {cell(r.requests)} | {cell(r.failures)} | {cell(r.p95_ms)} | "
                  f"{cell(r.crashes_survived)} | {cell(r.inputs_tried)} | {r.note} |" for r in self.rows]
        return "\n".join(lines)

    def hostile_table(self) -> str:
        lines = ["| input | outcome |", "|---|---|"]
        lines += [f"| {h.what} | {h.outcome.replace('|', '/')} |" for h in self.hostile]
        return "\n".join(lines)


RESULTS = StressResults()


def seeded(seed: int) -> random.Random:
    return random.Random(seed)


# ---------------------------------------------------------------- scenarios short and long share


def reindex_under_load(seeds: Path, embeddings: Path, base_url: str, index: Callable,
                       clients: int = 8, max_each: int = 400, headers: dict | None = None):
    """8 clients ask while `index()` adds 100 articles, removes 10 and changes 5 (of the 40
    synthetic ones in seeds); returns the outcomes, /health readings in order, and the
    generations before and after."""
    from newsdesk.index.store import current_name

    before = current_name(embeddings)
    for n in range(10):
        (seeds / f"art-{n:04d}.txt").unlink()
    write_articles(seeds, synthetic_articles(range(10, 15), version=1))
    write_articles(seeds, synthetic_articles(range(40, 140)))
    questions = [synthetic_article(n).question for n in range(140)]
    stop, readings, outcomes = threading.Event(), [], []

    def poll_health():
        with httpx.Client(base_url=base_url, timeout=60, headers=headers) as session:
            while not stop.is_set():
                body = session.get("/health").json()
                readings.append((body["generation"], body["articles"], body["passages"]))
                time.sleep(0.02)

    def plan(client, n):
        return "POST", "/ask", {"question": questions[(client * 37 + n * 11) % len(questions)], "k": 3}

    def ask():
        outcomes.extend(crowd(base_url, clients, plan, requests_each=max_each, stop=stop, headers=headers))

    workers = [threading.Thread(target=poll_health), threading.Thread(target=ask)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(1.0)
        done = index()
        assert done.returncode == 0, done.stderr
        after = current_name(embeddings)
        deadline = time.monotonic() + 60
        while not (readings and readings[-1][0] == after) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # a while on the new generation too
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    return outcomes, readings, before, after


def check_reindex(outcomes: list[Outcome], readings: list, before: str, after: str,
                  embeddings: Path) -> None:
    assert before != after
    assert not failures(outcomes), failures(outcomes)[:3]
    by_generation = {name: generation_articles(embeddings, name) for name in (before, after)}
    served = {o.body["generation"] for o in outcomes}
    assert served == {before, after}, served  # the clients were asking before and after the switch
    mixed = [(o.body["generation"], p) for o in outcomes for p in answer_problems(o.body, by_generation)]
    assert not mixed, mixed[:5]
    changes = [r for r, previous in zip(readings[1:], readings) if r != previous]
    assert readings[0][0] == before and len(changes) == 1 and changes[0][0] == after, changes
    assert changes[0][1] == readings[0][1] + 90  # 100 added, 10 removed


def crash_scene(tmp_path: Path, build: Callable[[Path, Path], None], new_articles: int = 20):
    """Seeds and a 'pristine' index of four generations, the second a removal alone (a
    generation with no segment of its own, so the next build also prunes it); then the seeds
    change (3 removed, 2 changed, `new_articles` new) and `clean` holds a fresh build of the
    changed seeds to compare with."""
    seeds, pristine, clean = tmp_path / "seeds", tmp_path / "pristine", tmp_path / "clean"
    for last in (29, 28, 29, 30):
        for gone in sorted(seeds.glob("art-*.txt"))[last:]:
            gone.unlink()
        write_articles(seeds, synthetic_articles(range(last)))
        build(seeds, pristine)
    for n in range(3):
        (seeds / f"art-{n:04d}.txt").unlink()
    write_articles(seeds, synthetic_articles(range(3, 5), version=1)
                   + synthetic_articles(range(30, 30 + new_articles)))
    build(seeds, clean)
    return seeds, pristine, clean


def served_answer(embeddings: Path, embedder, n: int) -> tuple[str, str]:
    """(generation, first cited article) for the question about synthetic article n, after
    checking that every passage of the served generation slices its article exactly."""
    from newsdesk.settings import Settings
    from newsdesk.index.store import load_generation
    from newsdesk.service import Newsdesk

    generation = load_generation(embeddings)
    for passage in generation.passages:
        article = generation.articles.get(passage.article_id)  # None: deleted, not served
        assert article is None or article.text[passage.char_start:passage.char_end] == passage.text
    assert generation.passage_count == generation.manifest["counts"]["passages"]
    settings = Settings(seeds=(), embeddings=embeddings, abstain_below=0.0)
    answer = Newsdesk(settings, embedder=embedder).ask(synthetic_article(n).question, k=3)
    return answer.generation, answer.citations[0].article_id


def kill_and_recover(pristine: Path, clean: Path, work: Path, embedder,
                     kill: Callable[[Path], subprocess.CompletedProcess],
                     finish: Callable[[Path], None]) -> bool:
    """Copy the pristine index, kill a build of the changed seeds as `kill` says, check the
    index still answers from a whole generation, then finish the build and compare it with a
    clean one. True when the kill landed (the run had not finished)."""
    import shutil

    from newsdesk.index.store import current_name

    shutil.copytree(pristine, work, symlinks=True)
    before = current_name(work)
    killed = kill(work)
    landed = killed.returncode == -9
    assert landed or killed.returncode == 0, (killed.returncode, killed.stderr)
    generation, cited = served_answer(work, embedder, 20)
    assert cited == "art-0020" and generation in (before, current_name(work))
    if current_name(work) != before:  # killed after the swap: the new index is the one served
        assert served_answer(work, embedder, 30)[1] == "art-0030"
    finish(work)
    assert_same_index(index_snapshot(work), index_snapshot(clean))
    assert served_answer(work, embedder, 30)[1] == "art-0030"
    assert not list((work / "generations").glob(".tmp-*"))
    return landed


# ---------------------------------------------------------------- small filesystems


@contextmanager
def small_filesystem(folder: Path, size_bytes: int):
    """A tmpfs of size_bytes mounted at folder, for disk-full and read-only checks; skips the
    test where this process may not mount (the same checks also run with a stubbed free-space
    call and stubbed writes)."""
    import pytest

    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip() or 'mount failed'})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def remount_read_only(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, capture_output=True)


def fill_filesystem(folder: Path) -> Path:
    """Write zeros into folder until its filesystem is full; the filler file, to remove later."""
    filler = folder / "filler.bin"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while handle.write(b"\0" * 4096):
                pass
        except OSError:
            pass
    return filler
