"""What a training run shows and writes as it goes: the progress bar, the JSON-lines metrics log (with its
optional TensorBoard mirror), log lines and checkpoints. Only rank 0 shows or writes anything."""
import logging
import os

from tqdm import tqdm

from ..checkpoint import save_checkpoint
from ..output_paths import reported_write
from .metrics_log import MetricsLog
from .tensorboard_log import open_tensorboard

log = logging.getLogger(__name__)


class Reporter:
    """A run's bar, metrics log and checkpoint writer. A fresh run (`fresh=True`) starts a fresh metrics
    log; a resumed one appends to its log."""

    def __init__(self, metrics_path, enabled, tensorboard=None, list_names=None, fresh=False):
        self.enabled = enabled
        if enabled and fresh and os.path.exists(metrics_path):
            os.remove(metrics_path)
        mirror = open_tensorboard(tensorboard, enabled=enabled, list_names=list_names)
        self.metrics = MetricsLog(metrics_path, enabled=enabled, mirror=mirror)
        self._bar = None

    def start_bar(self, total, initial=0, desc="train", unit="step"):
        self.close_bar()
        self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not self.enabled,
                         dynamic_ncols=True, mininterval=1.0)

    def advance(self, **postfix):
        """One step done; `postfix` (formatted strings) shown beside the bar."""
        self._bar.update(1)
        self._bar.set_postfix(**postfix, refresh=False)

    def close_bar(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def write(self, row):
        self.metrics.write(row)

    def log(self, message):
        log.info(message)

    def image(self, tag, path, step):
        self.metrics.image(tag, path, step)

    def save(self, path, payload):
        """Write a checkpoint (rank 0); a failing write is one line naming --save."""
        if self.enabled:
            with reported_write(path, "--save"):
                save_checkpoint(path, payload)

    def close(self):
        self.close_bar()
        self.metrics.close()
