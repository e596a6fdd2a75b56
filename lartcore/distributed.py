"""Processes under torchrun (`torchrun --nproc_per_node K -m lartcore.cli train|predict ...`): the process
group from torchrun's environment variables (RANK, WORLD_SIZE, LOCAL_RANK), as nanoGPT sets it up, and
the few collectives training and sharded prediction use. One process (no WORLD_SIZE) needs no group."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str | None = None) -> tuple[Dist, bool]:
    """torchrun env vars (RANK, WORLD_SIZE, LOCAL_RANK) -> (Dist, whether we created the process group).
    `device`: "cpu", "cuda" or None (CUDA when available)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if device not in (None, "cpu", "cuda"):
        raise ValueError(f"device: expected 'cpu', 'cuda' or None, found {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device (torch.cuda.is_available() is False)")
    cuda = torch.cuda.is_available() and device != "cpu"
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world == 1:
        return Dist(0, 1, device), False
    created = not dist.is_initialized()
    if created:
        dist.init_process_group("nccl" if cuda else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), device), created


def all_sum(x: torch.Tensor, d: Dist) -> torch.Tensor:
    if d.world > 1:
        x = x.clone()
        dist.all_reduce(x)
    return x


def gather_to_main(obj, d: Dist) -> list | None:
    """Every process's `obj` (picklable), in rank order, on rank 0; None on the other ranks."""
    if d.world == 1:
        return [obj]
    out = [None] * d.world if d.main else None
    dist.gather_object(obj, out, dst=0)
    return out


@contextlib.contextmanager
def process_group(device: str | None = None) -> Iterator[Dist]:
    """`setup_distributed` for the length of a `with` block: on a clean exit every process waits for the
    others before the group is torn down (tearing down gloo while rank 0 still writes aborts the others)."""
    d, created = setup_distributed(device)
    try:
        yield d
        if created:
            dist.barrier()
    finally:
        if created:
            dist.destroy_process_group()
