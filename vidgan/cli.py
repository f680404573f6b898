"""The `vidgan` command line: parses options, calls one pipeline function per command, reports the result."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from vidgan.core.directions import DIRECTION_NAMES
from vidgan.core.errors import UsageError, VidganError, sigterm_as_interrupt
from vidgan.core.progress import console
from vidgan.render.export import EXPORT_FORMATS

# Typer re-exports click's exception classes only through BadParameter's bases (it vendors click in newer
# releases), so take them from there rather than importing click, which may not be installed.
_ClickUsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")

app = typer.Typer(
    help="GAN-based image and video translation: extract frames, train a CycleGAN, render footage; "
    "also DCGAN, MLP GAN and VAE image models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


# Choices come from the library's own constants, so the CLI never restates them.
Direction = Enum("Direction", {name: name for name in DIRECTION_NAMES}, type=str)


class Crop(str, Enum):
    center = "center"
    none = "none"


class Disc(str, Enum):
    patch = "patch"
    dc = "dc"


class Aug(str, Enum):
    mirror = "mirror"
    deluxe = "deluxe"
    basic = "basic"
    none = "none"


class Model(str, Enum):
    cyclegan = "cyclegan"
    dcgan = "dcgan"
    mlp_gan = "mlp-gan"
    vae = "vae"


class Gen(str, Enum):
    resnet = "resnet"
    unet = "unet"


class Upsample(str, Enum):
    resize = "resize"
    transpose = "transpose"


class Loss(str, Enum):
    lsgan = "lsgan"
    bce = "bce"
    wgan_gp = "wgan-gp"


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


DeviceOption = Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


@app.command()
def extract(
    out: Annotated[Path, typer.Option(help="Output folder: OUT/a/*.png, OUT/b/*.png, OUT/manifest.json.")],
    a: Annotated[list[Path], typer.Option("--a", help="Clip for domain a (repeat for several).")],
    b: Annotated[list[Path], typer.Option("--b", help="Clip for domain b (repeat for several).")],
    every: Annotated[int, typer.Option(help="Keep frames 0, N, 2N, … of each clip (decode order).")] = 15,
    size: Annotated[int, typer.Option(help="Side of the square images written.")] = 128,
    crop: Annotated[Crop, typer.Option(help="center: largest centred square; none: stretch.")] = Crop.center,
    start: Annotated[Optional[float], typer.Option(help="Start time in seconds.")] = None,
    end: Annotated[Optional[float], typer.Option(help="End time in seconds.")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the frames of an earlier extraction into OUT.")
    ] = False,
    quiet: QuietOption = False,
) -> None:
    """Take every Nth frame of the clips into two unpaired image domains."""
    from vidgan.io.extract import extract_frames

    options = dict(every=every, size=size, crop=crop.value, start=start, end=end, overwrite=overwrite)
    result = extract_frames({"a": a, "b": b}, out, **options, quiet=quiet)
    counts = ", ".join(f"{n} in {domain}/" for domain, n in result.counts.items())
    console.print(f"wrote {counts} under {result.out_dir}")


@app.command()
def train(
    data: Annotated[
        Optional[Path], typer.Argument(help="cyclegan: a folder with a/ and b/ (from extract); other models: one image folder.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Run folder to create (or continue with --resume).")] = Path("runs/latest"),
    model: Annotated[Optional[Model], typer.Option(help="What to train (default cyclegan).")] = None,
    a: Annotated[Optional[Path], typer.Option("--a", help="[cyclegan] Image folder of domain a (instead of DATA).")] = None,
    b: Annotated[Optional[Path], typer.Option("--b", help="[cyclegan] Image folder of domain b (instead of DATA).")] = None,
    size: Annotated[Optional[int], typer.Option(help="Image side (cyclegan/dcgan/vae: the images' size if 64 or 128, else 128/64/64; mlp-gan: 28).")] = None,
    channels: Annotated[Optional[int], typer.Option(help="Network base width (mlp-gan: hidden units; default per model).")] = None,
    channels_in: Annotated[Optional[int], typer.Option(help="[dcgan/mlp-gan/vae] 1 (grey) or 3 (RGB); default: detected.")] = None,
    gen: Annotated[Optional[Gen], typer.Option(help="[cyclegan] Generator: unet (default; encoder/decoder with skip connections and residual blocks at its 16x16 bottleneck) or resnet.")] = None,
    res_blocks: Annotated[Optional[int], typer.Option(help="[cyclegan] Residual blocks at the generator's bottleneck (default 3).")] = None,
    downsamplings: Annotated[Optional[int], typer.Option(help="[cyclegan] Stride-2 stages in the generator's encoder (default 2 at 64 px, 3 at 128 px: a 16x16 bottleneck; up to 4x4).")] = None,
    full_res_skip: Annotated[Optional[bool], typer.Option("--full-res-skip/--no-full-res-skip", help="[cyclegan] U-Net: join the input's full-resolution features to the last decoder stage (default on for unet).")] = None,
    attention: Annotated[Optional[bool], typer.Option("--attention/--no-attention", help="[cyclegan] Self-attention after the generator's bottleneck blocks: each position sees the whole image (default off).")] = None,
    disc: Annotated[Optional[Disc], typer.Option(help="[cyclegan] patch (default): a map of scores; dc: one per image.")] = None,
    disc_layers: Annotated[Optional[int], typer.Option(help="[cyclegan] Stride-2 layers of the patch discriminator (default 4: 78-px patches, the whole 64-px image; 3: 38-px patches, vidgan 0.3).")] = None,
    disc_channels: Annotated[Optional[int], typer.Option(help="[cyclegan] Discriminator base width: its first layer's channels, doubled at each further layer up to 512 (default 32; vidgan 0.4: 64).")] = None,
    spectral_norm: Annotated[Optional[bool], typer.Option("--spectral-norm/--no-spectral-norm", help="[cyclegan] Spectral norm on D's convolutions instead of instance norm.")] = None,
    upsample: Annotated[Optional[Upsample], typer.Option(help="[cyclegan] Generator upsampling: resize (nearest + conv, default) or transpose.")] = None,
    ema: Annotated[Optional[float], typer.Option(help="[cyclegan] Moving average of G's weights with this decay (default 0.999; 0 = off), used for samples, eval, translate and render.")] = None,
    cycle_weight: Annotated[Optional[float], typer.Option(help="[cyclegan] Weight of the cycle-consistency L1 loss (default 5).")] = None,
    no_cycle: Annotated[bool, typer.Option("--no-cycle", help="[cyclegan] Train without cycle-consistency.")] = False,
    identity_weight: Annotated[Optional[float], typer.Option(help="[cyclegan] Weight of the identity L1 loss (default 0 = off).")] = None,
    pool: Annotated[Optional[int], typer.Option(help="[cyclegan] History of N generated images shown to D (default 0 = off).")] = None,
    lr_decay_from: Annotated[Optional[int], typer.Option(help="[cyclegan] From this step, decay the learning rate linearly to 0 at the end.")] = None,
    noise_dim: Annotated[Optional[int], typer.Option(help="[dcgan/mlp-gan/vae] Noise (latent) vector size (default 100; vae 64).")] = None,
    loss: Annotated[Optional[Loss], typer.Option(help="[dcgan/mlp-gan] GAN loss (default bce).")] = None,
    critic_steps: Annotated[Optional[int], typer.Option(help="[dcgan/mlp-gan] D updates per G update (default 5 with wgan-gp, else 1).")] = None,
    slope: Annotated[Optional[float], typer.Option(help="[dcgan/mlp-gan] LeakyReLU negative slope (default 0.2).")] = None,
    dropout: Annotated[Optional[float], typer.Option(help="[mlp-gan] Dropout in D (default 0.3).")] = None,
    kl_weight: Annotated[Optional[float], typer.Option(help="[vae] Weight of the KL term (default 1).")] = None,
    aug: Annotated[Optional[Aug], typer.Option(help="mirror: flips; deluxe: 1.1x resize, random crop, flip; basic/none: as is (default: cyclegan deluxe, vae mirror, dcgan basic, mlp-gan none).")] = None,
    diffaug: Annotated[Optional[bool], typer.Option("--diffaug/--no-diffaug", help="[cyclegan/dcgan] DiffAugment every discriminator input (default: on for cyclegan, off for dcgan).")] = None,
    diffaug_policy: Annotated[Optional[str], typer.Option(help="[cyclegan] DiffAugment ops, comma-separated from color,translation,cutout (default all three).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="[cyclegan/vae] Adam learning rate (default cyclegan 3e-4, vae 1e-3).")] = None,
    lr_g: Annotated[Optional[float], typer.Option(help="[cyclegan/dcgan/mlp-gan] Generator learning rate (default 2e-4; cyclegan: --lr).")] = None,
    lr_d: Annotated[Optional[float], typer.Option(help="[cyclegan/dcgan/mlp-gan] Discriminator learning rate (default 2e-4; cyclegan: --lr).")] = None,
    beta1: Annotated[Optional[float], typer.Option(help="Adam beta1 (default 0.5; vae 0.9).")] = None,
    beta2: Annotated[Optional[float], typer.Option(help="Adam beta2 (default 0.999).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Images per step (default: cyclegan 4 per domain, dcgan 16, mlp-gan 64, vae 32).")] = None,
    iters: Annotated[Optional[int], typer.Option(help="Training steps (default cyclegan 10000, others 5000; with --resume: the run's).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: DeviceOption = "auto",
    precision: Annotated[Optional[Precision], typer.Option(help="[cyclegan] auto (default): bf16 mixed precision on CUDA, fp32 on the CPU.")] = None,
    compile: Annotated[bool, typer.Option("--compile", help="[cyclegan] torch.compile the networks (slow to start, faster steps).")] = False,
    sample_every: Annotated[int, typer.Option(help="Save a sample grid (and redraw the plots) every K steps.")] = 500,
    checkpoint_every: Annotated[int, typer.Option(help="Save a checkpoint every K steps.")] = 1000,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its latest checkpoint.")] = False,
    holdout: Annotated[Optional[float], typer.Option(help="Share of the images (cyclegan: of each domain) kept out of training for `vidgan eval`, 0 to 0.5 (default 0.1).")] = None,
    minutes: Annotated[Optional[float], typer.Option(help="Stop after this many minutes of wall time (or at --iters), with a checkpoint.")] = None,
    quiet: QuietOption = False,
) -> None:
    """Train a model: a CycleGAN on two unpaired image domains, or a DCGAN, MLP GAN or VAE on one image folder.

    Options marked [model] apply to those models only; giving one to another model is an error.
    """
    from vidgan.core.distributed import is_main_process
    from vidgan.training.launch import resume_training, train_model

    if resume:
        result = resume_training(out, iters=iters, device=device, quiet=quiet, model=_value(model))
    else:
        result = train_model(
            _value(model) or Model.cyclegan.value,
            out,
            data=data,
            a=a,
            b=b,
            size=size,
            channels=channels,
            channels_in=channels_in,
            gen=_value(gen),
            res_blocks=res_blocks,
            downsamplings=downsamplings,
            full_res_skip=full_res_skip,
            attention=attention,
            disc=_value(disc),
            disc_layers=disc_layers,
            disc_channels=disc_channels,
            spectral_norm=spectral_norm,
            upsample=_value(upsample),
            ema=ema,
            cycle_weight=0.0 if no_cycle else cycle_weight,
            identity_weight=identity_weight,
            pool=pool,
            lr_decay_from=lr_decay_from,
            noise_dim=noise_dim,
            loss=_value(loss),
            critic_steps=critic_steps,
            slope=slope,
            dropout=dropout,
            kl_weight=kl_weight,
            aug=_value(aug),
            diffaug=diffaug,
            diffaug_policy=diffaug_policy,
            lr=lr,
            lr_g=lr_g,
            lr_d=lr_d,
            beta1=beta1,
            beta2=beta2,
            batch_size=batch_size,
            iters=iters,
            seed=seed,
            device=device,
            precision=_value(precision),
            compile=compile or None,  # None: not given, so other models do not refuse it
            sample_every=sample_every,
            checkpoint_every=checkpoint_every,
            holdout=holdout,
            minutes=minutes,
            quiet=quiet,
        )
    if is_main_process():  # under torchrun, rank 0 reports for all
        console.print(f"trained to step {result.step}; checkpoint {result.checkpoint}")
        console.print(f"plots: {result.run_dir / 'losses.png'}, {result.run_dir / 'progress.gif'}")


def _value(choice: Enum | None) -> str | None:
    return None if choice is None else choice.value


@app.command()
def sample(
    run: Annotated[Path, typer.Option(help="A dcgan, mlp-gan or vae run folder (or one of its checkpoint files).")],
    out: Annotated[Path, typer.Option(help="Image file for the grid (e.g. grid.png).")] = Path("samples.png"),
    n: Annotated[int, typer.Option("-n", help="Number of images.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed of the random latents (same seed, same images).")] = 0,
    interpolate: Annotated[bool, typer.Option("--interpolate", help="Rows of 8-step walks between random latents.")] = False,
    device: DeviceOption = "auto",
) -> None:
    """Draw new images from a trained generator (or VAE decoder) into one grid image."""
    from vidgan.render.sample import sample_images

    result = sample_images(run, out, count=n, seed=seed, interpolate=interpolate, device=device)
    console.print(f"wrote {result.count} {result.kind} samples to {result.out}")


@app.command()
def translate(
    input: Annotated[Path, typer.Argument(help="Folder of images to translate.")],
    run: Annotated[Path, typer.Option(help="A cyclegan run folder (or one of its checkpoint files).")],
    out: Annotated[Path, typer.Option(help="Folder for the results (not the input folder).")],
    direction: Annotated[Direction, typer.Option(help="a2b or b2a.")] = Direction.a2b,
    device: DeviceOption = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Translate every image of a folder: one PNG per input, same name and size, in --out."""
    from vidgan.render.translate import translate_folder

    result = translate_folder(
        input, run, out, direction=direction.value, device=device, overwrite=overwrite, quiet=quiet
    )
    skipped = f" ({result.skipped} unreadable skipped)" if result.skipped else ""
    console.print(f"wrote {result.written} images to {result.out_dir}{skipped}")


