"""`GracefulExit`: SIGTERM/SIGINT become a flag the training loop polls, so that a run saves its state and
exits cleanly instead of dying mid-step (schedulers and torchrun send SIGTERM before killing).

    with GracefulExit() as stop:
        for batch in batches:
            with stop.step():
                train_step(batch)
            if stop.should_stop:
                save_checkpoint(...)
                break

The first signal sets `should_stop` and says that a second one stops at once. A step still running
`grace` seconds later (at least 5 s, and at least twice the longest step seen so far) is interrupted: the
`step()` block raises `StepInterrupted`, and the caller exits without saving, so the last checkpoint is
kept as it was. A second SIGINT raises KeyboardInterrupt, a second SIGTERM exits with status 143. The old
handlers come back when the block ends. Handlers can only be installed from the main thread; elsewhere
nothing is installed and `should_stop` stays False."""
import contextlib
import logging
import signal
import threading
import time

logger = logging.getLogger(__name__)

DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGINT)
MIN_GRACE_SECONDS = 5.0


class StepInterrupted(Exception):
    """A step did not finish within the grace period after a stop signal."""


def exit_status(signum):
    """The status a shell reports for a process ended by signal `signum`."""
    return 128 + int(signum)


class GracefulExit:
    """Context manager that records SIGTERM/SIGINT in `should_stop` instead of letting them kill."""

    def __init__(self):
        self.should_stop = False
        self.signum = None
        self._old_handlers = {}
        self._step_started = None
        self._longest_step = 0.0

    @property
    def signal_name(self):
        return signal.Signals(self.signum).name if self.signum else None

    @contextlib.contextmanager
    def step(self):
        """Mark a training step: a stop signal waits for it only for the grace period."""
        self._step_started = time.monotonic()
        try:
            yield
        finally:
            self._longest_step = max(self._longest_step, time.monotonic() - self._step_started)
            self._step_started = None

    def _grace(self):
        return max(MIN_GRACE_SECONDS, 2.0 * self._longest_step)

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        if self.should_stop:
            logger.warning("second %s: stopping now", name)
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(exit_status(signum))
        self.should_stop, self.signum = True, signum
        again = "Ctrl-C" if signum == signal.SIGINT else name
        logger.warning("%s received: finishing the current step (at most %.0f s more), then saving and exiting; "
                       "%s again stops at once", name, self._grace(), again)
        if self._step_started is not None and hasattr(signal, "setitimer"):
            signal.setitimer(signal.ITIMER_REAL, self._grace())

    def _alarm(self, signum, frame):
        if self._step_started is not None:
            raise StepInterrupted(f"the step did not finish within {self._grace():.0f} s of {self.signal_name}")

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            logger.debug("GracefulExit outside the main thread: no signal handlers installed")
            return self
        for signum in DEFAULT_SIGNALS:
            self._old_handlers[signum] = signal.signal(signum, self._handle)
        if hasattr(signal, "SIGALRM"):
            self._old_handlers[signal.SIGALRM] = signal.signal(signal.SIGALRM, self._alarm)
        return self

    def __exit__(self, *exc_info):
        if hasattr(signal, "setitimer") and self._old_handlers:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, old_handler in self._old_handlers.items():
            # None means a handler installed from C, which Python cannot reinstall: use the default.
            signal.signal(signum, signal.SIG_DFL if old_handler is None else old_handler)
        self._old_handlers.clear()
        return False
