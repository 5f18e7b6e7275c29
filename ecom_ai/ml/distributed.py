"""Data-parallel training over several processes, GPUs or machines (``torch.distributed``).

Two ways to get a process group, both giving the training function the same world:

* ``run_distributed(fn, nproc, *args)``: this process starts ``nproc`` workers on this
  machine (``torch.multiprocessing``, "spawn"), each joins a group (``gloo`` on CPU,
  ``nccl`` on GPUs, one GPU per worker) and calls ``fn(*args, device=...)``; rank 0's return
  value comes back. This is what ``ecom_ai_train recommender --nproc N`` and the training
  task's ``params={"nproc": N}`` use.
* ``torchrun`` (or any launcher that sets ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/
  ``MASTER_PORT``): ``init_from_env()`` joins the group the launcher describes, so the same
  command runs on several nodes (docs/ml.md, "Training on several GPUs or machines").

Teardown (issue 18: now and then a spawned rank aborted at the end, "terminate called without
an active exception", SIGABRT): the rendezvous store of spawned workers is served by the
parent, which outlives them (before, rank 0 served it and could exit while another rank was
still leaving the group, and the port was picked free and bound later by rank 0, a window for
another process to take it); and ``leave()`` makes every worker wait at a barrier until all
have finished their collectives, then destroys the group while the interpreter is fully
alive (a group still alive at exit is torn down in the interpreter's finalisation).

Spawned workers get ``OMP_WAIT_POLICY=PASSIVE`` (idle OpenMP threads sleep instead of spinning
on the cores the other workers need) and their share of the CPU threads.
"""

from __future__ import annotations

import datetime
import gc
import os
import tempfile
from collections.abc import Callable

import torch

STORE_TIMEOUT = datetime.timedelta(minutes=30)  # torch's default for a process group


def backend(device_type: str | None = None) -> str:
    """``nccl`` for GPU workers (where this torch has it), ``gloo`` otherwise."""
    cuda = torch.cuda.is_available() if device_type is None else device_type == "cuda"
    return "nccl" if cuda and torch.distributed.is_nccl_available() else "gloo"


def world() -> tuple[int, int]:
    """``(rank, world size)``; ``(0, 1)`` outside a process group."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def launched_by_torchrun() -> bool:
    """Whether a launcher (torchrun) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 and "RANK" in os.environ


def env_rank() -> int:
    return int(os.environ.get("RANK", "0") or 0)


def init_from_env() -> torch.device:
    """Join the process group a launcher described (``env://``); this worker's device."""
    dist = torch.distributed
    if not dist.is_initialized():
        dist.init_process_group(backend(), init_method="env://")
    return _device(int(os.environ.get("LOCAL_RANK", dist.get_rank())))


def leave(*, clean: bool = True) -> None:
    """Leave the process group this process is in (nothing without one).

    ``clean``: every rank got here without an error, so all wait at a barrier first (no rank
    closes its connections while a peer still has a collective in flight), and objects that
    may hold the group (a ``DistributedDataParallel`` wrapper in a reference cycle) are
    collected before it is destroyed. After an error the barrier is skipped (a failed peer
    would never reach it) and the group is just destroyed.
    """
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return
    try:
        if clean:
            gc.collect()
            dist.barrier()
    finally:
        dist.destroy_process_group()
        gc.collect()  # the group's threads end here, not during the interpreter's shutdown


def _device(local_rank: int, device_type: str | None = None) -> torch.device:
    cuda = torch.cuda.is_available() if device_type is None else device_type == "cuda"
    if cuda:
        index = local_rank % torch.cuda.device_count()
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return torch.device("cpu")


def _worker(
    rank: int, fn: Callable, nproc: int, port: int, folder: str, threads: int, device_type: str, args: tuple
) -> None:
    dist = torch.distributed
    torch.set_num_threads(threads)
    store = dist.TCPStore("127.0.0.1", port, is_master=False, timeout=STORE_TIMEOUT)  # served by the parent
    dist.init_process_group(backend(device_type), store=store, rank=rank, world_size=nproc)
    clean = False
    try:
        result = fn(*args, device=_device(rank, device_type))
        if rank == 0:
            torch.save(result, os.path.join(folder, "result.pt"))
        del result
        clean = True
    finally:
        leave(clean=clean)


def run_distributed(fn: Callable, nproc: int, *args, threads: int | None = None, device=None):
    """``fn(*args, device=...)`` in ``nproc`` processes of one group; rank 0's result.

    ``device``: the training device asked for (``ECOM_AI["DEVICE"]``): on ``cuda`` every
    worker gets a GPU of its own (nccl), anything else trains on CPUs (gloo). ``fn`` and
    ``args`` must be picklable (a module-level function). A worker that fails makes this
    raise (``torch.multiprocessing.ProcessRaisedException``), the others are stopped.
    """
    nproc = int(nproc)
    if nproc < 1:
        raise ValueError(f"nproc must be at least 1, got {nproc}")
    device_type = torch.device(device).type if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    if device_type == "cuda" and nproc > torch.cuda.device_count():
        raise ValueError(
            f"nproc={nproc} needs {nproc} GPUs, this machine has {torch.cuda.device_count()} "
            "(one GPU per process; ECOM_AI['DEVICE'] = 'cpu' trains CPU processes)"
        )
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // nproc)
    saved = {key: os.environ.get(key) for key in ("OMP_WAIT_POLICY",)}
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        # the workers' rendezvous store lives here, in the process that outlives them all (port 0:
        # the system picks a free port and the store holds it from then on)
        store = torch.distributed.TCPStore(
            "127.0.0.1", 0, is_master=True, timeout=STORE_TIMEOUT, wait_for_workers=False
        )
        with tempfile.TemporaryDirectory(prefix="ecom_ai_ddp_") as folder:
            torch.multiprocessing.start_processes(
                _worker,
                args=(fn, nproc, int(store.port), folder, int(threads), device_type, args),
                nprocs=nproc,
                join=True,
                start_method="spawn",
            )
            return torch.load(os.path.join(folder, "result.pt"), map_location="cpu", weights_only=False)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
