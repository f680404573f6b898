"""How hard each of a CUT or FastCUT run's generator terms pulls on its translations: the gradient of λ_GAN·GAN and of
λ_NCE·PatchNCE with respect to the translated images, at the run's newest checkpoint (or with `!` after the folder,
at the weights the run's config builds before its first step).

    PYTHONPATH=. python bench/cut_balance.py RUN [RUN! ...] [--batches 4]

Per run: the two terms' values and the norms of their gradients on a batch of 4 of the run's training images of a
(mean over `--batches` batches), their ratio and cosine. Where PatchNCE's pull is many times the GAN term's, the
generator keeps its input: the discriminator then wins and the GAN term stops changing (docs/cut.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from benchlib import machine

from vidgan.core.directions import A2B
from vidgan.runs.checkpoints import load_latest_checkpoint
from vidgan.runs.kinds import model_kind
from vidgan.training.losses import lsgan_loss


def balance(run: Path, fresh: bool, batches: int) -> str:
    """One line: the run's terms and their gradients' norms w.r.t. the translations (see the module's docstring)."""
    config = json.loads((run / "config.json").read_text())
    torch.manual_seed(0)
    task = model_kind(config["kind"]).get("build_task")(config, torch.device("cpu"))
    step = 0
    if not fresh:
        checkpoint = load_latest_checkpoint(run)
        for name, module in task.modules.items():
            module.load_state_dict(checkpoint["models"][name])
        step = int(checkpoint["step"])
    options, generator = task.options, task.generators[A2B.name]
    totals = torch.zeros(5, dtype=torch.float64)
    for seed in range(batches):
        torch.manual_seed(100 + seed)
        real = task.banks["a"].batch(4)
        with torch.no_grad():
            translated = generator(real)
        translated.requires_grad_(True)
        gan = options.gan_weight * lsgan_loss(task._judge("b", translated), True)
        nce = options.nce_weight * task.nce(real, translated).mean()
        (pull_gan,) = torch.autograd.grad(gan, translated)
        (pull_nce,) = torch.autograd.grad(nce, translated)
        cosine = torch.nn.functional.cosine_similarity(pull_gan.flatten(), pull_nce.flatten(), dim=0)
        totals += torch.tensor([gan.item(), nce.item(), pull_gan.norm().item(), pull_nce.norm().item(), cosine.item()])
    gan, nce, pull_gan, pull_nce, cosine = (totals / batches).tolist()
    return (
        f"{run.name} ({config['kind']}, λ_NCE {options.nce_weight:g}), step {step}: λ·GAN {gan:.3f}, λ·NCE {nce:.3f}; "
        f"gradient norms on the translations: GAN {pull_gan:.3f}, NCE {pull_nce:.3f}, NCE/GAN {pull_nce / pull_gan:.1f}, "
        f"cosine {cosine:+.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders; a trailing ! takes the weights before the first step")
    parser.add_argument("--batches", type=int, default=4)
    args = parser.parse_args()
    print(machine())
    for run in args.runs:
        print(balance(Path(run.rstrip("!")), run.endswith("!"), args.batches), flush=True)


if __name__ == "__main__":
    main()
