"""Optional TensorBoard logging (`--tensorboard DIR`): a mirror of the JSON-lines metric log (its rows as
scalars, the PNGs a run draws as images), also written directly by generate.py (samples as text).

Every numeric value of a record becomes one scalar under the record's "step" (else its "epoch", else a
running count). Nested dicts become `a/b` tags and lists of numbers `a/0`, `a/1`, ... (or `a/<name>` when
the list has one entry per `list_names`). Strings, booleans and None are left to the JSON log.

tensorboard is imported only when the flag is given, so the package never needs it; without it the flag
is a UserError, raised when the log is opened (before any training). Only rank 0 writes (`enabled`), but
every rank checks the import so that all of them stop together. A resumed run writes a new event file
into the same DIR; its steps continue where the run left off, and TensorBoard reads the files as one run.
"""
import math
import numbers

from ..errors import UserError

INSTALL_HINT = ("--tensorboard needs the tensorboard package: pip install tensorboard "
                "(or pip install -e .[tensorboard])")
AXIS_KEYS = ("step", "epoch")


def summary_writer_class():
    """torch's SummaryWriter, or a UserError when tensorboard cannot be imported."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return SummaryWriter


def check_tensorboard(directory):
    """Fail early (a UserError) when a TensorBoard directory is asked for but tensorboard is missing."""
    if directory:
        summary_writer_class()


def open_tensorboard(directory, enabled=True, list_names=None):
    """A TensorBoardLog writing to `directory`, or None when no directory is given or `enabled` is False."""
    if not directory:
        return None
    writer_class = summary_writer_class()
    return TensorBoardLog(writer_class(directory), list_names) if enabled else None


def flat_scalars(record, list_names=None, prefix=""):
    """{tag: float} of every number in `record` (nested dicts and lists flattened into `a/b` tags)."""
    scalars = {}
    items = record.items() if isinstance(record, dict) else enumerate(record)
    names = list_names if not isinstance(record, dict) and len(record) == len(list_names or ()) else None
    for key, value in items:
        tag = f"{prefix}{names[key] if names else key}"
        if isinstance(value, (dict, list, tuple)):
            scalars.update(flat_scalars(value, list_names, prefix=f"{tag}/"))
        elif isinstance(value, numbers.Number) and not isinstance(value, (bool, complex)):
            scalars[tag] = float(value)
    return scalars


def png_pixels(path):
    """(H, W, 3) float RGB in [0, 1] of a PNG file."""
    from matplotlib.image import imread
    pixels = imread(path)  # (H, W, 3 or 4) float32 for PNG
    return pixels[..., :3] if pixels.ndim == 3 else pixels


class TensorBoardLog:
    """Scalars and images for one SummaryWriter; flushed after each record so a crashed run keeps them."""

    def __init__(self, writer, list_names=None):
        self.writer = writer
        self.list_names = list(list_names) if list_names else None
        self._records = 0

    def scalars(self, record):
        """Each number of `record` (a plain dict, see flat_scalars) at the record's step."""
        step = self._step_of(record)
        values = {key: value for key, value in record.items() if key not in AXIS_KEYS}
        for tag, value in flat_scalars(values, self.list_names).items():
            self.writer.add_scalar(tag, value, global_step=step)
        self.writer.flush()

    def image(self, tag, png_path, step):
        """A PNG already written (a plot of the run) as an image at `step`."""
        self.writer.add_image(tag, png_pixels(png_path), global_step=step, dataformats="HWC")
        self.writer.flush()

    def text(self, tag, text, step=0):
        """A piece of text (a generated sample, say) at `step`; shown verbatim in TensorBoard's text tab."""
        self.writer.add_text(tag, "    " + text.replace("\n", "\n    "), global_step=step)  # a code block
        self.writer.flush()

    def _step_of(self, record):
        self._records += 1
        for key in AXIS_KEYS:
            value = record.get(key)
            if isinstance(value, numbers.Number) and not isinstance(value, bool) and math.isfinite(value):
                return int(value)
        return self._records

    def close(self):
        self.writer.flush()
        self.writer.close()
