"""`python -m multiproc`: the torchrun command line it builds, and a real 2-process CPU launch."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import multiproc

TORCHRUN_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "train.py"
    path.write_text("print('hello')\n")
    return str(path)


def test_cpu_machine_defaults_to_two_standalone_processes(script):
    argv = multiproc.build_torchrun_argv([script, "--lr", "1e-3", "--fp16"], gpu_count=0)
    assert argv == ["--standalone", "--nproc-per-node", "2", script, "--lr", "1e-3", "--fp16"]


def test_one_process_per_visible_gpu(script):
    assert multiproc.build_torchrun_argv([script], gpu_count=8)[:3] == ["--standalone", "--nproc-per-node", "8"]


def test_nproc_overrides_the_gpu_count(script):
    assert multiproc.build_torchrun_argv(["--nproc", "3", script], gpu_count=8)[2] == "3"


def test_script_arguments_are_passed_unchanged_even_when_they_look_like_ours(script):
    argv = multiproc.build_torchrun_argv(["--nproc", "2", script, "--nproc", "5", "-h"], gpu_count=0)
    assert argv[-4:] == [script, "--nproc", "5", "-h"]


def test_multi_node_flags_pass_through_without_standalone(script):
    argv = multiproc.build_torchrun_argv(
        ["--nnodes", "2", "--node-rank", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", "host0:29500",
         "--rdzv-id", "job7", "--max-restarts", "3", script, "--epochs", "1"], gpu_count=4)
    assert argv == ["--nnodes", "2", "--node-rank", "1", "--rdzv-backend", "c10d",
                    "--rdzv-endpoint", "host0:29500", "--rdzv-id", "job7", "--max-restarts", "3",
                    "--nproc-per-node", "4", script, "--epochs", "1"]


def test_static_master_address_replaces_standalone(script):
    argv = multiproc.build_torchrun_argv(["--master-addr", "10.0.0.1", "--master-port", "29501", "--nnodes",
                                          "2", "--node-rank", "0", script], gpu_count=2)
    assert "--standalone" not in argv
    assert argv[:8] == ["--nnodes", "2", "--node-rank", "0", "--master-addr", "10.0.0.1",
                        "--master-port", "29501"]


def test_single_node_max_restarts_keeps_standalone(script):
    argv = multiproc.build_torchrun_argv(["--max-restarts", "2", script], gpu_count=0)
    assert argv[:3] == ["--standalone", "--max-restarts", "2"]


@pytest.mark.parametrize("argv, words", [(["--nproc", "0", "SCRIPT"], "--nproc"),
                                          (["no_such_script.py"], "does not exist"),
                                          ([], "script")])
def test_bad_arguments_exit_with_a_one_line_error(argv, words, script, capsys):
    argv = [script if a == "SCRIPT" else a for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        multiproc.build_torchrun_argv(argv, gpu_count=0)
    assert exit_info.value.code == 2
    assert words in capsys.readouterr().err


def test_help_explains_the_launcher(capsys):
    with pytest.raises(SystemExit):
        multiproc.build_torchrun_argv(["--help"])
    text = capsys.readouterr().out
    assert "torchrun" in text and "--nproc" in text and "--rdzv-endpoint" in text


WORKER = textwrap.dedent('''
    import json, sys
    import torch
    from sentiment_discovery.training.distributed import init_distributed, shutdown, wrap_ddp

    env = init_distributed("cpu")
    model = wrap_ddp(torch.nn.Linear(1, 1, bias=False), env)
    x = torch.tensor([[float(env.rank + 1)]])            # rank 0 sees 1, rank 1 sees 2
    model(x).sum().backward()                             # local d/dw = x; DDP averages: 1.5
    grad = model.module.weight.grad.item()
    with open(f"{sys.argv[1]}/rank{env.rank}.json", "w") as f:
        json.dump({"grad": grad, "world_size": env.world_size, "backend": env.backend}, f)
    shutdown(env, model)
''')


@pytest.mark.distributed
def test_launches_two_cpu_processes_that_average_gradients(tmp_path):
    (tmp_path / "worker.py").write_text(WORKER)
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    env["OMP_NUM_THREADS"] = "1"
    repo_root = os.path.dirname(os.path.abspath(multiproc.__file__))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo_root, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "multiproc", "--nproc", "2", str(tmp_path / "worker.py"), str(tmp_path)]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    for rank in (0, 1):
        result = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert result == {"grad": 1.5, "world_size": 2, "backend": "gloo"}
