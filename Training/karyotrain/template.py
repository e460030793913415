"""The Template Module (DeepACEv2 Section 2.3, Eq. 1): five fixed 7x7 Gaussian masks and a 1-d embedding."""

import torch
from torch import nn

MASK_NAMES = ("T_D", "T_TD", "T_H", "T_V", "T_C")


def template_masks(size: int = 7) -> torch.Tensor:
    """(5,size,size) masks of Eq. 1 in the order T_D, T_TD, T_H, T_V, T_C; index [t, row, col], x=row-3, y=col-3."""
    half = (size - 1) // 2
    r = torch.arange(size, dtype=torch.float64) - half
    x = r[:, None].expand(size, size)
    y = r[None, :].expand(size, size)
    masks = torch.stack([
        torch.exp(-(x - y) ** 2 / 3),
        torch.exp(-(x + y) ** 2 / 3),
        torch.exp(-(y ** 2) / 3),
        torch.exp(-(x ** 2) / 3),
        torch.exp(-torch.abs(x ** 2 + y ** 2 - 5) / 3),
    ])
    return masks.float()


class _ReluWithLeakyGradient(torch.autograd.Function):
    """ReLU forward; backward lets 1% of the gradient through where the input is negative, so the one-channel
    template conv cannot die for good in training (the forward, and so inference, is a plain ReLU)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.relu(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * torch.where(x > 0, 1.0, 0.01).to(grad.dtype)


class TemplateModule(nn.Module):
    """1x1 conv 256->1 + ReLU, times each mask, flattened to 245 (t*49 + r*7 + c), FC 245 -> 1."""

    def __init__(self, channels: int = 256, size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, 1)
        self.fc = nn.Linear(5 * size * size, 1)
        self.register_buffer("masks", template_masks(size))
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(self.conv.bias)
        nn.init.normal_(self.fc.weight, std=0.01)  # embeddings start near 0: the quartic pull loss stays small
        nn.init.zeros_(self.fc.bias)

    def forward(self, roi_features: torch.Tensor) -> torch.Tensor:
        c = self.conv(roi_features)
        m = _ReluWithLeakyGradient.apply(c) if self.training and torch.is_grad_enabled() else torch.relu(c)  # (K,1,7,7)
        f = m * self.masks[None]  # (K,5,7,7)
        return self.fc(f.flatten(1)).squeeze(1)


@torch.no_grad()
def revive_if_dead(module: TemplateModule, foreground_peaks: torch.Tensor, alive_fraction: float = 0.1) -> bool:
    """Training safeguard against the collapse of the embedding.

    `foreground_peaks` holds, per foreground RoI, the largest pre-ReLU value of the template conv. When fewer than
    `alive_fraction` of them are positive, the ReLU is dead on chromosomes: every embedding equals the FC bias, the
    pull loss is 0, the push loss sits at delta, and the gradient cannot bring the conv back (the shared RoI
    features drift under the detection losses, while the template conv learns only from the small pull/push
    terms). The conv is then re-standardized so the peaks have median 0 and unit spread: half of the foreground
    RoIs are alive again, with activations of order 1 (large ones make the quartic pull loss explode and kill the
    ReLU again). Inference is unchanged (a plain ReLU with the learned weights). Returns whether it acted.
    """
    if foreground_peaks.numel() < 8 or float((foreground_peaks > 0).float().mean()) >= alive_fraction:
        return False
    median = foreground_peaks.median()
    spread = (foreground_peaks - median).abs().median().clamp(min=1e-6)
    module.conv.weight /= spread
    module.conv.bias.copy_((module.conv.bias - median) / spread)
    return True
