"""Running the app for `newsdesk serve`: the port taken before the model loads (a busy one is
said in one line), one line once requests are answered, and the libraries' chatter (FAISS's
AVX512 probing, sentence-transformers' loading, uvicorn's banner) only with --verbose."""

from __future__ import annotations

import errno
import logging
import socket
import warnings
from typing import Callable

import uvicorn


class CannotListen(Exception):
    """The address or port cannot be taken; the message says which setting to change."""


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, as uvicorn binds it; done before the model loads, so a
    busy port is said at once rather than after seconds of loading."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listening now holds the port (SO_REUSEADDR lets a second bind in while this one only
        # binds); a browser's request meanwhile waits in the backlog until the app is ready.
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise CannotListen(_why(error, host, port)) from None
    sock.set_inheritable(True)
    return sock


def _why(error: OSError, host: str, port: int) -> str:
    change_port = "choose another port with --port or NEWSDESK_PORT"
    change_host = "choose another address with --host or NEWSDESK_HOST"
    if error.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is already in use (another newsdesk serve?): {change_port}"
    if error.errno == errno.EACCES:
        return f"not allowed to listen on port {port} (ports below 1024 need root): {change_port}"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine: {change_host}"
    if isinstance(error, socket.gaierror):
        return f"cannot listen on {host!r}: unknown host name: {change_host}"
    return f"cannot listen on {host}:{port}: {error.strerror or error}: {change_host} or {change_port}"


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def ready_line(articles: int, url: str, indexed: bool, embeddings: str, unusable: bool = False) -> str:
    """`newsdesk: serving 1,234 articles at http://127.0.0.1:8000 (Ctrl+C to stop)`.
    unusable: there is an index, but it cannot be served (a warning has said why)."""
    if not indexed:
        if unusable:
            return (f"newsdesk: serving at {url} (Ctrl+C to stop), with no index: the one in "
                    f"{embeddings} cannot be used (see the warning)")
        return (f"newsdesk: serving at {url} (Ctrl+C to stop), with no index in {embeddings} yet: "
                "run `newsdesk index` and it is picked up")
    return f"newsdesk: serving {articles:,} article{'' if articles == 1 else 's'} at {url} (Ctrl+C to stop)"


def quiet_libraries(verbose: bool) -> None:
    """Our own lines (warnings up, and INFO once ready: see ready()) on stderr; the libraries'
    INFO lines and Python warnings only with --verbose."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s")
    # Quiet until ready: the ready line says what the first "serving index generation" would.
    logging.getLogger("newsdesk").setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        # A library that sets its own logger's level (bm25s sets DEBUG when imported, so a
        # watcher's build printed "Building index from IDs") still reaches only warnings out.
        for handler in logging.getLogger().handlers:
            handler.addFilter(_ours_or_a_warning)
        warnings.filterwarnings("ignore")
        warnings.filterwarnings("default", module=r"newsdesk\b")


def _ours_or_a_warning(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or record.name.split(".")[0] == "newsdesk"


class _Server(uvicorn.Server):
    """uvicorn's server, calling back once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]):
        super().__init__(config)
        self.on_ready = on_ready

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            self.on_ready()


def serve(app, sock: socket.socket, ready_line: Callable[[], str], verbose: bool = False) -> None:
    """Serve app on the bound socket until Ctrl+C; print ready_line() once answering."""
    def ready() -> None:
        print(ready_line(), flush=True)
        logging.getLogger("newsdesk").setLevel(logging.INFO)  # from now on: generations picked up

    config = uvicorn.Config(app, log_level="info" if verbose else "warning",
                            access_log=verbose)
    _Server(config, ready).run(sockets=[sock])
