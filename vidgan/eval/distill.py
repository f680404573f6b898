"""`vidgan eval` of a distilled run (vidgan.training.distill): its own translation figures, as any translating
run's, and its agreement with the teacher it learned from on the same evaluation images at the working scale."""

from __future__ import annotations

from typing import Any

import torch

from vidgan.core.devices import resolve_device
from vidgan.core.directions import Direction
from vidgan.eval.cyclegan import eval_summary, evaluate_translation_run, image_sets, translate_images, translation_table
from vidgan.eval.metrics import psnr
from vidgan.eval.options import EvalOptions
from vidgan.runs.checkpoints import load_latest_checkpoint
from vidgan.runs.folder import RunFolder
from vidgan.runs.generators import load_teachers, student_from_checkpoint

# (key, label, format): the rows a distilled run's table adds to a translating run's.
AGREEMENT_ROWS = (
    ("teacher_psnr", "agreement with the teacher: PSNR dB of the student's output to the teacher's (higher is closer)", "{:.1f}"),
    ("teacher_max_error", "  largest difference from the teacher's output, 8-bit levels", "{:.0f}"),
)


def teacher_agreement(student: torch.nn.Module, teacher: torch.nn.Module, images: torch.Tensor) -> dict[str, float]:
    """PSNR (dB, 8-bit) and the largest absolute difference (levels 0..255) between the student's and the teacher's
    outputs for N×3×H×W uint8 `images`."""
    ours, theirs = translate_images(student, images).float(), translate_images(teacher, images).float()
    mse = torch.mean((ours - theirs) ** 2).item() / 255**2 * 4  # psnr() takes the MSE of images in [-1, 1]
    return {"teacher_psnr": psnr(mse), "teacher_max_error": (ours - theirs).abs().max().item()}


def evaluate_student_run(run: RunFolder, config: dict[str, Any], options: EvalOptions) -> dict[str, Any]:
    """What evaluate_translation_run measures for the student's directions, each with its agreement with the
    teacher (RUN/teacher.pt) on the evaluation images of its source domain."""
    results = evaluate_translation_run(run, config, options)
    device = resolve_device(options.device)
    checkpoint = load_latest_checkpoint(run.root, map_location=device)
    teachers = load_teachers(run, config, device)
    folders = None if options.a is None else {"a": options.a, "b": options.b}
    evaluation = image_sets(run, config, folders, device).evaluation
    for name, scores in results["directions"].items():
        direction = Direction.parse(name)
        student = student_from_checkpoint(checkpoint, direction, device, options.averaged)
        scores.update(teacher_agreement(student, teachers[name], evaluation[direction.source]))
    results["teacher"] = {"run": config["teacher"], "step": config["teacher_step"], "digest": config["teacher_digest"]}
    return results


def student_table(results: dict[str, Any]) -> tuple[str, tuple[str, ...], list[tuple[str, ...]]]:
    """A translating run's table with the agreement rows after it (terminal and HTML report)."""
    _, header, rows = translation_table(results)
    directions = results["directions"]
    agreement = [(label, *(fmt.format(directions[d][key]) for d in directions)) for key, label, fmt in AGREEMENT_ROWS]
    teacher = results["teacher"]
    title = f"{eval_summary(results)}; teacher {teacher['run']} at step {teacher['step']}"
    return title, header, rows + agreement
