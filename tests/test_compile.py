"""XLA compiles a training step with its variables as run-time inputs (issue 21).

A variable XLA takes as a compile-time constant is baked into the compiled step:
the step recompiles whenever a weight changes (every step) and XLA constant-folds
the network through it (`jit_compile: true` with `conv_mode: xla` at full size ran
past 20 minutes on its first step, "constant folding is taking too long"). The
HLO names such a constant after its ReadVariableOp; tiny networks, same graph.
"""

import re

import keras
import pytest
import tensorflow as tf
from test_reference import make_batch

from edgeconnect_tf.training.stages import EdgeModel


def variables_baked_into_hlo(conv_mode):
    keras.utils.set_random_seed(0)
    model = EdgeModel(residual_blocks=1, filters=8, conv_mode=conv_mode)
    model.build_networks(32)
    model.compile(jit_compile=True)
    batch = {k: tf.constant(v) for k, v in make_batch(2, 32).items()}
    step = tf.function(model.train_step, jit_compile=True)
    hlo = step.experimental_get_compiler_ir(batch)(stage="hlo")
    entry = hlo[hlo.index("ENTRY") :]
    inputs = len(re.findall(r"= \S+ parameter\(", entry.split("\n}")[0]))
    assert inputs >= len(model.trainable_variables), inputs  # the weights come in as inputs
    return re.findall(r"ReadVariableOp[.\d]* = \S+ constant\(", hlo)  # none baked in


@pytest.mark.parametrize("conv_mode", ["direct", pytest.param("xla", marks=pytest.mark.slow)])
def test_jit_compiled_train_step_takes_variables_as_inputs(conv_mode):
    assert variables_baked_into_hlo(conv_mode) == []
