"""The options of every training job as frozen dataclasses: each field's default, help, range and choices here.

The Python API takes one options object (`vidgan.training.launch.train(options)`, or `train_cyclegan(options)`
and its siblings), `vidgan train MODEL` builds its flags from these fields (vidgan.cli; each kind's record in
vidgan.runs.kinds names its options class, and `kind` here is that record's name), and a run's
config.json is their serialised form (`to_config`), plus the values resolved when the run started.
No torch here, so that the CLI can list and check options without loading it.

Field metadata: vidgan.core.options; "per_run": False marks the options a resumed run may take anew (--iters,
--minutes, --device, --quiet; --out names the run).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, TypeVar, get_type_hints

from vidgan.core.errors import UsageError, VidganError
from vidgan.core.options import AT_LEAST_1, FRACTION, NOT_NEGATIVE, POSITIVE, Bounds, check_fields, option
from vidgan.models.arch import (
    DISCRIMINATOR_KINDS,
    GENERATOR_KINDS,
    POWER_OF_TWO_SIZES,
    UPSAMPLINGS,
    DiscriminatorConfig,
    GeneratorConfig,
    deepest_downsamplings,
    default_channels,
    default_downsamplings,
    stages_to_4px,
)
from vidgan.runs.splits import MAX_HOLDOUT

CYCLEGAN_SIZES = (64, 128)
# "basic" is the DCGAN seeds' name for resize-and-normalise only, i.e. "none".
AUGMENTATIONS = ("deluxe", "mirror", "basic", "none")
DIFFAUG_POLICY = ("color", "translation", "cutout")  # every op of DiffAugment (Zhao et al. 2020)
GAN_LOSSES = ("bce", "lsgan", "wgan-gp")
PRECISIONS = ("auto", "fp32", "bf16")
# The forms of the temporal term (vidgan.training.temporal): transform equivariance (no video needed) or
# consecutive frames (the pairs `vidgan extract --pair-gap` keeps); auto takes frames where both data folders hold
# pairs, as it left the demo's shot flickering less than equivariance did with every seed (bench/temporal.py).
TEMPORAL_FORMS = ("auto", "equivariance", "frames")
DEFAULT_TEMPORAL_FORM = "auto"
# The temporal weight a run takes by default when both data folders hold frame pairs (footage extracted with
# --pair-gap): on the demo it halved the translated shot's warp error with every seed, while the colour criterion,
# the table-top outside the hand and C2ST held (bench/temporal.py, README). Without pairs the default is 0: the
# term's effect on image datasets' translation quality is unmeasured.
PAIRED_TEMPORAL_WEIGHT = 4.0
WGAN_CRITIC_STEPS = 5  # critic updates per generator update with wgan-gp (Gulrajani et al. 2017)
# The patch discriminator's depth: 4 stride-2 layers judge 78-px patches (the whole 64-px image); with 3 (38-px
# patches) translations were easier to tell from photos on the cats with both training seeds (docs/experiments.md).
DEFAULT_DISC_LAYERS = 4

AUG_HELP = "Augmentation: deluxe (1.1x resize, random crop, flip), mirror (flips), basic or none (as is)."

Options = TypeVar("Options", bound="TrainOptions")


def given(help: str, name: str | None = None) -> Any:
    """A field without a default that the CLI takes otherwise than as its flag: an input folder, which messages
    call `name` (DATA, --a, --b; default --field-name)."""
    return option(help=help, flags=(name,) if name else (), cli=False)


def redefault(options_type: type, name: str, default: Any) -> Any:
    """`options_type`'s field `name` with another default (same help and accepted values)."""
    (inherited,) = [f for f in fields(options_type) if f.name == name]
    return field(default=default, metadata=inherited.metadata)


@cache
def path_fields(options_type: type) -> frozenset[str]:
    """The fields of `options_type` that hold a Path (serialised as strings)."""
    return frozenset(name for name, hint in get_type_hints(options_type).items() if hint is Path)


