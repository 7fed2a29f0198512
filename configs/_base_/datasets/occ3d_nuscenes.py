# Occ3D-nuScenes data settings of the paper (SparseOcc's 704x256, 8-frame setting):
# six cameras, the current keyframe + 7 past camera frames, images resized/cropped to
# 704 x 256. Infos come from `python tools/create_data.py --root data/nuscenes`.
# Combine with `../occ3d_evaluation.py` and `../default_runtime.py`. This base alone holds
# `custom_imports`, the grid and the label set (the dataset is the plugin's, and grid and
# labels belong to the data): mmengine refuses a key defined by two bases of one config.
# The grid and the class names are stated here only: the pipeline and the dataset's
# metainfo (which the evaluator reads) take them below, the model through the complete
# config (`model = dict(occ_grid=..., class_names=...)`). A config that changes them
# restates the `load_occupancy` and `bev_aug` steps and the datasets' `metainfo` with its
# values (mmengine evaluates this file before the config's own lines).
custom_imports = dict(imports=['models', 'loaders', 'evaluation'], allow_failed_imports=False)

dataset_type = 'Occ3DNuScenesDataset'
data_root = 'data/nuscenes/'
# Occ3D's grid, indexed [x, y, z] in the ego frame: 200 x 200 x 16 voxels of 0.4 m from
# (-40, -40, -1) m to (40, 40, 5.4) m.
occ_grid = dict(grid_min=[-40.0, -40.0, -1.0], voxel_size=0.4, grid_shape=[200, 200, 16])
occ_class_names = [
    'others', 'barrier', 'bicycle', 'bus', 'car', 'construction_vehicle', 'motorcycle',
    'pedestrian', 'traffic_cone', 'trailer', 'truck', 'driveable_surface', 'other_flat',
    'sidewalk', 'terrain', 'manmade', 'vegetation', 'free']
# Classes that form instances (panoptic targets and RayPQ), as SparseOcc's.
occ_thing_classes = ['car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'motorcycle',
                     'bicycle', 'pedestrian']
# Voxels of each label in Occ3D-nuScenes train (SparseOcc's NUSC_CLASS_FREQ): the decoder's
# cross-entropy weights classes by 1 / log(frequency).
occ_class_frequencies = [
    944004, 1897170, 152386, 2391677, 16957802, 724139, 189027, 2074468, 413451, 2384460,
    5916653, 175883646, 4275424, 51393615, 61411620, 105975596, 116424404, 1892500630]

num_cams = 6  # the six nuScenes cameras, in core.occ3d.NUSCENES_CAMERAS order
num_frames = 8
# Camera frames between picked past frames: nuScenes cameras run at 12 Hz, keyframes at
# 2 Hz, so 6 frames = 0.5 s. Training draws one interval per sample in [4, 8] (SparseOcc).
train_frame_interval = [4, 8]
test_frame_interval = 6
max_past_frames = (num_frames - 1) * max(train_frame_interval)

image_size = (704, 256)  # (width, height)
# Scales relative to the smallest scale covering 704 x 256 (0.44 for 1600 x 900 images):
# SparseOcc's resize_lim (0.38, 0.55) / 0.44.
train_image_aug = dict(type='ImageAug3D', final_size=image_size,
                       resize_range=(0.38 / 0.44, 0.55 / 0.44), bottom_crop_range=(0.0, 0.0),
                       flip_prob=0.5, rotation_range=(0.0, 0.0))
test_image_aug = dict(type='ImageAug3D', final_size=image_size,
                      bottom_crop_range=(0.0, 0.0), test_mode=True)
# BEV augmentation as SparseOcc's BEVAug: rotation in +-22.5 degrees and x / y flips
# (labels, masks, cameras, ray origins).
bev_aug = dict(type='BEVAug', flip_x_prob=0.5, flip_y_prob=0.5, rotation_range=(-22.5, 22.5),
               occ_grid=occ_grid)
load_occupancy = dict(type='LoadOccupancy', num_classes=len(occ_class_names),
                      grid_shape=occ_grid['grid_shape'])
occ_metainfo = dict(classes=occ_class_names, thing_classes=occ_thing_classes, occ_grid=occ_grid)
# DepthNet supervision: nearest LiDAR depth per 16 x 16 pixel cell, 1-45 m.
depth_target = dict(type='LiDARDepthTarget', stride=16, depth_range=(1.0, 45.0), load_dim=5)

color_order = 'rgb'
# Photometric distortion of every view (SparseOcc's img_color_aug: mmdet's
# PhotoMetricDistortion defaults).
photometric_aug = dict(type='MultiViewPhotoMetricDistortion', color_order=color_order)
# For the model's data_preprocessor (Det3DDataPreprocessor): ImageNet statistics in the
# loader's channel order (RGB), no channel swap.
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                    bgr_to_rgb=False)

# Each pipeline is a dict of named steps, in order, so that a config changes one step by its
# name (mmengine merges dicts, not lists) and the pipeline is written once: the toy world
# sets its frames and image size, the panoptic configs `load_occupancy`, SparseOcc's drops
# `depth_target` (None). The dataset applies the steps in this order.
train_pipeline = dict(
    load_images=dict(type='LoadMultiViewImages', num_frames=num_frames,
                     interval=train_frame_interval, color_order=color_order),
    load_occupancy=load_occupancy,
    image_aug=train_image_aug,
    photometric_aug=photometric_aug,
    bev_aug=bev_aug,
    depth_target=depth_target,
    pack=dict(type='PackOccInputs'))
test_pipeline = dict(
    load_images=dict(type='LoadMultiViewImages', num_frames=num_frames,
                     interval=test_frame_interval, color_order=color_order),
    load_occupancy=load_occupancy,
    image_aug=test_image_aug,
    pack=dict(type='PackOccInputs'))

train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type=dataset_type, data_root=data_root,
                 ann_file='nuscenes_infos_train_sweep.pkl', pipeline=train_pipeline,
                 max_past_frames=max_past_frames, metainfo=occ_metainfo,
                 test_mode=False, lazy_init=True))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type=dataset_type, data_root=data_root,
                 ann_file='nuscenes_infos_val_sweep.pkl', pipeline=test_pipeline,
                 max_past_frames=max_past_frames, metainfo=occ_metainfo,
                 test_mode=True, lazy_init=True))
# Occ3D-nuScenes test labels are not public: testing runs on the val split.
test_dataloader = val_dataloader
