"""Reading the seeds paths: folders walked in a stable order, each file handed to the reader for
its kind by suffix (READERS), duplicates and unreadable inputs reported by name.

A reader for another kind of input (HTML, RSS) is a module like text.py or corpus.py and one
line in READERS.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Iterator

from newsdesk.articles import corpus, html, text
from newsdesk.articles.records import Article, InputNote, InputProblem, ReadResult

# A reader: the articles of one file; what it skips goes to problems, what it notes to notes.
Reader = Callable[[Path, list[InputProblem], list[InputNote]], Iterable[Article]]
READERS: dict[tuple[str, ...], Reader] = {
    text.SUFFIXES: text.read_text_file,
    corpus.SUFFIXES: corpus.read_corpus,
    html.SUFFIXES: html.read_html_file,
}


def read_articles(paths: Iterable[Path]) -> ReadResult:
    """Every article under the given folders and files; duplicates and broken inputs reported."""
    result = ReadResult()
    seen: set[str] = set()
    for path in source_files(paths, result.problems):
        result.files_read += 1
        for article in _read_one_source(path, result):
            if article.id in seen:
                result.problems.append(InputProblem(article.source, f"duplicate article id {article.id!r}"))
                continue
            seen.add(article.id)
            result.articles.append(article)
    return result


def reader_for(path: Path) -> Reader | None:
    name = path.name.lower()
    return next((reader for suffixes, reader in READERS.items() if name.endswith(suffixes)), None)


def source_files(paths: Iterable[Path], problems: list[InputProblem]) -> Iterator[Path]:
    """Article files in a stable order; folders are walked without following links (no loops),
    and a linked file is read only when it resolves inside the paths given."""
    paths = [Path(p) for p in paths]
    allowed = _resolved(paths)
    for root in paths:
        try:
            if root.is_dir():
                yield from _walk_folder(root, problems, allowed)
            elif root.is_file():
                if reader_for(root):
                    yield root
                else:
                    problems.append(InputProblem(str(root), f"not a {_suffix_list()} file"))
            else:
                problems.append(InputProblem(str(root), "no such file or folder"))
        except OSError as error:
            problems.append(InputProblem(str(root), f"cannot be read ({error.strerror or error})"))


def _suffix_list() -> str:
    suffixes = [suffix for suffixes in READERS for suffix in suffixes]
    return ", ".join(suffixes[:-1]) + f" or {suffixes[-1]}"


def _resolved(paths: list[Path]) -> list[Path]:
    resolved = []
    for path in paths:
        try:
            resolved.append(path.resolve())
        except (OSError, RuntimeError):
            pass
    return resolved


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _walk_folder(root: Path, problems: list[InputProblem], allowed: list[Path]) -> Iterator[Path]:
    def unreadable(error: OSError) -> None:
        problems.append(InputProblem(str(error.filename), f"cannot be read ({error.strerror or error})"))

    for folder, subfolders, files in os.walk(root, followlinks=False, onerror=unreadable):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            if not reader_for(path):
                continue
            try:
                if not path.is_file():
                    reason = "broken or looping link" if path.is_symlink() else "not a regular file"
                    problems.append(InputProblem(str(path), reason))
                    continue
                if path.is_symlink() and not _inside(path.resolve(), allowed):
                    # ln -s /etc/passwd seeds/leak.txt must not publish /etc/passwd
                    problems.append(InputProblem(str(path), "link to a file outside the seeds "
                                                 f"({path.resolve()}); not read"))
                    continue
            except OSError as error:
                problems.append(InputProblem(str(path), f"cannot be read ({error.strerror or error})"))
                continue
            yield path


def _read_one_source(path: Path, result: ReadResult) -> Iterator[Article]:
    try:
        yield from reader_for(path)(path, result.problems, result.notes)
    except OSError as error:
        result.problems.append(InputProblem(str(path), f"cannot be read ({error.strerror or error})"))
