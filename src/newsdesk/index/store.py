"""The on-disk index format: generation folders, CURRENT, the write lock, the build status file,
and loading a generation (or saying what in it is damaged).

Layout of the embeddings folder:
    CURRENT                 name of the generation being served (replaced atomically)
    generations/gen-000007/ manifest.json: the live segments (earlier generations' names, each
                            with its deleted article ids) and the model, chunker and counts;
                            and the segment this build added (segment.py): articles.jsonl,
                            passages.npz, vectors.npy, index.faiss, bm25/, stories/
    .lock                   held by the one `newsdesk index` allowed to write
    last-build.json         the last build's state, for the server's /health

Segments, as in Lucene: a build writes only its new and changed articles, as a new segment, and
a manifest naming the segments that stay live and the articles deleted from them; a merge
(build.py) later folds small segments into one. A generation is written into a temporary
folder, synced, renamed, then CURRENT is swapped with os.replace: readers see the old generation
or the new one, never a mix, and a killed build leaves only a temporary folder that the next
build removes. Old generations are pruned once no kept generation serves their segment.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np

from newsdesk.index.errors import DamagedIndex, DiskFull, IndexError_, IndexLocked, OldFormat
from newsdesk.index.generation import Generation, assemble
from newsdesk.index.segment import SegmentContent, read_segment, write_segment

FORMAT_VERSION = 2  # 2: segments; 1 (whole generations) is upgraded by the next build
CURRENT = "CURRENT"
GENERATIONS = "generations"
KEEP_OLD_GENERATIONS = 2  # replicas still loading the previous one must find it whole
_GENERATION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


# ---------------------------------------------------------------- the build status file

LAST_BUILD = "last-build.json"
_STATUS_BYTES = 2048  # the status file keeps this size, so a full disk can still be told why


def record_build_start(root: Path) -> None:
    """A status file of fixed size, written before anything else: the failure overwrites it in
    place later, which needs no new space even when the disk has filled up by then."""
    _write_status(root, {"state": "running", "pid": os.getpid(), "started_at": _now()}, create=True)


def record_build_failure(root: Path, error: Exception) -> None:
    detail = " ".join(str(error).split()) or type(error).__name__
    _write_status(root, {"state": "failed", "failed_at": _now(), "error": detail[:1500]})


def record_build_done(root: Path, passages_embedded: int, seconds: float) -> None:
    """The build succeeded (any earlier failure is over): when, how long it took and how many
    passages it embedded (/metrics)."""
    _write_status(root, {"state": "ok", "finished_at": _now(), "seconds": round(seconds, 3),
                         "passages_embedded": passages_embedded})


def _write_status(root: Path, record: dict, create: bool = False) -> None:
    data = json.dumps(record, ensure_ascii=True).encode()[:_STATUS_BYTES]
    try:
        with open(root / LAST_BUILD, "r+b" if not create and (root / LAST_BUILD).exists() else "wb") as handle:
            handle.write(data.ljust(_STATUS_BYTES))
    except OSError:  # a read-only or (for a first build) full disk: the error is still raised
        pass


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def last_build(root: Path) -> dict | None:
    """The last `newsdesk index` here as its status file tells it ({"state": "running", "failed"
    or "ok", and its times}), or None when there is none."""
    try:
        record = json.loads((Path(root) / LAST_BUILD).read_bytes())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def last_build_failure(root: Path) -> dict | None:
    """{"failed_at", "error"} when the last `newsdesk index` here failed, else None."""
    record = last_build(root)
    return record if record is not None and record.get("state") == "failed" else None


# ---------------------------------------------------------------- one writer


@contextmanager
def write_lock(root: Path) -> Iterator[None]:
    """One writer per embeddings folder; a second one is refused with a clear message."""
    try:
        handle = open(root / ".lock", "a+")
    except OSError as error:
        if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise IndexError_(_read_only_message(root, error)) from None
        raise
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise IndexLocked(_locked_message(root, handle.read())) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()


def refuse_if_locked(root: Path) -> None:
    """Say at once, before seconds of model loading, that another build holds the lock (a look
    only: the lock is taken, and the pid written, by write_lock when the build starts)."""
    try:
        handle = open(Path(root) / ".lock")
    except FileNotFoundError:
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexLocked(_locked_message(root, handle.read())) from None


def refuse_if_read_only(root: Path) -> None:
    """Say at once, before seconds of model loading, that the folder cannot be written."""
    root = Path(root)
    folder = root if root.exists() else next((p for p in root.parents if p.exists()), Path("."))
    if folder.is_dir() and not os.access(folder, os.W_OK):
        raise IndexError_(_read_only_message(root, OSError(errno.EROFS, "")))


def _read_only_message(root: Path, error: OSError) -> str:
    what = "on a read-only file system" if error.errno == errno.EROFS else "not writable by this user"
    return (f"{root} is {what}: `newsdesk index` cannot write there (`newsdesk serve` can still "
            "serve it); index into a writable folder with --embeddings")


def _locked_message(root: Path, holder: str) -> str:
    return (f"{root} is being indexed by {holder.strip() or 'another process'}; "
            "wait for that run to finish and try again")


# ---------------------------------------------------------------- writing a generation


def write_generation(root: Path, manifest: dict, content: SegmentContent, index_type: str,
                     codec: str) -> str:
    """Write a generation (its manifest and the segment it adds) into a
    temporary folder, rename it, swap CURRENT. Any failure before the swap removes what this
    build wrote, so the served generation and the disk stay as they were; a full disk is said
    as such, with the file.

    manifest["segments"] lists the earlier generations whose segments stay live (with their
    deleted articles); this generation's own segment is added to it here.
    """
    generations = root / GENERATIONS
    generations.mkdir(exist_ok=True)
    name = _next_generation_name(generations)
    manifest["generation"] = name
    staging = generations / f".tmp-{name}-{os.getpid()}"
    pointer = root / f".{CURRENT}.tmp"
    written: list[Path] = [staging]
    writing = staging

    def on_file(path: Path) -> None:
        nonlocal writing
        writing = path
    try:
        staging.mkdir()
        manifest.update(write_segment(staging, content, index_type, codec, on_file))
        if content.articles:  # a removal alone adds no segment
            manifest["segments"] = [*manifest["segments"], {"name": name, "passages": len(content.passages),
                                                            "deleted": [], "deleted_passages": 0}]
        writing = staging / "manifest.json"
        writing.write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
        writing = staging
        _sync_tree(staging)
        os.rename(staging, generations / name)
        written = [generations / name]
        sync_folder(generations)
        writing = root / CURRENT
        written.append(pointer)
        pointer.write_text(name + "\n")
        _fsync_file(pointer)
        os.replace(pointer, root / CURRENT)
    except BaseException as error:
        full = _disk_full(error, root)
        for path in written:  # nothing of this build is served yet: give the space back
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        if full:
            raise DiskFull(f"disk full while writing {writing.relative_to(root)} in {root} "
                           f"({size_text(free_bytes(root))} free now that this build's temporary "
                           "files are removed); the served index is unchanged; free some space "
                           "or index into another folder with --embeddings") from None
        raise
    sync_folder(root)
    return name


def _disk_full(error: BaseException, root: Path) -> bool:
    # numpy says "N requested and M written" and FAISS "write error", without an errno
    if getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(error, (OSError, RuntimeError)):
        try:
            return free_bytes(root) < FULL_BELOW_BYTES
        except OSError:
            return False
    return False


FULL_BELOW_BYTES = 1 << 20  # a write that failed with less than this free: the disk was full


def free_bytes(folder: Path) -> int:
    """Bytes free to this user on the filesystem of folder (tests replace it)."""
    return shutil.disk_usage(folder).free


def size_text(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1024
    return f"{count:,.1f} TB"


def read_passage_rows(folder: Path) -> list[tuple[str, int, int]]:
    # Our own handle: np.load leaves its file open when the file is not a zip (a damaged copy).
    with open(folder / "passages.npz", "rb") as handle, np.load(handle) as data:
        ids = [str(x) for x in data["article_ids"]]
        return [(ids[a], int(s), int(e)) for a, s, e in zip(data["article"], data["start"], data["end"])]


def _next_generation_name(generations: Path) -> str:
    numbers = [int(p.name.split("-")[1]) for p in generations.iterdir()
               if p.name.startswith("gen-") and p.name.split("-")[1].isdigit()]
    return f"gen-{max(numbers, default=0) + 1:06d}"


def remove_unfinished(root: Path) -> None:
    generations = root / GENERATIONS
    if generations.is_dir():
        for leftover in generations.glob(".tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)


def prune_generations(root: Path) -> None:
    """Remove old generations: the current one and the KEEP_OLD_GENERATIONS before it stay, and
    so does every generation whose segment one of those still serves."""
    current = (root / CURRENT).read_text().strip()
    finished = sorted(p for p in (root / GENERATIONS).iterdir() if p.name.startswith("gen-"))
    keep = {current} | {p.name for p in finished[-(KEEP_OLD_GENERATIONS + 1):]}
    for name in list(keep):
        try:
            keep |= {entry["name"] for entry in read_manifest(root / GENERATIONS / name).get("segments", [])}
        except (OSError, ValueError, TypeError, KeyError):
            pass  # unreadable: it serves nothing, and what it named is kept by the others or goes
    for folder in finished:
        if folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)


def _sync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            _fsync_file(path)
    for path in [folder, *[p for p in folder.rglob("*") if p.is_dir()]]:
        sync_folder(path)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def sync_folder(path: Path) -> None:
    """A folder's entries (a rename, a new or removed file) on disk, not only in the cache."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# ---------------------------------------------------------------- loading


