"""Starting TensorFlow without its C++ start-up lines (oneDNN notices, CUDA stubs,
"failed call to cuInit" on CPU machines), unless the user set TF_CPP_MIN_LOG_LEVEL."""

import os
import sys
import threading


def quiet_tensorflow():
    """Imports TensorFlow quietly; then TensorFlow logs only errors it raises.

    The lines printed before TF_CPP_MIN_LOG_LEVEL is read are hidden by pointing file
    descriptor 2 at /dev/null for the import: only while this is the process's one
    thread, since the descriptor is shared by every thread (a server's, Beam's workers').
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # read by TensorFlow after start-up
    if threading.active_count() > 1:
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
