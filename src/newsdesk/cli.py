"""Command line: `newsdesk index | serve | mcp | ask | eval`, thin over the library."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap

from pydantic import TypeAdapter, ValidationError

from newsdesk.evaluation.suite import PARTS as SUITE_PARTS  # light: the suite imports its engines when run
from newsdesk.query import MAX_K, PassageCount, Query, first_problem
from newsdesk.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _UserError as error:
        print(f"newsdesk: {error}", file=sys.stderr)
        return 1
    except _BadValue as error:  # a bad flag or NEWSDESK_* value: a usage error, as argparse's
        print(f"newsdesk: {error}", file=sys.stderr)
        return 2


class _UserError(Exception):
    pass


class _BadValue(Exception):
    """A flag or setting refused at start, named as the user wrote it."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsdesk", description="Cited answers from your news articles.")
    commands = parser.add_subparsers(dest="command")

    index = commands.add_parser("index", help="index the articles (only new and changed ones)")
    index.add_argument("--seeds", nargs="+", metavar="PATH", help="folders and files of articles")
    index.add_argument("--embeddings", metavar="DIR", help="where the index lives")
    index.add_argument("--full", action="store_true", help="re-embed everything")
    index.add_argument("--quiet", action="store_true", help="no progress bar")
    index.add_argument("--feed", action="append", metavar="URL",
                       help="an RSS or Atom feed whose new articles are fetched into the seeds first "
                            "(repeatable; default: NEWSDESK_FEEDS)")
    index.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                       help="chunk and embed on a Ray cluster (default: NEWSDESK_RAY_ADDRESS, else auto)")
    index.set_defaults(run=_index)

    serve = commands.add_parser("serve", help="serve the API and the web chat")
    serve.add_argument("--embeddings", metavar="DIR")
    serve.add_argument("--seeds", nargs="+", metavar="PATH",
                       help="the folders and files --watch watches and the ingest API writes into (`inbox/`)")
    serve.add_argument("--watch", action="store_true",
                       help="rebuild the index by itself when the seeds change, and poll NEWSDESK_FEEDS "
                            "(NEWSDESK_WATCH)")
    serve.add_argument("--host", default=None, help="the address to listen on (NEWSDESK_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="the port (NEWSDESK_PORT, default 8000)")
    serve.add_argument("--verbose", action="store_true",
                       help="also the libraries' log lines and warnings, and uvicorn's with each request")
    serve.set_defaults(run=_serve)

    mcp = commands.add_parser("mcp", help="answer AI assistants over the Model Context Protocol "
                              "(stdin/stdout; `serve` also speaks it at /mcp)")
    mcp.add_argument("--embeddings", metavar="DIR")
    mcp.set_defaults(run=_mcp)

    ask = commands.add_parser("ask", help="ask one question from the command line")
    ask.add_argument("question")
    ask.add_argument("--embeddings", metavar="DIR")
    ask.add_argument("-k", type=int, default=None, help=f"passages to cite (1..{MAX_K}, default 5)")
    ask.add_argument("--json", action="store_true", help="print the /ask JSON")
    ask.add_argument("--after", metavar="YYYY-MM-DD", help="only articles published on or after this day")
    ask.add_argument("--before", metavar="YYYY-MM-DD", help="only articles published on or before this day")
    ask.add_argument("--source", action="append", metavar="SOURCE",
                     help="only articles from this outlet: a domain (bbc.co.uk, its subdomains too) "
                          "or a name (\"USA Today\"); repeatable")
    ask.add_argument("--timeline", action="store_true",
                     help="dated sentences from several articles in date order (docs/timelines.md)")
    ask.set_defaults(run=_ask)

    evaluate = commands.add_parser(
        "eval", help="score answers and retrieval on a question set, or the whole suite with its goals")
    evaluate.add_argument("--suite", action="append", choices=("all",) + SUITE_PARTS,
                          help="the evaluation suite's parts, each figure beside its goal (repeatable; "
                               "all: every part); instead of --corpus/--questions")
    evaluate.add_argument("--data", metavar="DIR", default="../shared/data",
                          help="the suite's evaluation data (default ../shared/data)")
    evaluate.add_argument("--followups", metavar="PATH", default="benchmarks/followups.jsonl",
                          help="the suite's follow-up conversations (default benchmarks/followups.jsonl)")
    evaluate.add_argument("--corpus", metavar="PATH", help="articles (.jsonl[.gz] or a folder)")
    evaluate.add_argument("--questions", metavar="PATH", help="RealTimeQA or SQuAD 2.0 JSONL")
    evaluate.add_argument("--off-corpus", action="store_true",
                          help="the questions were written for another corpus: every one counts as "
                               "unanswerable, and the share declined is the figure")
    evaluate.add_argument("--embeddings", metavar="DIR", help="index folder (default .cache/eval-<corpus>)")
    evaluate.add_argument("--json", metavar="OUT", help="also write the report as JSON")
    evaluate.add_argument("-k", type=int, default=10, help=f"passages cited per question (1..{MAX_K})")
    evaluate.add_argument("--recipe", action="append",
                          choices=("newsdesk", "newsdesk-undated", "bm25", "dense", "fusion"),
                          help="what to score (repeatable; default newsdesk; newsdesk-undated asks "
                               "without the questions' dates; the rest are 1,000-character baselines)")
    evaluate.set_defaults(run=_eval)
    return parser


# The flag that sets each setting, to name it when its value is refused.
_FLAGS = {"seeds": "--seeds", "embeddings": "--embeddings", "host": "--host", "port": "--port", "feeds": "--feed",
          "ray_address": "--ray"}


def _settings(args, **extra) -> Settings:
    """The settings, from NEWSDESK_* and the flags; read first by every command, so that a bad
    value stops it before any model is loaded or article embedded."""
    try:
        return Settings.from_env(seeds=getattr(args, "seeds", None),
                                 embeddings=getattr(args, "embeddings", None), **extra)
    except SettingsError as error:
        raise _BadValue(error.described(_FLAGS)) from None


def _query(question: str, k: int | None, after: str | None = None, before: str | None = None,
           sources: list[str] | None = None, mode: str | None = None) -> Query:
    """The question, -k and the filter flags as the library's Query: the same rules as /ask's."""
    given = {"k": k, "published_after": after, "published_before": before, "sources": sources,
             "mode": mode}
    try:
        return Query(question=question, **{name: value for name, value in given.items() if value is not None})
    except ValidationError as error:
        raise _refused(error, {"question": "the question", "k": "-k", "published_after": "--after",
                               "published_before": "--before", "sources": "--source"}) from None


def _passage_count(k: int) -> int:
    try:
        return TypeAdapter(PassageCount).validate_python(k)
    except ValidationError as error:
        raise _refused(error, {}, "-k") from None


def _refused(error: ValidationError, names: dict[str, str], unnamed: str = "") -> _BadValue:
    """The first problem, as one line: `-k: input should be less than or equal to 50`."""
    where, message = first_problem(error)
    return _BadValue(f"{names.get(where or unnamed, where or unnamed)}: {message}")


def _index(args) -> int:
    from newsdesk.embeddings import embedder_on_demand
    from newsdesk.index.build import build_index
    from newsdesk.index.errors import IndexError_
    from newsdesk.index.store import refuse_if_locked, refuse_if_read_only

    settings = _settings(args, ray_address=args.ray or None, feeds=args.feed)
    build = build_index
    if args.ray is not None or settings.ray_address:
        from newsdesk.index.ray_build import build_index_on_ray as build
    try:
        refuse_if_read_only(settings.embeddings)
        refuse_if_locked(settings.embeddings)
        if settings.feeds:
            _fetch_feeds(settings)
        embedder = embedder_on_demand(settings)  # loaded only if an article needs embedding
        report = build(settings, embedder, full=args.full, progress=not args.quiet,
                       log=lambda line: print(line, file=sys.stderr))
    except (IndexError_, ValueError, OSError) as error:  # OSError: a full disk, a read-only folder
        raise _UserError(str(error)) from None
    print(report.summary())
    if report.passages_total == 0:
        print("newsdesk: nothing was indexed: no readable articles in "
              + ", ".join(str(p) for p in settings.seeds), file=sys.stderr)
        return 1
    return 0


def _fetch_feeds(settings) -> None:
    """The feeds' new articles into the seeds, before the build reads them."""
    from newsdesk.ingest.feeds import Feeds

    report = Feeds.of(settings).poll()
    for failure in report.failures:
        print(f"feed: {failure.input}: {failure.reason}", file=sys.stderr)
    print(report.summary(), file=sys.stderr)


def _serve(args) -> int:
    from newsdesk.server.access_log import use_log_format
    from newsdesk.server.app import create_app
    from newsdesk.server.running import CannotListen, listen, quiet_libraries, ready_line, serve, url_of
    from newsdesk.server.security import exposure_warning

    settings = _settings(args, host=args.host, port=args.port, watch=args.watch or None)
    quiet_libraries(args.verbose)
    use_log_format(settings.log_format)
    warning = exposure_warning(settings.host, settings.api_token)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    try:
        sock = listen(settings.host, settings.port)  # before the model loads: a busy port at once
    except CannotListen as error:
        raise _BadValue(str(error)) from None
    app = create_app(settings)

    def ready() -> str:
        health = app.state.desk.health()
        return ready_line(health.articles, url_of(settings.host, settings.port),
                          health.generation is not None, str(settings.embeddings), health.problem is not None)
    try:
        serve(app, sock, ready, verbose=args.verbose)
    except KeyboardInterrupt:  # Ctrl+C is how the ready line says to stop: not an error
        print("newsdesk: stopped", file=sys.stderr)
    return 0


def _mcp(args) -> int:
    from newsdesk.server.access_log import use_log_format
    from newsdesk.server.mcp_server import mcp_server
    from newsdesk.service import Newsdesk

    settings = _settings(args)
    # stdout carries the protocol: every log line goes to stderr, and only warnings and up.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    use_log_format(settings.log_format)
    desk = Newsdesk(settings)
    desk.watch()  # new generations are picked up, as `serve` does
    mcp_server(desk, settings.public_url).run("stdio")
    return 0


def _ask(args) -> int:
    from newsdesk.index.errors import IndexError_
    from newsdesk.index.store import current_name
    from newsdesk.service import Newsdesk

    settings = _settings(args)
    query = _query(args.question, args.k, args.after, args.before, args.source,
                   "timeline" if args.timeline else None)
    try:
        if current_name(settings.embeddings) is None:  # say so before spending seconds on the model
            raise _UserError(f"no index in {settings.embeddings}: run `newsdesk index` first")
        desk = Newsdesk(settings)
        if desk.problem:  # CURRENT's generation is damaged: say so rather than answer from nothing
            raise _UserError(desk.problem)
        answer = desk.ask(query)
    except IndexError_ as error:
        raise _UserError(str(error)) from None
    if args.json:
        print(json.dumps(answer.model_dump(), indent=2, ensure_ascii=False))
        return 0
    # A timeline is an entry a line; an answer is one paragraph, whatever line breaks it copied.
    for paragraph in answer.answer.splitlines() if answer.timeline else [answer.answer]:
        print(textwrap.fill(paragraph, 100))
    if answer.citations:
        print()
    if answer.abstained and answer.citations:  # as the page's "Closest passages found": said plainly
        print("Closest passages found (not an answer):")
    for citation in answer.citations:
        print(f"[{citation.n}] {citation.title} ({citation.article_id}, "
              f"chars {citation.char_start}-{citation.char_end})")
    return 0


def _eval(args) -> int:
    from pathlib import Path

    from newsdesk.evaluation.run import run_recipes

    _settings(args)  # NEWSDESK_* checked before any corpus is read or model loaded
    args.k = _passage_count(args.k)
    if args.suite:
        return _eval_suite(args)
    if not (args.corpus and args.questions):
        raise _UserError("eval needs --corpus and --questions, or --suite")
    corpus, questions = Path(args.corpus), Path(args.questions)
    for path in (corpus, questions):
        if not path.exists():
            raise _UserError(f"no such file or folder: {path}")
    try:
        table = run_recipes(corpus, questions, args.recipe or ["newsdesk"], k=args.k,
                            embeddings=Path(args.embeddings) if args.embeddings else None,
                            json_out=Path(args.json) if args.json else None,
                            off_corpus_questions=args.off_corpus)
    except ValueError as error:
        raise _UserError(str(error)) from None
    print(table)
    return 0


def _eval_suite(args) -> int:
    from pathlib import Path

    from newsdesk.evaluation.suite import SuitePaths, run_suite

    mixed = [flag for flag, given in (("--corpus", args.corpus), ("--questions", args.questions),
                                      ("--recipe", args.recipe), ("--embeddings", args.embeddings),
                                      ("--off-corpus", args.off_corpus)) if given]
    if mixed:
        raise _UserError(f"--suite runs its own question sets over .cache/eval-<corpus>: drop {', '.join(mixed)}")
    parts = SUITE_PARTS if "all" in args.suite else args.suite
    try:
        result = run_suite(parts, SuitePaths(Path(args.data), Path(args.followups)), k=args.k,
                           json_out=Path(args.json) if args.json else None,
                           log=lambda line: print(line, file=sys.stderr, flush=True))
    except ValueError as error:
        raise _UserError(str(error)) from None
    print(result.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
