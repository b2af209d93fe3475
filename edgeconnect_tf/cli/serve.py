"""`edgeconnect serve`: the browser editor and TF Serving's REST contract on one port.

edgeconnect serve --weights weights/places2   # or --model serving/edgeconnect/1
"""


def uses_tensorflow(args):
    return not args.static_only  # the page alone runs the model in the browser


def add_arguments(parser):
    from edgeconnect_tf.serve import add_serve_arguments

    add_serve_arguments(parser)


def main(args):
    from edgeconnect_tf.serve import serve_command

    return serve_command(args)
