"""Threader: the seed-000 behaviour, the kill pitfalls and the cooperative stop."""

from __future__ import annotations

import ctypes
import sys
import threading
import time

import pytest

from kubepulse.threader import Threader, ThreadKilled, current_stop_event


def run(target, args=None) -> Threader:
    t = Threader(target=target, args=args)
    t.start()
    t.join()
    return t


def addition(a, b):
    return a + b


def test_tuple_args_are_positional_and_result_has_alias():
    t = run(addition, (5, 7))
    assert t.result() == 12
    assert t.get_stdout() == 12
    assert t.status_code() == 1
    assert t.exception is None


def test_dict_args_are_keywords():
    t = run(lambda x, y: x - y, {"y": 1, "x": 10})
    assert t.result() == 9


def test_single_value_is_one_argument_even_a_list():
    assert run(lambda v: v * 2, 21).result() == 42
    assert run(len, [1, 2, 3]).result() == 3


def test_none_args_calls_without_arguments():
    assert run(lambda: "no args").result() == "no args"


def test_exception_is_captured_and_status_is_zero():
    t = run(lambda a, b: a / b, (10, 0))
    assert t.status_code() == 0
    assert isinstance(t.exception, ZeroDivisionError)
    assert str(t.exception) == "division by zero"
    assert t.result() is None


def test_base_exceptions_are_captured_too():
    def leave():
        raise SystemExit(3)

    t = run(leave)
    assert t.status_code() == 0
    assert isinstance(t.exception, SystemExit)


def test_ids_match_the_thread_ident():
    seen: list[int] = []
    t = run(lambda: seen.append(threading.get_ident()))
    assert t.id == t.get_id() == seen[0]
    assert Threader(target=addition).id is None


def test_result_blocks_until_finished_and_never_returns_half_made_values():
    release = threading.Event()
    t = Threader(target=lambda: release.wait(5) and "done")
    t.start()
    with pytest.raises(TimeoutError):
        t.result(timeout=0.05)
    with pytest.raises(TimeoutError):
        t.status_code(timeout=0.05)
    release.set()
    assert t.result(timeout=5) == "done"


def test_result_before_start_is_an_error():
    with pytest.raises(RuntimeError, match="not been started"):
        Threader(target=addition, args=(1, 2)).result()


def test_join_timeout_behaves_as_thread_join():
    """join(0.05) returns on its timeout: the target is still blocked (nothing else could have
    let join return), and a later join() sees it end once released."""
    release = threading.Event()
    t = Threader(target=lambda: release.wait(60) and "released")
    t.start()
    t.join(0.05)
    assert t.is_alive()
    release.set()
    t.join()
    assert not t.is_alive()
    assert t.result() == "released"


def test_join_and_result_without_timeout_have_no_hidden_cap():
    """README: join() has no hidden cap. Two targets block on one gate that a timer opens 4 s
    later (longer than a cap a join or result() could plausibly hide: 1, 2, 3 s). join() (in a
    helper thread) and result() (here), both without a timeout, come back only after the gate
    opened, with the thread finished and its value there."""
    gate = threading.Event()
    opened_at: list[float] = []

    def open_gate() -> None:
        opened_at.append(time.monotonic())
        gate.set()

    joined = Threader(target=lambda: gate.wait() and "joined")
    waited = Threader(target=lambda: gate.wait() and "waited")
    joined.start()
    waited.start()
    after_join: list[tuple[float, bool]] = []
    joiner = threading.Thread(
        target=lambda: (joined.join(), after_join.append((time.monotonic(), joined.is_alive())))
    )
    joiner.start()
    timer = threading.Timer(4, open_gate)
    timer.start()
    try:
        assert waited.result() == "waited"
        returned_at = time.monotonic()
        assert opened_at and opened_at[0] <= returned_at
        assert not waited.is_alive()
        joiner.join(30)
        assert after_join and after_join[0][0] >= opened_at[0]
        assert after_join[0][1] is False  # join returned because the thread had ended
        assert joined.result(timeout=0) == "joined"
    finally:
        gate.set()  # a failed check must not leave the two threads blocked forever


