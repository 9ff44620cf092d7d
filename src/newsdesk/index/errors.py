"""What the index says to the user when a build or a load cannot go on."""

from __future__ import annotations

RECOVER = "run `newsdesk index --full` to build a new one"


class IndexError_(Exception):
    """A build or load that cannot go on; the message is meant for the user."""


class IndexLocked(IndexError_):
    """Another `newsdesk index` holds the embeddings folder's write lock."""


class DamagedIndex(IndexError_):
    """CURRENT or the generation it names cannot be read; the message says what and the way out."""

    def __init__(self, problem: str):
        super().__init__(f"{problem}; {RECOVER}")
        self.problem = problem


class DiskFull(IndexError_):
    """The disk filled up while a build wrote (its temporary files are removed by then)."""


class DiskSpaceShort(IndexError_):
    """The new generation would not fit: refused before any embedding."""


class OldFormat(IndexError_):
    """The generation CURRENT names was written in an earlier format; the next build upgrades it."""
