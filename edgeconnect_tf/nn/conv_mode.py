"""The one setting for how the generators compute their convolutions: `conv_mode`.

Same weights, same pixels to float32 rounding (hole PSNR > 100 dB between modes):
- "direct": TensorFlow's (oneDNN's) convolutions.
- "graph": Winograd F(4×4, 3×3) residual blocks (`winograd.conv3x3_graph`) and the
  stride-2 and output convs as matmuls (`matmul_conv`), in plain TF ops: any image
  size, SavedModels and TFLite files; the fastest inference on AVX2 and AVX-512 CPUs
  (bench/RESULTS.md). The default of `EdgeConnect`, `edgeconnect inpaint/eval/export`.
- "xla": the same Winograd residual blocks, each one XLA cluster per static input shape
  (fused transforms and norms): the fastest float32 training steps on CPU.

Set when a network is built or loaded (`EdgeConnect(conv_mode=...)`,
`EdgeConnect.from_pretrained(..., conv_mode=...)`, the training config's `conv_mode`,
`--conv-mode` on the command line) and saved in its config. Imports nothing heavy, so
the command line can offer the choices.
"""

CONV_MODES = ("direct", "graph", "xla")
HELP = "how the generators compute their convolutions, same pixels to float32 rounding"
DESCRIPTIONS = {  # one line per mode, for `--conv-mode`'s help
    "graph": "Winograd and matmul forms in plain TF ops, any size; 1.4-2.5x faster than direct "
    "on CPU",
    "direct": "oneDNN's convolutions",
    "xla": "Winograd blocks compiled per size",
}


def check_conv_mode(value, name="conv_mode"):
    """`value` if it is one of `CONV_MODES`, else a ValueError naming `name` and the choices."""
    if value not in CONV_MODES:
        raise ValueError(f"{name} must be one of {', '.join(CONV_MODES)}; got {value!r}")
    return value
