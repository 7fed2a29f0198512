"""Datasets and pipelines of GD-OCC; importing registers them (mmdet3d registries)."""
from . import datasets, pipelines  # noqa: F401 -- registers the modules
