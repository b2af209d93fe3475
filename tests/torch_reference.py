"""A small PyTorch reference of the EdgeConnect networks, for parity tests and benchmarks.

Written from shared/reference/edgeconnect-reference.md ("Networks" and "The
official checkpoints"); module names are those of the authors' checkpoints, so
`state_dict()` has exactly their keys (`encoder.1.weight_orig`,
`middle.0.conv_block.5.weight_u`, `decoder.7.bias`, `conv1.0.weight_v`,
`features.0.*`, ...). Layout is channels-first (NCHW), as in PyTorch.

Example:
    >>> g1, g2, d1, d2 = build_reference(residual_blocks=1, filters=8)
    >>> g1(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 1, 32, 32])
"""

import torch
from torch import nn


def _sn(module, enabled):
    """`torch.nn.utils.spectral_norm` (dim 1 for transposed convs) when `enabled`."""
    return nn.utils.spectral_norm(module) if enabled else module


def init_weights(net, gain=0.02):
    """The reference initialization: conv kernels ~ N(0, gain), biases 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            w = m.weight_orig if hasattr(m, "weight_orig") else m.weight
            nn.init.normal_(w, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class ResnetBlock(nn.Module):
    """x + IN(conv3x3(pad1(ReLU(IN(conv3x3_dil(pad_dil(x))))))); bias only without SN."""

    def __init__(self, dim, dilation=2, use_spectral_norm=False):
        super().__init__()
        bias = not use_spectral_norm
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(dilation),
            _sn(nn.Conv2d(dim, dim, 3, dilation=dilation, bias=bias), use_spectral_norm),
            nn.InstanceNorm2d(dim, track_running_stats=False),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            _sn(nn.Conv2d(dim, dim, 3, bias=bias), use_spectral_norm),
            nn.InstanceNorm2d(dim, track_running_stats=False),
        )

    def forward(self, x):
        return x + self.conv_block(x)


class _Generator(nn.Module):
    """Encoder (indices 0..9), residual blocks, decoder (indices 0..7); logits out."""

    def __init__(self, in_channels, out_channels, residual_blocks, filters, use_spectral_norm):
        super().__init__()
        f, sn = filters, use_spectral_norm
        self.encoder = nn.Sequential(
            nn.ReflectionPad2d(3),
            _sn(nn.Conv2d(in_channels, f, 7), sn),
            nn.InstanceNorm2d(f, track_running_stats=False),
            nn.ReLU(True),
            _sn(nn.Conv2d(f, 2 * f, 4, stride=2, padding=1), sn),
            nn.InstanceNorm2d(2 * f, track_running_stats=False),
            nn.ReLU(True),
            _sn(nn.Conv2d(2 * f, 4 * f, 4, stride=2, padding=1), sn),
            nn.InstanceNorm2d(4 * f, track_running_stats=False),
            nn.ReLU(True),
        )
        self.middle = nn.Sequential(
            *[ResnetBlock(4 * f, 2, use_spectral_norm=sn) for _ in range(residual_blocks)]
        )
        self.decoder = nn.Sequential(
            _sn(nn.ConvTranspose2d(4 * f, 2 * f, 4, stride=2, padding=1), sn),
            nn.InstanceNorm2d(2 * f, track_running_stats=False),
            nn.ReLU(True),
            _sn(nn.ConvTranspose2d(2 * f, f, 4, stride=2, padding=1), sn),
            nn.InstanceNorm2d(f, track_running_stats=False),
            nn.ReLU(True),
            nn.ReflectionPad2d(3),
            nn.Conv2d(f, out_channels, 7),
        )

    def logits(self, x):
        return self.decoder(self.middle(self.encoder(x)))


class EdgeGenerator(_Generator):
    """G1: [B, 3, H, W] (gray, edges, mask) -> [B, 1, H, W] sigmoid edges."""

    def __init__(self, residual_blocks=8, filters=64, use_spectral_norm=True):
        super().__init__(3, 1, residual_blocks, filters, use_spectral_norm)
        init_weights(self)

    def forward(self, x):
        return torch.sigmoid(self.logits(x))


class InpaintGenerator(_Generator):
    """G2: [B, 4, H, W] (RGB, edges) -> [B, 3, H, W] as (tanh + 1) / 2; no spectral norm."""

    def __init__(self, residual_blocks=8, filters=64):
        super().__init__(4, 3, residual_blocks, filters, False)
        init_weights(self)

    def forward(self, x):
        return (torch.tanh(self.logits(x)) + 1) / 2


class Discriminator(nn.Module):
    """PatchGAN: [B, C, H, W] -> (scores, [conv1..conv5 outputs]).

    `features` is the same module as `conv1`, as in the reference, so the
    state dict repeats conv1's tensors under `features.0.*`.
    """

    def __init__(self, in_channels, filters=64, use_sigmoid=True, use_spectral_norm=True):
        super().__init__()
        self.use_sigmoid = use_sigmoid
        f, sn = filters, use_spectral_norm
        spec = [(in_channels, f, 2), (f, 2 * f, 2), (2 * f, 4 * f, 2), (4 * f, 8 * f, 1)]
        for i, (c_in, c_out, s) in enumerate(spec):
            conv = nn.Conv2d(c_in, c_out, 4, stride=s, padding=1, bias=not sn)
            setattr(self, f"conv{i + 1}", nn.Sequential(_sn(conv, sn), nn.LeakyReLU(0.2, True)))
            if i == 0:
                self.features = self.conv1  # registered right after conv1, as in the reference
        self.conv5 = nn.Sequential(_sn(nn.Conv2d(8 * f, 1, 4, padding=1, bias=not sn), sn))
        init_weights(self)

    def forward(self, x):
        c1 = self.conv1(x)
        c2 = self.conv2(c1)
        c3 = self.conv3(c2)
        c4 = self.conv4(c3)
        c5 = self.conv5(c4)
        out = torch.sigmoid(c5) if self.use_sigmoid else c5
        return out, [c1, c2, c3, c4, c5]


def build_reference(residual_blocks=8, filters=64, use_sigmoid=True):
    """(G1, G2, D1, D2) with the reference initialization (D1: 2 inputs, D2: 3)."""
    return (
        EdgeGenerator(residual_blocks, filters),
        InpaintGenerator(residual_blocks, filters),
        Discriminator(2, filters, use_sigmoid),
        Discriminator(3, filters, use_sigmoid),
    )


def count_parameters(net):
    """Trainable parameters (u/v buffers excluded; shared modules counted once)."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
