# SparseOcc v1.1 panoptic (RayPQ), as its r50_nuimg_704x256_8f_pano.py: instance targets for
# the thing classes, SparseOcc's panoptic merge at inference (RayIoU and RayPQ are scored on
# the panoptic semantics).
_base_ = ['./sparseocc_r50_nuimg_704x256_8f.py']

model = dict(occ_head=dict(panoptic=True, thing_classes={{_base_.occ_thing_classes}}))

# The base's pipelines (steps by name), the occupancy with its instances.
train_pipeline = dict(load_occupancy=dict(with_instances=True))
test_pipeline = dict(load_occupancy=dict(with_instances=True))
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='OccupancyMetric', use_image_mask=True, panoptic=True)
test_evaluator = val_evaluator
