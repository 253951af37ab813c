"""Every recipe in experiments/ passes only flags its scripts know.

Each recipe runs under bash with `python`, `python3`, `torchrun` and `pip` replaced by shims that log their
arguments (one JSON line per call) and do nothing else (`python -c CODE` still runs, for recipes that
compute a value). Every logged call of a script in `config.SCRIPT_CONFIGS` -- directly, through
`python -m multiproc` or through torchrun -- is then parsed with that script's parser, and the launchers'
own flags with theirs. Environment variables point the recipes' file checks at files that exist.
"""
import contextlib
import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import multiproc
from sentiment_discovery.arguments import build_parser
from sentiment_discovery.config import SCRIPT_CONFIGS

REPO_ROOT = Path(__file__).resolve().parent.parent
RECIPES = sorted((REPO_ROOT / "experiments").glob("*.sh"))
SHIMMED = ("python", "python3", "torchrun", "pip")

SHIM = """#!{python}
import json, os, sys
args = sys.argv[1:]
if os.path.basename(sys.argv[0]).startswith("python") and args[:1] == ["-c"]:
    os.execv({python!r}, [{python!r}, *args])     # recipes compute values with python -c
with open(os.environ["RECIPE_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps({{"program": os.path.basename(sys.argv[0]), "args": args}}) + "\\n")
"""


@pytest.fixture
def shim_dir(tmp_path):
    """A folder of executables named like the launchers, each logging its argv to $RECIPE_LOG."""
    folder = tmp_path / "shims"
    folder.mkdir()
    for name in SHIMMED:
        path = folder / name
        path.write_text(SHIM.format(python=sys.executable))
        path.chmod(0o755)
    return folder


@pytest.fixture
def recipe_env(tmp_path, shim_dir):
    """Environment that sends every recipe down the path that runs its scripts, writing only in tmp_path."""
    run = tmp_path / "run"
    (run / "lang_model_transfer").mkdir(parents=True)          # quickstart lists it at the end
    load = tmp_path / "lm.pt"
    load.write_bytes(b"stand-in")
    for folder, name in (("aclImdb/train/pos", "0_10.txt"), ("goemotions", "train.tsv"), ("sst5", "train.txt")):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / name).write_text("x")
    return {
        **os.environ, "PATH": f"{shim_dir}{os.pathsep}{os.environ['PATH']}",
        "RECIPE_LOG": str(tmp_path / "calls.jsonl"), "RUN": str(run), "LOAD": str(load),
        "IMDB": str(tmp_path / "aclImdb"), "GOEMO": str(tmp_path / "goemotions"), "SST5": str(tmp_path / "sst5"),
        "GPUS": "2", "NPROC": "2", "NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "node0.example",
    }


# Per recipe: changes to recipe_env.
RECIPE_ENV = {
    "run_sk_imdb_cpu.sh": {"IMDB": "no/such/aclImdb"},           # take the SST stand-in path
}


