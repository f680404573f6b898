"""Teacher vs distilled student (vs the student in int8), side by side in one run: what `vidgan distill` buys.

    PYTHONPATH=. python bench/distill.py [--frames 264] [--rounds 2] [--demo DIR] [--cats DIR] [--cats-minutes M]
        [--sections speed,demo,cats] [--speed-runs TEACHER STUDENT]

speed: vidgan's default 128-px generator and the student `vidgan distill` makes of it by default, with random weights
or, with --speed-runs, a trained run of that generator and its student (a random generator's output is noise-like, so
x264 and the `--detail source` composite, whose change matte then covers every pixel, cost more than on the footage a
trained one gives back; the models themselves cost the same): GFLOP per 1280x720 frame, model-only frames/s (torch, and the runtime
`--runtime auto` takes), and whole processes (imports, model load, every frame) on --frames frames of the demo's
gloved shot made at 1280x720: `vidgan render --runtime auto` with the student (and with the teacher) against the
naive loop running the teacher (bench/naive_loop.py: cv2 read, resize, torch batch 1, resize back, mp4v).
demo: the demo's run (trained into --demo unless it holds one) distilled with the defaults (timed): agreement with
the teacher on the held-out frames (PSNR, max error), the hand's colour criterion and the table-top's PSNR of a
1280x720 render (bench/detail.py's measures) for teacher and student.
cats: a russian blue → grumpy run (--cats, trained for --cats-minutes unless it holds one) distilled: `vidgan eval`
of teacher and student (translation, C2ST) and the student's agreement.
The last lines are the headlines, against the issue's targets.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

import cv2
import numpy as np
import torch
from benchlib import default_generator, machine, random_generator_checkpoint
from detail import demo_run, hand_rows, masked_psnr, render
from torch.utils.flop_counter import FlopCounterMode

from vidgan.core.directions import A2B, Direction
from vidgan.demo import TAKES, hand_mask, write_take
from vidgan.eval.cyclegan import image_sets
from vidgan.eval.distill import teacher_agreement
from vidgan.eval.options import EvalOptions
from vidgan.eval.run import evaluate_run
from vidgan.io.video import iter_frames
from vidgan.models.arch import DiscriminatorConfig
from vidgan.models.cyclegan import build_generator
from vidgan.render.framing import working_size
from vidgan.render.options import RenderOptions
from vidgan.render.runtimes import resolve_runtime
from vidgan.render.translator import load_translators
from vidgan.runs.checkpoints import load_latest_checkpoint
from vidgan.runs.folder import RunFolder
from vidgan.runs.generators import load_generator, load_teachers, student_from_checkpoint
from vidgan.training.cyclegan import train_cyclegan
from vidgan.training.distill import student_config, train_distill
from vidgan.training.options import CycleGANOptions, DistillOptions

REPO = Path(__file__).resolve().parents[1]
CATS = REPO.parent / "shared" / "data" / "cats"
SHOT = (1280, 720)
SCALE = 128  # the default generator's working scale, px
INT8 = any(f.name == "precision" for f in fields(RenderOptions))


def gflop(config) -> float:
    """GFLOP of one 1280x720 frame at the working scale (torch's FLOP counter: 2 per multiply-add)."""
    generator = build_generator(config).eval()
    width, height = working_size(*SHOT, SCALE, generator.stride)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        generator(torch.zeros(1, 3, height, width))
    return counter.get_total_flops() / 1e9


def model_only_rate(run: Path, runtime: str, clip: Path, frames: int, **precision: str) -> float:
    """Frames/s of the translation step alone (batch 4 of working-size frames), as the render runs it."""
    options = RenderOptions(out=run / "out.mp4", device="cpu", quiet=True, runtime=runtime, **precision)
    translator = load_translators(run, options, torch.device("cpu"), torch.float32)[A2B]
    image = translator.framing.shrink(next(iter_frames(clip)))
    batch = [image] * 4
    translator.generate(batch)
    started = time.perf_counter()
    for _ in range(max(1, frames // 4)):
        translator.generate(batch)
    return max(1, frames // 4) * 4 / (time.perf_counter() - started)


def process_seconds(command: list[str]) -> float:
    started = time.perf_counter()
    environment = {"PYTHONPATH": f"{REPO}:{REPO / 'bench'}", "PATH": "/usr/bin:/bin"}
    subprocess.run(command, check=True, capture_output=True, cwd=REPO, env=environment)
    return time.perf_counter() - started


def random_run(folder: Path, config, frames: Path) -> Path:
    """A run folder holding a random-weight generator of `config`, trained (as its config says) on `frames`: what
    render, and int8's calibration on the run's training frames, need of a run."""
    options = CycleGANOptions(a_dir=frames, b_dir=frames, out=folder, size=config.size)
    run = RunFolder(folder)
    run.create()
    arch = {"generator": config.to_dict(), "discriminator": DiscriminatorConfig(size=config.size).to_dict()}
    run.write_config({**options.to_config(), "kind": CycleGANOptions.kind, **arch, "working_scale": SCALE, "data_folders": {}})
    random_generator_checkpoint(run.checkpoints_dir / "latest.pt", config)
    return folder


def speed_section(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    teacher = default_generator(SCALE)
    student = student_config(teacher, DistillOptions(teacher=Path("run")))
    clip = write_take(folder / "shot.mp4", "shot", *SHOT, frames=args.frames)
    frames = folder / "frames"  # the runs' "training frames", for int8's calibration
    frames.mkdir()
    for i, frame in enumerate(iter_frames(clip, every=max(1, args.frames // 16))):
        cv2.imwrite(str(frames / f"{i:03d}.png"), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    if args.speed_runs:  # trained: outputs like footage, which x264 and the matte's rows cost what they do in use
        checkpoints = dict(zip(("teacher", "student"), args.speed_runs))
        teacher, student = (load_generator(run, A2B, torch.device("cpu")).config for run in args.speed_runs)
    else:  # random weights: outputs like noise, the encoder's and the composite's worst case
        checkpoints = {name: random_run(folder / name, config, frames) for name, config in (("teacher", teacher), ("student", student))}
    auto = resolve_runtime("auto", torch.device("cpu"))
    flops = {"teacher": gflop(teacher), "student": gflop(student)}
    weights = f"trained: {' and '.join(map(str, args.speed_runs))}" if args.speed_runs else "random weights"
    print(f"speed: the default {SCALE}-px generator (teacher: {teacher.channels} channels, {teacher.res_blocks} blocks) and its "
          f"default student ({student.channels} channels, {student.res_blocks} block), {weights}; 1280x720, {args.frames} "
          f"frames\n{machine()}")
    for name, value in flops.items():
        print(f"{name}: {value:.2f} GFLOP per 720p frame ({flops['teacher'] / value:.1f}x fewer than the teacher)")
    models = {}
    for name, checkpoint in checkpoints.items():
        for runtime in dict.fromkeys(("torch", auto)):
            models[f"model only, {name}, {runtime}"] = model_only_rate(checkpoint, runtime, clip, args.frames)
        if INT8:
            models[f"model only, {name}, {auto} int8"] = model_only_rate(checkpoint, auto, clip, args.frames, precision="int8")
    for name, rate in models.items():
        print(f"{name:<40} {rate:8.1f} frames/s")
    python = sys.executable
    teacher_weights = checkpoints["teacher"] / "checkpoints" / "latest.pt"
    naive = [python, "bench/naive_loop.py", str(clip), str(teacher_weights), str(folder / "naive.mp4"), str(SCALE)]
    commands = {"naive loop, teacher": naive}
    for name, checkpoint in checkpoints.items():
        commands[f"vidgan render --runtime auto, {name}"] = [
            python, "-m", "vidgan", "render", str(clip), "--run", str(checkpoint), "--runtime", "auto",
            "--out", str(folder / f"{name}.mp4"), "--overwrite", "--quiet", "--device", "cpu",
        ]  # fmt: skip
    if INT8:
        commands["vidgan render --runtime auto --precision int8, student"] = [
            *commands["vidgan render --runtime auto, student"][:-4], "--precision", "int8", "--overwrite", "--quiet", "--device", "cpu"
        ]  # fmt: skip
    best = dict.fromkeys(commands, float("inf"))
    for _ in range(args.rounds):  # interleaved: the machine's load drifts
        for name, command in commands.items():
            best[name] = min(best[name], process_seconds(command))
    rates = {name: args.frames / seconds for name, seconds in best.items()}
    baseline = rates["naive loop, teacher"]
    for name, rate in rates.items():
        print(f"{name:<55} {rate:8.2f} frames/s  {rate / baseline:.2f}x the naive loop (whole process, best of {args.rounds})")
    headline = rates["vidgan render --runtime auto, student"] / baseline
    print(f"headline speed: student {flops['teacher'] / flops['student']:.1f}x fewer GFLOP (target >= 8); 720p render with the "
          f"student {headline:.2f}x the naive teacher loop (target >= 2, aim 3)")
    return rates


def distil(teacher: Path, out: Path, width: int | None) -> tuple[Path, float]:
    """`vidgan distill TEACHER --out OUT` with the defaults (and `width`), on the CPU; (the student run, seconds)."""
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    train_distill(DistillOptions(teacher=teacher, out=out, width=width, device="cpu", quiet=True))
    return out, time.perf_counter() - started


def agreement(student: Path) -> dict[str, dict[str, float]]:
    """Per direction, the student's PSNR and largest error to the teacher on the teacher's held-out images."""
    run = RunFolder(student)
    config = run.read_config()
    teachers = load_teachers(run, config)
    evaluation = image_sets(run, config, None, torch.device("cpu")).evaluation
    checkpoint = load_latest_checkpoint(student)
    scores = {}
    for name in config["directions"]:
        direction = Direction.parse(name)
        scores[name] = teacher_agreement(student_from_checkpoint(checkpoint, direction), teachers[name], evaluation[direction.source])
    return scores


def demo_section(args: argparse.Namespace, folder: Path) -> None:
    teacher = demo_run(args.demo)
    student, seconds = distil(teacher, folder / "demo-student", args.width)
    shot = write_take(folder / "demo-shot.mp4", "shot", *SHOT, frames=args.demo_frames)
    sources = [frame.rgb for frame in iter_frames(shot)]
    phase = TAKES["shot"][1]
    never = np.logical_and.reduce([hand_mask(i, *SHOT, phase) == 0 for i in range(len(sources))])
    print(f"\ndemo: {teacher} distilled with the defaults into {student}\n{machine()}")
    print(f"distillation time: {seconds:.0f} s (target <= 120 s)")
    for name, scores in agreement(student).items():
        print(f"{name}: student vs teacher on the held-out frames: {scores['teacher_psnr']:.1f} dB, largest error "
              f"{scores['teacher_max_error']:.0f} levels (target >= 30 dB)")
    for name, run in (("teacher", teacher), ("student", student)):
        frames = render(shot, run, folder / f"demo-{name}.mkv", codec="ffv1")
        rows, _ = hand_rows(frames, sources, "source")
        hand, distance, verdict = rows[0]
        print(f"{name}: table-top PSNR {masked_psnr(frames, sources, never):.1f} dB (target >= 40); {hand}: {distance} ({verdict})")


def cats_section(args: argparse.Namespace, folder: Path) -> None:
    teacher = args.cats
    if not (teacher / "checkpoints").is_dir():
        train_cyclegan(CycleGANOptions(a_dir=CATS / "russian_blue", b_dir=CATS / "grumpy", out=teacher, minutes=args.cats_minutes,
                                       iters=10**6, holdout=0.2, device="cpu", quiet=True))  # fmt: skip
    student, seconds = distil(teacher, folder / "cats-student", args.width)
    print(f"\ncats: {teacher} distilled with the defaults ({seconds:.0f} s)\n{machine()}")
    options = EvalOptions(device="cpu", quiet=True)
    figures = {name: evaluate_run(run, options)["directions"]["a2b"] for name, run in (("teacher", teacher), ("student", student))}
    for name, scores in figures.items():
        extra = f", {scores['teacher_psnr']:.1f} dB to the teacher" if "teacher_psnr" in scores else ""
        print(f"{name} a2b (russian blue → grumpy): translation {scores['translation_score']:.1%}, C2ST {scores['c2st']:.3f}{extra}")
    gap = figures["student"]["c2st"] - figures["teacher"]["c2st"]
    print(f"headline cats: student translation {figures['student']['translation_score']:.1%} (target >= 98%), C2ST "
          f"{gap:+.3f} from the teacher's (target within 0.05)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=264)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sections", default="speed,demo,cats")
    parser.add_argument("--demo", type=Path, default=Path(tempfile.gettempdir()) / "vidgan-bench-detail-demo")
    parser.add_argument("--cats", type=Path, default=Path(tempfile.gettempdir()) / "vidgan-bench-distill-cats")
    parser.add_argument("--cats-minutes", type=float, default=15.0)
    parser.add_argument("--demo-frames", type=int, default=48)
    parser.add_argument("--width", type=int, default=None, help="student width (default: distill's)")
    parser.add_argument("--speed-runs", type=Path, nargs=2, metavar=("TEACHER", "STUDENT"),
                        help="speed: a trained run of the default generator and its distilled student (default: random weights)")
    args = parser.parse_args()
    sections = args.sections.split(",")
    with tempfile.TemporaryDirectory() as folder:
        for name, section in (("speed", speed_section), ("demo", demo_section), ("cats", cats_section)):
            if name in sections:
                section(args, Path(folder))


if __name__ == "__main__":
    main()
