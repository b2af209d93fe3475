"""Evaluation: the paper's metrics and `edgeconnect eval`'s library side."""