def run_recipe(recipe, env):
    """Run one recipe under the shims; returns the logged calls [{program, args}]."""
    log = Path(env["RECIPE_LOG"])
    log.unlink(missing_ok=True)
    done = subprocess.run(["bash", str(recipe)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (f"{recipe.name} exited {done.returncode} under the shims\n"
                                  f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}")
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def parse_or_error(parser, args):
    """None if `parser` accepts `args`, else argparse's message."""
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(args)
    except SystemExit as stop:
        return errors.getvalue().strip().splitlines()[-1] if errors.getvalue().strip() else f"exit {stop.code}"
    return None


def torchrun_parser():
    from torch.distributed.run import get_args_parser
    return get_args_parser()


def launched_script(call):
    """(launcher problem or None, script path or None, script args) of one logged call."""
    program, args = call["program"], call["args"]
    if program == "torchrun":
        launcher, launcher_args = torchrun_parser(), args
    elif program.startswith("python") and args[:2] == ["-m", "multiproc"]:
        launcher, launcher_args = multiproc.build_parser(), args[2:]
    elif program.startswith("python") and args and args[0].endswith(".py"):
        return None, args[0], args[1:]
    else:                                           # pip, python -m pip, python - <<EOF
        return None, None, []
    problem = parse_or_error(launcher, launcher_args)
    if problem:
        return f"{program} rejects {shlex.join(launcher_args)}: {problem}", None, []
    parsed = launcher.parse_args(launcher_args)
    if program == "torchrun":
        return None, parsed.training_script, parsed.training_script_args
    return None, parsed.script, parsed.script_args


def check_calls(calls, root=REPO_ROOT):
    """(number of script calls parsed, [problems]) for the logged calls of one recipe."""
    parsed, problems = 0, []
    for call in calls:
        problem, script, args = launched_script(call)
        if problem:
            problems.append(problem)
        if script is None:
            continue
        name = os.path.basename(script)
        if name in SCRIPT_CONFIGS:
            parser = build_parser(SCRIPT_CONFIGS[name])
            parser.prog = name
            problem = parse_or_error(parser, args)
            parsed += 1
            if problem:
                problems.append(f"{name} rejects: {problem}\n    args: {shlex.join(args)}")
        elif not (root / script).is_file():
            problems.append(f"runs {script}, which does not exist")
    return parsed, problems


def test_there_are_recipes():
    assert len(RECIPES) >= 20


@pytest.mark.subprocess
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda path: path.name)
def test_recipe_flags_parse(recipe, recipe_env):
    env = {**recipe_env, **RECIPE_ENV.get(recipe.name, {})}
    parsed, problems = check_calls(run_recipe(recipe, env))
    assert not problems, f"{recipe.name}:\n  " + "\n  ".join(problems)
    assert parsed >= 1, f"{recipe.name} ran none of {sorted(SCRIPT_CONFIGS)} under the shims"


@pytest.mark.subprocess
def test_a_misspelled_flag_is_caught(tmp_path, recipe_env):
    recipe = tmp_path / "bad.sh"
    recipe.write_text("set -euo pipefail\npython -m multiproc --nproc 2 pretrain.py --lr 1e-3 --nhidd 64\n"
                      "torchrun --nnodes 2 --nproc-per-node 2 --rdzv-endpont h:1 pretrain.py\n"
                      "python transfer.py --neurons 1\npython no_such_script.py\n")
    parsed, problems = check_calls(run_recipe(recipe, recipe_env))
    assert parsed == 2
    assert len(problems) == 3
    assert "pretrain.py rejects" in problems[0] and "--nhidd" in problems[0]
    assert "torchrun rejects" in problems[1]
    assert "no_such_script.py" in problems[2]


NEEDS_LOAD = [path for path in RECIPES if '[ -e "$LOAD" ]' in path.read_text()]


@pytest.mark.subprocess
@pytest.mark.parametrize("recipe", NEEDS_LOAD, ids=lambda path: path.name)
def test_recipe_stops_with_a_message_without_a_language_model(recipe, recipe_env, tmp_path):
    env = {**recipe_env, "LOAD": str(tmp_path / "missing.pt")}
    done = subprocess.run(["bash", str(recipe)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"no language model at {tmp_path / 'missing.pt'}" in done.stdout
    assert not Path(env["RECIPE_LOG"]).exists()


def test_imdb_standin_lays_out_sst_in_aclimdb_format(tmp_path, write_file):
    sys.path.insert(0, str(REPO_ROOT / "experiments"))
    try:
        import imdb_standin
    finally:
        sys.path.pop(0)
    write_file("sst/train.csv", "label,sentence\n1,a fine film\n0,\"dull, dull\"\n1,great\n")
    write_file("sst/test.csv", "label,sentence\n0,bad\n")
    out = tmp_path / "aclImdb"
    assert imdb_standin.main([str(out), "--sst", str(tmp_path / "sst")]) == 0
    assert sorted(p.name for p in (out / "train" / "pos").iterdir()) == ["0_10.txt", "2_10.txt"]
    assert (out / "train" / "neg" / "1_1.txt").read_text() == "dull, dull"
    assert [p.name for p in (out / "test" / "neg").iterdir()] == ["0_1.txt"]
    assert list((out / "test" / "pos").iterdir()) == []
    assert imdb_standin.main([str(out), "--sst", str(tmp_path / "missing")]) == 0   # kept as it is


def test_imdb_standin_rejects_a_non_binary_file(tmp_path, write_file):
    sys.path.insert(0, str(REPO_ROOT / "experiments"))
    try:
        import imdb_standin
    finally:
        sys.path.pop(0)
    write_file("sst/train.csv", "label,sentence\n3,five classes\n")
    write_file("sst/test.csv", "label,sentence\n0,bad\n")
    with pytest.raises(SystemExit, match="labels other than 0 and 1"):
        imdb_standin.main([str(tmp_path / "out"), "--sst", str(tmp_path / "sst")])
    assert os.listdir(tmp_path) == ["sst"]                         # nothing half-written


def test_goemotions_standin_is_read_by_the_goemotions_reader(tmp_path, data_dir):
    sys.path.insert(0, str(REPO_ROOT / "experiments"))
    try:
        import goemotions_standin
    finally:
        sys.path.pop(0)
    out = tmp_path / "goemotions"
    assert goemotions_standin.main([str(out), "--semeval", str(data_dir / "semeval")]) == 0
    from sentiment_discovery.data.formats.readers import read_dataset
    train = read_dataset(str(out / "train.tsv"), data_format="goemotions")
    semeval = read_dataset(str(data_dir / "semeval" / "train.csv"), text_key="Tweet",
                           non_binary_cols=goemotions_standin.PLUTCHIK_8)
    assert train.label_names == goemotions_standin.PLUTCHIK_8 and train.task == "multilabel"
    assert np.array_equal(train.labels, semeval.labels)  # the same tweets, the same emotions, in order
    dev, test = (read_dataset(str(out / name), data_format="goemotions") for name in ("dev.tsv", "test.tsv"))
    assert len(dev) + len(test) == len(read_dataset(str(data_dir / "semeval" / "val.csv"), text_key="Tweet",
                                                     non_binary_cols=goemotions_standin.PLUTCHIK_8))
