"""Several worker processes behind one port, each new connection handed to the worker holding the fewest.

Why not uvicorn's own supervisor (``uvicorn.run(..., workers=N)``): its workers share one listening socket, and the
first worker to wake accepts every connection waiting in it. A load generator or a shop's proxy opens its
connections at once and keeps them alive, so one worker may end up answering most of the traffic while the other
cores idle: measured with 16 clients on 2 cores, in 2 of 16 rounds one worker held most connections and the p50
rose from about 33 ms to 51-53 ms (docs/results/speed.md). Closing connections after N answers did not help (the
worker that had just answered, still awake, took the next one again).

How this pool balances: this process alone listens and accepts. Each accepted connection's file descriptor is sent
over a Unix socket pair (``socket.send_fds``, SCM_RIGHTS) to the worker with the fewest open connections, which
serves it with uvicorn's own HTTP protocol in its event loop (``loop.connect_accepted_socket``); the worker reports
each closed connection back on the same pair. HTTP parsing, the app and its answers stay uvicorn's and Starlette's;
only the choice of worker is ours. A worker that dies is started again; one that dies before it ever served stops
the pool (a setting is wrong, and restarting it would only repeat the error).

Unix only (file-descriptor passing): elsewhere :func:`cti_ir.serve.api_server.serve` uses uvicorn's supervisor.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import selectors
import signal
import socket
import threading
import time
from dataclasses import dataclass

log = logging.getLogger("cti_ir.api")

READY, CLOSED = b"+", b"-"  # a worker's reports: it serves now; one of its connections closed
MAX_FDS_A_MESSAGE = 64
STOP_TIMEOUT_S = 30.0


def fd_passing_available() -> bool:
    """Whether this platform can hand connections to worker processes (Unix with ``socket.send_fds``)."""
    return hasattr(socket, "send_fds") and hasattr(socket, "AF_UNIX")


@dataclass
class _Worker:
    """One worker process as the pool sees it: its process, its end of the socket pair, its open connections."""

    number: int
    process: multiprocessing.Process
    channel: socket.socket
    connections: int = 0
    ready: bool = False
    replacement: bool = False  # started again after a crash: loading, so not handed connections while others serve


class WorkerPool:
    """Serve the ASGI app that ``app_factory`` (``"module:function"``) makes, in ``workers`` processes on one port.

    ``run()`` blocks until SIGINT or SIGTERM (or :meth:`stop` from another thread), then stops the workers, each
    finishing its open requests (uvicorn's graceful shutdown).
    """

    def __init__(self, app_factory: str, host: str, port: int, workers: int, log_level: str = "warning",
                 backlog: int = 2048):
        if workers < 1:
            raise ValueError(f"a worker pool needs at least one worker, got {workers}")
        self.app_factory, self.host, self.port, self.workers = app_factory, host, port, workers
        self.log_level, self.backlog = log_level, backlog
        self._context = multiprocessing.get_context("spawn")  # fresh interpreters, as uvicorn's workers are
        self._stop = threading.Event()
        self._wake_read, self._wake_write = socket.socketpair()
        self._pool: list[_Worker] = []
        self._next = 0  # round-robin among equally loaded workers
        self.failure: str | None = None
        self.listening = threading.Event()  # set once the port is open; ``address`` is then where
        self.address: tuple | None = None

    # -- the supervising process ---------------------------------------------------------------------------------

    def run(self) -> None:
        """Listen, start the workers, hand them connections until told to stop; raise ``RuntimeError`` when a
        worker could not start (its own message is in the log above)."""
        listener = socket.create_server((self.host, self.port), backlog=self.backlog,
                                        family=socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        listener.setblocking(False)
        self.address = listener.getsockname()
        previous = self._catch_signals()
        selector = selectors.DefaultSelector()
        try:
            selector.register(listener, selectors.EVENT_READ, "accept")
            selector.register(self._wake_read, selectors.EVENT_READ, "wake")
            for number in range(self.workers):
                self._start(number, selector)
            self.listening.set()
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=1.0):
                    if key.data == "accept":
                        self._accept(listener)
                    elif isinstance(key.data, _Worker):
                        self._read_reports(key.data, selector)
        finally:
            selector.close()
            listener.close()
            self._stop_workers()
            self._restore_signals(previous)
        if self.failure:
            raise RuntimeError(self.failure)

    def stop(self) -> None:
        """Ask :meth:`run` to return (safe from a signal handler or another thread)."""
        self._stop.set()
        try:
            self._wake_write.send(b"x")
        except OSError:
            pass

    def connection_counts(self) -> list[int]:
        """Open connections per worker, as last reported (for logs and tests)."""
        return [worker.connections for worker in self._pool]

    def worker_pids(self) -> list[int | None]:
        """The process ids of the current workers (a worker that died is replaced once its end is seen)."""
        return [worker.process.pid for worker in self._pool]

    def ready_workers(self) -> int:
        """How many workers have loaded the app and serve."""
        return sum(worker.ready for worker in self._pool)

    def _start(self, number: int, selector: selectors.BaseSelector, replacement: bool = False) -> None:
        ours, theirs = socket.socketpair()
        process = self._context.Process(target=_worker_main, name=f"api-worker-{number}",
                                        args=(theirs, self.app_factory, self.log_level), daemon=False)
        process.start()
        theirs.close()
        ours.setblocking(False)
        worker = _Worker(number, process, ours, replacement=replacement)
        if number < len(self._pool):
            self._pool[number] = worker
        else:
            self._pool.append(worker)
        selector.register(ours, selectors.EVENT_READ, worker)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # e.g. out of file descriptors: keep serving the connections already open
                log.warning("could not accept a connection: %s", error)
                return
            try:
                self._hand_over(connection)
            finally:
                connection.close()  # the worker holds its own copy now (or the connection is dropped)

    def _hand_over(self, connection: socket.socket) -> None:
        alive = [worker for worker in self._pool if worker.process.is_alive()]
        # A worker started again after a crash loads for a while: the others take the connections meanwhile. The
        # first workers are not skipped while they load (they all load at once, and kept-alive connections given
        # to the first one ready would stay with it).
        alive = [worker for worker in alive if worker.ready or not worker.replacement] or alive
        # Fewest connections first; among equals, in turn. A worker whose end of the pair is gone (it died a moment
        # ago, not yet seen) refuses the descriptor, and the next one takes the connection.
        turn = self._next
        self._next += 1
        order = sorted(range(len(alive)), key=lambda i: (alive[i].connections, (i - turn) % len(alive)))
        for worker in (alive[i] for i in order):
            try:
                worker.channel.setblocking(True)
                socket.send_fds(worker.channel, [b"c"], [connection.fileno()])
            except OSError as error:
                log.warning("API worker %d did not take a connection (%s)", worker.number, error)
                continue
            finally:
                worker.channel.setblocking(False)
            worker.connections += 1
            return
        log.warning("no API worker took a connection; the client will see it closed")

    def _read_reports(self, worker: _Worker, selector: selectors.BaseSelector) -> None:
        try:
            data = worker.channel.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            if READY in data and not worker.ready:
                worker.ready = True
            worker.connections = max(0, worker.connections - data.count(CLOSED))
            return
        # End of file: the worker process ended.
        selector.unregister(worker.channel)
        worker.channel.close()
        worker.process.join(timeout=5)
        if self._stop.is_set():
            return
        code = worker.process.exitcode
        if not worker.ready:
            self.failure = (f"API worker {worker.number} stopped while starting (exit code {code}); its message is "
                            f"above. Fix what it names and start the server again.")
            self.stop()
            return
        log.warning("API worker %d (process %s) stopped with exit code %s; starting another", worker.number,
                    worker.process.pid, code)
        self._start(worker.number, selector, replacement=True)

    def _stop_workers(self) -> None:
        for worker in self._pool:
            if worker.process.is_alive():
                os.kill(worker.process.pid, signal.SIGTERM)  # uvicorn's graceful shutdown in the worker
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for worker in self._pool:
            worker.process.join(timeout=max(0.1, deadline - time.monotonic()))
            if worker.process.is_alive():
                log.warning("API worker %d did not stop within %.0f s; ending it", worker.number, STOP_TIMEOUT_S)
                worker.process.kill()
                worker.process.join()
            try:
                worker.channel.close()
            except OSError:
                pass

    def _catch_signals(self) -> dict:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for number in (signal.SIGINT, signal.SIGTERM):
            previous[number] = signal.signal(number, lambda *_: self.stop())
        return previous

    @staticmethod
    def _restore_signals(previous: dict) -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)


# -- a worker process ------------------------------------------------------------------------------------------------

def _worker_main(channel: socket.socket, app_factory: str, log_level: str) -> None:
    """A worker: load the app, then serve each connection the supervisor hands over until told to stop."""
    import uvicorn

    config = uvicorn.Config(app_factory, factory=True, log_level=log_level, lifespan="on")
    server = _uvicorn_server_class()(config, channel)  # the class is made here: importing the module costs nothing
    server.run(sockets=[])  # no listening socket of its own: connections arrive over the channel


def _report(channel: socket.socket, message: bytes) -> None:
    try:
        channel.sendall(message)  # blocking: the supervisor reads its end all the time
    except OSError:  # the supervisor is gone; the worker stops on the channel's end of file
        pass


def _uvicorn_server_class():
    import uvicorn

    class HandedConnectionsServer(uvicorn.Server):
        """uvicorn's server, fed connections accepted by the supervisor instead of accepting them itself."""

        def __init__(self, config, channel: socket.socket):
            super().__init__(config)
            self.channel = channel

        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=[])
            if self.should_exit:
                return
            loop = asyncio.get_running_loop()
            base = self.config.http_protocol_class
            channel = self.channel

            class Counted(base):  # reports its own end so the supervisor's counts stay true
                def connection_lost(self, exc):
                    try:
                        super().connection_lost(exc)
                    finally:
                        _report(channel, CLOSED)

            def protocol():
                return Counted(config=self.config, server_state=self.server_state,
                               app_state=self.lifespan.state, _loop=loop)

            self._protocol = protocol
            # The channel stays blocking: the loop reads it only when it is readable, and a report of a closed
            # connection must not be dropped when the socket's buffer is full for a moment (the supervisor's count
            # would drift and send this worker too few connections).
            loop.add_reader(self.channel.fileno(), self._receive)
            _report(self.channel, READY)
            log.debug("worker %d serving", os.getpid())

        def _receive(self) -> None:
            loop = asyncio.get_running_loop()
            try:
                data, fds, _, _ = socket.recv_fds(self.channel, MAX_FDS_A_MESSAGE, MAX_FDS_A_MESSAGE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data, fds = b"", []
            if not data and not fds:  # end of file: the supervisor is gone, so stop as on Ctrl+C
                loop.remove_reader(self.channel.fileno())
                self.should_exit = True
                return
            for fd in fds:
                connection = socket.socket(fileno=fd)
                connection.setblocking(False)
                loop.create_task(self._serve_connection(connection))

        async def _serve_connection(self, connection: socket.socket) -> None:
            try:
                await asyncio.get_running_loop().connect_accepted_socket(self._protocol, connection)
            except OSError:  # the client left before it was served
                connection.close()
                _report(self.channel, CLOSED)

        async def shutdown(self, sockets=None) -> None:
            try:
                asyncio.get_running_loop().remove_reader(self.channel.fileno())
            except (ValueError, OSError):
                pass
            await super().shutdown(sockets=[])

    return HandedConnectionsServer
