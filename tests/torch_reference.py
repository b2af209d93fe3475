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

import numpy as np
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


# ------------------------------------------------------------------ test() path


def reference_test(g1, g2, image, hole, sigma=2.0):
    """The authors' `test()` for one image: uint8 [H, W, 3] RGB, bool [H, W] hole -> uint8.

    Native size (H, W multiples of 4), batch 1, nets in eval mode: gray =
    skimage's rgb2gray, edges = skimage Canny (σ, 0.1 / 0.2) of the known part
    only; G1 on [gray·(1−m) + m, edges·(1−m), m]; G2 on [rgb·(1−m) + m, G1's raw
    output over the whole image]; composite with the known pixels; `(x · 255).int()`.
    """
    from skimage.color import rgb2gray
    from skimage.feature import canny

    gray = rgb2gray(image)
    edges = canny(gray, sigma=sigma, low_threshold=0.1, high_threshold=0.2, mask=~hole)

    def tensor(a):  # [H, W(, C)] -> float32 [1, C, H, W]
        a = np.asarray(a, np.float32)
        return torch.from_numpy(a[..., None] if a.ndim == 2 else a).permute(2, 0, 1)[None]

    images = tensor(image.astype(np.float32) / 255)
    gray, edges, masks = tensor(gray), tensor(edges), tensor(hole)
    g1.eval()
    g2.eval()
    with torch.no_grad():
        g1_input = torch.cat([gray * (1 - masks) + masks, edges * (1 - masks), masks], dim=1)
        raw_edges = g1(g1_input)
        outputs = g2(torch.cat([images * (1 - masks) + masks, raw_edges], dim=1))
        merged = outputs * masks + images * (1 - masks)
    return (merged * 255.0).int()[0].permute(1, 2, 0).numpy().astype(np.uint8)


# ------------------------------------------------------------------ VGG19 and losses

# torchvision's vgg19 `features`: 3×3 convs (padding 1) + ReLU, "M" = 2×2 max pool.
VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M")
VGG19_CFG += (512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


class VGG19(nn.Module):
    """torchvision's VGG19 with only `features` (state dict keys `features.N.weight/bias`).

    Initialized as torchvision does (kaiming normal, fan_out, biases 0); call it to
    get the authors' activations {relu1_1, ..., relu5_2} of a [B, 3, H, W] input in
    [0, 1], fed without normalization.
    """

    def __init__(self):
        super().__init__()
        layers, names, c, block, conv = [], [], 3, 1, 1
        for v in VGG19_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                names.append(None)
                block, conv = block + 1, 1
                continue
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
            names += [None, f"relu{block}_{conv}"]
            c, conv = v, conv + 1
        self.features = nn.Sequential(*layers)
        self.names = names
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x):
        out = {}
        for layer, name in zip(self.features, self.names, strict=True):
            x = layer(x)
            if name is not None:
                out[name] = x.clone()  # the next ReLU works in place
            if name == "relu5_2":
                break
        return out


PERCEPTUAL = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
STYLE = ("relu2_2", "relu3_4", "relu4_4", "relu5_2")


def gram(f):
    """f fᵀ / (C·H·W) of [B, C, H, W] features."""
    b, c, h, w = f.shape
    f = f.reshape(b, c, h * w)
    return f.bmm(f.transpose(1, 2)) / (c * h * w)


def perceptual_loss(vgg, x, y):
    """Σ over relu1_1 … relu5_1 of mean |φ(x) − φ(y)|."""
    fx, fy = vgg(x), vgg(y)
    return sum(nn.functional.l1_loss(fx[n], fy[n]) for n in PERCEPTUAL)


def style_loss(vgg, x, y):
    """Σ over relu2_2, relu3_4, relu4_4, relu5_2 of mean |Gram(φ(x)) − Gram(φ(y))|."""
    fx, fy = vgg(x), vgg(y)
    return sum(nn.functional.l1_loss(gram(fx[n]), gram(fy[n])) for n in STYLE)


