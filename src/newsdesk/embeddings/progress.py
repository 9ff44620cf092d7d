"""The progress bar `newsdesk index` draws, in our words: `Indexing  37% |███▋      | 111/300
articles · 1,432 passages · 9.8 articles/s · about 20 s left` (tqdm underneath)."""

from __future__ import annotations

import sys
from typing import Callable, Sequence

import numpy as np
from tqdm import tqdm

SHOW_AFTER_SECONDS = 2.0  # a build done sooner draws no bar at all


class Progress(tqdm):
    """tqdm with our own words for the rate and the time left, and a second count (passages)
    beside the one the bar measures (articles)."""

    def __init__(self, total: int, noun: str, desc: str, also: str = "", enabled: bool = True,
                 delay: float | None = None, file=None):
        self.noun, self.also, self.also_count = noun, also, 0
        super().__init__(total=total, desc=desc, unit=noun, disable=not enabled,
                         delay=SHOW_AFTER_SECONDS if delay is None else delay,
                         file=file or sys.stderr, dynamic_ncols=True,
                         bar_format="{desc} {percentage:3.0f}% |{bar}| {done}{also} · {speed} · {left}")

    def advance(self, count: int, also: int = 0) -> None:
        """count more of the measured things done, and `also` more of the other."""
        self.also_count += also
        self.update(count)

    @property
    def format_dict(self):
        facts = super().format_dict
        n, total, elapsed = facts.get("n") or 0, facts.get("total") or 0, facts.get("elapsed") or 0
        rate = facts.get("rate") or (n / elapsed if n and elapsed else None)  # smoothed, else mean
        facts["done"] = f"{n:,}/{total:,} {self.noun}"
        facts["also"] = f" · {self.also_count:,} {self.also}" if self.also else ""
        facts["speed"] = (f"{rate:,.{0 if rate >= 10 else 1}f} {self.noun}/s" if rate
                          else f"… {self.noun}/s")
        if total and n >= total:
            facts["left"] = f"done in {duration(elapsed)}"
        elif rate and total:
            facts["left"] = f"about {duration((total - n) / rate)} left"
        else:
            facts["left"] = "estimating the time left"
        return facts


def embed_longest_first(texts: Sequence[str], dimension: int, step: int,
                        encode: Callable[[list[str]], np.ndarray], progress: bool) -> np.ndarray:
    """One row per text, encoded `step` texts a call, longest first (texts of a like length
    batch with less padding), under a bar counting passages when progress."""
    texts = list(texts)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    vectors = np.empty((len(texts), dimension), dtype=np.float32)
    with Progress(len(texts), "passages", "Embedding", enabled=progress) as bar:
        for start in range(0, len(order), step):
            rows = order[start:start + step]
            vectors[rows] = encode([texts[i] for i in rows])
            bar.advance(len(rows))
    return vectors


def duration(seconds: float) -> str:
    """'8 s', '3 min 5 s', '1 h 4 min': as people say it, to the precision that matters."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if minutes < 10 and seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
