# Panoptic GD-OCC: the mask head also outputs instances (one per thing-class query) and
# evaluation adds RayPQ (SparseOcc's panoptic metric) to RayIoU and mIoU. The labels must
# carry `instances` (int32 [200, 200, 16], 0 = none) next to `semantics` in labels.npz;
# LoadOccupancy(with_instances=True) packs them as `gt_occ_inst` for the matching.
_base_ = ['./r50_nuimg_704x256_8f.py']

model = dict(occ_head=dict(panoptic=True, thing_classes={{_base_.occ_thing_classes}}))

# The base's pipelines (steps by name), the occupancy with its instances.
train_pipeline = dict(load_occupancy=dict(with_instances=True))
test_pipeline = dict(load_occupancy=dict(with_instances=True))
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='OccupancyMetric', use_image_mask=True, panoptic=True)
test_evaluator = val_evaluator
