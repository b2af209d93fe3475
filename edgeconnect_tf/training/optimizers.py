"""Adam as PyTorch computes it, the authors' optimizer (`torch.optim.Adam`).

Keras' Adam adds epsilon to √v before the bias correction (its default ε is 1e-7);
PyTorch adds it after (default 1e-8):

    Keras:   θ -= lr · √(1 − β2ᵗ) / (1 − β1ᵗ) · m / (√v + ε)
    PyTorch: θ -= lr / (1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)

so a Keras ε is a PyTorch ε of ε / √(1 − β2ᵗ): 3.2 ε at the first step with
β2 = 0.9. The two differ where |gradient| is near ε. `TorchAdam` is the PyTorch
update, with the same variables as Keras' Adam (checkpoints are interchangeable).
"""

import keras
from keras import ops

TORCH_EPSILON = 1e-8  # torch.optim.Adam's default eps


@keras.saving.register_keras_serializable(package="edgeconnect_tf")
class TorchAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` with PyTorch's update and ε = 1e-8 (no amsgrad).

    Example:
    >>> opt = TorchAdam(1e-4, beta_1=0.0, beta_2=0.9)  # the authors' Adam
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=TORCH_EPSILON,
                 **kwargs):  # fmt: skip
        if kwargs.get("amsgrad"):
            raise ValueError("TorchAdam does not implement amsgrad")
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, **kwargs)

    def update_step(self, gradient, variable, learning_rate):
        """torch.optim.Adam's step for one variable (m, v are Keras' momentum/velocity)."""
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype)
        correction_1 = 1 - ops.power(beta_1, step)
        correction_2 = 1 - ops.power(beta_2, step)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - beta_1))
        self.assign(v, ops.add(ops.multiply(v, beta_2), ops.square(gradient) * (1 - beta_2)))
        denominator = ops.sqrt(v) / ops.sqrt(correction_2) + self.epsilon
        self.assign_sub(variable, (lr / correction_1) * m / denominator)
