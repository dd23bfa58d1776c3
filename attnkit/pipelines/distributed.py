"""The torch process group behind ``attnkit fit --distributed``: joining it and talking across ranks.

``torchrun`` starts one process per device and tells each its place through the environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``). :func:`join` reads
it, picks NCCL when CUDA is available and gloo otherwise, pins the process to its GPU (or gives
it its share of the CPU threads), and initialises the default process group once per process.

Example:
    >>> group = join()  # doctest: +SKIP  (only under torchrun)
    >>> group.broadcast({"vocabulary": [...]} if group.is_main else None)  # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from attnkit.errors import ConfigError

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
LAUNCH_HINT = "torchrun --nproc-per-node N -m attnkit fit RECIPE --distributed"
#: How long a rank waits in a collective. The other ranks wait while rank 0 alone scores the
#: dev split after each epoch, and the test split and logs the model at the end; NCCL's own
#: default (10 minutes) is too short for that on large data. A crashed rank does not make the
#: others wait this long: torchrun stops every rank when one fails.
COLLECTIVE_TIMEOUT = timedelta(minutes=60)


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place among the ranks of a data-parallel run."""

    rank: int
    world_size: int
    local_rank: int
    backend: str

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs, checkpoints and saves."""
        return self.rank == 0

    @property
    def device(self) -> torch.device | None:
        """The GPU this rank drives, or None on CPU."""
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else None

    def params(self) -> dict[str, Any]:
        """What ``fit`` logs to MLflow about the run's layout."""
        return {"distributed.world_size": self.world_size, "distributed.backend": self.backend}

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` (any picklable object) on every rank."""
        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0, device=self.device)
        return box[0]

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order, on every rank."""
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values


def _torchrun_env() -> dict[str, str]:
    missing = [name for name in TORCHRUN_ENV if not os.environ.get(name)]
    if missing:
        raise ConfigError(
            f"--distributed needs the environment torchrun sets ({', '.join(missing)} missing); "
            f"launch with `{LAUNCH_HINT}`"
        )
    return {name: os.environ[name] for name in TORCHRUN_ENV}


def _int(env: dict[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise ConfigError(
            f"environment variable {name} must be an integer, got {env[name]!r}"
        ) from None


def _set_cpu_threads() -> None:
    # torchrun sets OMP_NUM_THREADS=1 for several processes per node unless the user chose a
    # value; without either, split the cores between the processes on this node.
    chosen = os.environ.get("OMP_NUM_THREADS", "")
    if chosen.isdigit() and int(chosen) > 0:
        torch.set_num_threads(int(chosen))
        return
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, local_world)))


def join() -> ProcessGroup:
    """Join (or, if this process already did, describe) the run's default process group.

    Raises:
        ConfigError: the process was not started by ``torchrun`` (or a launcher that sets
            the same variables).
    """
    env = _torchrun_env()
    rank, world_size, local_rank = (_int(env, n) for n in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    if not 0 <= rank < world_size:
        raise ConfigError(f"RANK={rank} is outside WORLD_SIZE={world_size}")
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    group = ProcessGroup(rank, world_size, local_rank, backend)
    if dist.is_initialized():
        return ProcessGroup(dist.get_rank(), dist.get_world_size(), local_rank, dist.get_backend())
    if backend == "nccl":
        # Keras places tensors on "cuda", i.e. the current device: make that this rank's GPU.
        torch.cuda.set_device(local_rank)
        dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT, device_id=group.device)
    else:
        _set_cpu_threads()
        dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    atexit.register(leave)
    return group


def leave() -> None:
    """Tear the process group down (registered at exit by :func:`join`)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def exit_after_leaving(code: int) -> None:
    """End a process that joined a process group with ``code``, once the group is torn down.

    Runs the ``atexit`` handlers (:func:`leave` among them, and MLflow's), flushes the
    standard streams and exits with ``os._exit``. Why: at interpreter finalisation, gloo's
    worker threads can outlive their ``std::thread`` objects and abort a rank ("terminate
    called without an active exception") after its work is done; skipping the C++ static
    destructors avoids that. Without a process group it returns and the caller exits as usual.

    Example:
        >>> exit_after_leaving(0)  # outside torchrun: nothing happens
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def is_main_process() -> bool:
    """False only on ranks other than 0 of an initialised process group."""
    return not (dist.is_available() and dist.is_initialized() and dist.get_rank() != 0)
