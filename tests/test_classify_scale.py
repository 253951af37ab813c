"""run_classifier.py past one process and across crashes: 2 gloo processes (torchrun, python -m multiproc) give
one process's outputs row for row, in input order (empty rows, blank rows, quoted newlines; in memory and
--lazy); a run killed part-way continues with --resume auto to the same outputs, and refuses when the
input, the classifier or an output-changing flag changed; a dead rank gives one error line and no output
files; transfer.py's features under 2 processes are one process's. Faults are injected from here: an
in-process exception, or a wrapper script that patches the library and SIGKILLs its own process."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
from test_transfer_cli import make_task, transfer_argv

import run_classifier
import transfer
from sentiment_discovery.checkpoint import classifier_payload, save_checkpoint
from sentiment_discovery.cli import run_cli
from sentiment_discovery.data.files.cache import work_folder
from sentiment_discovery.data.tokenizers.builtin import CharTokenizer
from sentiment_discovery.models.classifier import build_classifier, classifier_config
from sentiment_discovery import classification as classify

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCHRUN_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                 "TORCHELASTIC_RESTART_COUNT")
BATCH = "2"          # blocks of 100 rows (classify.CHUNK_BATCHES x 2): 4 blocks of the 330-row files
SPECIAL = ["", "   ", "line one\nline two", 'she said "fine"\n\nand left', "<br>", "\t"]


def sst_rows(n=324):
    frame = pd.read_csv(os.path.join(REPO, "data", "binary_sst", "test.csv")).head(n)
    return [(int(label), text) for label, text in zip(frame["label"], frame["sentence"])]


def input_rows():
    """(label, text) rows: SST sentences with the special rows spread among them (330 rows)."""
    rows = sst_rows()
    for i, text in enumerate(SPECIAL):
        rows.insert(37 + 50 * i, (i % 2, text))
    return rows


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A tiny classifier checkpoint, the rows as a CSV (quoted newlines) and as loose JSON (for --lazy)."""
    folder = tmp_path_factory.mktemp("classify_scale")
    torch.manual_seed(0)
    config = classifier_config({"model": "mLSTM", "vocab_size": 257, "emsize": 8, "nhid": 16, "nlayers": 1},
                               n_outputs=1)
    model = build_classifier(config)
    save_checkpoint(folder / "clf.pt", classifier_payload(config, model.state_dict(), CharTokenizer(), ["label"],
                                                          [0.5], "process_str", "test"))
    rows = input_rows()
    pd.DataFrame(rows, columns=["label", "sentence"]).to_csv(folder / "rows.csv", index=False)
    with open(folder / "rows.json", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"label": label, "sentence": text}) + "\n" for label, text in rows)
    return {"clf": str(folder / "clf.pt"), "csv": str(folder / "rows.csv"), "json": str(folder / "rows.json"),
            "n": len(rows)}


def argv(inputs, out, data="csv", *extra):
    lazy = ["--lazy", "--loose-json"] if data == "json" else []
    return ["--load", inputs["clf"], "--data", inputs[data], *lazy, "--batch-size", BATCH,
            "--save-probs", str(out / "clf.npy"), "--write-results", str(out / "rows.csv"), *extra]


def outputs(out):
    return (np.load(out / "clf.npy"), np.load(out / "clf.npy.prob.npy"),
            pd.read_csv(out / "rows.csv", keep_default_na=False))


def assert_same_outputs(out, reference):
    preds, probs, rows = outputs(out)
    ref_preds, ref_probs, ref_rows = outputs(reference)
    np.testing.assert_array_equal(preds, ref_preds)
    np.testing.assert_allclose(probs, ref_probs, atol=1e-5)
    assert rows["sentence"].tolist() == ref_rows["sentence"].tolist()
    np.testing.assert_allclose(rows["label prob"], ref_rows["label prob"], atol=1e-5)


def in_process(inputs, out, data="csv", *extra):
    out.mkdir(exist_ok=True)
    return run_classifier.main(argv(inputs, out, data, *extra, "--num-workers", "1"))


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory):
    """One uninterrupted in-process run: its output folder and summary."""
    out = tmp_path_factory.mktemp("reference")
    return out, in_process(inputs, out)


def clean_env():
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")])))
    return env


def launch(script_and_args, nproc=2, launcher="torchrun"):
    """Run `script_and_args` under torchrun (or python -m multiproc) with `nproc` CPU processes."""
    if launcher == "torchrun":
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
                   "--monitor-interval", "0.5"]
    else:
        command = [sys.executable, "-m", "multiproc", "--nproc", str(nproc)]
    return subprocess.run([*command, *script_and_args], cwd=REPO, env=clean_env(), capture_output=True, text=True,
                          timeout=300, check=False)


