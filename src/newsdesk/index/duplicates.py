"""Near-duplicate stories: MinHash sketches of each article's body, and the groups of articles
that are the same story (wire copy syndicated to several outlets, a re-publication, an update).

Two articles are the same story when the Jaccard resemblance of their sets of word shingles
(runs of SHINGLE_WORDS words) is at least THRESHOLD. That is estimated from MinHash signatures
(datasketch), computed once per article at index time and stored with its segment
(StorySketches); the groups are derived from all live signatures when a generation is loaded
(StoryGroups), so deleting or replacing an article needs no sketch to be recomputed.

Finding the pairs without comparing every article with every other is LSH banding: the
signature is cut into BANDS bands of ROWS values; articles whose values agree on a whole band
are candidates, each candidate pair is checked against THRESHOLD on the whole signature, and
the pairs that pass are joined into groups (connected components, i.e. union-find).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
from datasketch import MinHash
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from newsdesk.articles import Article

# Broder et al. (1997, "Syntactic clustering of the Web") cluster documents whose resemblance
# exceeds 50%: lightly edited copies of one text stay well above it, two texts that merely share
# a subject and some quotes stay well below. Fixed here, not fitted to any evaluation set.
THRESHOLD = 0.5
# Five words: long enough that common phrases ("said in a statement") rarely make two stories
# alike, short enough that an edited sentence spoils only the few shingles across the edit.
SHINGLE_WORDS = 5
NUM_PERM = 128  # 512 bytes an article; the estimate's standard error at J = 0.5 is 0.044
# 32 bands of 4 rows: datasketch's own choice (lsh._optimal_param) for a 0.5 threshold when a
# missed pair weighs 9 times a false candidate, as it should here: every candidate is checked.
# A pair at J = 0.5 becomes a candidate with probability 1 - (1 - 0.5^4)^32 = 0.87, at 0.6 0.98,
# at 0.3 0.23 (then rejected by the check).
BANDS, ROWS = 32, 4
# A band value shared by more articles than this (boilerplate, not a story) pairs each of them
# with this many neighbours only, so one bucket cannot make the candidate pairs quadratic.
MAX_NEIGHBOURS = 64
SEED = 1  # the permutations: every segment's signatures must use the same ones

_WORD = re.compile(r"\w+")
_EMPTY = np.uint32(0xFFFFFFFF)  # a signature value no shingle produced: the article has no body
SIGNATURES_FILE = "story-signatures.npy"
IDS_FILE = "story-ids.npy"


@dataclass(frozen=True)
class StorySketches:
    """MinHash signatures (NUM_PERM uint32 values) of articles' bodies, one row per id."""

    ids: tuple[str, ...]
    signatures: np.ndarray  # (len(ids), NUM_PERM) uint32

    @classmethod
    def of_articles(cls, articles: list[Article]) -> "StorySketches":
        minhashes = MinHash.generator((shingles(a.text[a.body_start:]) for a in articles),
                                      num_perm=NUM_PERM, seed=SEED, scheme="affine32")
        signatures = np.array([m.hashvalues for m in minhashes], dtype=np.uint32)
        return cls(tuple(a.id for a in articles), signatures.reshape(len(articles), NUM_PERM))

    @classmethod
    def empty(cls) -> "StorySketches":
        return cls((), np.zeros((0, NUM_PERM), dtype=np.uint32))

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, ids) -> "StorySketches":
        """The sketches of these ids (those it has), in the order given: a merge's live articles."""
        row = {article_id: n for n, article_id in enumerate(self.ids)}
        kept = [article_id for article_id in ids if article_id in row]
        return StorySketches(tuple(kept), self.signatures[[row[a] for a in kept]])

    def write(self, folder: Path) -> None:
        np.save(Path(folder) / SIGNATURES_FILE, self.signatures)
        np.save(Path(folder) / IDS_FILE, np.array(self.ids, dtype=str))

    @classmethod
    def read(cls, folder: Path) -> "StorySketches":
        signatures = np.load(Path(folder) / SIGNATURES_FILE, allow_pickle=False)
        ids = np.load(Path(folder) / IDS_FILE, allow_pickle=False)
        if signatures.dtype != np.uint32 or signatures.shape != (len(ids), NUM_PERM):
            raise ValueError(f"{SIGNATURES_FILE}: {signatures.shape} {signatures.dtype} values for "
                             f"{len(ids)} ids, not {NUM_PERM} uint32 each")
        return cls(tuple(str(x) for x in ids), signatures)


def shingles(body: str) -> list[bytes]:
    """The body's distinct runs of SHINGLE_WORDS lower-case words (the whole body when shorter)."""
    words = _WORD.findall(body.lower())
    if len(words) <= SHINGLE_WORDS:
        return [" ".join(words).encode()] if words else []
    return list({" ".join(words[n:n + SHINGLE_WORDS]).encode()
                 for n in range(len(words) - SHINGLE_WORDS + 1)})