def current_name(root: Path) -> str | None:
    """The generation CURRENT names, None when there is no CURRENT; DamagedIndex when it is not
    a plain generation name (a name is one folder inside generations/, never a path)."""
    try:
        raw = (Path(root) / CURRENT).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise DamagedIndex(f"{Path(root) / CURRENT} cannot be read ({error.strerror or error})") from None
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise DamagedIndex(f"{Path(root) / CURRENT} is not a generation name (not UTF-8 text)") from None
    if not name:
        return None
    if not _GENERATION_NAME.fullmatch(name):
        raise DamagedIndex(f"{Path(root) / CURRENT} names {name[:80]!r}, which is not a folder "
                           f"inside {GENERATIONS}/: refused")
    return name


def current_folder(root: Path, strict: bool = False) -> Path | None:
    """The folder of the generation CURRENT names, None where there is none (or it is missing);
    a damaged CURRENT is None too, or DamagedIndex when strict."""
    try:
        name = current_name(root)
    except DamagedIndex:
        if strict:
            raise
        return None
    if name is None:
        return None
    folder = Path(root) / GENERATIONS / name
    return folder if folder.is_dir() else None


def read_manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def load_generation(root: Path, reuse: Generation | None = None) -> Generation:
    """The generation CURRENT names, loaded (later files changing cannot affect it); segments
    that reuse (the generation served until now) already holds are taken from it, not read.

    IndexError_ when there is none; DamagedIndex, with the file and the way out, when anything
    in it cannot be read or does not agree with the rest.
    """
    name = current_name(root)
    if name is None:
        raise IndexError_(f"no index in {root}: run `newsdesk index` first")
    folder = Path(root) / GENERATIONS / name
    generations = (Path(root) / GENERATIONS).resolve()
    if not folder.is_dir() or folder.resolve().parent != generations:
        raise DamagedIndex(f"{Path(root) / CURRENT} names {name}, which is not a folder in "
                           f"{Path(root) / GENERATIONS}")
    reading = folder
    try:
        with Reading("manifest.json"):
            manifest = read_manifest(folder)
            if not isinstance(manifest, dict):
                raise ValueError("not a JSON object")
            if manifest.get("format") != FORMAT_VERSION:
                raise OldFormat(f"generation {name} in {root} is in an older format: run "
                                "`newsdesk index` once to upgrade it (nothing is embedded again)")
            listed = [(str(entry["name"]), set(entry.get("deleted", ())))
                      for entry in manifest["segments"]]
        known = {s.folder: s for s in reuse.segments} if reuse is not None else {}
        segments = []
        for segment_name, _ in listed:
            reading = segment_folder(root, folder, manifest, segment_name)
            if reading in known:
                segments.append(known[reading])
                continue
            with Reading("manifest.json"):
                own = manifest if reading == folder else read_manifest(reading)
            segments.append(read_segment(segment_name, reading, own, Reading))
        return assemble(name, folder, manifest, segments, [gone for _, gone in listed])
    except (DamagedIndex, OldFormat):
        raise
    except Exception as error:  # any failure to read a generation means it is damaged
        raise DamagedIndex(damage_message(reading, error)) from None


def segment_folder(root: Path, folder: Path, manifest: dict, name: str) -> Path:
    """The folder of segment name, listed in the manifest of the generation in folder: that
    folder itself for the segment it added (whatever the folder is called now), else the
    generation of that name. ValueError when it is not there."""
    if name == manifest.get("generation"):
        return folder
    found = Path(root) / GENERATIONS / name
    if not _GENERATION_NAME.fullmatch(name) or not found.is_dir():
        raise ValueError(f"its segment {name} is missing")
    return found


def damage_message(folder: Path, error: Exception) -> str:
    reading = getattr(error, "newsdesk_file", None)
    where = f"{reading}: " if reading else ""
    detail = " ".join(str(error).split())[:200] or type(error).__name__
    return f"generation {folder.name} in {folder.parent.parent} is damaged ({where}{detail})"


class Reading:
    """Names the file being read on any exception that leaves it, for the damage message."""

    def __init__(self, file: str):
        self.file = file

    def __enter__(self):
        return self

    def __exit__(self, kind, error, _traceback):
        if error is not None and not hasattr(error, "newsdesk_file"):
            try:
                error.newsdesk_file = self.file
            except AttributeError:  # a few built-in exceptions take no attributes
                pass
        return False
