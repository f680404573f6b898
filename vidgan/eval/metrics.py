"""Image-set metrics for `vidgan eval` (no I/O, no models): balanced accuracy, L1/PSNR, grey SSIM, LAB colour
statistics, edge SSIM, and distances between embedded images (pairwise spread, nearest neighbours).

Image batches are N×3×H×W float tensors in [-1, 1] as everywhere in vidgan; whole image sets are uint8.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def balanced_accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean of the per-class accuracies (0.5 = chance however unequal the classes are)."""
    per_class = [(predicted[labels == c] == c).float().mean().item() for c in (0, 1) if (labels == c).any()]
    return sum(per_class) / len(per_class)


def l1_per_image(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of each image pair, in [-1, 1] image units."""
    return (x - y).abs().mean(dim=(1, 2, 3))


def mse_per_image(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x - y).pow(2).mean(dim=(1, 2, 3))


def psnr(mse: float) -> float:
    """Peak signal-to-noise ratio in dB of a mean squared error (peak-to-peak range 2 for [-1, 1] images)."""
    return math.inf if mse == 0 else 10 * math.log10(4.0 / mse)


def grey(x: torch.Tensor) -> torch.Tensor:
    """N×1×H×W luma in [0, 1] (ITU-R BT.601 weights)."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
    return ((x + 1) / 2 * weights).sum(1, keepdim=True)


def ssim_per_image(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SSIM (Wang et al. 2004) of each pair of N×1×H×W maps of values in about [0, 1] (11×11 Gaussian window,
    σ = 1.5), averaged over the pixels: N values, 1 for identical maps."""
    coords = torch.arange(11, device=a.device, dtype=torch.float32) - 5
    g = torch.exp(-coords.pow(2) / (2 * 1.5**2))
    window = (g[:, None] * g[None, :] / g.sum() ** 2).view(1, 1, 11, 11)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(t, (5, 5, 5, 5), mode="reflect"), window)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a.pow(2)
    var_b = blur(b * b) - mu_b.pow(2)
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    ssim = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a.pow(2) + mu_b.pow(2) + c1) * (var_a + var_b + c2))
    return ssim.mean(dim=(1, 2, 3))


def ssim_grey_per_image(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SSIM of each pair's grey-level images: how much structure y keeps of x."""
    return ssim_per_image(grey(x), grey(y))


def edges(x: torch.Tensor) -> torch.Tensor:
    """N×1×H×W edge strength of images in [-1, 1]: the Sobel gradient magnitude of their grey levels, scaled so that
    a straight black-to-white step is 1 (diagonal steps reach a little more)."""
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=x.device)
    kernels = torch.stack([sobel, sobel.T])[:, None]  # 2×1×3×3: d/dx, d/dy
    gradient = F.conv2d(F.pad(grey(x), (1, 1, 1, 1), mode="replicate"), kernels)
    return gradient.pow(2).sum(1, keepdim=True).sqrt() / 4


def edge_ssim_per_image(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Edge SSIM: SSIM of each pair's edge maps (`edges`): how much of x's structure (where its edges are and how
    they run) y keeps, whatever it does to colour and flat texture; 1 = the same edges. A one-sided model's
    structure figure in place of a round trip's (vidgan eval)."""
    return ssim_per_image(edges(x), edges(y))


def lab_statistics(images: torch.Tensor) -> np.ndarray:
    """Mean and standard deviation of L*, a*, b* over every pixel of a uint8 N×3×H×W set: [mean L, a, b, std L, a, b]."""
    rgb = images.cpu().permute(0, 2, 3, 1).numpy().astype(np.float32) / 255.0
    lab = cv2.cvtColor(rgb.reshape(-1, 1, 3), cv2.COLOR_RGB2LAB).reshape(-1, 3)
    return np.concatenate([lab.mean(0), lab.std(0)])


def colour_distance(images: torch.Tensor, reference: torch.Tensor) -> float:
    """Euclidean distance between the LAB mean/std statistics of two uint8 image sets (L* from 0 to 100)."""
    return float(np.linalg.norm(lab_statistics(images) - lab_statistics(reference)))


def mean_pairwise_distance(points: torch.Tensor) -> float:
    """Mean Euclidean distance between the rows of an N×D tensor over all N·(N−1) ordered pairs (N ≥ 2)."""
    count = len(points)
    return (torch.cdist(points, points).sum() / (count * (count - 1))).item()  # the zero diagonal adds nothing
