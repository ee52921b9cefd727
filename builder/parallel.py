"""Per-policy work across the machine's cores, when there is enough of it to pay.

Policies are independent: the DSC documents of one never depend on another, so a
large build renders and checks them in worker processes, in contiguous chunks, and
joins the results in policy order. The bytes are the same whichever way they were
made; a small build (most of them) never starts a process.

``CMFW_JOBS`` sets the number of processes (``1`` turns this off); the default is
the number of CPUs, at most 8.

Stopping is bounded. SIGINT and SIGTERM are blocked while the workers are forked, so
none can be interrupted half-started (a worker killed while holding the task queue's
lock used to leave ``Pool.terminate`` waiting for it forever); workers ignore SIGINT
and die quietly on SIGTERM; and a watchdog kills the workers, then the process, if
stopping them takes longer than :data:`STOP_GRACE` seconds.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Callable, Sequence, TypeVar

from .errors import ArtifactError, InputError
from .syntax.numbers import digits

T = TypeVar("T")
R = TypeVar("R")

#: Below this many items a process pool costs more than it saves.
THRESHOLD = 48
#: Seconds the workers get to stop after Ctrl-C or SIGTERM before they are killed.
STOP_GRACE = 10.0
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def jobs(items: int) -> int:
    """How many processes to use for ``items`` pieces of work."""
    if not _configured() and items < THRESHOLD:
        return 1
    return max(1, min(allowed(), items))


def allowed() -> int:
    """How many processes may work at once: ``CMFW_JOBS``, else the CPUs (at most 8)."""
    configured = _configured()
    return int(configured) if configured else min(os.cpu_count() or 1, 8)


def _configured() -> str:
    configured = os.environ.get("CMFW_JOBS", "").strip()
    if configured and not (digits(configured) and 1 <= int(configured) <= 1024):
        raise InputError(f"CMFW_JOBS: {configured!r} is not a number of processes (1 to 1024; 1 turns workers off)")
    return configured


def map_chunks(func: Callable[..., R], items: Sequence[T], *args: Any) -> list[R]:
    """``func(chunk, *args)`` for contiguous chunks of ``items``, results in order.

    ``func`` must be a module-level function (it is sent to the workers by name).
    Library errors raised in a worker come back as the same kind of error.
    """
    count = jobs(len(items))
    if count <= 1 or multiprocessing.current_process().daemon:  # a worker starts no workers
        return [func(tuple(items), *args)]
    pieces = count * 2  # smaller pieces even out uneven policies
    size = -(-len(items) // pieces)
    chunks = [tuple(items[i : i + size]) for i in range(0, len(items), size)]
    # fork where it is safe (Linux): workers start at once, with everything imported.
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
    with _stop_signals_blocked():
        pool = context.Pool(count, initializer=_worker_init)
    try:
        outcomes = pool.starmap(_guarded, [(func, chunk, *args) for chunk in chunks])
        pool.close()
        pool.join()
    except BaseException:
        # Ctrl-C, SIGTERM or any failure: stop the workers now rather than let them finish.
        _stop(pool)
        raise
    results = []
    for kind, value in outcomes:
        if kind == "input":
            raise InputError(value)
        if kind == "artifact":
            raise ArtifactError(value)
        results.append(value)
    return results


class Workers:
    """Worker processes for one piece of work made of many tasks, started once.

    ``shared`` is what every task may read (:func:`shared`): forked workers inherit it
    without a copy, so a task carries only a few numbers. :meth:`submit` queues
    ``func(*args)`` (a module-level function); :meth:`next` waits for any task to end
    and returns ``(ticket, result)``. A library error in a task comes back as the same
    kind of error from :meth:`next`; Ctrl-C, SIGTERM or any failure while the workers run
    stops them, as :func:`map_chunks` does.
    """

    def __init__(self, count: int, shared: Any) -> None:
        global _SHARED
        _SHARED = shared
        context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
        with _stop_signals_blocked():
            self._pool = context.Pool(count, initializer=_worker_init, initargs=(shared,))
        self._done: queue.SimpleQueue[tuple[int, bool, Any]] = queue.SimpleQueue()
        self._tickets = 0
        self.count = count

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        global _SHARED
        _SHARED = None
        if kind is None:
            self._pool.close()
            self._pool.join()
        else:
            _stop(self._pool)

    def submit(self, func: Callable[..., Any], *args: Any) -> int:
        self._tickets += 1
        ticket = self._tickets
        self._pool.apply_async(
            _guarded, (func, *args),
            callback=lambda result: self._done.put((ticket, True, result)),
            error_callback=lambda error: self._done.put((ticket, False, error)),
        )
        return ticket

    def next(self) -> tuple[int, BaseException | None, Any]:
        """The next task to end: ``(ticket, None, result)``, or ``(ticket, error, None)`` for
        a library error (an :class:`InputError` or :class:`ArtifactError`, as raised in the
        task). Any other exception in a task is raised here."""
        while True:
            try:
                ticket, ok, result = self._done.get(timeout=0.5)  # a timeout: signals get through
            except queue.Empty:
                continue
            if not ok:
                raise result
            return (ticket, *outcome(result))


class Inline:
    """:class:`Workers`' interface, in this process: each task runs when it is submitted.
    A build that is too small for workers goes through the same steps, in the same order."""

    count = 1

    def __init__(self, shared: Any) -> None:
        self._shared = shared
        self._results: list[tuple[int, tuple[str, Any]]] = []
        self._tickets = 0

    def __enter__(self) -> Inline:
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        pass

    def submit(self, func: Callable[..., Any], *args: Any) -> int:
        global _SHARED
        self._tickets += 1
        before, _SHARED = _SHARED, self._shared
        try:
            self._results.append((self._tickets, _guarded(func, *args)))
        finally:
            _SHARED = before
        return self._tickets

    def next(self) -> tuple[int, BaseException | None, Any]:
        ticket, result = self._results.pop(0)
        return (ticket, *outcome(result))


def outcome(result: tuple[str, Any]) -> tuple[BaseException | None, Any]:
    """What :func:`_guarded` sent back: ``(None, value)``, or ``(error, None)``."""
    kind, value = result
    if kind == "input":
        return InputError(value), None
    if kind == "artifact":
        return ArtifactError(value), None
    return None, value


_SHARED: Any = None


def shared() -> Any:
    """What the :class:`Workers` running this task share (see there)."""
    return _SHARED


@contextmanager
def _stop_signals_blocked() -> Any:
    """Hold SIGINT/SIGTERM back while forking; they are delivered right after."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stop(pool: Any) -> None:
    """Terminate the pool; if that hangs, kill the workers, and if even that does not
    free us, leave at once (nothing is being written while workers run)."""
    workers = [p for p in getattr(pool, "_pool", []) if p.pid]

    def kill_workers() -> None:
        for process in workers:
            try:
                os.kill(process.pid, signal.SIGKILL)
            except OSError:
                pass
        last = threading.Timer(STOP_GRACE / 2, _give_up)
        last.daemon = True
        last.start()

    watchdog = threading.Timer(STOP_GRACE, kill_workers)
    watchdog.daemon = True
    watchdog.start()
    try:
        pool.terminate()
        pool.join()
    finally:
        watchdog.cancel()


def _give_up() -> None:
    sys.stderr.write("cmfw: interrupted; the worker processes did not stop, so cmfw stopped them; "
                     "the output directory was not changed\n")
    sys.stderr.flush()
    os._exit(130)


def _worker_init(state: Any = None) -> None:
    # Ctrl-C reaches every process of the terminal's group; the parent alone decides
    # what happens (it stops the workers), so the workers print no traceback of their own.
    # SIGTERM kills a worker outright (the parent's handler, inherited by fork, would
    # raise in the worker). Both were blocked across the fork: unblock them now.
    global _SHARED
    _SHARED = state
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def _guarded(func: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    # Exceptions cross the process boundary by pickling their constructor arguments,
    # which would lose an InputError's problems: send them back as data instead.
    try:
        return "ok", func(*args)
    except InputError as exc:
        return "input", list(exc.problems) or str(exc)
    except ArtifactError as exc:
        return "artifact", str(exc)