@app.command()
def plot(run: Annotated[Path, typer.Argument(help="Run folder.")]) -> None:
    """Redraw a run's losses.png and progress.gif (training refreshes them with each sample grid)."""
    from vidgan.training.plots import plot_run

    for path in plot_run(run):
        console.print(f"wrote {path}")


RenderDirection = Enum("RenderDirection", {name: name for name in (*DIRECTION_NAMES, "both")}, type=str)


class Codec(str, Enum):
    h264 = "h264"
    prores = "prores"
    ffv1 = "ffv1"
    png = "png"


class Fit(str, Enum):
    short_side = "short-side"
    stretch = "stretch"
    crop = "crop"
    native = "native"


class Arch(str, Enum):
    resnet_9blocks = "resnet_9blocks"
    resnet_6blocks = "resnet_6blocks"
    unet_128 = "unet_128"
    unet_256 = "unet_256"


@app.command()
def render(
    inputs: Annotated[list[Path], typer.Argument(help="Videos, image-sequence folders or patterns (shot_%04d.png).")],
    run: Annotated[Optional[Path], typer.Option(help="Run folder (uses its latest checkpoint).")] = None,
    checkpoint: Annotated[Optional[Path], typer.Option(help="A checkpoint file (or a run folder: under torchrun, whose parser claims --run) instead of --run (with --arch: a reference CycleGAN .pth).")] = None,
    arch: Annotated[Optional[Arch], typer.Option(help="Architecture of a reference CycleGAN --checkpoint (latest_net_G_A.pth).")] = None,
    direction: Annotated[RenderDirection, typer.Option(help="a2b, b2a, or both (one output each).")] = RenderDirection.a2b,
    out: Annotated[Optional[Path], typer.Option(help="Output for one input: .mp4, .mov, .mkv, or a folder for PNGs (default: INPUT_<direction>.mp4 beside it).")] = None,
    out_dir: Annotated[Optional[Path], typer.Option(help="Folder for the outputs of several inputs (STEM_<direction>).")] = None,
    codec: Annotated[Optional[Codec], typer.Option(help="h264 (.mp4), prores (422 HQ 10-bit, .mov), ffv1 (lossless, .mkv), png (folder). Default: from --out, else h264 for videos and png for sequences.")] = None,
    crf: Annotated[int, typer.Option(help="H.264 quality: 0 lossless … 51 worst.")] = 18,
    fit: Annotated[Fit, typer.Option(help="short-side: short side to the training size; stretch: squash to the square; crop: centre square only; native: full resolution.")] = Fit.short_side,
    roi: Annotated[Optional[str], typer.Option(help="Translate only this box X,Y,W,H (source pixels); the rest stays untouched.", metavar="X,Y,W,H")] = None,
    roi_track: Annotated[Optional[Path], typer.Option(help="CSV of frame,x,y,w,h: a box that moves with the subject.")] = None,
    feather: Annotated[int, typer.Option(help="Width in pixels of the soft edge inside the region.")] = 16,
    fps: Annotated[str, typer.Option(help="Frame rate of image-sequence inputs (25, 29.97, 30000/1001).")] = "25",
    temporal_smooth: Annotated[float, typer.Option(help="0..1: blend in the previous output, moved by the source's optical flow, against flicker (0 = off).")] = 0.0,
    warp_error_every: Annotated[int, typer.Option(help="Measure the warp error on every Nth pair of frames (1 = all pairs, 0 = off); each measured pair costs two optical flows.")] = 10,
    compare: Annotated[bool, typer.Option("--compare", help="Also write a labelled side-by-side (source | result) beside each output.")] = False,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Do not copy the input's audio.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted PNG-sequence render (frames already there are kept).")] = False,
    batch_size: Annotated[Optional[int], typer.Option(help="Frames per batch (default 4 on CPU, 16 on CUDA).")] = None,
    half: Annotated[bool, typer.Option("--half", help="Half-precision inference (bf16, or fp16 where unsupported); CUDA only.")] = False,
    device: DeviceOption = "auto",
    quiet: QuietOption = False,
) -> None:
    """Translate every frame of videos or image sequences; keeps resolution, frame numbers, timestamps and audio."""
    from vidgan.core.distributed import is_main_process
    from vidgan.io.sequences import parse_fps
    from vidgan.render.framing import parse_box
    from vidgan.render.video import render_video

    result = render_video(
        inputs,
        _model_source(run, checkpoint),
        out,
        out_dir=out_dir,
        direction=direction.value,
        arch=arch.value if arch else None,
        codec=codec.value if codec else None,
        crf=crf,
        fit=fit.value,
        roi=parse_box(roi) if roi is not None else None,
        roi_track=roi_track,
        feather=feather,
        fps=parse_fps(fps),
        temporal_smooth=temporal_smooth,
        warp_error_every=warp_error_every,
        compare=compare,
        audio=not no_audio,
        overwrite=overwrite,
        resume=resume,
        batch_size=batch_size,
        half=half,
        device=device,
        quiet=quiet,
    )
    if not is_main_process():  # under torchrun, rank 0 reports every rank's clips
        return
    for clip in result.clips:
        for d, path in clip.outputs.items():
            kept = f", {clip.resumed} kept from before" if clip.resumed else ""
            console.print(f"wrote {path} ({clip.frames} frames{kept})")
            if d in clip.compares:
                console.print(f"side by side: {clip.compares[d]}")
            if warp_error_every:
                console.print(f"  warp error (flicker): {_warp_report(clip.warp_errors[d], clip.source_warp_error)}")
    console.print(f"{result.frames} frames in {result.seconds:.1f} s ({result.fps:.1f} fps)")


