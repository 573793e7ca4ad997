"""``python -m pipeline.cli``: the same command as ``regwire``."""

from .main import main

main()
