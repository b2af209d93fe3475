import sys

from edgeconnect_tf.cli import main

sys.exit(main())
