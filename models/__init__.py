"""GD-OCC models; importing registers every module into the mmdet3d registries."""
from . import ops  # noqa: F401
from . import (backbones, decoders, detectors, heads, layers, losses, utils,  # noqa: F401
               view_transforms)
