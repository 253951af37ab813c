"""Distributed helpers: single-process behaviour, bad torchrun environments, and a real 2-process gloo
DDP run that must give the same parameters as one process on the same global batch."""
import datetime
import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import torch

from sentiment_discovery.errors import UserError
from sentiment_discovery.training import distributed as D

TORCHRUN_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def no_torchrun_env(monkeypatch):
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_single_process_is_a_no_op(no_torchrun_env):
    env = D.init_distributed("cpu")
    assert (env.rank, env.world_size, env.distributed, env.backend) == (0, 1, False, None)
    assert env.device == torch.device("cpu")
    model = torch.nn.Linear(2, 2)
    assert D.wrap_ddp(model, env) is model
    assert D.is_main(env)
    D.barrier()
    assert D.all_reduce_sum([3.5]) == [3.5] and D.all_gather_objects(7) == [7] and not D.any_rank(False)
    assert D.broadcast_object({"a": 1}) == {"a": 1}
    with D.grad_sync(model, sync=False):
        model(torch.ones(1, 2)).sum().backward()
    assert model.weight.grad is not None
    D.shutdown(env, model)


def test_world_size_one_starts_nothing(no_torchrun_env):
    no_torchrun_env.setenv("WORLD_SIZE", "1")
    no_torchrun_env.setenv("RANK", "0")
    assert not D.init_distributed("cpu").distributed
    assert not torch.distributed.is_initialized()


