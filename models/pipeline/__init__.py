"""The solve pipeline: the stages that turn a problem into a checked plan (see :mod:`models.pipeline.run`)."""

from models.pipeline.run import solve

__all__ = ["solve"]
