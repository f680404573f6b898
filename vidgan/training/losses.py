"""Losses shared by the GAN pipelines: LSGAN, BCE (non-saturating) and WGAN-GP; PatchNCE (CUT)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

GRADIENT_PENALTY_WEIGHT = 10.0  # λ of Gulrajani et al. (2017)


def lsgan_loss(scores: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    """Least-squares GAN loss: push scores to 1 for real, 0 for fake."""
    return F.mse_loss(scores, torch.full_like(scores, 1.0 if target_is_real else 0.0))


def adversarial_loss(kind: str, scores: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    """How far scores are from the target: LSGAN squares, BCE on logits, or the Wasserstein critic's mean."""
    if kind == "lsgan":
        return lsgan_loss(scores, target_is_real)
    if kind == "bce":
        target = torch.full_like(scores, 1.0 if target_is_real else 0.0)
        return F.binary_cross_entropy_with_logits(scores, target)
    if kind == "wgan-gp":
        return -scores.mean() if target_is_real else scores.mean()
    raise ValueError(f"unknown GAN loss {kind!r}")


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    """WGAN-GP: (‖∇ critic(x̂)‖ − 1)² at random points x̂ between real and fake images; differentiable (create_graph)."""
    mix = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    points = (mix * real + (1 - mix) * fake).requires_grad_(True)
    (gradients,) = torch.autograd.grad(critic(points).sum(), points, create_graph=True)
    return ((gradients.flatten(1).norm(dim=1) - 1) ** 2).mean()


def patch_nce_loss(query: torch.Tensor, key: torch.Tensor, temperature: float) -> torch.Tensor:
    """PatchNCE (Park et al. 2020, CUT) per image: query and key are N × P × D unit vectors of the same P patch
    positions (query from the output, key from the input); each query patch should pick its own key patch out of the
    image's P, the others being its negatives: cross-entropy over its P cosine similarities / `temperature`.
    Returns N per-image means over the patches (log P for unrelated features, towards 0 where they match).

    Gradients flow to `query` only: the key is the fixed target (as in the paper's code)."""
    logits = torch.bmm(query.float(), key.detach().float().transpose(1, 2)) / temperature  # N × P × P: own patch on the diagonal
    n, p, _ = logits.shape
    own = torch.arange(p, device=logits.device).repeat(n)
    return F.cross_entropy(logits.flatten(0, 1), own, reduction="none").view(n, p).mean(dim=1)
