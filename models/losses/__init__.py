"""Losses: Lovasz-softmax, scene-class affinity (geometric / semantic), LSS depth."""
from .depth_loss import DepthLoss
from .lovasz_softmax import LovaszSoftmaxLoss, lovasz_softmax_flat
from .scene_class_affinity import GeoScalLoss, SemScalLoss

__all__ = ['DepthLoss', 'LovaszSoftmaxLoss', 'lovasz_softmax_flat', 'GeoScalLoss',
           'SemScalLoss']
