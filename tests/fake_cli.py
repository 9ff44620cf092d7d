"""`newsdesk` as a real process, with the tests' bag-of-words embedder in place of the model, so
`serve` and `mcp` start in a second or two:

    python tests/fake_cli.py serve --embeddings DIR --port N
    python tests/fake_cli.py mcp --embeddings DIR

The index must have been built with the same embedder (tests build it with fakes.FakeEmbedder).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import newsdesk.embeddings  # noqa: E402
from fakes import FakeEmbedder  # noqa: E402

# Before newsdesk.service is imported: it takes load_embedder by name.
newsdesk.embeddings.load_embedder = lambda settings: FakeEmbedder()

from newsdesk.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
