"""What must hold beyond the build machine (Linux, fork): the pieces that cross a process boundary work
when processes are spawned, as on macOS and Windows."""
import multiprocessing

import pytest

from sentiment_discovery.data.files.lazy import LineIndex


def _read_all(index):
    return [index[i] for i in range(len(index))]


@pytest.mark.subprocess
def test_lazy_line_index_reads_the_same_in_a_spawned_process(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(f'{{"text": "row {i}"}}\n' for i in range(50)))
    index = LineIndex(str(path))
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(_read_all, (index,)) == _read_all(index)
