"""Applications on top of trained methods: inference, evaluation, photo recognition and the demo.

Each module is the library half of one CLI command; ``genfer.cli`` only parses arguments.
"""
