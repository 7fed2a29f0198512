"""GD-OCC models; importing registers every module into the mmdet3d registries."""
from . import ops  # noqa: F401
from . import (backbones, decoders, detectors, heads, losses, proposal,  # noqa: F401
               utils, view_transforms)
