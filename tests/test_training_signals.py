"""GracefulExit turns SIGTERM/SIGINT into a flag and restores the old handlers."""
import os
import signal
import threading

import pytest

from sentiment_discovery.training.signals import GracefulExit


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