def _warp_report(output: float | None, source: float | None) -> str:
    if output is None or source is None:
        return "not measured (needs two frames with trackable motion)"
    ratio = f", {output / source:.2f}x the source's" if source > 0 else ""
    return f"output {output:.6f}, source {source:.6f}{ratio}"


@app.command("eval")
def eval_run(
    run: Annotated[Path, typer.Option(help="Run folder to evaluate (its latest checkpoint).")],
    a: Annotated[Optional[Path], typer.Option("--a", help="Evaluate on this folder of domain a (default: held-out images).")] = None,
    b: Annotated[Optional[Path], typer.Option("--b", help="Evaluate on this folder of domain b (default: held-out images).")] = None,
    samples: Annotated[Optional[int], typer.Option(help="[dcgan/mlp-gan/vae] Generated images to measure (default 256).")] = None,
    classifier_steps: Annotated[int, typer.Option(help="Training steps of each judging classifier.")] = 300,
    c2st_repeats: Annotated[int, typer.Option(help="[cyclegan] Average C2ST over this many classifier seeds (steadier on few images).")] = 3,
    device: DeviceOption = "auto",
    quiet: QuietOption = False,
) -> None:
    """Measure a run. CycleGAN: domain classifier, translation scores, C2ST, cycle/identity error, colour, structure.
    DCGAN, MLP GAN, VAE: C2ST realism, sample diversity (mode collapse) and memorisation, beside real images'."""
    from vidgan.eval.cyclegan import ClassifierSettings, eval_table, evaluate_run
    from vidgan.runs.folder import RunFolder

    settings = ClassifierSettings(steps=classifier_steps, c2st_repeats=c2st_repeats)
    results = evaluate_run(run, a=a, b=b, samples=samples, settings=settings, device=device, quiet=quiet)
    console.print(eval_table(results))
    console.print(f"wrote {RunFolder(run).eval_path}")