def test_kill_ends_a_looping_sleeper_within_a_second_of_its_sleep():
    """The seed's `boucle` example: a loop around time.sleep(1)."""
    ticks: list[float] = []

    def boucle():
        while True:
            ticks.append(time.monotonic())
            time.sleep(1)

    t = Threader(target=boucle, daemon=True)  # daemon: a broken kill() must not hang pytest
    t.start()
    time.sleep(1.5)
    assert t.kill() is True
    t.join(10)  # generous: a thread that never ends can only be shown by a bound
    assert not t.is_alive()
    assert t.status_code() == 0
    assert isinstance(t.exception, ThreadKilled)
    assert "killed" in str(t.exception)
    # The exception lands when the current 1 s sleep (the second) returns to Python, before the
    # loop can record a third tick.
    assert len(ticks) == 2


def test_kill_is_not_swallowed_by_except_exception():
    def stubborn():
        while True:
            try:
                time.sleep(0.05)
            except Exception:  # the point: a broad handler must not swallow the kill
                continue

    t = Threader(target=stubborn)
    t.start()
    time.sleep(0.1)
    t.kill()
    t.join(2)
    assert not t.is_alive()
    assert isinstance(t.exception, ThreadKilled)


def test_kill_on_finished_or_unstarted_thread_is_a_no_op():
    t = run(addition, (1, 2))
    assert t.kill() is False
    assert t.status_code() == 1
    assert t.result() == 3
    assert t.exception is None
    assert Threader(target=addition).kill() is False


def test_kill_twice_schedules_once():
    t = Threader(target=lambda: [time.sleep(0.05) for _ in range(100)])
    t.start()
    time.sleep(0.1)
    assert t.kill() is True
    assert t.kill() is False
    t.join(2)
    assert isinstance(t.exception, ThreadKilled)


def test_a_target_that_swallows_the_kill_can_be_killed_again():
    """A target that catches ThreadKilled (an ``except BaseException``) and carries on: the
    first kill lands and is swallowed, so a second kill is scheduled and ends it. While a kill
    is still pending, another is refused (the case above)."""
    swallowed = threading.Event()

    def obstinate():
        try:
            while True:
                time.sleep(0.01)
        except BaseException:  # the point: this swallows the first kill
            swallowed.set()
        while True:
            time.sleep(0.01)

    t = Threader(target=obstinate, daemon=True)  # daemon: a failed second kill must not hang
    t.start()
    time.sleep(0.05)
    assert t.kill() is True
    assert swallowed.wait(5)
    assert t.is_alive()
    assert t.kill() is True
    t.join(5)  # generous: a thread that never ends can only be shown by a bound
    assert not t.is_alive()
    assert isinstance(t.exception, ThreadKilled)
    assert t.status_code() == 0


def test_killing_many_threads_touches_only_the_target():
    bystander_done = threading.Event()

    def bystander():
        for _ in range(20):
            time.sleep(0.01)
        bystander_done.set()

    b = Threader(target=bystander)
    victim = Threader(target=lambda: [time.sleep(0.01) for _ in range(1000)])
    b.start()
    victim.start()
    time.sleep(0.05)
    victim.kill()
    victim.join(2)
    b.join(2)
    assert bystander_done.is_set()
    assert b.status_code() == 1
    assert victim.status_code() == 0


def test_cooperative_stop_through_current_stop_event():
    def worker():
        event = current_stop_event()
        rounds = 0
        while not event.wait(0.02):
            rounds += 1
        return rounds

    t = Threader(target=worker, daemon=True)  # daemon: a broken stop() must not hang pytest
    t.start()
    time.sleep(0.1)
    t.stop()
    t.join(10)  # generous: without the stop the loop never ends, which only a bound can show
    assert not t.is_alive()
    assert t.status_code() == 1
    assert t.result() >= 1


def test_a_shared_stop_event_can_be_passed_in():
    event = threading.Event()
    t = Threader(target=lambda ev: ev.wait(5), args=event, stop_event=event)
    t.start()
    t.stop()
    assert t.result(timeout=2) is True


def test_current_stop_event_outside_a_threader_is_never_set():
    assert current_stop_event().is_set() is False


