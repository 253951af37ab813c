"""`python -m multiproc`: the original codebase's launcher, now a thin front end to torchrun.

    python -m multiproc pretrain.py --data data/lm_corpus/opinions.json ...       # every visible GPU
    python -m multiproc --nproc 2 pretrain.py --device cpu ...                      # 2 CPU processes (gloo)
    python -m multiproc --nnodes 2 --rdzv-backend c10d --rdzv-endpoint host0:29500 --rdzv-id job1 pretrain.py ...

It starts `--nproc` processes per node (default: one per visible GPU, or 2 on a machine without one)
through `python -m torch.distributed.run`, which gives each process RANK, LOCAL_RANK, WORLD_SIZE,
MASTER_ADDR and MASTER_PORT; the script's `init_distributed(device)` then picks nccl on GPUs and gloo
on CPU. On one node, with no rendezvous flag given, torchrun runs `--standalone` (it picks a free local
port). torchrun's multi-node and rendezvous flags pass straight through (then without --standalone).
`build_torchrun_argv(argv)` returns the torchrun arguments without launching anything."""
import argparse
import os
import sys

PASS_THROUGH_FLAGS = ("--nnodes", "--node-rank", "--rdzv-backend", "--rdzv-endpoint", "--rdzv-id",
                      "--master-addr", "--master-port", "--max-restarts")
DEFAULT_CPU_PROCESSES = 2


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m multiproc",
        description="Launch a training script on several processes with torchrun: one per visible GPU, "
                    "or --nproc CPU processes (gloo). Multi-node runs use torchrun's rendezvous flags.",
        epilog="Everything after the script's path goes to the script unchanged. Equivalent to "
               "`torchrun --standalone --nproc-per-node N script.py ...` on one node.",
        allow_abbrev=False,
    )
    parser.add_argument("--nproc", type=int, default=None,
                        help="processes on this node (default: number of visible GPUs, or 2 without one)")
    parser.add_argument("--nnodes", default="1", help="number of nodes, or MIN:MAX for an elastic job (default 1)")
    parser.add_argument("--node-rank", type=int, default=None, help="this node's rank (static rendezvous)")
    parser.add_argument("--rdzv-backend", default=None, help="rendezvous backend, e.g. c10d (multi-node)")
    parser.add_argument("--rdzv-endpoint", default=None, help="rendezvous HOST:PORT (multi-node)")
    parser.add_argument("--rdzv-id", default=None, help="job id shared by every node (multi-node)")
    parser.add_argument("--master-addr", default=None, help="address of node 0 (static rendezvous)")
    parser.add_argument("--master-port", type=int, default=None, help="port on node 0 (static rendezvous)")
    parser.add_argument("--max-restarts", type=int, default=None, help="restarts allowed before the job fails")
    parser.add_argument("script", help="the training script, e.g. pretrain.py")
    parser.add_argument("script_args", nargs=argparse.REMAINDER, help="arguments for the script")
    return parser


def visible_gpu_count():
    """How many CUDA devices this process can see (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def build_torchrun_argv(argv, gpu_count=None):
    """The argument list for `python -m torch.distributed.run` that `python -m multiproc argv` runs."""
    parser = build_parser()
    args = parser.parse_args(argv)
    nproc = args.nproc
    if nproc is None:                       # count GPUs only when needed (it imports torch)
        gpu_count = visible_gpu_count() if gpu_count is None else gpu_count
        nproc = gpu_count or DEFAULT_CPU_PROCESSES
    if nproc < 1:
        parser.error(f"--nproc must be >= 1, got {nproc}")
    if not os.path.isfile(args.script):
        parser.error(f"script {args.script} does not exist")
    if _uses_rendezvous_flags(args):
        torchrun_argv = _flags(args, PASS_THROUGH_FLAGS)
    else:
        torchrun_argv = ["--standalone", *_flags(args, ("--max-restarts",))]
    return torchrun_argv + ["--nproc-per-node", str(nproc), args.script, *args.script_args]


def _uses_rendezvous_flags(args):
    """True for a multi-node job or when any rendezvous setting was given (then no --standalone)."""
    rendezvous = (args.node_rank, args.rdzv_backend, args.rdzv_endpoint, args.rdzv_id, args.master_addr,
                  args.master_port)
    return args.nnodes != "1" or any(value is not None for value in rendezvous)


def _flags(args, flags):
    """`[flag, value, ...]` for each of `flags` that was given."""
    values = []
    for flag in flags:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            values += [flag, str(value)]
    return values


def main(argv=None):
    """Replace this process with torchrun running the script (its exit status is the job's)."""
    torchrun_argv = build_torchrun_argv(sys.argv[1:] if argv is None else argv)
    command = [sys.executable, "-m", "torch.distributed.run", *torchrun_argv]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)


if __name__ == "__main__":
    main()
