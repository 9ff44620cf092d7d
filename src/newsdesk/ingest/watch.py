"""The watched seeds: changes noted as they happen (watchfiles: inotify, or polling for network
folders) and built into a new generation once they settle, a burst of files being one build.

A build is the ordinary incremental `build_index` under the index's write lock: a manual
`newsdesk index` and the watcher never write at once (a locked build is retried a moment later),
and the server answers from the generation it serves until the new one is swapped in.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from newsdesk.articles.folders import reader_for
from newsdesk.embeddings.base import Embedder
from newsdesk.index.build import BuildReport, build_index
from newsdesk.index.errors import IndexLocked
from newsdesk.ingest.feeds import Feeds
from newsdesk.settings import Settings

log = logging.getLogger("newsdesk.watch")

SETTLE_CHECK = 0.2  # seconds between the two looks at a changed file's size and time
LONGEST_WAIT = 30.0  # a folder that never stops changing is still built this often
LOCK_RETRY = 2.0  # seconds before a build that found the lock taken tries again
WATCH_TICK_MS = 500  # watchfiles wakes this often without changes (the first wake: it is watching)
WATCH_READY_WAIT = 10.0  # the start-up build waits at most this long for the watching to begin
STARTUP = "(changes while the server was down)"  # the catch-up build's pending entry
PENDING_SHOWN = 20


@dataclass(frozen=True)
class Failure:
    """An input (a file, a line of one, a feed or a page) that was not indexed, and why."""

    input: str
    reason: str


@dataclass(frozen=True)
class BuildOutcome:
    finished_at: str
    seconds: float
    summary: str  # BuildReport.summary(), or what stopped the build
    generation: str | None  # the generation it wrote; None when nothing changed or it failed
    failed: bool = False


@dataclass(frozen=True)
class WatchStatus:
    """What /health and the status page say about keeping the index current."""

    state: str  # "idle", "settling", "building", "waiting for the lock", "stopped"
    pending: tuple[str, ...]  # changed inputs no build has read yet (the first PENDING_SHOWN)
    pending_count: int
    builds: int
    last_build: BuildOutcome | None
    failed_inputs: tuple[Failure, ...]  # the last build's skipped files and lines, with reasons
    failed_feeds: tuple[Failure, ...]
    feeds: tuple[str, ...]
    expected_seconds: float  # about how long until a change made now is served


class SeedsWatcher:
    """Watches settings.seeds and keeps the index under settings.embeddings built from them."""

    def __init__(self, settings: Settings, embedder: Embedder, on_built: Callable[[], object] = lambda: None,
                 feeds: Feeds | None = None):
        self.settings = settings
        self.embedder = embedder
        self.on_built = on_built  # the server's reload: the new generation served at once
        self.feeds = feeds
        self._stop = threading.Event()
        self._changes = threading.Condition()
        # path -> whether its writer said it is complete (the inbox and the feeds write whole
        # files); other changes wait for the seeds to settle first
        self._pending: dict[str, bool] = {STARTUP: True}
        self._first_change = time.monotonic()
        self._last_change = 0.0  # of a change that must settle
        self._state = "idle"
        self._builds = 0
        self._last: BuildOutcome | None = None
        self._failed_inputs: tuple[Failure, ...] = ()
        self._failed_feeds: tuple[Failure, ...] = ()
        self._threads: list[threading.Thread] = []
        self._watching = threading.Event()  # set once changes are seen: the start-up build waits
        self._ignored = Path(settings.embeddings).resolve()
        self._roots = [Path(path).resolve() for path in settings.seeds]

    # -- running

    def start(self) -> "SeedsWatcher":
        targets = [self._watch_events, self._build_when_settled]
        if self.feeds is not None:
            targets.append(self._poll_feeds)
        for target in targets:
            thread = threading.Thread(target=target, name=f"newsdesk-{target.__name__.strip('_')}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        with self._changes:
            self._changes.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._state = "stopped"

    def changed(self, paths: Iterable[str], complete: bool = False) -> None:
        """Note changed inputs; complete: their writer wrote them whole (no settling needed)."""
        now = time.monotonic()
        with self._changes:
            for path in paths:
                self._pending[str(path)] = self._pending.get(str(path), True) and complete
            if not self._pending:
                return
            if self._first_change is None:
                self._first_change = now
            if not complete:
                self._last_change = now
            self._changes.notify_all()

    def wait_until_idle(self, timeout: float) -> bool:
        """Until nothing is pending and no build runs (tests, benchmarks); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changes:
            while self._pending or self._state != "idle":
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return False
                self._changes.wait(min(left, 0.5))
        return True

    def status(self) -> WatchStatus:
        with self._changes:
            pending = sorted(self._pending)
            return WatchStatus(self._state, tuple(pending[:PENDING_SHOWN]), len(pending), self._builds,
                               self._last, self._failed_inputs, self._failed_feeds,
                               tuple(self.feeds.urls) if self.feeds else (), self.expected_seconds())

    def expected_seconds(self) -> float:
        """A change made now: the settle time, plus a build (two when one is running)."""
        build = self._last.seconds if self._last else 5.0
        return round(self.settings.watch_settle + SETTLE_CHECK + build * (2 if self._state == "building" else 1), 1)

    # -- the threads

    def _watch_events(self) -> None:
        import watchfiles

        roots = [str(root) for root in self._roots if root.exists()]
        if not roots:
            log.warning("watch: none of the seeds paths exist (%s)", ", ".join(map(str, self.settings.seeds)))
            self._watching.set()
            return
        try:
            # yield_on_timeout: an empty set each tick, the first one saying the watch has begun,
            # so the start-up build reads the seeds only once no change can be missed
            for changes in watchfiles.watch(*roots, watch_filter=self._wanted, stop_event=self._stop,
                                            force_polling=self.settings.watch_polling or None,
                                            rust_timeout=WATCH_TICK_MS, yield_on_timeout=True,
                                            raise_interrupt=False):
                self._watching.set()
                if changes:
                    self.changed(path for _, path in changes)
        except Exception as error:  # the builds go on from the ingest API and the feeds
            log.exception("watch: the seeds are no longer watched: %s", error)
        finally:
            self._watching.set()

    def _wanted(self, _change, path: str) -> bool:
        """Article files (by the readers' suffixes) and folders; never hidden files or folders
        inside the seeds (temporary files of the inbox, of editors; the reader skips them too)
        nor anything in the index's own folder."""
        candidate = Path(path)
        if candidate == self._ignored or self._ignored in candidate.parents:
            return False
        inside = next((candidate.relative_to(root) for root in self._roots
                       if candidate == root or root in candidate.parents), candidate)
        if any(part.startswith(".") for part in inside.parts):
            return False
        return reader_for(candidate) is not None or not candidate.suffix

    def _build_when_settled(self) -> None:
        self._watching.wait(WATCH_READY_WAIT)
        while not self._stop.is_set():
            with self._changes:
                while not self._pending and not self._stop.is_set():
                    self._set_state("idle")
                    self._changes.wait()
            if self._stop.is_set() or not self._settled():
                return
            with self._changes:
                taken, self._pending, self._first_change = self._pending, {}, None
                self._set_state("building")
            try:
                self._build(taken)
            except Exception as error:  # never let the builder die: say so, wait for a change
                log.exception("watch: build failed: %s", error)

    def _settled(self) -> bool:
        """Wait until no change came for watch_settle seconds and the changed files keep their
        size and time over SETTLE_CHECK (a copy still running), or LONGEST_WAIT has passed."""
        self._set_state("settling")
        while not self._stop.is_set():
            with self._changes:
                now = time.monotonic()
                quiet = now - self._last_change
                waited = now - (self._first_change or now)
                unsettled = [path for path, complete in self._pending.items() if not complete]
            if waited >= LONGEST_WAIT:
                return True
            if quiet < self.settings.watch_settle:
                self._stop.wait(self.settings.watch_settle - quiet)
                continue
            before = _looks(unsettled)
            self._stop.wait(SETTLE_CHECK if unsettled else 0)
            if _looks(unsettled) == before:
                return True
            with self._changes:
                self._last_change = time.monotonic()
        return False

    def _build(self, taken: dict[str, bool]) -> None:
        started = time.perf_counter()
        try:
            report = build_index(self.settings, self.embedder)
        except IndexLocked as error:  # a manual `newsdesk index`: let it finish, then build
            with self._changes:
                for path, complete in taken.items():
                    self._pending.setdefault(path, complete)
                self._first_change = self._first_change or time.monotonic()
                self._set_state("waiting for the lock")
            log.info("watch: %s; trying again in %.0f s", error, LOCK_RETRY)
            self._stop.wait(LOCK_RETRY)
            return
        except Exception as error:  # said in /health; tried again when the seeds change
            self._finish(BuildOutcome(_now(), time.perf_counter() - started,
                                      f"failed: {' '.join(str(error).split())}", None, failed=True))
            log.warning("watch: the build failed (%s); the served index is unchanged", error)
            return
        self._finish(BuildOutcome(_now(), report.seconds, report.summary(), report.generation),
                     report)
        if report.wrote:
            log.info("watch: %s", report.summary())
            self.on_built()

    def _finish(self, outcome: BuildOutcome, report: BuildReport | None = None) -> None:
        with self._changes:
            if report is not None:
                failed = tuple(Failure(f"{p.path}:{p.line}" if p.line else p.path, p.reason)
                               for p in report.problems)
                for failure in set(failed) - set(self._failed_inputs):
                    log.warning("watch: skipped %s: %s", failure.input, failure.reason)
                self._failed_inputs = failed
            self._last = outcome
            self._builds += 1
            self._changes.notify_all()

    def _poll_feeds(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.feeds.poll()
            except Exception as error:  # a bug in one poll must not end the polling
                log.exception("feeds: poll failed: %s", error)
            else:
                with self._changes:
                    self._failed_feeds = tuple(Failure(f.input, f.reason) for f in report.failures)
                if report.saved:
                    self.changed(map(str, report.saved), complete=True)
            self._stop.wait(self.settings.feed_interval)

    def _set_state(self, state: str) -> None:
        with self._changes:
            self._state = state
            self._changes.notify_all()


def _looks(paths: list[str]) -> list[tuple[int, int] | None]:
    """Each file's (size, modification time), None for one that is gone."""
    looks = []
    for path in paths:
        try:
            stat = Path(path).stat()
            looks.append((stat.st_size, stat.st_mtime_ns))
        except OSError:
            looks.append(None)
    return looks


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
