"""MetricsLog writes one flushed JSON object per line; read_metrics reads them back."""
import math
from contextlib import closing

import numpy as np
import pytest
import torch

from sentiment_discovery.errors import UserError
from sentiment_discovery.training.metrics_log import MetricsLog, read_metrics


def test_rows_round_trip_with_numpy_and_torch_values(tmp_path):
    path = tmp_path / "run" / "metrics.jsonl"                       # parent folder is created
    with closing(MetricsLog(path)) as log:
        log.write(step=1, loss=torch.tensor(2.5), lr=np.float32(0.5), tag="train")
        log.write({"step": 2, "acc": np.array([0.25, 0.75])}, split="val")
    assert read_metrics(path) == [
        {"step": 1, "loss": 2.5, "lr": 0.5, "tag": "train"},
        {"step": 2, "acc": [0.25, 0.75], "split": "val"},
    ]


def test_each_line_is_on_disk_before_close(tmp_path):
    path = tmp_path / "m.jsonl"
    log = MetricsLog(path)
    log.write(step=7, loss=1.0)
    assert read_metrics(path) == [{"step": 7, "loss": 1.0}]         # read while still open
    log.close()


def test_nan_and_inf_survive(tmp_path):
    path = tmp_path / "m.jsonl"
    with closing(MetricsLog(path)) as log:
        log.write(loss=float("nan"), scale=float("inf"))
    row = read_metrics(path)[0]
    assert math.isnan(row["loss"]) and row["scale"] == math.inf


def test_disabled_log_writes_nothing(tmp_path):
    path = tmp_path / "sub" / "m.jsonl"
    with closing(MetricsLog(path, enabled=False)) as log:
        log.write(step=1)
    assert not path.exists() and not path.parent.exists()


def test_reopening_appends(tmp_path):
    path = tmp_path / "m.jsonl"
    for step in (1, 2):
        with closing(MetricsLog(path)) as log:
            log.write(step=step)
    assert [row["step"] for row in read_metrics(path)] == [1, 2]


def test_torn_last_line_is_skipped(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "lo')
    assert read_metrics(path) == [{"step": 1}, {"step": 2}]


def test_complete_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1}\n{"step": 2}')
    assert read_metrics(path) == [{"step": 1}, {"step": 2}]


@pytest.mark.parametrize("text, words", [('{"step": 1}\nnot json\n{"step": 3}\n', "line 2"),
                                         ('[1, 2]\n', "not a JSON object")])
def test_bad_lines_are_user_errors(tmp_path, text, words):
    path = tmp_path / "m.jsonl"
    path.write_text(text)
    with pytest.raises(UserError, match=words):
        read_metrics(path)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_metrics(tmp_path / "nope.jsonl")


def test_unloggable_value_is_a_type_error(tmp_path):
    with closing(MetricsLog(tmp_path / "m.jsonl")) as log, pytest.raises(TypeError, match="object"):
        log.write(thing=object())
