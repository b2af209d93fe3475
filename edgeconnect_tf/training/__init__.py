"""Training: the config, the stages (`keras.Model`s with their `train_step`), losses,
optimizers, callbacks and `train`."""