def dying_script(tmp_path, target, rank, call):
    """A wrapper of run_classifier.py whose process of `rank` SIGKILLs itself at the `call`-th call of
    `classify.<target>` (e.g. "OutputFiles.write": before writing block `call`)."""
    path = tmp_path / "dying_run_classifier.py"
    path.write_text(textwrap.dedent(f"""
        import os, signal
        import run_classifier
        from sentiment_discovery.cli import run_cli
        from sentiment_discovery import classification as classify
        owner, name = ("classify." + {target!r}).rsplit(".", 1)
        owner = eval(owner)
        original, calls = getattr(owner, name), []
        def dying(*args, **kwargs):
            calls.append(1)
            if int(os.environ.get("RANK", "0")) == {rank} and len(calls) == {call}:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)
        setattr(owner, name, dying)
        run_cli(run_classifier.main)
    """))
    return str(path)


def output_names(out):
    return sorted(name for name in os.listdir(out))


# ---------------------------------------------------------------- several processes

@pytest.mark.distributed
@pytest.mark.parametrize("data,launcher", [("csv", "torchrun"), ("json", "multiproc")])
def test_two_processes_give_one_process_outputs(inputs, reference, tmp_path, data, launcher):
    ref_out = reference[0]
    if data == "json":  # --lazy reads the same rows: the same outputs as the in-memory CSV run
        in_process(inputs, tmp_path / "lazy_one", "json")
        assert_same_outputs(tmp_path / "lazy_one", ref_out)
    out = tmp_path / "two"
    out.mkdir()
    done = launch(["run_classifier.py", *argv(inputs, out, data)], launcher=launcher)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_outputs(out, ref_out)
    assert done.stdout.count("classified 330") == 1
    assert "3 empty or blank text(s) were classified from the text pipeline's padding alone" in done.stdout
    assert output_names(out) == ["clf.npy", "clf.npy.prob.npy", "rows.csv"]


@pytest.mark.distributed
def test_dead_rank_is_one_line_and_no_outputs_then_resume_finishes(inputs, reference, tmp_path):
    out = tmp_path / "dead"
    out.mkdir()
    script = dying_script(tmp_path, "classify_block", rank=1, call=2)
    done = launch([script, *argv(inputs, out)])
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--resume auto" in errors[0], done.stderr[-3000:]
    assert "exitcode  : -9" in done.stderr                      # torchrun's report names the dead rank
    assert output_names(out) == []                              # nothing, not even a temporary file
    done = launch(["run_classifier.py", *argv(inputs, out, "csv", "--resume", "auto")])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed: rows 1-200 were classified by an earlier, unfinished run" in done.stdout
    assert_same_outputs(out, reference[0])


# ---------------------------------------------------------------- resuming

