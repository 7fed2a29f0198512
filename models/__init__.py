"""GD-OCC models; importing registers every module into the mmdet3d registries."""
from . import ops  # noqa: F401
from . import backbones, decoders, heads, losses, proposal, utils, view_transforms  # noqa: F401