@app.command("eval-video")
def eval_video(
    output: Annotated[Path, typer.Argument(help="Rendered video or image sequence.")],
    source: Annotated[Path, typer.Option(help="The clip it was rendered from (its motion is the reference).")],
    quiet: QuietOption = False,
) -> None:
    """Temporal warp error (flicker) of a rendered clip, beside the source clip's own."""
    from vidgan.eval.cyclegan import evaluate_video

    result = evaluate_video(output, source, quiet=quiet)
    console.print(f"warp error over {result.frames} frames: {_warp_report(result.output_error, result.source_error)}")


@app.command()
def report(run: Annotated[Path, typer.Argument(help="Run folder.")]) -> None:
    """Write RUN/report.html: config, split, loss curves, sample progress and the eval table, images embedded."""
    from vidgan.eval.report import write_report

    console.print(f"wrote {write_report(run)}")


ExportFormat = Enum("ExportFormat", {name: name for name in EXPORT_FORMATS}, type=str)


@app.command("export")
def export_model(
    run: Annotated[Path, typer.Option(help="A cyclegan run folder (or one of its checkpoint files).")],
    out: Annotated[Path, typer.Option(help="File to write: .onnx for --format onnx, .pt for torchscript.")],
    format: Annotated[
        ExportFormat, typer.Option(help="onnx (Flame's Inference node, ONNX Runtime, OpenVINO) or torchscript (Nuke's CatFileCreator).")
    ],
    direction: Annotated[Direction, typer.Option(help="a2b or b2a.")] = Direction.a2b,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")] = False,
) -> None:
    """Write one direction's generator as a self-contained file for compositing applications: float RGB in [0, 1]
    in and out, any height and width, the working scale and direction in its metadata."""
    from vidgan.render.export import ExportOptions, export_generator

    options = ExportOptions(run=run, out=out, direction=direction.value, format=format.value, overwrite=overwrite)
    result = export_generator(options)
    scale = result.metadata["working_scale"]
    console.print(f"wrote {result.out} ({options.format}, {result.metadata['direction']}, working scale {scale} px)")