@pytest.mark.subprocess
@pytest.mark.parametrize("target,call", [
    ("atomic.atomic_open", 2),      # block 2's rows and CSV lines written, its progress not yet recorded
    ("OutputFiles.write", 3),       # blocks 1-2 recorded, block 3 (of 4) about to be written
])
def test_kill_9_then_resume_gives_the_same_outputs(inputs, reference, tmp_path, target, call):
    out = tmp_path / "killed"
    out.mkdir()
    script = dying_script(tmp_path, target, rank=0, call=call)
    done = subprocess.run([sys.executable, script, *argv(inputs, out), "--num-workers", "1"], cwd=REPO,
                          env=clean_env(), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == -9 and output_names(out) == []
    folder = work_folder(str(out / "clf.npy"))
    with open(os.path.join(folder, "progress.json"), encoding="utf-8") as handle:
        progress = json.load(handle)
    assert progress["rows_done"] == 100 * (call - 1)
    summary = in_process(inputs, out, "csv", "--resume", "auto")
    assert summary["resumed_rows"] == 100 * (call - 1)
    assert_same_outputs(out, reference[0])
    assert summary["stats"]["n_texts"] == inputs["n"] and summary["stats"]["n_blank"] == 3
    assert not os.path.exists(folder)


def stop_at_block(monkeypatch, n):
    """classify_block raises KeyboardInterrupt (like Ctrl-C) on its n-th call in this process."""
    original, calls = classify.classify_block, []

    def stopping(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return original(*args, **kwargs)
    monkeypatch.setattr(classify, "classify_block", stopping)


@pytest.fixture
def unfinished(inputs, tmp_path, monkeypatch):
    """An output folder whose run stopped after its first block (progress recorded, no outputs)."""
    out = tmp_path / "unfinished"
    with monkeypatch.context() as patch:
        stop_at_block(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            in_process(inputs, out)
    assert output_names(out) == []
    return out


def refused(capsys, args):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(run_classifier.main, args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: --resume auto: the unfinished run"), err
    return err


def test_resume_continues_an_interrupted_run(inputs, reference, unfinished, capsys):
    summary = in_process(inputs, unfinished, "csv", "--resume", "auto")
    assert summary["resumed_rows"] == 100
    assert "resumed: rows 1-100 were classified by an earlier, unfinished run" in capsys.readouterr().out
    assert_same_outputs(unfinished, reference[0])
    ref_stats = reference[1]["stats"]
    for key in ("n_texts", "n_tokens", "n_chars", "n_empty", "n_blank", "n_truncated"):
        assert summary["stats"][key] == ref_stats[key], key


def test_resume_refuses_another_flag_input_or_classifier(inputs, unfinished, capsys, tmp_path):
    out_argv = argv(inputs, unfinished, "csv", "--resume", "auto", "--num-workers", "1")
    err = refused(capsys, [*out_argv, "--max-seq-len", "12"])
    assert "--max-seq-len was None, now 12" in err
    assert "--process-fn was 'process_str', now 'none'" in refused(capsys, [*out_argv, "--process-fn", "none"])
    changed = tmp_path / "changed.csv"  # the same path with other content
    rows = pd.read_csv(inputs["csv"], keep_default_na=False)
    rows.head(300).to_csv(changed, index=False)
    moved_argv = [changed if arg == inputs["csv"] else arg for arg in out_argv]
    assert "the input (--data) is not the same" in refused(capsys, [str(a) for a in moved_argv])
    stat = os.stat(inputs["clf"])
    os.utime(inputs["clf"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    try:
        assert "the classifier (--load) is not the same" in refused(capsys, out_argv)
    finally:
        os.utime(inputs["clf"], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert output_names(unfinished) == []
    assert in_process(inputs, unfinished, "csv", "--resume", "auto")["resumed_rows"] == 100  # still resumable


def test_a_run_without_resume_starts_afresh(inputs, reference, unfinished, caplog):
    with caplog.at_level("INFO"):
        summary = in_process(inputs, unfinished)
    assert summary["resumed_rows"] == 0 and summary["stats"]["n_texts"] == inputs["n"]
    assert any("was discarded (--resume auto continues one)" in r.getMessage() for r in caplog.records)
    assert_same_outputs(unfinished, reference[0])


def test_blank_rows_are_counted_and_said_how_they_were_classified(reference, capsys, inputs, tmp_path):
    summary = reference[1]
    assert summary["stats"]["n_blank"] == 3 and summary["stats"]["n_empty"] == 0  # "", "   ", "\t"
    in_process(inputs, tmp_path / "raw", "csv", "--process-fn", "none")
    out = capsys.readouterr().out
    assert "1 empty text(s) were classified from zero features" in out
    assert "2 empty or blank text(s) were classified from their whitespace alone" in out


# ---------------------------------------------------------------- transfer.py's featurizing

@pytest.mark.distributed
def test_two_process_featurizing_gives_one_process_features(tmp_path):
    task = make_task(tmp_path)
    one = transfer.main(transfer_argv(task, "--output-dir", str(tmp_path / "one"), "--batch-size", "8"))
    done = launch(["transfer.py", *transfer_argv(task, "--output-dir", str(tmp_path / "two"), "--batch-size", "8")])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("train/val/test accuracy w/ all neurons") == 1
    for name in ("trXt.npy", "vaXt.npy", "teXt.npy", "trY.npy"):
        np.testing.assert_allclose(np.load(tmp_path / "two" / name), np.load(tmp_path / "one" / name), atol=1e-6)
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    assert two["neurons"] == one["neurons"] and two["rows"] == one["rows"]
    for fit in ("all", "top"):
        assert two["fits"][fit]["best_c"] == one["fits"][fit]["best_c"]
        for split, score in one["fits"][fit]["scores"].items():
            assert two["fits"][fit]["scores"][split]["accuracy"] == pytest.approx(score["accuracy"])
    for split, stats in one["featurized"].items():
        assert {k: v for k, v in two["featurized"][split].items() if not k.startswith(("seconds", "chars_per"))} \
            == {k: v for k, v in stats.items() if not k.startswith(("seconds", "chars_per"))}
