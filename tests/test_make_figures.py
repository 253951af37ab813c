"""analysis/make_figures.py: measures with the real benchmarks, records commands, plots from the JSON."""
import importlib.util
import json
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture()
def make_figures():
    spec = importlib.util.spec_from_file_location("make_figures", os.path.join(REPO, "analysis", "make_figures.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.subprocess
def test_a_section_is_measured_recorded_and_plotted(make_figures, monkeypatch, tmp_path):
    tiny = ["bench/bench_recurrent.py", "--hidden", "8", "16", "--batch", "2", "--seq", "2", "--iters", "1",
            "--bf16", "--threads", "1"]
    monkeypatch.setattr(make_figures, "RECURRENT", tiny)
    make_figures.main(["--sections", "recurrent", "--out-dir", str(tmp_path)])
    results = json.loads((tmp_path / "bench_results.json").read_text())
    section = results["recurrent"]
    assert section["commands"] == ["python " + " ".join(tiny)]
    benches = [(r["bench"], r["hidden"]) for r in section["records"]]
    assert benches == [("matmul_gflops", 8), ("featurize", 8), ("train", 8),
                       ("matmul_gflops", 16), ("featurize", 16), ("train", 16)]
    for name in ("recurrent_throughput.png", "matmul_ceiling.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert not (tmp_path / "transformer_throughput.png").exists()  # only measured sections are drawn


def test_plot_only_redraws_from_the_saved_json_without_measuring(make_figures, monkeypatch, tmp_path):
    record = {"mode": "fp32", "seconds": 1.0, "steps": [5, 10], "loss": [3.0, 2.5], "tokens_per_s": [10.0, 11.0],
              "loss_scale": [1.0, 1.0], "skipped_steps": 0}
    (tmp_path / "bench_results.json").write_text(json.dumps({"pretrain_precision": {"records": [record]}}))
    monkeypatch.setattr(make_figures, "run_command", lambda args: pytest.fail("plot-only must not measure"))
    make_figures.main(["--plot-only", "--out-dir", str(tmp_path)])
    assert (tmp_path / "precision_pretrain_loss.png").stat().st_size > 0


def test_read_metrics_splits_training_rows_from_final_numbers(make_figures, tmp_path):
    rows = [{"step": 5, "loss": 3.0, "tokens_per_s": 100.0, "loss_scale": 8.0, "skipped_steps": 1},
            {"step": 10, "loss": 2.0, "tokens_per_s": 120.0, "loss_scale": 4.0, "skipped_steps": 2},
            {"step": 10, "epoch": 1, "val_loss": 2.1, "val_bpc": 3.0},
            {"step": 10, "test_loss": 2.2, "test_bpc": 3.2}]
    (tmp_path / "lm.metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    metrics = make_figures.read_metrics(str(tmp_path / "lm.pt"))
    assert metrics["steps"] == [5, 10] and metrics["loss"] == [3.0, 2.0] and metrics["loss_scale"] == [8.0, 4.0]
    assert metrics["skipped_steps"] == 2 and metrics["val_bpc"] == 3.0 and metrics["test_bpc"] == 3.2


@pytest.mark.subprocess
def test_a_failing_benchmark_stops_with_its_name(make_figures):
    with pytest.raises(SystemExit, match="bench_recurrent.py --hidden x failed"):
        make_figures.run_command(["bench/bench_recurrent.py", "--hidden", "x"])
