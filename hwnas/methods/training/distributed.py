"""One process or many: the torchrun environment, the process group and its collectives.

`torchrun --nproc_per_node N -m hwnas train ...` starts N processes with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` set; `setup` joins them into a process group (nccl on
CUDA, gloo on the CPU). Without those variables everything is one process and the
collectives below do nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from hwnas.errors import InputError, UnavailableError


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank among `world_size` and its torch device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, logs and the model."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str) -> torch.device:
    """`name` (``cpu``, ``cuda``, ``cuda:1``, ``auto``) as a torch device that exists here."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise InputError(
            f"--torch-device {name!r}: {err}; expected cpu, cuda, cuda:N or auto"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UnavailableError(f"--torch-device {name}: torch sees no CUDA GPU; use cpu")
    if device.type not in ("cpu", "cuda"):
        raise InputError(f"--torch-device {name}: hwnas trains on cpu or cuda")
    return device


def setup(device_name: str) -> DistContext:
    """This process's context; joins the process group when torchrun started several."""
    device = resolve_device(device_name)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(0, 1, 0, device)
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank, world, local, device)


def teardown(ctx: DistContext) -> None:
    """Leave the process group (if this run joined one)."""
    if ctx.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        import torch.distributed as dist

        dist.barrier()


def share_error(ctx: DistContext, error: BaseException | None) -> None:
    """Raise, in every process, the error rank 0 met (so no process waits for a dead one)."""
    if not ctx.distributed:
        if error is not None:
            raise error
        return
    import torch.distributed as dist

    box = [None if error is None else (type(error).__name__, str(error))]
    dist.broadcast_object_list(box, src=0)
    if ctx.is_main and error is not None:
        raise error
    if box[0] is not None:
        raise InputError(f"rank 0 stopped: {box[0][0]}: {box[0][1]}")


def sum_over_processes(ctx: DistContext, values: list[float]) -> list[float]:
    """`values` summed over every process (float64)."""
    if not ctx.distributed:
        return values
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(tensor)
    return tensor.tolist()
