"""Training and rendering under torchrun with 2 gloo processes on the CPU (tests/distributed_worker.py does the work)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT, free_port
from PIL import Image

from vidgan.io.video import probe_video, write_test_clip
from vidgan.runs.checkpoints import load_checkpoint
from vidgan.runs.folder import RunFolder

pytestmark = pytest.mark.slow  # each test starts torchrun with 2 processes

WORKER = Path(__file__).with_name("distributed_worker.py")


def torchrun(work: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
               str(WORKER), str(work)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "120"}
    return subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=work, env=env)


def write_domains(data: Path) -> None:
    """Six random 64-px images per domain, so each rank's share (3) differs from the other's."""
    rng = np.random.default_rng(0)
    for domain, low in (("a", 0), ("b", 128)):
        (data / domain).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(low, low + 128, (64, 64, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(data / domain / f"{i}.png")


def test_train_resume_render_and_failure_under_torchrun(tmp_path):
    write_domains(tmp_path / "data")
    for i in range(3):
        write_test_clip(tmp_path / f"clip{i}.mp4", width=64, height=48, fps=25, n_frames=4 + i)
    done = torchrun(tmp_path)
    assert (tmp_path / "last_run_started").exists(), done.stderr[-3000:]

    # Gradients are averaged over the ranks, so their weights stay identical (each trained on its own shard);
    # the resumed leg starts from the same checkpoint on both ranks and moves the weights on.
    weights = {(step, r): torch.load(tmp_path / f"weights_{step}_rank{r}.pt") for step in (4, 6) for r in (0, 1)}
    for step in (4, 6):
        assert torch.equal(weights[step, 0], weights[step, 1]), step
    assert not torch.equal(weights[4, 0], weights[6, 0])
    fastcut = [torch.load(tmp_path / f"weights_fastcut_rank{r}.pt") for r in (0, 1)]
    assert torch.equal(fastcut[0], fastcut[1])

    # One set of run files, written by rank 0 only, holding the weights every rank trained.
    run = RunFolder(tmp_path / "run")
    assert sorted(p.name for p in run.checkpoints_dir.iterdir()) == [
        "latest.pt", "step_0000002.pt", "step_0000004.pt", "step_0000006.pt"]
    assert sorted(p.name for p in run.samples_dir.iterdir()) == [
        "step_0000002.png", "step_0000004.png", "step_0000006.png"]
    assert [r["step"] for r in run.read_metrics()] == [4, 6]
    checkpoint = load_checkpoint(run.checkpoints_dir / "step_0000004.pt")
    saved = torch.cat([p.flatten() for name in sorted(checkpoint["models"]) for p in checkpoint["models"][name].values()])
    assert torch.equal(saved, weights[4, 0])
    assert done.stderr.count("trained to step 4;") == 1 and done.stderr.count("trained to step 6;") == 1

    # Render: each clip rendered by exactly one rank, every output written, one summary (rank 0's) for all.
    shares = [(tmp_path / f"rendered_rank{r}.txt").read_text().split() for r in (0, 1)]
    assert sorted(shares[0] + shares[1]) == ["clip0.mp4", "clip1.mp4", "clip2.mp4"] and all(shares)
    for i in range(3):
        assert probe_video(tmp_path / "out" / f"clip{i}_a2b.mp4").frame_count == 4 + i
    assert done.stderr.count("wrote ") == 3 and done.stderr.count(" frames in ") == 1
    assert "15 frames in" in done.stderr

    # With a time limit both ranks stop after the same (first) step, and the job goes on.
    assert sorted(p.name for p in (tmp_path / "timed" / "checkpoints").iterdir()) == ["latest.pt", "step_0000001.pt"]

    # A model that does not average its gradients over the processes refuses to train in several.
    refusal = "vidgan train dcgan trains in one process only; the kinds that train under torchrun: cyclegan, cut, fastcut"
    assert done.stderr.count(refusal) == 2
    assert not (tmp_path / "dcgan").exists()

    # The last run: rank 1 fails at its second step; the job stops (no hang) with rank 1's error named.
    assert done.returncode != 0
    assert done.stderr.count("error: rank 1: rank 1 lost its disk") == 1
    assert not (tmp_path / "failed" / "checkpoints" / "step_0000050.pt").exists()
