"""A ``threading.Thread`` that keeps its target's result, status and exception, and can be stopped.

``Threader(target=f, args=...)`` calls ``f`` with ``args`` spread by type: a tuple positionally, a
dict as keywords, ``None`` as no arguments, anything else as the single argument.

Two ways to stop a thread:

* ``stop()`` (cooperative, safe): sets ``stop_event``; a target that checks it, or calls
  ``current_stop_event().wait(delay)`` instead of ``time.sleep(delay)``, ends at its next check.
* ``kill()`` (forced, unsafe): raises ``ThreadKilled`` inside the thread with
  ``PyThreadState_SetAsyncExc``. The exception lands at an arbitrary bytecode: a ``with`` block or
  ``finally`` in the target may be skipped half-way, locks taken by C code may stay held, and
  files may be left half-written. A thread blocked in C code (``time.sleep``, a socket read, a
  lock wait) only sees the exception when that call returns to Python; if the target returns
  before it has seen it, the exception is withdrawn, so it never lands outside the target. Use it
  only for a thread that cannot be made to stop on its own.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ThreadKilled", "Threader", "current_stop_event"]

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
_set_async_exc.restype = ctypes.c_int
# An empty py_object is passed as NULL, which clears a pending exception; None would be passed as
# a pointer to None and schedule it.
_NO_EXC = ctypes.py_object()


class ThreadKilled(SystemExit):
    """Raised inside a thread by ``Threader.kill()``.

    A ``SystemExit`` so that a target's ``except Exception`` blocks do not swallow it.
    """

    def __init__(self, *args: object) -> None:
        # Python creates the instance in the killed thread when the exception lands: that is
        # how the Threader learns the kill was delivered (and may have been swallowed by an
        # ``except BaseException``), so a later kill() can schedule another.
        super().__init__(*args)
        thread = threading.current_thread()
        if isinstance(thread, Threader):
            thread._kills_delivered += 1


class Threader(threading.Thread):
    """A thread whose target's return value, success and exception can be read after it ends.

    ``result()`` and ``status_code()`` block until the thread has finished, like
    ``concurrent.futures.Future.result()``, so they never return a half-made value.
    """

    def __init__(
        self,
        target: Callable[..., Any] | None = None,
        args: Any = None,
        *,
        name: str | None = None,
        daemon: bool | None = None,
        stop_event: threading.Event | None = None,
    ) -> None:
        super().__init__(name=name, daemon=daemon)
        self._call = target
        self._call_args = args
        self._value: Any = None
        self._succeeded = False
        # The lock makes "is the target running?" and "schedule the kill" one step, so a kill
        # can never land outside the target or be scheduled twice.
        self._lock = threading.Lock()
        self._in_target = False
        # Written only by kill() (under the lock) and by ThreadKilled in this thread: a kill is
        # pending while more were scheduled than delivered. No lock on the delivery side: the
        # exception can land while this thread holds the lock itself.
        self._kills_scheduled = 0
        self._kills_delivered = 0
        self.exception: BaseException | None = None
        self.stop_event = stop_event if stop_event is not None else threading.Event()

    @property
    def id(self) -> int | None:
        """The thread's identifier (``threading.get_ident()`` inside it); ``None`` before start."""
        return self.ident

    def get_id(self) -> int | None:
        """Same as ``.id``."""
        return self.ident

    def run(self) -> None:
        # Read once here: ``self.ident`` is Python code, where a pending kill could land.
        ident = threading.get_ident()
        try:
            try:
                with self._lock:
                    self._in_target = True
                value = self._invoke()
            finally:
                with self._lock:
                    self._in_target = False
                    if self._kills_scheduled:
                        # A kill scheduled just as the target returned is still pending and would
                        # land later in run() or in threading's bootstrap (leaving the thread in
                        # threading.enumerate()). Clearing is a no-op if it was delivered, and
                        # nothing in this block is a point where it could be delivered first.
                        _set_async_exc(ident, _NO_EXC)
            self._value = value
            self._succeeded = True
        except ThreadKilled as exc:
            exc.args = (f"{self.name} was killed",)
            self.exception = exc
        except BaseException as exc:
            self.exception = exc
        finally:
            self._in_target = False
            # Break the reference cycle target -> closure -> Threader, as Thread.run does.
            self._call = self._call_args = None

    def _invoke(self) -> Any:
        call, args = self._call, self._call_args
        if call is None:
            return None
        if args is None:
            return call()
        if isinstance(args, tuple):
            return call(*args)
        if isinstance(args, dict):
            return call(**args)
        return call(args)

    def _wait(self, timeout: float | None) -> None:
        if self.ident is None:
            raise RuntimeError(f"{self.name} has not been started")
        self.join(timeout)
        if self.is_alive():
            raise TimeoutError(f"{self.name} still running after {timeout} s")

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the thread to finish and return the target's return value.

        Returns ``None`` if the target raised or was killed (see ``exception``). Raises
        ``RuntimeError`` if the thread was never started, and ``TimeoutError`` if it is still
        running after ``timeout`` seconds.
        """
        self._wait(timeout)
        return self._value

    def get_stdout(self, timeout: float | None = None) -> Any:
        """Alias of ``result()``."""
        return self.result(timeout)

    def status_code(self, timeout: float | None = None) -> int:
        """Wait for the thread to finish; 1 if the target returned, 0 if it raised or was killed."""
        self._wait(timeout)
        return 1 if self._succeeded else 0

    def stop(self) -> None:
        """Ask the target to stop by setting ``stop_event``. Safe; the target decides when."""
        self.stop_event.set()

    def kill(self) -> bool:
        """Force the target to stop by raising ``ThreadKilled`` in it. Unsafe: see the module doc.

        Returns True if the exception was scheduled, False if there was nothing to kill (not
        started, already finished, a kill still pending, or the thread vanished under it). A
        target that caught and swallowed an earlier kill can be killed again. The
        thread ends with ``status_code() == 0`` and ``exception`` set to the ``ThreadKilled``
        instance, unless the target returned before the exception reached it: then the exception
        is withdrawn and the thread ends as its target did. Raises ``SystemError`` if the call
        reached more than one thread (it is undone first, as the C API documentation requires).
        """
        with self._lock:
            pending = self._kills_scheduled > self._kills_delivered
            if not self._in_target or pending or self.ident is None:
                return False
            # Python 3.11 accepts only an exception class here; run() fills in the message.
            changed = _set_async_exc(self.ident, ThreadKilled)
            if changed == 0:
                return False
            if changed > 1:
                _set_async_exc(self.ident, _NO_EXC)
                raise SystemError(f"PyThreadState_SetAsyncExc changed {changed} threads; undone")
            self._kills_scheduled += 1
            self.stop_event.set()
            return True


def current_stop_event() -> threading.Event:
    """The ``stop_event`` of the Threader running this code; a never-set Event elsewhere.

    Lets a target written as a plain function honour ``Threader.stop()`` without extra arguments.
    """
    thread = threading.current_thread()
    if isinstance(thread, Threader):
        return thread.stop_event
    return threading.Event()
