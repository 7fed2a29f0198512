# SparseOcc v1.1 panoptic (RayPQ), as its r50_nuimg_704x256_8f_pano.py: instance targets for
# the thing classes, SparseOcc's panoptic merge at inference (RayIoU and RayPQ are scored on
# the panoptic semantics).
_base_ = ['./sparseocc_r50_nuimg_704x256_8f.py']

model = dict(occ_head=dict(panoptic=True, thing_classes={{_base_.occ_thing_classes}}))

train_pipeline = [
    dict(type='LoadMultiViewImages', num_frames={{_base_.num_frames}},
         interval={{_base_.train_frame_interval}}, color_order={{_base_.color_order}}),
    dict(type='LoadOccupancy', with_instances=True),
    {{_base_.train_image_aug}},
    {{_base_.photometric_aug}},
    {{_base_.bev_aug}},
    dict(type='PackOccInputs'),
]
test_pipeline = [
    dict(type='LoadMultiViewImages', num_frames={{_base_.num_frames}},
         interval={{_base_.test_frame_interval}}, color_order={{_base_.color_order}}),
    dict(type='LoadOccupancy', with_instances=True),
    {{_base_.test_image_aug}},
    dict(type='PackOccInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='OccupancyMetric', use_image_mask=True, panoptic=True)
test_evaluator = val_evaluator
