"""Multi-process training through ``torchrun`` and PyTorch DDP (gloo on CPU, NCCL on GPU).

``torchrun --nproc_per_node N -m training.stage3 ...`` sets RANK / WORLD_SIZE / LOCAL_RANK; without them the run
is a single process and nothing here starts a process group.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | None = None) -> DistInfo:
    """Join the torchrun job if there is one; choose the device (this rank's GPU, else the CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def make_gather(info: DistInfo):
    """A ``Gather`` for the losses: all-gather with gradients, returning (global tensor, offset of local rows).

    Each process then scores its own queries against every process's candidates, so the negatives of a
    contrastive loss are the whole global batch, as in open_clip's ``gather_with_grad``.
    """
    if not info.distributed:
        from cti_ir.model.losses import local_gather

        return local_gather

    import torch.distributed.nn.functional as dist_fn

    def gather(x: torch.Tensor) -> tuple[torch.Tensor, int]:
        # The autograd-aware all_gather is flagged deprecated in favour of a private API; it is still the public
        # way to gather with gradients (open_clip uses it too), so its FutureWarning is silenced here only.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            parts = dist_fn.all_gather(x.contiguous())
        return torch.cat(parts, dim=0), info.rank * x.shape[0]

    return gather


def barrier(info: DistInfo) -> None:
    """Wait for every process (no-op when single-process)."""
    if info.distributed:
        dist.barrier()


def broadcast_flag(info: DistInfo, value: bool) -> bool:
    """Rank 0's boolean, on every rank (e.g. 'stop now')."""
    if not info.distributed:
        return value
    t = torch.tensor([int(value)], device=info.device if info.device.type == "cuda" else "cpu")
    dist.broadcast(t, src=0)
    return bool(t.item())


def shutdown(info: DistInfo) -> None:
    """Leave the process group cleanly."""
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()
