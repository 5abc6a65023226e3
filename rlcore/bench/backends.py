"""Where runs execute: one small interface, a local process pool, and Ray.

A ``Backend`` maps a picklable function over items and yields ``(index, result)`` pairs as they
finish, in completion order. A task whose process died (a segfault, the OOM killer, ``os._exit``)
yields a ``WorkerDied`` in place of its result, with the exit status when the backend knows it; the
other tasks go on. Backends are context managers (``with make_backend("local", workers=2) as b``);
nested ``with`` blocks share one pool or Ray instance, which the outermost block closes, so one
backend can serve several sweeps.

- ``LocalBackend`` ("local", the default): a ``concurrent.futures.ProcessPoolExecutor`` on this
  machine, ``forkserver`` start method on Linux (a clean server process with rlcore preloaded forks
  each worker in milliseconds) and ``spawn`` elsewhere; one math thread per worker. At most
  ``workers`` tasks are in flight, so when a worker dies and breaks the pool, the suspects are
  few: each is rerun alone in a fresh process to learn which one died and with what status, and a
  new pool takes the rest.
- ``RayBackend`` ("ray"): Ray tasks with ``num_cpus=1`` and no retries, on a new local Ray instance
  (``ray.init(num_cpus=workers)``, dashboard off, bound to 127.0.0.1) or on an existing cluster
  given by ``address``. Ray is an optional extra (``pip install 'rlcore[ray]'``), imported only
  here and only when this backend is built.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Literal, Protocol, final, runtime_checkable

from rlcore.bench.worker import THREAD_ENV
from rlcore.registry import export
from rlcore.validation import check_choice, check_int


@dataclass(frozen=True)
class WorkerDied:
    """A task's process ended without returning (``exit_status``: its exit code if known; a
    negative code -N means killed by signal N)."""

    exit_status: int | None
    message: str


@runtime_checkable
class Backend(Protocol):
    """Runs ``fn(item)`` for every item somewhere and yields results as they finish."""

    name: str
    workers: int

    def map_unordered(
        self, fn: Callable[[Any], Any], items: Sequence[Any]
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(items[index]) or WorkerDied)`` for every item, as each finishes."""
        ...

    def __enter__(self) -> Backend: ...

    def __exit__(self, *exc: object) -> None: ...


def default_workers() -> int:
    """The CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _worker_init() -> None:
    """In each pool worker: one math thread, and exit at once when the sweep's process dies."""
    os.environ.update(THREAD_ENV)
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def exit_with_parent() -> None:
        # The sentinel becomes ready when the parent is gone (even by SIGKILL). Without this,
        # forkserver workers outlive a killed sweep: they and the fork server keep each other up.
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=exit_with_parent, name="exit-with-parent", daemon=True).start()


def _child(conn: Any, fn: Callable[[Any], Any], item: Any) -> None:
    _worker_init()
    conn.send(fn(item))
    conn.close()


@export("backends.local")
@final
class LocalBackend:
    """A process pool on this machine.

    Args:
        workers: processes (default: the CPUs available to this process).
        start_method: "forkserver" (default on Linux) or "spawn" (default elsewhere).
    """

    name = "local"

    def __init__(
        self,
        workers: int | None = None,
        *,
        start_method: Literal["forkserver", "spawn"] | None = None,
    ) -> None:
        self.workers = check_int(
            "workers",
            default_workers() if workers is None else workers,
            1,
            hint="Use at least one worker process.",
        )
        if start_method is None:
            start_method = "forkserver" if sys.platform == "linux" else "spawn"
        check_choice("start_method", start_method, ("forkserver", "spawn"))
        self._ctx = multiprocessing.get_context(start_method)
        self._pool: ProcessPoolExecutor | None = None
        self._depth = 0  # nested `with` blocks: the outermost one closes

    def __enter__(self) -> LocalBackend:
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _new_pool(self) -> ProcessPoolExecutor:
        if self._ctx.get_start_method() == "forkserver":
            # The fork server imports once what this process has imported of rlcore by now (the
            # suite was validated: its agents' modules, and torch if they pulled it in), so each
            # forked worker starts with them loaded. Takes effect when the server first starts.
            loaded = sorted(m for m in sys.modules if m.startswith("rlcore."))
            self._ctx.set_forkserver_preload(["rlcore.bench.worker", *loaded])
        # Workers inherit the environment at their start: one math thread from the first import.
        saved = {k: os.environ.get(k) for k in THREAD_ENV}
        os.environ.update(THREAD_ENV)
        try:
            pool = ProcessPoolExecutor(self.workers, mp_context=self._ctx, initializer=_worker_init)
            pool.submit(int).result()  # start the (fork)server and a worker with this env
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return pool

    def map_unordered(
        self, fn: Callable[[Any], Any], items: Sequence[Any]
    ) -> Iterator[tuple[int, Any]]:
        todo = list(range(len(items)))[::-1]  # a stack: pop() takes the next index
        running: dict[Future, int] = {}
        try:
            while todo or running:
                if self._pool is None:
                    self._pool = self._new_pool()
                broken = False
                try:
                    while todo and len(running) < self.workers:
                        future = self._pool.submit(fn, items[todo[-1]])
                        running[future] = todo.pop()
                except BrokenProcessPool:  # a worker died since the last wait
                    broken = True
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    if isinstance(future.exception(), BrokenProcessPool):
                        broken = True
                        continue
                    yield running.pop(future), future.result()
                if broken:
                    # The pool is gone: every task in flight is a suspect. Rerun each alone.
                    suspects = sorted(running.values())
                    running.clear()
                    self._pool.shutdown(wait=True, cancel_futures=True)
                    self._pool = None
                    for i in suspects:
                        yield i, self._run_alone(fn, items[i])
        finally:
            for future in running:
                future.cancel()

    def _run_alone(self, fn: Callable[[Any], Any], item: Any) -> Any:
        """``fn(item)`` in a fresh process, reporting its exit status if it dies."""
        receive, send = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(target=_child, args=(send, fn, item), daemon=True)
        process.start()
        send.close()
        try:
            result = receive.recv()
        except EOFError:
            process.join()
            return WorkerDied(
                process.exitcode,
                f"worker process died with exit status {process.exitcode}"
                + (f" (signal {-process.exitcode})" if (process.exitcode or 0) < 0 else ""),
            )
        finally:
            receive.close()
        process.join()
        return result