def test_seed_full_example(capsys):
    """The seed's complete example: three jobs with delays 1, 2 and 3 s, printed as written.

    That the three run at the same time is proven by a barrier each job passes before its
    sleep: it opens only once all three targets are running at once, so any serialisation of
    the threads (even of two of them) breaks it and the job reports the error. The recorded
    spans then show every job started before any ended. Nothing here is a wall-clock bound.
    """
    everyone_running = threading.Barrier(3)
    spans: dict[int, tuple[float, float]] = {}

    def job(n, delay=1):
        started = time.monotonic()
        everyone_running.wait(timeout=10)
        time.sleep(delay)
        spans[n] = (started, time.monotonic())
        return f"Job {n} terminé après {delay}s"

    threads = []
    for i in range(3):
        t = Threader(target=job, args=(i, i + 1))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
        print(
            f"[{t.id}] Status: {t.status_code()} | Result: {t.result()} | Exception: {t.exception}"
        )
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        f"Status: 1 | Result: Job {i} terminé après {i + 1}s | Exception: None" for i in range(3)
    ]
    assert [line.split("]", 1)[0] for line in lines] == [f"[{t.ident}" for t in threads]
    assert max(start for start, _ in spans.values()) < min(end for _, end in spans.values())
    for i, (start, end) in spans.items():
        assert end - start >= i + 1  # each job really slept its delay


def test_kill_as_the_target_returns_is_withdrawn_and_never_escapes(monkeypatch):
    """A kill scheduled after the target returned but before run() marked it finished is
    cleared, not delivered later: the thread reports the target's value, no exception reaches
    threading.excepthook, and the thread leaves threading.enumerate().

    To hold the thread in that window, the test swaps the Threader's lock for a re-entrant one
    and holds it while the target returns; the thread, the kill and the async exception are real.
    """
    escaped: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", escaped.append)
    returning = threading.Event()
    proceed = threading.Event()

    def target():
        returning.set()
        proceed.wait(5)
        return "value"

    t = Threader(target=target)
    t._lock = threading.RLock()
    t.start()
    assert returning.wait(5)
    with t._lock:
        proceed.set()
        # Until the thread's innermost frame is run() itself: the target has returned and
        # run() waits for the lock, still counting the target as running.
        deadline = time.monotonic() + 5
        while sys._current_frames()[t.ident].f_code.co_name != "run":
            assert time.monotonic() < deadline, "the target did not return"
            time.sleep(0.01)
        assert t.kill() is True
    t.join(5)
    assert not t.is_alive()
    assert escaped == []
    assert t not in threading.enumerate()
    assert t.exception is None
    assert t.status_code() == 1
    assert t.result() == "value"


def test_kill_when_the_thread_is_gone_returns_false(monkeypatch):
    """PyThreadState_SetAsyncExc answering 0 (no thread with that id) is not a kill.

    The call is replaced by one answering 0: a thread cannot be made to vanish while its
    Threader still believes the target runs."""
    release = threading.Event()
    t = Threader(target=lambda: release.wait(5) and "done")
    t.start()
    time.sleep(0.05)
    calls: list[tuple[int, object]] = []
    monkeypatch.setattr(
        "kubepulse.threader._set_async_exc", lambda ident, exc: calls.append((ident, exc)) or 0
    )
    assert t.kill() is False
    assert calls == [(t.ident, ThreadKilled)]
    assert not t.stop_event.is_set()
    # Nothing was scheduled, so a later kill is not refused as a second one.
    monkeypatch.undo()
    assert t.kill() is True
    release.set()
    t.join(2)
    assert isinstance(t.exception, ThreadKilled)


def test_kill_reaching_several_threads_is_undone_and_raises(monkeypatch):
    """PyThreadState_SetAsyncExc answering more than 1 must be undone with NULL and reported.

    The real call runs (the exception is really scheduled, then really withdrawn); only its
    answer to the scheduling is changed to 2, since two threads never share an id here."""
    import kubepulse.threader as threader_module

    real = threader_module._set_async_exc
    calls: list[object] = []

    def reaches_two(ident, exc):
        calls.append(exc)
        answer = real(ident, exc)
        return 2 if exc is ThreadKilled else answer

    def target():
        for _ in range(30):
            time.sleep(0.01)
        return "finished"

    t = Threader(target=target)
    t.start()
    time.sleep(0.05)
    monkeypatch.setattr(threader_module, "_set_async_exc", reaches_two)
    with pytest.raises(SystemError, match="changed 2 threads; undone"):
        t.kill()
    monkeypatch.undo()
    assert calls[0] is ThreadKilled
    assert isinstance(calls[1], ctypes.py_object)
    with pytest.raises(ValueError, match="NULL"):
        calls[1].value  # noqa: B018 - an empty py_object is what passes NULL
    assert not t.stop_event.is_set()
    # Undone: the target runs to its end, neither killed nor hit by a stray exception.
    assert t.result(timeout=2) == "finished"
    assert t.exception is None
    assert t.status_code() == 1
