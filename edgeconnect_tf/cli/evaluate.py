"""`edgeconnect eval`: the paper's metrics on a dataset, by hole-ratio bucket, with baselines.

edgeconnect eval --weights DIR --data DIR (--masks DIR | --mask-type TYPE) --output DIR
"""

from edgeconnect_tf.cli.inpaint import add_eval_arguments as add_arguments
from edgeconnect_tf.cli.inpaint import eval_command as main

__all__ = ["add_arguments", "main"]