# Ray fixes its node address when it is imported, and on Linux it replaces 127.0.0.1 by the
# machine's routable address (its servers then listen on every interface). With this variable,
# which Ray reads for single-machine use (its macOS / Windows default), the node address stays
# 127.0.0.1 and every Ray server of a local instance binds to the loopback interface only.
RAY_LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def import_ray(*, loopback: bool = False) -> Any:
    """``import ray`` or an ImportError that says how to install the extra.

    Args:
        loopback: a local instance will be started: make Ray bind to 127.0.0.1 (effective when
            this is the process's first import of Ray).
    """
    if loopback and "ray" not in sys.modules:
        for key, value in RAY_LOOPBACK_ENV.items():
            os.environ.setdefault(key, value)
    try:
        import ray
    except ImportError as err:
        raise ImportError(
            "the Ray backend needs Ray, an optional extra: pip install 'rlcore[ray]' (or "
            "pip install -e '.[ray]' in a checkout). Use --backend local to run without it."
        ) from err
    return ray


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


@export("backends.ray")
@final
class RayBackend:
    """Ray tasks (one CPU each, no retries) on a local instance or an existing cluster.

    Args:
        workers: CPUs of the local Ray instance (default: the CPUs available); ignored with
            ``address`` (the cluster decides).
        address: an existing cluster, e.g. ``"ray://head:10001"`` or ``"auto"``; None starts a
            local instance bound to 127.0.0.1 (when this backend is what first imports Ray in the
            process) with the dashboard off, and stops it on close. If Ray is already running in
            this process, it is used as it is and left running. Workers on other machines need
            rlcore (and the suite's imports) installed.
    """

    name = "ray"

    def __init__(self, workers: int | None = None, *, address: str | None = None) -> None:
        self._ray = import_ray(loopback=address is None)
        self.workers = check_int(
            "workers",
            default_workers() if workers is None else workers,
            1,
            hint="Use at least one worker.",
        )
        if address is not None and (not isinstance(address, str) or not address):
            raise ValueError(f"address must be a Ray address such as 'auto', got {address!r}")
        self.address = address
        self._owns_ray = False
        self._depth = 0  # nested `with` blocks: the outermost one closes

    def __enter__(self) -> RayBackend:
        self._depth += 1
        ray = self._ray
        if not ray.is_initialized():
            if self.address is None:
                ray.init(
                    num_cpus=self.workers,
                    include_dashboard=False,
                    _node_ip_address="127.0.0.1",
                    configure_logging=False,
                    log_to_driver=False,
                )
            else:
                ray.init(address=self.address, configure_logging=False, log_to_driver=False)
            self._owns_ray = True
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.close()

    def close(self) -> None:
        if self._owns_ray:
            self._ray.shutdown()
            self._owns_ray = False

    def map_unordered(
        self, fn: Callable[[Any], Any], items: Sequence[Any]
    ) -> Iterator[tuple[int, Any]]:
        ray = self._ray
        if not ray.is_initialized():
            raise RuntimeError("use the Ray backend inside `with backend:` (it starts Ray)")
        remote = ray.remote(num_cpus=1, max_retries=0)(_call)
        fn_ref = ray.put(fn)
        pending = {remote.remote(fn_ref, item): i for i, item in enumerate(items)}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    i = pending.pop(ref)
                    try:
                        yield i, ray.get(ref)
                    except (ray.exceptions.WorkerCrashedError, ray.exceptions.RayTaskError) as err:
                        yield i, WorkerDied(None, f"Ray task failed: {type(err).__name__}: {err}")
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)


BACKENDS = ("local", "ray")


def make_backend(
    name: Literal["local", "ray"] = "local",
    *,
    workers: int | None = None,
    address: str | None = None,
) -> LocalBackend | RayBackend:
    """A backend by name ("local" or "ray"); ``address`` is for Ray only."""
    check_choice("backend", name, BACKENDS)
    if name == "local":
        if address is not None:
            raise ValueError("--ray-address is for --backend ray; the local backend has none")
        return LocalBackend(workers)
    return RayBackend(workers, address=address)
