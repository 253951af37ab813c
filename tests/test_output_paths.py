"""Output paths get the care inputs get: every script refuses, before any long work, an output it
cannot write (read-only folder, a parent that is a file), a folder given as an output file, and an output
that is one of its own inputs (which stays byte for byte unchanged) -- one `error:` line, exit 2, no
traceback. Also: late write failures become one line, run_classifier warns about very long rows, and a bad
input is reported before sklearn and matplotlib are imported."""
import errno
import logging
import os
import subprocess
import sys
import tempfile

import pytest

import finetune_classifier
import generate
import pretrain
import run_classifier
import threshold
import transfer
from sentiment_discovery.cli import run_cli
from sentiment_discovery.errors import UserError
from sentiment_discovery.output_paths import (check_output_folder, check_outputs, describe_os_error,
                                              reported_write)
from sentiment_discovery.preflight import check_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = "label,sentence\n1,a good film\n0,a bad film\n1,fine\n0,dull\n"


def can_write_in(folder) -> bool:
    try:
        handle, probe = tempfile.mkstemp(dir=folder)
    except OSError:
        return False
    os.close(handle)
    os.remove(probe)
    return True


@pytest.fixture
def unwritable(tmp_path):
    """A folder this process cannot create files in: chmod 0o555, or (as root, where chmod does not stop
    writes) /sys/kernel, which refuses new files even to root."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if not can_write_in(folder):
            yield str(folder)
            return
        if os.path.isdir("/sys/kernel") and not can_write_in("/sys/kernel"):
            yield "/sys/kernel"
            return
        pytest.skip("running as root and no unwritable folder found (chmod does not stop root)")
    finally:
        folder.chmod(0o755)


@pytest.fixture
def files(tmp_path):
    """Small existing inputs: a labelled CSV, a stand-in model file, predictions."""
    data = tmp_path / "data.csv"
    data.write_text(DATA)
    model = tmp_path / "model.pt"
    model.write_bytes(b"not really a model, but it exists")
    preds = tmp_path / "preds.csv"
    preds.write_text("label prob\n0.9\n0.1\n0.8\n0.3\n")
    a_file = tmp_path / "a_file.txt"
    a_file.write_text("x")
    return {"data": str(data), "model": str(model), "preds": str(preds), "file": str(a_file)}


# ---------------------------------------------------------------- the module


def test_good_outputs_pass_and_leave_nothing_behind(tmp_path):
    check_outputs([("--save", str(tmp_path / "out.pt")), ("--write-results", str(tmp_path / "new" / "deep" / "r.csv"))])
    assert os.listdir(tmp_path) == []  # no probe file, no folder made


def test_each_bad_output_is_one_line(tmp_path, files):
    cases = [
        (([("--save", str(tmp_path))],), "is a folder"),
        (([("--save", files["file"] + "/sub/out.pt")],), "is a file, not a folder"),
        (([("--save", files["data"])], [("--data", [files["data"]])]), "is also the run's --data"),
        (([("--save", str(tmp_path / "a.pt")), ("--best", str(tmp_path / "a.pt"))],), "same file as --save"),
    ]
    for args, words in cases:
        with pytest.raises(UserError, match=words) as err:
            check_outputs(*args)
        assert "\n" not in str(err.value)


def test_an_input_reached_by_another_name_is_refused(tmp_path, files):
    link = tmp_path / "link.csv"
    os.symlink(files["data"], link)
    hard = tmp_path / "hard.csv"
    os.link(files["data"], hard)
    for alias in (str(link), str(hard), os.path.join(str(tmp_path), ".", "data.csv")):
        with pytest.raises(UserError, match="refusing to overwrite an input"):
            check_outputs([("--write-results", alias)], [("--data", files["data"])])


def test_unwritable_folder(unwritable):
    with pytest.raises(UserError, match="cannot write in .*permission denied|read-only"):
        check_outputs([("--save", os.path.join(unwritable, "out.pt"))])
    with pytest.raises(UserError, match="cannot write in"):
        check_output_folder("--save-results", os.path.join(unwritable, "results", "run1"))


def test_late_write_errors_become_one_line(tmp_path):
    with pytest.raises(UserError, match=r"cannot write --save .*out.pt: no space left on device"):
        with reported_write(tmp_path / "out.pt", "--save"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert describe_os_error(PermissionError(errno.EACCES, "Permission denied")) == "permission denied"


def test_cli_turns_a_file_system_error_into_one_line(capsys):
    def main(argv):
        raise PermissionError(errno.EACCES, "Permission denied", "/some/output.npy")
    with pytest.raises(SystemExit) as stop:
        run_cli(main, [])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip() == "error: /some/output.npy: permission denied"


# ---------------------------------------------------------------- every script, in-process


def script_cases(files):
    """(script module, argv with {out} for the output, the output's flag, argv where the output is an input,
    the input the latter would overwrite)."""
    d, m = files["data"], files["model"]
    cpu = ["--device", "cpu"]
    return {
        "run_classifier": (run_classifier, ["--load", m, "--data", d, "--save-probs", "{out}"], "--save-probs",
                           ["--load", m, "--data", d, "--write-results", d], d),
        "generate": (generate, ["--load", m, "--save", "{out}", *cpu], "--save",
                     ["--load", m, "--save", m, *cpu], m),
        "threshold": (threshold, ["--task", "auc", "--preds-file", files["preds"], "--labels-file", d,
                                  "--save", "{out}"], "--save",
                      ["--task", "auc", "--preds-file", files["preds"], "--labels-file", d, "--save", d], d),
        "pretrain": (pretrain, ["--data", d, "--text-key", "sentence", "--save", "{out}", *cpu], "--save",
                     ["--data", d, "--text-key", "sentence", "--load", m, "--save", m, *cpu], m),
        "finetune": (finetune_classifier, ["--data", d, "--valid", d, "--test", d, "--save", "{out}", *cpu],
                     "--save", ["--load", m, "--data", d, "--valid", d, "--test", d, "--save", m, *cpu], m),
        "transfer": (transfer, ["--load", m, "--data", d, "--valid", d, "--test", d, "--write-results", "{out}",
                                *cpu], "--write-results",
                     ["--load", m, "--data", d, "--valid", d, "--test", d, "--write-results", d, *cpu], d),
    }


def fails_in_one_line(script, argv, capsys):
    with pytest.raises(SystemExit) as stop:
        run_cli(script.main, argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
    return err


SCRIPTS = ["run_classifier", "generate", "threshold", "pretrain", "finetune", "transfer"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_refuses_bad_outputs(name, files, tmp_path, unwritable, capsys):
    script, argv, flag, _, _ = script_cases(files)[name]
    bad = {
        "unwritable folder": (os.path.join(unwritable, "out.x"), "cannot write in"),
        "missing parent in an unwritable folder": (os.path.join(unwritable, "new", "sub", "out.x"), "cannot write in"),
        "parent is a file": (os.path.join(files["file"], "sub", "out.x"), "is a file, not a folder"),
        "a folder": (str(tmp_path / "folder.npy"), "is a folder"),
    }
    (tmp_path / "folder.npy").mkdir()
    for case, (out, words) in bad.items():
        err = fails_in_one_line(script, [a.replace("{out}", out) for a in argv], capsys)
        assert flag in err and words in err, (case, err)


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_never_overwrites_an_input(name, files, capsys):
    script, _, _, argv, target = script_cases(files)[name]
    before = open(target, "rb").read()
    err = fails_in_one_line(script, argv, capsys)
    assert "refusing to overwrite an input" in err and target in err
    assert open(target, "rb").read() == before


def test_transfer_results_folder_must_be_a_folder(files, tmp_path, capsys):
    (tmp_path / "model_transfer").write_text("a file where the results folder goes")
    d = files["data"]
    err = fails_in_one_line(transfer, ["--load", files["model"], "--data", d, "--valid", d, "--test", d], capsys)
    assert "--save-results" in err and "model_transfer" in err and "is a file" in err


def test_metrics_log_under_a_file_is_one_line(files):
    from sentiment_discovery.training.metrics_log import MetricsLog
    log = MetricsLog(os.path.join(files["file"], "sub", "m.jsonl"))   # opened on the first line written
    with pytest.raises(UserError, match="cannot open metrics log"):
        log.write(step=1)


# ---------------------------------------------------------------- inputs first, heavy imports later


def test_missing_column_is_reported_by_the_cheap_check(files):
    with pytest.raises(UserError, match="has no text column 'text'; its columns are: 'label', 'sentence'"):
        check_data([files["data"]], text_key="text")
    with pytest.raises(UserError, match="has no label column 'stars'"):
        check_data([files["data"]], label_key="stars")
    check_data([files["data"]], test=[files["data"]], label_key="stars", labels=False)  # labels not needed


EARLY = """
import sys
from sentiment_discovery.cli import run_cli
import {script}
try:
    run_cli({script}.main, {argv!r})
