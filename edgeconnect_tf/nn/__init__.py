"""Building blocks of the networks: layers, spectral norm, instance norm, the convolution modes."""
