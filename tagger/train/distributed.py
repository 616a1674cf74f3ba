"""Training in several processes, on one machine or many, through `torch.distributed`.

A launcher (torchrun) starts one process per GPU or per share of the CPUs and tells each
its place in the run through RANK, WORLD_SIZE and LOCAL_RANK; without them, training is
one process. Process 0 is the main one: it reads and writes the model directory, evaluates
and shows progress; the others train their share of each batch.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist

from tagger.core.device import resolve_device
from tagger.core.errors import TaggerError

T = TypeVar("T")


class PeerError(TaggerError):
    """Another process of the run stopped, or stopped answering."""


class FailedElsewhere(TaggerError):
    """Another process failed and the main process reports why: this one exits quietly."""


@dataclass(frozen=True)
class World:
    """This process's place among the processes of a run (torch.distributed's world)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0  # its place on this machine: which GPU it takes

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls) -> World:
        """The processes torchrun describes in the environment; one process without it."""
        if "WORLD_SIZE" not in os.environ:
            return cls()
        try:
            world = cls(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
        except (KeyError, ValueError):
            raise TaggerError("WORLD_SIZE is set but RANK is missing or not a number; start several "
                              "processes with torchrun, or unset WORLD_SIZE for one") from None
        if not 0 <= world.rank < world.size:
            raise TaggerError(f"RANK {world.rank} is outside 0..{world.size - 1} (WORLD_SIZE {world.size}); "
                              "start several processes with torchrun")
        return world

    def device(self, name: str) -> torch.device:
        """The device this process trains on: with several processes, each takes the GPU of its local rank."""
        device = resolve_device(name)
        if self.size == 1 or device.type != "cuda":
            return device
        if ":" in name:
            raise TaggerError(f"--device {name}: with several processes each takes the GPU of its local rank; "
                              "use --device cuda (choose GPUs with CUDA_VISIBLE_DEVICES)")
        if self.local_rank >= torch.cuda.device_count():
            raise TaggerError(f"process {self.rank}: local rank {self.local_rank} but {torch.cuda.device_count()} "
                              "GPUs here; start at most one process per GPU (--nproc-per-node)")
        return torch.device("cuda", self.local_rank)


@contextmanager
def process_group(world: World, device: torch.device, timeout_seconds: float) -> Iterator[None]:
    """Join the run's other processes (gloo on the CPU, NCCL on GPUs) for the duration.

    Every collective then waits at most `timeout_seconds` for the others: a process that
    died or hangs makes the rest fail with a PeerError instead of waiting forever (training
    itself says more where it can: where the run was saved).
    """
    if world.size == 1:
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    try:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=world.rank,
                                world_size=world.size, timeout=timedelta(seconds=timeout_seconds))
    except (RuntimeError, ValueError) as error:
        raise PeerError(f"process {world.rank}: could not join the other {world.size - 1} processes at {where} "
                        f"({first_line(error)}); start them all with torchrun, with the same "
                        "--rdzv-endpoint on every machine") from None
    try:
        yield
        dist.barrier()  # leave together: gloo aborts a process whose group goes while another still talks to it
    except RuntimeError as error:
        if not lost_peers(world, error):
            raise
        raise PeerError(f"process {world.rank}: lost the other processes of the run ({first_line(error)}); "
                        "their own output says why") from None
    finally:
        dist.destroy_process_group()


@contextmanager
def on_lost_peers(world: World, save: Callable[[], str]) -> Iterator[None]:
    """Turn a collective that fails because another process died or hangs into a PeerError,
    once `save()` has kept the run where it stands; it returns where, for the message."""
    try:
        yield
    except RuntimeError as error:
        if not lost_peers(world, error):
            raise
        kept = save()
        raise PeerError(f"process {world.rank}: lost the other training processes ({first_line(error)}); "
                        f"{kept}; start all the processes again with --resume to continue") from None


def broadcast_from_main(world: World, value: T) -> T:
    """The main process's `value`, on every process."""
    if world.size == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def raise_if_any_failed(world: World, error: TaggerError | None) -> None:
    """Fail on every process when any failed; only the main process says why (once, not once per process)."""
    if world.size == 1:
        if error is not None:
            raise error
        return
    messages: list[str | None] = [None] * world.size
    dist.all_gather_object(messages, None if error is None else str(error))
    failures = [(rank, message) for rank, message in enumerate(messages) if message is not None]
    if not failures:
        return
    if not world.is_main:
        raise FailedElsewhere(failures[0][1])
    if error is not None:
        raise error
    rank, message = failures[0]
    raise TaggerError(f"process {rank}: {message}")


def lost_peers(world: World, error: BaseException) -> bool:
    """Whether `error` is a collective failing because another process died or hangs.

    Gloo reports these as plain RuntimeErrors, so the message is what tells them apart.
    """
    return world.size > 1 and (isinstance(error, dist.DistError) or
                               any(mark in str(error) for mark in ("gloo", "NCCL", "Connection closed")))


def first_line(error: BaseException) -> str:
    """What went wrong in a few words: gloo's messages open with its source file and end in advice."""
    text = re.sub(r"^\[[^\]]*\]\s*", "", str(error).strip())
    return text.splitlines()[0].split(". ")[0] if text else type(error).__name__
