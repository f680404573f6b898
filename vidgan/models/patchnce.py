"""PatchNCE's projection heads (Park, Efros, Zhang, Zhu: "Contrastive Learning for Unpaired Image-to-Image
Translation", ECCV 2020; CUT): features at sampled positions of several encoder layers, each layer's through its own
two-layer MLP, L2-normalised. The loss over them is vidgan.training.losses.patch_nce_loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def sample_positions(features: list[torch.Tensor], count: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Per feature map (N × C × H × W), `count` distinct random positions of its H·W (all of them where it has
    fewer), the same for every image of the batch: a LongTensor of flat indices each, on the map's device."""
    return [torch.randperm(f.shape[2] * f.shape[3], generator=generator)[:count].to(f.device) for f in features]


class PatchHeads(nn.Module):
    """One MLP (Linear → ReLU → Linear, `units` wide) per encoder layer, applied to the features at given positions
    and L2-normalised: N × C_l × H_l × W_l maps and P_l positions each → N × P_l × units unit vectors each."""

    def __init__(self, channels: tuple[int, ...], units: int = 256) -> None:
        super().__init__()
        self.mlps = nn.ModuleList(nn.Sequential(nn.Linear(c, units), nn.ReLU(), nn.Linear(units, units)) for c in channels)

    def forward(self, features: list[torch.Tensor], positions: list[torch.Tensor]) -> list[torch.Tensor]:
        if len(features) != len(self.mlps) or len(positions) != len(self.mlps):
            raise ValueError(f"{len(self.mlps)} heads, given {len(features)} feature maps and {len(positions)} position sets")
        projected = []
        for mlp, feature, index in zip(self.mlps, features, positions):
            picked = feature.flatten(2)[:, :, index].transpose(1, 2)  # N × P × C
            projected.append(F.normalize(mlp(picked), dim=-1))
        return projected
