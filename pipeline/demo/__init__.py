"""The offline demo: a sample news site served on 127.0.0.1 and the pipeline run over it."""

from .server import LoopbackSite, Response, demo_sources_path, site_root

__all__ = ["LoopbackSite", "Response", "demo_sources_path", "site_root"]