def _model_source(run: Path | None, checkpoint: Path | None) -> Path:
    if (run is None) == (checkpoint is None):
        raise UsageError("give exactly one of --run RUN or --checkpoint FILE")
    return run if run is not None else checkpoint


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's clips, data, run and videos.")] = Path("vidgan-demo"),
    device: DeviceOption = "auto",
    quiet: QuietOption = False,
) -> None:
    """Remove a glove from a synthetic shot: builds clips, then extract → train → render (a few CPU minutes)."""
    from vidgan.demo import run_demo

    result = run_demo(out, device=device, quiet=quiet)
    console.print(f"translated clip: {result.translated}")
    console.print(f"side by side:    {result.side_by_side}")
    console.print(f"training run:    {result.run_dir} (sample grids in samples/)")


def main(argv: list[str] | None = None) -> None:
    """Entry point: usage errors and VidganErrors become one line on stderr; --debug shows tracebacks."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    command = typer.main.get_command(app)
    try:
        with sigterm_as_interrupt():  # `kill` cleans up like Ctrl-C: temporary files go, train checkpoints
            status = command.main(args, prog_name="vidgan", standalone_mode=False)
        # Outside standalone mode, Typer turns Ctrl-C into a returned 130 (and typer.Exit into its code).
        if status == 130:
            raise KeyboardInterrupt
        if isinstance(status, int) and status:
            sys.exit(status)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        _fail("interrupted", 130)
    except _ClickUsageError as error:
        if type(error).__name__ == "NoArgsIsHelpError":
            print(error.format_message())  # the message is the help text
            sys.exit(0)
        where = f"vidgan {error.ctx.info_name}: " if error.ctx and error.ctx.parent else "vidgan: "
        _fail(f"{where}{error.format_message()}", 2)
    except _ClickException as error:
        _fail(error.format_message(), error.exit_code)
    except VidganError as error:
        if debug:
            raise
        _fail(str(error), error.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except OSError as error:  # the file system refused (disk full, permissions, a file where a folder must go)
        if debug:
            raise
        where = f"{os.fsdecode(error.filename)}: " if error.filename is not None else ""
        _fail(f"{where}{error.strerror or error}", 1)
    except Exception as error:  # a bug, not the user's fault: still one line unless --debug
        if debug:
            raise
        _fail(f"internal error: {type(error).__name__}: {error} (run again with --debug for the traceback)", 1)


def _fail(message: str, code: int) -> None:
    if os.environ.get("WORLD_SIZE", "1") != "1":  # one of several torchrun processes: say which (torch not imported)
        message = f"rank {os.environ.get('RANK', '?')}: {message}"
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)
