"""`newsdesk index` in a process of its own that can die (SIGKILL) or stall at a chosen write.

    python tests/index_runner.py [--fake] [--kill-at N | --pause-at N --resume-file PATH]
                                 [--trace FILE] -- --seeds ... --embeddings DIR ...

Every file operation that changes something under the embeddings folder (an open for writing,
mkdir, rename/replace, remove, rmtree) is numbered from 1 by a Python audit hook, which runs just
before the operation. `--kill-at N` sends this process SIGKILL right before operation N, so a
crash test can land on every step of a build's write path, deterministically; `--pause-at N`
holds the run there (lock held, generation half written) until the resume file exists, so a
test can start a second run at a known moment without guessing at timing; `--trace` writes
the numbered operations of a whole run, to choose N from. `--fake` swaps the model for the tests'
bag-of-words embedder, for fast runs where the model does not matter (the write path is the same).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
PATH_EVENTS = {"os.mkdir": 0, "os.rename": 0, "os.remove": 0, "os.rmdir": 0,
               "shutil.rmtree": 0, "os.truncate": 0}


def main() -> int:
    own, cli_args = _split(sys.argv[1:])
    options = _options().parse_args(own)
    root = os.path.abspath(_embeddings_folder(cli_args))
    operations: list[str] = []
    busy = False

    def hook(event: str, args: tuple) -> None:
        nonlocal busy
        if busy:
            return
        path = _changed_path(event, args)
        if path is None or not path.startswith(root):
            return
        busy = True
        try:
            operations.append(f"{event} {os.path.relpath(path, root)}")
            number = len(operations)
            if number == options.kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            if number == options.pause_at:
                _wait_for(Path(options.resume_file))
        finally:
            busy = False

    if options.fake:
        _use_fake_embedder()
    sys.addaudithook(hook)
    from newsdesk.cli import main as newsdesk

    code = newsdesk(["index", *cli_args])
    if options.trace:
        Path(options.trace).write_text("".join(f"{n} {op}\n" for n, op in enumerate(operations, 1)))
    return code


def _options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fake", action="store_true")
    parser.add_argument("--kill-at", type=int, default=0)
    parser.add_argument("--pause-at", type=int, default=0)
    parser.add_argument("--resume-file")
    parser.add_argument("--trace")
    return parser


def _wait_for(path: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1:]
    return argv, []


def _embeddings_folder(cli_args: list[str]) -> str:
    if "--embeddings" in cli_args:
        return cli_args[cli_args.index("--embeddings") + 1]
    return os.environ.get("NEWSDESK_EMBEDDINGS", "embeddings")


def _changed_path(event: str, args: tuple) -> str | None:
    """The path an audited operation changes, or None when it changes nothing."""
    if event == "open":
        path, _, flags = args
        if not isinstance(flags, int) or not flags & WRITE_FLAGS:
            return None
    elif event in PATH_EVENTS:
        path = args[0]
    else:
        return None
    if isinstance(path, int):  # an already open descriptor
        return None
    try:
        return os.path.abspath(os.fsdecode(path))
    except (TypeError, ValueError):
        return None


def _use_fake_embedder() -> None:
    sys.path.insert(0, str(HERE))
    from fake_newsdesk import use_fake_embedder

    use_fake_embedder()


if __name__ == "__main__":
    sys.exit(main())
