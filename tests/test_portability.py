"""What must hold beyond the build machine (Linux, fork): the pieces that cross a process boundary work
when processes are spawned, as on macOS and Windows."""
import multiprocessing

import numpy as np
import pytest

from sentiment_discovery.data.files.lazy import LineIndex
from sentiment_discovery.transfer.regression import fit_grid


def _read_all(index):
    return [index[i] for i in range(len(index))]


@pytest.mark.subprocess
def test_lazy_line_index_reads_the_same_in_a_spawned_process(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(f'{{"text": "row {i}"}}\n' for i in range(50)))
    index = LineIndex(str(path))
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(_read_all, (index,)) == _read_all(index)


@pytest.mark.subprocess
def test_regression_fits_in_worker_processes_equal_those_in_process():
    """joblib's default (loky) backend starts workers without fork, like spawn."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    columns = (x[:, :2] + 0.3 * rng.normal(size=(60, 2)) > 0).astype(np.int64)
    cs = [0.1, 1.0]
    here = fit_grid(x, columns, cs, "liblinear", 0, 100, 1)
    workers = fit_grid(x, columns, cs, "liblinear", 0, 100, 2)
    for (models_a, _), (models_b, _) in zip(here, workers):
        for a, b in zip(models_a, models_b):
            np.testing.assert_array_equal(a.coef_, b.coef_)
