"""The API's worker pool: connections opened at once are spread evenly, a crashed worker is replaced, a worker that
cannot start stops the pool with our sentence. The workers serve a tiny app (below) that answers with its process
id, so the tests see which worker answered."""

import http.client
import os
import signal
import threading
import time

import pytest

from cti_ir.serve.worker_pool import WorkerPool, fd_passing_available

pytestmark = pytest.mark.skipif(not fd_passing_available(), reason="file-descriptor passing is Unix only")


def pid_app():
    """An ASGI app answering every request with this worker's process id (the pool's app factory in the tests)."""
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
    return app


def broken_app():
    """An app factory that fails, as a worker given a wrong setting does."""
    raise ValueError("no such index: /nowhere")


class RunningPool:
    """A pool serving in a thread of this process, stopped on leaving."""

    def __init__(self, factory: str, workers: int):
        self.pool = WorkerPool(factory, "127.0.0.1", 0, workers)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self.pool.run()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            self.error = error

    def __enter__(self):
        self.thread.start()
        assert self.pool.listening.wait(30)
        return self

    def __exit__(self, *exc):
        self.pool.stop()
        self.thread.join(60)
        assert not self.thread.is_alive()

    def wait_ready(self, workers: int, timeout: float = 120):
        deadline = time.monotonic() + timeout
        while self.pool.ready_workers() < workers:
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.05)

    def connection(self) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection(*self.pool.address[:2], timeout=60)
        connection.connect()
        return connection


def _ask(connection: http.client.HTTPConnection) -> int:
    connection.request("GET", "/")
    response = connection.getresponse()
    assert response.status == 200
    return int(response.read())


def test_connections_opened_at_once_are_spread_evenly_over_the_workers():
    with RunningPool("tests.test_worker_pool:pid_app", workers=2) as running:
        running.wait_ready(2)
        connections = [running.connection() for _ in range(8)]  # all open before any request, as wrk does
        answered_by = [_ask(connection) for connection in connections]
        again = [_ask(connection) for connection in connections]  # kept alive: the same worker answers
        assert answered_by == again
        counts = sorted(answered_by.count(pid) for pid in set(answered_by))
        assert counts == [4, 4], answered_by
        for connection in connections[:4]:
            connection.close()
        deadline = time.monotonic() + 10
        while sum(running.pool.connection_counts()) != 4 and time.monotonic() < deadline:
            time.sleep(0.05)  # the workers report the closed connections
        assert sum(running.pool.connection_counts()) == 4
        # Kept open while the others arrive: a connection dropped after its answer would be reported closed at a
        # moment the test does not control, and the next one's worker would depend on when that report came.
        arriving = [running.connection() for _ in range(4)]
        newcomers = [_ask(connection) for connection in arriving]
        held = {pid: answered_by[4:].count(pid) + newcomers.count(pid) for pid in set(answered_by)}
        assert sorted(held.values()) == [4, 4], (answered_by, newcomers)


def test_a_worker_that_dies_is_replaced_and_the_others_keep_serving():
    with RunningPool("tests.test_worker_pool:pid_app", workers=2) as running:
        running.wait_ready(2)
        pids = {_ask(running.connection()) for _ in range(4)}
        assert len(pids) == 2
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        survivor = (pids - {victim}).pop()
        deadline = time.monotonic() + 120
        # A connection handed over in the instant the worker dies is lost with it, as with any crash; once the
        # pool has seen the end, every request is answered.
        while victim in running.pool.worker_pids():
            assert time.monotonic() < deadline, "the pool did not notice the worker's end"
            time.sleep(0.05)
        seen = set()
        while time.monotonic() < deadline:
            seen.add(_ask(running.connection()))  # every request is answered meanwhile
            if len(seen - {survivor}) == 1 and running.pool.ready_workers() == 2:
                break
            time.sleep(0.1)
        assert victim not in seen
        assert survivor in seen and len(seen) == 2, seen


def test_a_worker_that_cannot_start_stops_the_pool_with_our_sentence():
    running = RunningPool("tests.test_worker_pool:broken_app", workers=2)
    running.thread.start()
    running.thread.join(120)
    assert not running.thread.is_alive()
    assert isinstance(running.error, RuntimeError)
    assert "stopped while starting" in str(running.error) and "Fix what it names" in str(running.error)
