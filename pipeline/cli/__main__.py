"""``python -m pipeline.cli``: the same command as ``regwire``."""

from .app import main

main()