def adversarial_loss(scores, real):
    """nsgan: BCELoss on sigmoid outputs against all-real or all-fake labels."""
    return nn.functional.binary_cross_entropy(scores, torch.full_like(scores, float(real)))


# ------------------------------------------------------------------ training steps


def adam(net, lr):
    """The authors' optimizer: Adam(lr, betas (0, 0.9)), PyTorch's default eps 1e-8."""
    return torch.optim.Adam(net.parameters(), lr=lr, betas=(0.0, 0.9))


def _update(loss_and_params):
    """Takes every gradient first (pre-update D for both), then steps each optimizer.

    `loss_and_params`: [(loss, optimizer)]. The authors step D before G's backward; with
    the PyTorch of their time G's gradient still came from the pre-update D (its
    spectral-normalized weights are tensors of the forward), which this reproduces
    on current PyTorch (that rejects their order as an in-place modification).
    """
    grads = []
    for loss, opt in loss_and_params:
        params = [p for group in opt.param_groups for p in group["params"]]
        grads.append(torch.autograd.grad(loss, params, allow_unused=True))
    for (_, opt), gs in zip(loss_and_params, grads, strict=True):
        params = [p for group in opt.param_groups for p in group["params"]]
        for p, g in zip(params, gs, strict=True):
            p.grad = torch.zeros_like(p) if g is None else g
        opt.step()


def edge_train_step(g1, d1, opt_g, opt_d, gray, edges, masks, fm_weight=10.0):
    """One step of the authors' EdgeModel.process + backward; returns {d1, g1, fm}.

    NCHW float32 tensors; D called three times (real, detached fake, fake).
    """
    g1.train()
    d1.train()
    outputs = g1(torch.cat([gray * (1 - masks) + masks, edges * (1 - masks), masks], dim=1))
    real, real_feats = d1(torch.cat([gray, edges], dim=1))
    fake, _ = d1(torch.cat([gray, outputs.detach()], dim=1))
    d_loss = (adversarial_loss(real, True) + adversarial_loss(fake, False)) / 2
    gen_fake, gen_feats = d1(torch.cat([gray, outputs], dim=1))
    g_adv = adversarial_loss(gen_fake, True)
    fm = fm_weight * sum(
        nn.functional.l1_loss(f, r.detach()) for f, r in zip(gen_feats, real_feats, strict=True)
    )
    _update([(d_loss, opt_d), (g_adv + fm, opt_g)])
    return {"d1": d_loss.item(), "g1": g_adv.item(), "fm": fm.item()}


def inpaint_train_step(g2, d2, vgg, opt_g, opt_d, images, edges, masks, weights=None):
    """One step of the authors' InpaintingModel.process + backward; returns the five logs.

    `weights`: {adv, l1, content, style} (paper: 0.1, 1, 0.1, 250). Logged terms are
    weighted, as the authors log them: d2, g2, l1, perceptual, style.
    """
    w = {"adv": 0.1, "l1": 1.0, "content": 0.1, "style": 250.0, **(weights or {})}
    g2.train()
    d2.train()
    outputs = g2(torch.cat([images * (1 - masks) + masks, edges], dim=1))
    real, _ = d2(images)
    fake, _ = d2(outputs.detach())
    d_loss = (adversarial_loss(real, True) + adversarial_loss(fake, False)) / 2
    gen_fake, _ = d2(outputs)
    logs = {
        "g2": w["adv"] * adversarial_loss(gen_fake, True),
        "l1": w["l1"] * nn.functional.l1_loss(outputs, images) / torch.mean(masks),
        "perceptual": w["content"] * perceptual_loss(vgg, outputs, images),
        "style": w["style"] * style_loss(vgg, outputs * masks, images * masks),
    }
    _update([(d_loss, opt_d), (sum(logs.values()), opt_g)])
    return {"d2": d_loss.item(), **{k: v.item() for k, v in logs.items()}}
