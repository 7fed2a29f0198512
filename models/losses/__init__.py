"""Losses: class-weighted cross-entropy on label counts, Lovasz-softmax, scene-class
affinity (geometric / semantic), LSS depth."""
from .cross_entropy import CountCrossEntropyLoss
from .depth_loss import DepthLoss
from .lovasz_softmax import LovaszSoftmaxLoss, lovasz_softmax_counts, lovasz_softmax_flat
from .scene_class_affinity import GeoScalLoss, SemScalLoss

__all__ = ['CountCrossEntropyLoss', 'DepthLoss', 'GeoScalLoss', 'LovaszSoftmaxLoss',
           'SemScalLoss', 'lovasz_softmax_counts', 'lovasz_softmax_flat']
