"""GracefulExit turns SIGTERM/SIGINT into a flag and restores the old handlers."""
import os
import signal
import threading
import time

import pytest

from sentiment_discovery.training.signals import GracefulExit, StepInterrupted


def _send(signum):
    os.kill(os.getpid(), signum)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_sets_the_flag_instead_of_killing(signum):
    with GracefulExit() as stop:
        assert not stop.should_stop
        _send(signum)
        assert stop.should_stop
        assert stop.signal_name == signal.Signals(signum).name


def test_old_handlers_come_back():
    sigint = signal.getsignal(signal.SIGINT)  # whatever pytest started with: SIG_IGN in a background job
    seen = []
    old = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        with GracefulExit():
            pass
        _send(signal.SIGTERM)
        assert seen == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGINT) is sigint
    finally:
        signal.signal(signal.SIGTERM, old)


def test_handlers_are_restored_after_an_exception():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RuntimeError), GracefulExit():
        raise RuntimeError("boom")
    assert signal.getsignal(signal.SIGTERM) is before


def test_second_sigint_forces_keyboard_interrupt():
    with GracefulExit() as stop:
        _send(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            _send(signal.SIGINT)
    assert stop.should_stop


def test_second_sigterm_exits_with_143():
    with GracefulExit():
        _send(signal.SIGTERM)
        with pytest.raises(SystemExit) as exit_info:
            _send(signal.SIGTERM)
    assert exit_info.value.code == 143


def test_outside_the_main_thread_it_installs_nothing():
    before = signal.getsignal(signal.SIGTERM)
    outcome = {}

    def run():
        with GracefulExit() as stop:
            outcome["installed"] = signal.getsignal(signal.SIGTERM) is not before
            outcome["stop"] = stop.should_stop

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert outcome == {"installed": False, "stop": False}


def test_the_first_signal_says_that_a_second_one_stops_at_once(caplog):
    with GracefulExit():
        _send(signal.SIGINT)
    assert "Ctrl-C again stops at once" in caplog.text


def test_a_step_still_running_after_the_grace_period_is_interrupted(monkeypatch):
    from sentiment_discovery.training import signals
    monkeypatch.setattr(signals, "MIN_GRACE_SECONDS", 0.2)
    with GracefulExit() as stop, pytest.raises(StepInterrupted):
        with stop.step():
            _send(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:   # a step that would not end by itself
                time.sleep(0.01)
    assert stop.should_stop and stop.signum == signal.SIGTERM


def test_a_step_that_ends_in_time_is_not_interrupted(monkeypatch):
    from sentiment_discovery.training import signals
    monkeypatch.setattr(signals, "MIN_GRACE_SECONDS", 0.2)
    with GracefulExit() as stop:
        with stop.step():
            _send(signal.SIGTERM)
        time.sleep(0.4)                       # the grace period passes outside any step
    assert stop.should_stop


def test_a_stopped_run_exits_with_128_plus_the_signal():
    from sentiment_discovery.cli import run_cli
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda argv: {"outcome": "stopped", "signal": int(signal.SIGTERM)})
    assert exit_info.value.code == 143
    assert run_cli(lambda argv: {"outcome": "done"}) == {"outcome": "done"}
