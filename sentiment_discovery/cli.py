"""Entry-point wrapper shared by the top-level scripts: one-line errors and non-zero exits."""
import errno
import os
import logging
import sys

from tqdm.contrib.logging import logging_redirect_tqdm

from .errors import UserError
from .output_paths import describe_os_error
from .training.signals import exit_status

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
# failures of the machine or the file system, not of the code: reported as one line, like a UserError
ENVIRONMENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EEXIST,
                      errno.EISDIR, errno.ENOTDIR, errno.ENAMETOOLONG}


def setup_logging(level=logging.INFO):
    """Log from rank 0 only (other ranks of a torchrun job, known by $RANK, log warnings and errors)."""
    rank = os.environ.get("RANK", "0")
    logging.basicConfig(
        level=level if rank in ("", "0") else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )


def configure_threads(threads):
    """Before torch loads its OpenMP runtime: `--threads N` becomes OMP_NUM_THREADS, and idle OpenMP threads
    sleep instead of spinning (OMP_WAIT_POLICY=PASSIVE), so that a run beside other work does not spin against
    it for the cores it waits on. A user's own OMP_WAIT_POLICY wins; --threads wins over OMP_NUM_THREADS."""
    if threads and threads > 0:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def start(script, argv=None):
    """Parse `script`'s flags into its typed config (argparse exits on a bad flag), set the threads, set up
    logging and log the notes on flags given only for compatibility. The scripts' common first step."""
    from .config import parse
    config = parse(script, argv)
    configure_threads(getattr(getattr(config, "run", None), "threads", 0))
    setup_logging()
    for note in getattr(getattr(config, "run", None), "notes", ()):
        logging.getLogger("sentiment_discovery").warning(note)
    return config


def run_cli(main, argv=None):
    """Call `main(argv)` with log lines written above the progress bars (tqdm's logging redirect); turn a
    UserError (or a file-system failure: permission denied, disk full, ...) into `error: <message>` on
    stderr and exit code 2. A run stopped by a signal (its summary names the signal) exits with 128 + the
    signal's number, as a shell reports a process that signal ended."""
    setup_logging()
    try:
        with logging_redirect_tqdm():
            result = main(argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR) from None
    except OSError as err:
        if err.errno not in ENVIRONMENT_ERRNOS:
            raise
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{describe_os_error(err)}", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR) from None
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    signum = result.get("signal") if isinstance(result, dict) else None
    if signum:
        raise SystemExit(exit_status(signum))
    return result
