"""Built-in generator families (``vae``, ``flow``, ...) on one torch base and training loop.

Importing this package is light; torch is imported by the family modules.
"""
