"""Data: Canny edges, masks, image operations and the tf.data input pipeline."""
