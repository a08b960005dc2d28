"""Benchmarks: tcpchat's threaded server against Twisted's LineReceiver chat.

Run ``python -m benchmarks --quick`` (about two minutes) or ``python -m
benchmarks`` (the full set, for the figures in ``docs/performance.md``).
See :mod:`benchmarks.loadgen` for how load is made and measured.
"""
