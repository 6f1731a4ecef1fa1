"""Foundations every other layer uses: the plug-in registry, run configs, image files, weight caches.

Nothing here imports another genfer package; ``docs/architecture.md`` lists the layers above it.
"""