except SystemExit:
    pass
print(sorted(name for name in ("sklearn", "matplotlib", "pandas", "torch") if name in sys.modules))
"""


def imported_after_error(script, argv):
    done = subprocess.run([sys.executable, "-c", EARLY.format(script=script, argv=argv)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    return done.stderr.strip().splitlines()[-1], done.stdout.strip()


@pytest.mark.subprocess
@pytest.mark.parametrize("script", ["transfer", "finetune_classifier"])
def test_bad_input_is_reported_before_heavy_imports(script, files):
    err, modules = imported_after_error(script, ["--data", "missing.csv"])
    assert err == "error: --data file not found: missing.csv" and modules == "[]"
    err, modules = imported_after_error(script, ["--data", files["data"], "--text-key", "text"])
    assert "has no text column 'text'" in err and modules == "[]"
    # a checkpoint of the wrong kind needs torch to tell, but not sklearn or matplotlib
    d = files["data"]
    err, modules = imported_after_error(script, ["--load", files["model"], "--data", d, "--valid", d, "--test", d,
                                                 "--device", "cpu"])
    assert err.startswith("error: ") and "sklearn" not in modules and "matplotlib" not in modules


# ---------------------------------------------------------------- run_classifier's long rows


@pytest.fixture
def tiny_classifier(tmp_path):
    import torch

    from sentiment_discovery.data.tokenizers.builtin import CharTokenizer
    from sentiment_discovery.models.classifier import build_classifier, classifier_config
    from sentiment_discovery.checkpoint import classifier_payload, save_checkpoint
    torch.manual_seed(0)
    config = classifier_config({"model": "mLSTM", "vocab_size": 257, "emsize": 4, "nhid": 8, "nlayers": 1},
                               n_outputs=1)
    path = tmp_path / "clf.pt"
    save_checkpoint(path, classifier_payload(config, build_classifier(config).state_dict(), CharTokenizer(),
                                             ["label"], [0.5], "process_str", "finetune"))
    return str(path)


@pytest.mark.parametrize("lazy", [False, True])
def test_long_rows_get_one_warning(tiny_classifier, tmp_path, monkeypatch, caplog, lazy):
    from sentiment_discovery import classification as classify
    monkeypatch.setattr(classify, "LONG_ROW_TOKENS", 50)  # stands in for 10,000 to keep the test fast
    data = tmp_path / "long.csv"
    data.write_text("sentence\n" + "short\n" + "x" * 80 + "\n" + "tiny\n" + "y" * 120 + "\n")
    argv = ["--load", tiny_classifier, "--data", str(data), "--save-probs", str(tmp_path / "p.npy"),
            "--num-workers", "1", *(["--lazy"] if lazy else [])]
    with caplog.at_level(logging.WARNING):
        run_classifier.main(argv)
    warnings = [r.getMessage() for r in caplog.records if "--max-seq-len" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith("2 row(s)") and "more than 50 tokens" in warnings[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run_classifier.main(argv + ["--max-seq-len", "40"])
    assert not [r for r in caplog.records if "more than 50 tokens" in r.getMessage()]


def test_folder_that_is_not_an_imdb_split_is_named(tmp_path, files, capsys):
    folder = tmp_path / "not_imdb"
    folder.mkdir()
    (folder / "a.txt").write_text("hello")
    err = fails_in_one_line(run_classifier, ["--load", files["model"], "--data", str(folder),
                                             "--save-probs", str(tmp_path / "p.npy")], capsys)
    # (the stand-in model is refused first when it is read; the folder is judged by the reader)
    assert "\0" not in err
    from sentiment_discovery.classification import read_input
    with pytest.raises(UserError, match="is not an IMDB split folder: it has no neg/ folder") as caught:
        read_input([str(folder)], {"text_key": "sentence", "label_key": "label"})
    assert "\0" not in str(caught.value)


def test_transfer_never_writes_its_classifier_over_load(files, tmp_path, capsys):
    load = tmp_path / "classifier.pt"
    load.write_bytes(b"the classifier a user transfers from")
    d = files["data"]
    err = fails_in_one_line(transfer, ["--load", str(load), "--save-results", "..", "--data", d, "--valid", d,
                                       "--test", d, "--device", "cpu"], capsys)
    assert "is also the run's --load" in err and load.read_bytes() == b"the classifier a user transfers from"