@dataclass(frozen=True)
class StoryGroups:
    """The articles that are one story, each story named by its earliest copy's id."""

    _story: dict[str, str] = field(default_factory=dict)  # article id -> story; alone: absent
    _members: dict[str, tuple[str, ...]] = field(default_factory=dict)  # story -> earliest first

    @classmethod
    def empty(cls) -> "StoryGroups":
        return cls()

    @classmethod
    def of(cls, sketches: list[StorySketches], live_ids: set[str] | None,
           published: dict[str, date]) -> "StoryGroups":
        """The groups among the live articles' sketches (all of them when live_ids is None); an id
        sketched in several segments counts as its last one. Copies are ordered by publication
        date, undated ones last, then by id."""
        # A dict, not numpy's string sorts: ten times faster for 100,000 ids.
        row_of = dict(zip((a for s in sketches for a in s.ids), itertools.count()))  # the last wins
        if live_ids is not None:
            row_of = {a: row for a, row in row_of.items() if a in live_ids}
        if not row_of:
            return cls.empty()
        rows = np.fromiter(row_of.values(), dtype=np.int64, count=len(row_of))
        signatures = np.concatenate([s.signatures for s in sketches])
        if len(rows) < len(signatures):  # some ids deleted or sketched again: copy the rest only
            signatures = signatures[rows]
        # No body: every value is the empty one; any shingle makes both first values smaller
        # but with odds of 2^-64, so two columns tell it without reading all NUM_PERM.
        bodied = ~(signatures[:, :2] == _EMPTY).all(axis=1)
        ids = np.array(list(row_of), dtype=object)
        if not bodied.all():
            ids, signatures = ids[bodied], signatures[bodied]
        first, second = similar_pairs(signatures)
        if not len(first):
            return cls.empty()
        graph = coo_matrix((np.ones(len(first), dtype=np.int8), (first, second)),
                           shape=(len(ids), len(ids)))
        _, labels = connected_components(graph, directed=False)
        grouped = np.flatnonzero(np.bincount(labels)[labels] > 1)
        groups: dict[int, list[str]] = {}
        for row in grouped:
            groups.setdefault(int(labels[row]), []).append(str(ids[row]))
        story, members = {}, {}
        for group in groups.values():
            ordered = tuple(sorted(group, key=lambda a: (published.get(a, date.max), a)))
            members[ordered[0]] = ordered
            story.update(dict.fromkeys(ordered, ordered[0]))
        return cls(story, members)

    def story_of(self, article_id: str) -> str | None:
        """The story's name (its earliest copy's id); None when the article is the only copy."""
        return self._story.get(article_id)

    def copies(self, article_id: str) -> tuple[str, ...]:
        """The story's other copies, earliest first; () when the article is the only copy."""
        story = self._story.get(article_id)
        return tuple(a for a in self._members[story] if a != article_id) if story else ()

    def groups(self) -> list[tuple[str, ...]]:
        """Every story with more than one copy, each earliest first."""
        return list(self._members.values())

    def __len__(self) -> int:
        return len(self._members)


def similar_pairs(signatures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (first < second) whose estimated Jaccard is at least THRESHOLD, among the candidate
    pairs that agree on a whole band."""
    count = len(signatures)
    article_bits = max(int(count - 1).bit_length(), 1)
    # Each band's ROWS uint32 values as two uint64 words, mixed into one key with its band
    # number, the article's row in the low bits: one plain sort (much faster than an argsort)
    # brings each band value's articles together. A collision of the remaining 64 - article_bits
    # bits only adds a candidate, which the check then rejects.
    words = np.ascontiguousarray(signatures).view(np.uint64).reshape(count, BANDS, ROWS // 2)
    with np.errstate(over="ignore"):
        keys = (words[:, :, 0] * np.uint64(0x9E3779B97F4A7C15)) ^ words[:, :, 1]
        keys += np.arange(BANDS, dtype=np.uint64) * np.uint64(0xBF58476D1CE4E5B9)
    keys = (keys >> np.uint64(article_bits) << np.uint64(article_bits)) | np.arange(
        count, dtype=np.uint64)[:, None]
    keys = np.sort(keys.ravel())
    band_value, article = keys >> np.uint64(article_bits), (keys & np.uint64((1 << article_bits) - 1)).astype(np.int64)
    firsts, seconds = [], []
    # Positions whose band value recurs `distance` places on: a subset of those it recurs at
    # distance - 1 (the keys are sorted), so each step looks only at the survivors.
    same = np.flatnonzero(band_value[1:] == band_value[:-1])
    for distance in range(1, MAX_NEIGHBOURS + 1):
        if distance > 1:
            same = same[same + distance < len(keys)]
            same = same[band_value[same] == band_value[same + distance]]
        if not len(same):
            break
        firsts.append(article[same])
        seconds.append(article[same + distance])
    if not firsts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    a, b = np.concatenate(firsts), np.concatenate(seconds)
    a, b = np.minimum(a, b), np.maximum(a, b)
    codes = np.unique((a * count + b)[a != b])
    a, b = codes // count, codes % count
    resemblance = (signatures[a] == signatures[b]).mean(axis=1)
    passed = resemblance >= THRESHOLD
    return a[passed], b[passed]
