"""One torchrun process of tests/test_distributed.py: `python -m torch.distributed.run … distributed_worker.py WORK`.

Trains, resumes and renders through the CLI (as `python -m vidgan` would), saving this rank's weights after each
training leg and the names of the clips it rendered, so that the test can compare the ranks. Then trains with a
time limit, trains a FastCUT, tries a DCGAN (which must refuse to start), and last starts a run in which rank 1 fails at its
second step, which must bring the whole job down.
(One launch for everything: each torchrun launch costs seconds of imports.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

import vidgan.training.cyclegan as cyclegan
import vidgan.training.launch as launch
from vidgan.cli import main
from vidgan.core.distributed import rank
from vidgan.core.errors import VidganError
from vidgan.render.video import ClipRenderer

TINY = ["--channels", "4", "--res-blocks", "1", "--batch-size", "2", "--device", "cpu", "-q"]
work = Path(sys.argv[1])
tasks: list[cyclegan.CycleGANTask] = []
rendered: list[str] = []
original_train_loop, original_render = launch.train_loop, ClipRenderer.render


def keep_task(task, *args, **kwargs):
    tasks.append(task)
    return original_train_loop(task, *args, **kwargs)


def note_clip(renderer, *args, **kwargs):
    rendered.append(renderer.plan.clip.path.name)
    return original_render(renderer, *args, **kwargs)


def save_weights(step: int) -> None:
    """Every parameter of both network pairs, flattened in a fixed order."""
    modules = tasks[-1].modules
    flat = torch.cat([p.detach().flatten() for name in sorted(modules) for p in modules[name].parameters()])
    torch.save(flat, work / f"weights_{step}_rank{rank()}.pt")


launch.train_loop, ClipRenderer.render = keep_task, note_clip
main(["train", str(work / "data"), "--out", str(work / "run"), "--iters", "4", "--checkpoint-every", "2",
      "--sample-every", "2", *TINY])
save_weights(4)
main(["train", "--out", str(work / "run"), "--resume", "--iters", "6", "--device", "cpu", "-q"])
save_weights(6)
clips = sorted(str(p) for p in work.glob("clip*.mp4"))
main(["render", *clips, "--checkpoint", str(work / "run"), "--out-dir", str(work / "out"), "--device", "cpu", "-q"])
(work / f"rendered_rank{rank()}.txt").write_text("\n".join(rendered))
# FastCUT averages its generator's, PatchNCE heads' and discriminator's gradients over the ranks too
main(["train", "fastcut", str(work / "data"), "--out", str(work / "fastcut"), "--iters", "2", "--nce-patches", "16", *TINY])
save_weights("fastcut")
# --minutes: ranks' clocks differ, yet they must stop at the same step (here the first)
main(["train", str(work / "data"), "--out", str(work / "timed"), "--iters", "1000", "--minutes", "0.00001", *TINY])
try:  # models without DDP refuse to run in several processes
    main(["train", "--model", "dcgan", str(work / "data" / "a"), "--out", str(work / "dcgan"), "--iters", "2", "--device", "cpu"])
except SystemExit as refused:
    assert refused.code == 2

train_step = cyclegan.CycleGANTask.train_step


def fail_on_rank_1(self, step, total):
    if rank() == 1 and step == 1:
        raise VidganError("rank 1 lost its disk")
    return train_step(self, step, total)


cyclegan.CycleGANTask.train_step = fail_on_rank_1
(work / "last_run_started").touch()
main(["train", str(work / "data"), "--out", str(work / "failed"), "--iters", "50", *TINY])
