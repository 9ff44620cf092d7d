"""The ingest API's folder, `inbox/` in the seeds: each accepted article one JSONL file, read by
the same corpus reader every build uses, so what is acknowledged is exactly what gets indexed."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Iterable

from newsdesk.articles import Article, InputNote, InputProblem
from newsdesk.articles.corpus import read_corpus_lines
from newsdesk.ingest.saved import (
    INBOX,
    corpus_line,
    file_name,
    owned_folder,
    remove_durably,
    remove_leftovers,
    write_durably,
)
from newsdesk.settings import Settings


class Refused(ValueError):
    """Records that are not articles; nothing of the batch was saved. One line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class Inbox:
    """Accepts and removes articles, each in its own file (a change or a delete touches one)."""

    def __init__(self, settings: Settings):
        self.folder = owned_folder(settings, INBOX)
        remove_leftovers(self.folder)

    def path_for(self, article_id: str) -> Path:
        return self.folder / file_name(article_id)

    def holds(self, article_id: str) -> bool:
        return self.path_for(article_id).is_file()

    def owns(self, source: str) -> bool:
        """Whether an article's source (`path:line`, as the readers write it) is in this inbox."""
        path = Path(source.rsplit(":", 1)[0] if source.rpartition(":")[2].isdigit() else source)
        try:
            return path.resolve().parent == self.folder.resolve()
        except OSError:
            return False

    def read(self, records: Iterable[Any]) -> list[Article]:
        """The records as the build will read them (corpus field names: doc_id or id, text or
        body or content, title or headline, url or link, publish_date or date...); Refused, with
        every record's problem, when any is not an article."""
        records = list(records)
        if not records:
            raise Refused(["no articles in the body"])
        # ensure_ascii: a lone surrogate stays an escape, which the reader refuses by name
        lines = b"".join(json.dumps(record, ensure_ascii=True).encode() + b"\n" for record in records)
        problems: list[InputProblem] = []
        notes: list[InputNote] = []  # field names other than newsdesk's own: fine here
        # in memory, named as a file of this inbox (owns() holds for the articles' source)
        articles = list(read_corpus_lines(io.BytesIO(lines), self.folder / ".request", problems, notes))
        if problems:
            raise Refused([_described(problem, len(records)) for problem in problems])
        return articles

    def save(self, articles: Iterable[Article]) -> None:
        """Save articles read by read(), each durably; when this returns they survive a crash.
        An article already here under the same id is replaced (a correction)."""
        for article in articles:
            write_durably(self.path_for(article.id), corpus_line(article))

    def remove(self, article_id: str) -> bool:
        """Delete the article's file durably; False when the inbox does not hold it."""
        return remove_durably(self.path_for(article_id))


def _described(problem: InputProblem, count: int) -> str:
    if problem.line is None:
        return problem.reason
    return f"article {problem.line}: {problem.reason}" if count > 1 else problem.reason
