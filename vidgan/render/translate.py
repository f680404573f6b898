"""Translate a folder of images with a trained CycleGAN generator: one PNG per input, same name, same size, with
the input's ICC profile and gAMA."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidgan.core.devices import resolve_device
from vidgan.core.errors import UsageError, VidganError
from vidgan.core.progress import make_progress, warn
from vidgan.io.imagefile import SourceImage, read_file, write_file
from vidgan.io.images import list_images, over_black
from vidgan.io.video import Frame
from vidgan.render.framing import Fit, WholeFrame
from vidgan.render.options import TranslateOptions
from vidgan.render.quantise import Calibration
from vidgan.render.runtimes import runtime_generator
from vidgan.render.translator import FrameTranslator, default_batch_size
from vidgan.runs.generators import load_generator


@dataclass
class TranslateResult:
    out_dir: Path
    written: int
    skipped: int


def translate_folder(input_dir: str | Path, source: str | Path, options: TranslateOptions) -> TranslateResult:
    """Write OUT/<name>.png for each image of `input_dir`, translated at the input's own size and aspect ratio by
    the generator of `source` (a CycleGAN run folder or checkpoint), run by options.runtime; unreadable images are
    skipped with a warning."""
    options.validate()
    input_dir, out_dir = Path(input_dir), options.out
    files = list_images(input_dir)
    if out_dir.resolve() == input_dir.resolve():
        raise UsageError(f"--out {out_dir} is the input folder; give another folder so no input is overwritten")
    targets = {}
    for path in files:
        target = out_dir / f"{path.stem}.png"
        if target in targets:
            raise VidganError(f"{path}: would be written to the same {target.name} as {targets[target].name}")
        targets[target] = path
    existing = [target for target in targets if target.exists()]
    if existing and not options.overwrite:
        raise VidganError(f"{existing[0]}: already exists ({len(existing)} of the outputs do; use --overwrite)")
    torch_device = resolve_device(options.device)
    generator = load_generator(Path(source), options.direction, torch_device)
    int8 = Calibration.asked(options)
    generator = runtime_generator(generator, Path(source), options.direction, torch_device, options.runtime, int8)
    # Short side to the training size, aspect ratio kept, and back to the input's size: like `render --fit short-side`.
    translate = FrameTranslator(generator, WholeFrame(Fit("short-side", generator.config.size, generator.stride)), torch_device)
    batch_size = default_batch_size(torch_device)
    written = skipped = 0
    with make_progress(quiet=options.quiet) as progress:
        bar = progress.add_task("translate", total=len(targets), info="")
        pending: list[tuple[Path, SourceImage, Frame]] = []
        for number, (target, path) in enumerate(targets.items()):
            try:
                stored = read_file(path)
                rgb = over_black(stored.pixels, stored.premultiplied)
                pending.append((target, stored.source, Frame(index=number, time=0.0, pts=None, rgb=rgb)))
            except VidganError as error:
                warn(f"skipping {error}")
                skipped += 1
            if len(pending) == batch_size or number == len(targets) - 1:
                for (done, source, _), (result, _matte) in zip(pending, translate([frame for *_, frame in pending])):
                    # The stored values, in the input's encoding: its ICC profile and gAMA hold for them as for the input's.
                    write_file(done, result, source=source, same_space=True)
                written += len(pending)
                progress.update(bar, completed=number + 1, info=path.name)
                pending.clear()
    return TranslateResult(out_dir, written, skipped)