@dataclass(frozen=True, kw_only=True)
class TrainOptions:
    """What every training job takes."""

    kind: ClassVar[str]

    out: Path = option(
        Path("runs/latest"), "Run folder to create (continue one with the same command and --resume).", per_run=False
    )
    iters: int = option(5000, "Training steps.", bounds=AT_LEAST_1, per_run=False)
    batch_size: int = option(16, "Images per step.", bounds=AT_LEAST_1)
    beta1: float = option(0.5, "Adam beta1.", bounds=FRACTION)
    beta2: float = option(0.999, "Adam beta2.", bounds=FRACTION)
    seed: int = option(0, "Random seed.", bounds=NOT_NEGATIVE)
    device: str = option("auto", "auto (CUDA when present), cpu or cuda.", per_run=False)
    sample_every: int = option(500, "Save a sample grid (and redraw the plots) every K steps.", bounds=AT_LEAST_1)
    checkpoint_every: int = option(1000, "Save a checkpoint every K steps.", bounds=AT_LEAST_1)
    holdout: float = option(
        0.1, f"Share of the images kept out of training for `vidgan eval`, 0 to {MAX_HOLDOUT}.", bounds=Bounds(0, MAX_HOLDOUT)
    )
    minutes: float | None = option(
        None, "Stop after this many minutes of wall time (or at --iters), with a checkpoint.", bounds=POSITIVE, per_run=False
    )
    quiet: bool = option(False, "No progress bars.", flags=("--quiet", "-q"), per_run=False)

    def validate(self) -> None:
        """Refuse any value outside its field's range or choices, then any bad combination: a UsageError naming
        the option, before any work starts."""
        check_fields(self)
        self.check_combinations()

    def check_combinations(self) -> None:
        """Checks between fields; each model adds its own."""

    def to_config(self) -> dict[str, Any]:
        """The options as config.json records them (paths as strings)."""
        return {f.name: _serialised(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_config(cls: type[Options], config: dict[str, Any]) -> Options:
        """The options a run config records (brought to the current form by vidgan.runs.config.upgrade_config)."""
        missing = [f.name for f in fields(cls) if f.name not in config]
        if missing:
            raise VidganError(f"{config.get('out', 'run')}: config.json lacks the options {', '.join(missing)}")
        paths = path_fields(cls)
        return cls(**{f.name: Path(config[f.name]) if f.name in paths else config[f.name] for f in fields(cls)})


def _serialised(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


@dataclass(frozen=True, kw_only=True)
class TranslationOptions(TrainOptions):
    """What every model translating between two unpaired image domains takes (cyclegan, cut, fastcut): the two
    folders, the generator and discriminator, the temporal term, augmentation, optimisation and precision."""

    a_dir: Path = given("Image folder of domain a.", "--a")
    b_dir: Path = given("Image folder of domain b.", "--b")
    size: int | None = option(
        None,
        "Side of the images the networks train on (default: the images' side when it is 64 or 128, else 128; with --crop: C).",
        choices=CYCLEGAN_SIZES,
    )
    crop: int | None = option(
        None,
        "Train on random C x C crops (C: the networks' size) of whole frames at their own scale (e.g. from "
        "`vidgan extract --scale S`) instead of the images scaled to the training size.",
        choices=CYCLEGAN_SIZES,
    )
    channels: int | None = option(None, "Generator base width (default 32 at 64 px, 64 at 128 px).", bounds=AT_LEAST_1)
    gen: str = option(
        "unet",
        "Generator: unet (encoder/decoder with skip connections and residual blocks at its bottleneck) or resnet.",
        choices=GENERATOR_KINDS,
    )
    res_blocks: int = option(3, "Residual blocks at the generator's bottleneck.", bounds=NOT_NEGATIVE)
    downsamplings: int | None = option(
        None, "Stride-2 stages of the generator's encoder (default 2 at 64 px, 3 at 128 px: a 16x16 bottleneck; at most down to 4x4).",
        bounds=AT_LEAST_1,
    )
    full_res_skip: bool | None = option(
        None, "U-Net: join the input's full-resolution features to the last decoder stage (default on for unet)."
    )
    attention: bool = option(False, "Self-attention after the generator's bottleneck blocks: each position sees the whole image.")
    upsample: str = option("resize", "Generator upsampling: resize (nearest + convolution) or transpose.", choices=UPSAMPLINGS)
    disc: str = option("patch", "Discriminator: patch (a map of scores) or dc (one score per image).", choices=DISCRIMINATOR_KINDS)
    disc_layers: int | None = option(
        None, f"Stride-2 layers of the patch discriminator (default {DEFAULT_DISC_LAYERS}: 78-px patches).", bounds=AT_LEAST_1
    )
    # Half of 64 makes a step 0.71x as long; the steps that buys in the same time brought the round trip within
    # target while the translations stayed as hard to tell from photos (docs/experiments.md).
    disc_channels: int = option(
        32, "Discriminator base width: its first layer's channels, doubled at each further layer up to 512.", bounds=AT_LEAST_1
    )
    spectral_norm: bool = option(False, "Spectral norm on the discriminators' convolutions instead of instance norm.")
    ema: float = option(
        0.999, "Moving average of the generators' weights with this decay (0: off), used for samples, eval, translate and render.",
        bounds=FRACTION,
    )
    temporal_weight: float | None = option(
        None,
        "Weight of the temporal-consistency L1 loss (its form: --temporal-form), so invented texture does not flicker "
        f"on moving footage (0: off). Default: {PAIRED_TEMPORAL_WEIGHT:g} when both data folders hold the frame pairs "
        "`vidgan extract --pair-gap N` keeps, else 0.",
        bounds=NOT_NEGATIVE,
    )
    temporal_form: str = option(
        DEFAULT_TEMPORAL_FORM,
        "Form of the temporal term: equivariance (a small random motion of each training image), frames (consecutive "
        "frames: G(frame t+N) against G(frame t) moved by their optical flow, from the pairs `vidgan extract --pair-gap N` "
        "keeps in both data folders), or auto: frames where both data folders hold pairs, else equivariance.",
        choices=TEMPORAL_FORMS,
    )
    pool: int = option(0, "History of N generated images shown to the discriminator(s) (0: off).", bounds=NOT_NEGATIVE)
    aug: str = option("deluxe", AUG_HELP, choices=AUGMENTATIONS)
    diffaug: bool = option(True, "DiffAugment every discriminator input.")
    diffaug_policy: str = option(",".join(DIFFAUG_POLICY), f"DiffAugment ops, comma-separated from {', '.join(DIFFAUG_POLICY)}.")
    lr: float = option(3e-4, "Adam learning rate of both networks.", bounds=POSITIVE)
    lr_g: float | None = option(None, "Generator learning rate (default: --lr).", bounds=POSITIVE)
    lr_d: float | None = option(None, "Discriminator learning rate (default: --lr).", bounds=POSITIVE)
    lr_decay_from: int | None = option(None, "From this step, decay the learning rates linearly to 0 at --iters.", bounds=NOT_NEGATIVE)
    batch_size: int = option(4, "Images of each domain per step.", bounds=AT_LEAST_1)
    iters: int = redefault(TrainOptions, "iters", 10000)
    precision: str = option("auto", "auto: bf16 mixed precision on CUDA, fp32 on the CPU.", choices=PRECISIONS)
    compile: bool = option(False, "torch.compile the networks (slow to start, faster steps).", flags=("--compile",))

    def check_combinations(self) -> None:
        if self.disc_layers is not None and self.disc != "patch":
            raise UsageError("--disc-layers is for --disc patch (the dc discriminator always goes down to 4x4)")
        if self.full_res_skip and self.gen != "unet":
            raise UsageError("--full-res-skip is for --gen unet")
        if self.lr_decay_from is not None and self.lr_decay_from >= self.iters:
            raise UsageError(f"--lr-decay-from must be a step from 0 to {self.iters - 1} (below --iters), got {self.lr_decay_from}")
        ops = self.diffaug_policy.split(",")
        if not self.diffaug_policy or any(op not in DIFFAUG_POLICY for op in ops):
            raise UsageError(f"--diffaug-policy takes a comma-separated list of {', '.join(DIFFAUG_POLICY)}; got {self.diffaug_policy!r}")
        if self.crop is not None and self.size not in (None, self.crop):
            raise UsageError(f"--crop {self.crop} trains the networks at {self.crop} px; leave out --size {self.size}")

    def resolved(self: Options, image_side: int | None, frame_pairs: bool = False) -> Options:
        """These options with what they leave open decided for the images (`image_side`: their side when they are
        squares of a training size, else None; `frame_pairs`: whether both data folders hold frame pairs): the size,
        the widths and depths that follow from it, and the temporal term's form and weight."""
        size = self.crop or self.size or image_side or CYCLEGAN_SIZES[-1]
        deepest = deepest_downsamplings(size)
        if self.downsamplings is not None and self.downsamplings > deepest:
            raise UsageError(f"--downsamplings must be from 1 to {deepest} at {size} px, got {self.downsamplings}")
        if self.disc_layers is not None and self.disc_layers > stages_to_4px(size):
            raise UsageError(f"--disc-layers must be from 1 to {stages_to_4px(size)} at {size} px, got {self.disc_layers}")
        return replace(
            self,
            size=size,
            channels=self.channels or default_channels(size),
            downsamplings=self.downsamplings or default_downsamplings(size),
            full_res_skip=self.gen == "unet" if self.full_res_skip is None else self.full_res_skip,
            disc_layers=(self.disc_layers or DEFAULT_DISC_LAYERS) if self.disc == "patch" else None,
            temporal_form=("frames" if frame_pairs else "equivariance") if self.temporal_form == "auto" else self.temporal_form,
            temporal_weight=(PAIRED_TEMPORAL_WEIGHT if frame_pairs else 0.0) if self.temporal_weight is None else self.temporal_weight,
        )

    def generator(self) -> GeneratorConfig:
        """The generator these (resolved) options describe."""
        return GeneratorConfig.for_size(
            self.size,
            channels=self.channels,
            res_blocks=self.res_blocks,
            kind=self.gen,
            downsamplings=self.downsamplings,
            upsample=self.upsample,
            full_res_skip=self.full_res_skip,
            attention=self.attention,
        )

    def discriminator(self) -> DiscriminatorConfig:
        """The discriminator these (resolved) options describe."""
        layers = self.disc_layers or DEFAULT_DISC_LAYERS  # the dc discriminator has no such option, nor uses it
        return DiscriminatorConfig(
            size=self.size, kind=self.disc, channels=self.disc_channels, layers=layers, spectral_norm=self.spectral_norm
        )


@dataclass(frozen=True, kw_only=True)
class CycleGANOptions(TranslationOptions):
    """A CycleGAN on two unpaired image domains (the folders `vidgan extract` writes, or any two image folders)."""

    kind: ClassVar[str] = "cyclegan"

    # 5, not the usual 10: with the U-Net's skips the round trip stays within target at 5, and the weight freed for
    # the adversarial term made translations harder to tell from photos (docs/experiments.md).
    cycle_weight: float = option(5.0, "Weight of the cycle-consistency L1 loss (0: none, as --no-cycle).", bounds=NOT_NEGATIVE)
    identity_weight: float = option(0.0, "Weight of the identity L1 loss (0: off).", bounds=NOT_NEGATIVE)


# The defaults of CUT and FastCUT below are the paper's (Park, Efros, Zhang, Zhu, ECCV 2020, and its code,
# taesungpark/contrastive-unpaired-translation): λ_GAN 1; λ_NCE 1 with the identity term (CUT) or 10 without it
# and with flip-equivariance (FastCUT); 256 patches per layer, temperature 0.07, 256-unit heads; Adam at 2e-4.
@dataclass(frozen=True, kw_only=True)
class CUTOptions(TranslationOptions):
    """CUT, Contrastive Unpaired Translation (Park et al. 2020): one generator a→b and one discriminator; PatchNCE
    keeps each output patch closer to its own input patch than to the image's other patches (a→b only)."""

    kind: ClassVar[str] = "cut"

    gan_weight: float = option(1.0, "Weight of the adversarial (least-squares GAN) loss, λ_GAN.", bounds=NOT_NEGATIVE)
    nce_weight: float = option(1.0, "Weight of the PatchNCE loss, λ_NCE.", bounds=POSITIVE)
    nce_identity: bool = option(True, "Identity PatchNCE: G(b) against b, averaged with G(a) against a.")
    nce_patches: int = option(256, "Patch positions sampled per encoder layer (the same for input and output).", bounds=AT_LEAST_1)
    nce_temperature: float = option(0.07, "PatchNCE temperature: cosine similarities are divided by it.", bounds=POSITIVE)
    nce_units: int = option(256, "Width of each layer's MLP head (Linear, ReLU, Linear) before L2 normalisation.", bounds=AT_LEAST_1)
    flip_equivariance: bool = option(
        False, "On a random half of the steps translate a mirrored, and compare the output's features mirrored back."
    )
    lr: float = redefault(TranslationOptions, "lr", 2e-4)


@dataclass(frozen=True, kw_only=True)
class FastCUTOptions(CUTOptions):
    """FastCUT (Park et al. 2020): CUT without the identity term, with a stronger PatchNCE (λ_NCE 10) and
    flip-equivariance; faster and lighter than CUT and CycleGAN (a→b only)."""

    kind: ClassVar[str] = "fastcut"

    nce_weight: float = redefault(CUTOptions, "nce_weight", 10.0)
    nce_identity: bool = redefault(CUTOptions, "nce_identity", False)
    flip_equivariance: bool = redefault(CUTOptions, "flip_equivariance", True)


@dataclass(frozen=True, kw_only=True)
class ImageOptions(TrainOptions):
    """What the models trained on one image folder (dcgan, mlp-gan, vae) take besides every job's options."""

    data: Path = given("Image folder to train on.", "DATA")
    channels_in: int | None = option(None, "Image channels: 1 (grey) or 3 (RGB) (default: as the images are stored).", choices=(1, 3))
    size: int | None = option(
        None, "Image side: 16, 32, 64 or 128 (default: the images' side when it is 64 or 128, else 64).", choices=POWER_OF_TWO_SIZES
    )

    def resolved(self: Options, image_side: int | None, image_channels: int) -> Options:
        """These options with what they leave open decided for the images (`image_side`: their side when they are
        64 or 128 px squares, else None; `image_channels`: 1 or 3, as they are stored)."""
        return replace(self, size=self.size or image_side or 64, channels_in=self.channels_in or image_channels)


@dataclass(frozen=True, kw_only=True)
class GANOptions(ImageOptions):
    """What both unconditional GANs (dcgan, mlp-gan) take."""

    noise_dim: int = option(100, "Size of the noise vector G starts from.", bounds=AT_LEAST_1)
    loss: str = option("bce", "GAN loss.", choices=GAN_LOSSES)
    critic_steps: int | None = option(
        None, f"Discriminator updates per generator update (default {WGAN_CRITIC_STEPS} with wgan-gp, else 1).", bounds=AT_LEAST_1
    )
    slope: float = option(0.2, "LeakyReLU negative slope.", bounds=FRACTION)
    lr_g: float = option(2e-4, "Generator learning rate.", bounds=POSITIVE)
    lr_d: float = option(2e-4, "Discriminator learning rate.", bounds=POSITIVE)

    def resolved(self: Options, image_side: int | None, image_channels: int) -> Options:
        critic_steps = self.critic_steps or (WGAN_CRITIC_STEPS if self.loss == "wgan-gp" else 1)
        return replace(super().resolved(image_side, image_channels), critic_steps=critic_steps)


@dataclass(frozen=True, kw_only=True)
class DCGANOptions(GANOptions):
    """A DCGAN (convolutional GAN) on one image folder."""

    kind: ClassVar[str] = "dcgan"

    channels: int = option(32, "Base width of G and D.", bounds=AT_LEAST_1)
    aug: str = option("basic", AUG_HELP, choices=AUGMENTATIONS)
    diffaug: bool = option(False, "DiffAugment every discriminator input.")


@dataclass(frozen=True, kw_only=True)
class MLPGANOptions(GANOptions):
    """The fully connected GAN on one folder of small images (e.g. 28x28 digits)."""

    kind: ClassVar[str] = "mlp-gan"

    size: int = option(28, "Image side.", bounds=Bounds(4, 128))
    channels: int = option(256, "Hidden units: G widens them 2x and 4x, D narrows from 4x.", bounds=AT_LEAST_1)
    aug: str = option("none", AUG_HELP, choices=AUGMENTATIONS)
    dropout: float = option(0.3, "Dropout in D.", bounds=FRACTION)
    batch_size: int = option(64, "Images per step (G's batch norm needs at least 2).", bounds=Bounds(2))


@dataclass(frozen=True, kw_only=True)
class VAEOptions(ImageOptions):
    """A convolutional variational autoencoder on one image folder."""

    kind: ClassVar[str] = "vae"

    channels: int = option(32, "Base width of the encoder and decoder.", bounds=AT_LEAST_1)
    noise_dim: int = option(64, "Size of the latent vector.", bounds=AT_LEAST_1)
    kl_weight: float = option(1.0, "Weight of the KL term.", bounds=NOT_NEGATIVE)
    aug: str = option("mirror", AUG_HELP, choices=AUGMENTATIONS)
    lr: float = option(1e-3, "Adam learning rate.", bounds=POSITIVE)
    beta1: float = redefault(TrainOptions, "beta1", 0.9)
    batch_size: int = redefault(TrainOptions, "batch_size", 32)


DISTILL_DIRECTIONS = ("auto", "a2b", "b2a", "both")


@dataclass(frozen=True, kw_only=True)
class DistillOptions(TrainOptions):
    """A small student generator per direction of a trained run (its teacher), trained to reproduce the teacher's
    translations: L1 to the teacher's output, its intermediate features through learned 1x1 maps, and the
    adversarial loss against a discriminator started from the teacher run's (GAN Compression, Li et al. 2020).
    The student trains on the teacher's training images, at its working scale, with its crops and augmentation,
    and keeps its held-out images out."""

    kind: ClassVar[str] = "distill"

    teacher: Path = given("The trained run to distil.")
    direction: str = option(
        "auto", "Which of the teacher's directions to distil: a2b, b2a, both, or auto (every one it translates).",
        choices=DISTILL_DIRECTIONS,
    )
    width: int | None = option(
        None, "Student base width (default: a quarter of the teacher's, about 1/16 of its multiply-adds in the wide layers).",
        bounds=AT_LEAST_1,
    )
    res_blocks: int = option(1, "Residual blocks at the student's bottleneck.", bounds=NOT_NEGATIVE)
    recon_weight: float = option(10.0, "Weight of the L1 distance to the teacher's output.", bounds=NOT_NEGATIVE)
    feature_weight: float = option(
        1.0, "Weight of the distance between the student's features (mapped by 1x1 convolutions) and the teacher's.",
        bounds=NOT_NEGATIVE,
    )
    gan_weight: float = option(1.0, "Weight of the adversarial loss against the discriminator (0: off).", bounds=NOT_NEGATIVE)
    lr: float = option(1e-3, "Adam learning rate of the student and the discriminator.", bounds=POSITIVE)
    ema: float = option(
        0.999, "Moving average of the students' weights with this decay (0: off), used by render and eval.", bounds=FRACTION
    )
    batch_size: int = option(4, "Images of each domain per step.", bounds=AT_LEAST_1)
    iters: int = redefault(TrainOptions, "iters", 1100)  # the demo run distils in under 2 minutes (docs/distill.md)
    sample_every: int = redefault(TrainOptions, "sample_every", 250)
    checkpoint_every: int = redefault(TrainOptions, "checkpoint_every", 500)
    # The student keeps the teacher's held-out images out (its split.json is the teacher's): no share of its own.
    holdout: float = field(default=0.0, metadata={"help": "", "cli": False, "bounds": None, "choices": ()})
    precision: str = option("auto", "auto: bf16 mixed precision on CUDA, fp32 on the CPU.", choices=PRECISIONS)


