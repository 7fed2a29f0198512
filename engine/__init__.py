"""Training / evaluation runtime on mmengine's Runner: hooks, the resumable epoch loop and its
sampler (registered into the mmdet3d registries on import), and the config checks and
settings the entry points apply (``engine.config``)."""
from . import hooks, loops, samplers  # noqa: F401 -- registers the modules