@pytest.mark.parametrize("variables, words", [
    ({"WORLD_SIZE": "two"}, "WORLD_SIZE"),
    ({"WORLD_SIZE": "2", "RANK": "2"}, "RANK=2"),
    ({"WORLD_SIZE": "2", "RANK": "1"}, "MASTER_ADDR"),
])
def test_bad_torchrun_environment_is_a_user_error(no_torchrun_env, variables, words):
    for name, value in variables.items():
        no_torchrun_env.setenv(name, value)
    with pytest.raises(UserError, match=words):
        D.init_distributed("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_cuda_is_a_user_error(no_torchrun_env):
    with pytest.raises(UserError, match="CUDA"):
        D.init_distributed("cuda")


def test_unwrap_model_of_a_bare_module_is_itself():
    model = torch.nn.Linear(2, 2)
    assert D.unwrap_model(model) is model


# --- a real 2-process run ----------------------------------------------------------------------------
WORKER = textwrap.dedent('''
    import json, sys
    import torch
    import torch.nn.functional as F
    from sentiment_discovery.training.distributed import (all_reduce_sum, broadcast_object, grad_sync,
        init_distributed, is_main, shutdown, unwrap_model, wrap_ddp)

    sys.path.insert(0, sys.argv[2])
    from ddp_case import global_batches, make_model, STEPS

    env = init_distributed("cpu")
    assert env.distributed and env.world_size == 2 and env.backend == "gloo", env
    model = wrap_ddp(make_model(), env)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for step, (x, y) in enumerate(global_batches()):
        local_x, local_y = x.chunk(2)[env.rank], y.chunk(2)[env.rank]     # this rank's half
        micro_batches = list(zip(local_x.chunk(2), local_y.chunk(2)))    # gradient accumulation
        for i, (mx, my) in enumerate(micro_batches):
            with grad_sync(model, sync=(i == len(micro_batches) - 1)):
                loss = F.mse_loss(model(mx), my) / len(micro_batches)
                loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    mean_rank = all_reduce_sum([float(env.rank)])[0] / env.world_size
    mean_tensor = torch.tensor(all_reduce_sum([env.rank * 2.0])) / env.world_size
    token = broadcast_object({"from": env.rank} if is_main(env) else None)
    bare = unwrap_model(model)
    shutdown(env, model)
    result = {"params": [p.tolist() for p in bare.parameters()], "mean_rank": mean_rank,
              "mean_tensor": mean_tensor.tolist(), "token": token, "bare": type(bare).__name__}
    with open(f"{sys.argv[1]}/rank{env.rank}.json", "w") as f:
        json.dump(result, f)
''')

CASE = textwrap.dedent('''
    import torch
    STEPS = 3

    def make_model():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))

    def global_batches():
        generator = torch.Generator().manual_seed(1)
        for _ in range(STEPS):
            yield torch.randn(8, 5, generator=generator), torch.randn(8, 2, generator=generator)
''')


def _single_process_params(case_dir):
    sys.path.insert(0, str(case_dir))
    try:
        import ddp_case
    finally:
        sys.path.remove(str(case_dir))
        sys.modules.pop("ddp_case", None)
    model = ddp_case.make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for x, y in ddp_case.global_batches():
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        optimizer.zero_grad()
    return [p.detach() for p in model.parameters()]


def _torchrun_env():
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.mark.distributed
def test_two_gloo_processes_match_one_process_on_the_global_batch(tmp_path):
    (tmp_path / "worker.py").write_text(WORKER)
    (tmp_path / "ddp_case.py").write_text(CASE)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               str(tmp_path / "worker.py"), str(tmp_path), str(tmp_path)]
    done = subprocess.run(command, cwd=tmp_path, env=_torchrun_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    expected = _single_process_params(tmp_path)
    for result in results:
        for got, want in zip(result["params"], expected):
            torch.testing.assert_close(torch.tensor(got), want, rtol=0, atol=1e-6)
        assert result["mean_rank"] == 0.5 and result["mean_tensor"] == [1.0]
        assert result["token"] == {"from": 0}
        assert result["bare"] == "Sequential"


# --- elastic restart: a restarted group must not meet the dead group's keys ---------------------------
RESTART_WORKER = textwrap.dedent('''
    import os, signal, sys, time
    from sentiment_discovery.training.distributed import all_reduce_sum, init_distributed, shutdown

    attempt, rank = int(os.environ["TORCHELASTIC_RESTART_COUNT"]), int(os.environ["RANK"])
    if attempt == 1 and rank == 0:
        time.sleep(3)          # rank 1 reaches the store first: it must not find attempt 0's rank-0 address
    env = init_distributed("cpu")
    mean = all_reduce_sum([float(env.rank)])[0] / env.world_size
    if attempt == 0:
        if rank == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        all_reduce_sum([1.0])  # fails on rank 0 once its peer is gone; torchrun restarts the group
        time.sleep(60)
    with open(f"{sys.argv[1]}/rank{rank}.txt", "w") as f:
        f.write(f"{attempt} {mean}")
    shutdown(env)
''')


@pytest.mark.distributed
def test_restarted_group_forms_even_when_rank0_joins_late(tmp_path):
    """torchrun keeps one store across restarts; without a key space per attempt this fails every time."""
    (tmp_path / "worker.py").write_text(RESTART_WORKER)
    env = _torchrun_env()
    env.pop("TORCHELASTIC_RESTART_COUNT", None)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                         env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "--max-restarts", "1", "--monitor-interval", "0.5", str(tmp_path / "worker.py"), str(tmp_path)]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [(tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)] == ["1 0.5", "1 0.5"]


def _join(port, rank, world_size, results, delay=0.0):
    time.sleep(delay)
    store = torch.distributed.TCPStore("127.0.0.1", port, world_size, is_master=False)
    results[rank] = D.group_token(store, rank, world_size, timeout=datetime.timedelta(seconds=30))


@pytest.mark.parametrize("late_rank", [0, 1])
def test_ranks_agree_on_a_fresh_token_despite_a_dead_groups_keys(late_rank):
    """A store already holding a dead attempt's keys: every new rank gets the new token, whoever is late."""
    server = torch.distributed.TCPStore("127.0.0.1", 0, 1, is_master=True, wait_for_workers=False)
    old = {}
    threads = [threading.Thread(target=_join, args=(server.port, r, 3, old)) for r in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(set(old.values())) == 1                    # attempt 0 formed; its keys stay in the store
    server.set(f"{D.JOIN_KEYS}/ask/2", "a nonce only the dead rank 2 knew")
    new = {}
    threads = [threading.Thread(target=_join, args=(server.port, r, 3, new, 0.5 if r == late_rank else 0.0))
               for r in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(set(new.values())) == 1 and set(new.values()) != set(old.values())
