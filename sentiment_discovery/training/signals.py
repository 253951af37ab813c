"""`GracefulExit`: turn SIGTERM/SIGINT into a flag the training loop polls, so it can save a checkpoint
and exit cleanly instead of dying mid-step (schedulers and torchrun send SIGTERM before killing).

    with GracefulExit() as stop:
        for step in ...:
            train_step()
            if stop.should_stop:
                save_checkpoint(...)
                break

The first signal only sets `should_stop` (and `signal_name`) and logs it. A second SIGINT while
stopping raises KeyboardInterrupt, and a second SIGTERM exits with status 143, for a user who really
wants out. The old handlers are restored when the block ends. Handlers can only be installed from the
main thread; elsewhere the context installs nothing and `should_stop` stays False."""
import logging
import signal
import threading

logger = logging.getLogger(__name__)

DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class GracefulExit:
    """Context manager that records SIGTERM/SIGINT in `should_stop` instead of letting them kill."""

    def __init__(self, signals=DEFAULT_SIGNALS):
        self.signals = tuple(signals)
        self.should_stop = False
        self.signal_name = None
        self._old_handlers = {}

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        if self.should_stop:
            logger.warning("second %s: stopping now", name)
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)
        self.should_stop = True
        self.signal_name = name
        logger.warning("%s received: finishing the current step, then saving and exiting", name)

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            logger.debug("GracefulExit outside the main thread: no signal handlers installed")
            return self
        for signum in self.signals:
            self._old_handlers[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info):
        for signum, old_handler in self._old_handlers.items():
            # None means a handler installed from C, which Python cannot reinstall: use the default.
            signal.signal(signum, signal.SIG_DFL if old_handler is None else old_handler)
        self._old_handlers.clear()
        return False
