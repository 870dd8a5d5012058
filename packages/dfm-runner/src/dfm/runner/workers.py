"""A bounded pool of daemon threads for sync adapters, from which a hung call can be abandoned.

:class:`concurrent.futures.ThreadPoolExecutor` does not fit a runtime that must
survive adapters that never return: a running call cannot be cancelled, its
worker is lost to the pool for good, and the interpreter joins every worker
at exit, so one adapter blocked forever keeps the process alive forever.

:class:`WorkerPool` runs at most ``max_workers`` calls at once, like the
executor, but on daemon threads (never joined at exit), and
:meth:`WorkerPool.abandon` gives up on a call: a queued call is cancelled; a
running call is left to its thread, which is retired (it exits when the call
returns, if ever, and its result is dropped) and replaced by a fresh worker,
so the pool keeps its capacity.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

__all__ = ["WorkerPool"]


class _Worker:
    __slots__ = ("abandoned", "thread")

    def __init__(self) -> None:
        self.abandoned = False
        self.thread: threading.Thread | None = None


class _Work:
    __slots__ = ("args", "fn", "future", "kwargs")

    def __init__(self, future: Future[Any], fn: Callable[..., Any], args: Any, kwargs: Any):
        self.future = future
        self.fn = fn
        self.args = args
        self.kwargs = kwargs


class WorkerPool(Executor):
    """At most ``max_workers`` calls at once on daemon threads; see the module docstring."""

    def __init__(self, max_workers: int = 8, name: str = "dfm-worker"):
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.name = name
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = threading.Semaphore(0)  # one permit per worker waiting for work
        self._workers: set[_Worker] = set()  # live workers (abandoned ones are not counted)
        self._running: dict[Future[Any], _Worker] = {}
        self._ids = itertools.count(1)
        self._shutdown = False
        self.abandoned = 0  # how many running calls were given up on (for tests and logs)

    @property
    def running(self) -> int:
        """How many calls run now (abandoned ones excluded)."""
        return len(self._running)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run fn(*args, **kwargs) on a worker thread (starting one if none is idle); raises RuntimeError
        once shut down.
        """
        with self._lock:
            if self._shutdown:
                raise RuntimeError(f"worker pool {self.name} is shut down")
            future: Future[Any] = Future()
            self._queue.put(_Work(future, fn, args, kwargs))
            if not self._idle.acquire(blocking=False) and len(self._workers) < self.max_workers:
                self._start_worker()
        return future

    def abandon(self, future: Future[Any]) -> bool:
        """Give up on the call behind ``future``; True if it was running (its thread is retired)."""
        with self._lock:
            if future.cancel():  # still queued: it will never run
                return False
            worker = self._running.pop(future, None)
            if worker is None:  # already finished
                return False
            worker.abandoned = True
            self._workers.discard(worker)
            self.abandoned += 1
            if not self._shutdown:
                self._start_worker()  # keep the capacity; a queued call may be waiting for it
            return True

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work; ``wait`` joins live workers (never abandoned ones: they may never return)."""
        with self._lock:
            if self._shutdown:
                return
            self._shutdown = True
            if cancel_futures:
                while True:
                    try:
                        work = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if work is not None:
                        work.future.cancel()
            workers = list(self._workers)
            for _ in workers:
                self._queue.put(None)
        if wait:
            for worker in workers:
                if worker.thread is not None and worker.thread is not threading.current_thread():
                    worker.thread.join()

    # -- workers --------------------------------------------------------------------------

    def _start_worker(self) -> None:  # with the lock held
        worker = _Worker()
        worker.thread = threading.Thread(
            target=self._work, args=(worker,), name=f"{self.name}-{next(self._ids)}", daemon=True
        )
        self._workers.add(worker)
        worker.thread.start()

    def _work(self, worker: _Worker) -> None:
        while True:
            work = self._queue.get()
            if work is None:
                return
            future = work.future
            with self._lock:
                started = future.set_running_or_notify_cancel()  # False: cancelled while queued
                if started:
                    self._running[future] = worker
            if started:
                try:
                    result = work.fn(*work.args, **work.kwargs)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
                    del result
                with self._lock:
                    self._running.pop(future, None)
                    if worker.abandoned:
                        return
            del work, future  # hold no references while idle
            self._idle.release()
