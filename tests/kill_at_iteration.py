"""pretrain.py with one rank SIGKILLed (no handler, no clean-up, as an OOM kill or a lost node would) right
after it finishes a chosen iteration, on torchrun's first attempt only, so that the restarted group runs
through: `KILL_RANK_AT=RANK:ITERATION torchrun ... tests/kill_at_iteration.py <pretrain flags>`."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pretrain  # noqa: E402
from sentiment_discovery.cli import run_cli  # noqa: E402
from sentiment_discovery.training import loop  # noqa: E402

RANK, AT = (int(part) for part in os.environ["KILL_RANK_AT"].split(":"))
count_step = loop.count_step


def count_step_then_die(progress, window, parts):
    count_step(progress, window, parts)
    first_attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) == 0
    if first_attempt and int(os.environ.get("RANK", "0")) == RANK and progress.iteration == AT:
        os.kill(os.getpid(), signal.SIGKILL)


loop.count_step = count_step_then_die

if __name__ == "__main__":
    run_cli(pretrain.main)
