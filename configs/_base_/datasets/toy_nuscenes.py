# Toy nuScenes world (tools/make_toy_nuscenes.py) at CPU scale: 288 x 160 images, the
# current keyframe + 1 past frame. Infos: `python tools/create_data.py --root
# data/toy_nuscenes` (train/val from data/toy_nuscenes/toy_split.json).
_base_ = ['./occ3d_nuscenes.py']

data_root = 'data/toy_nuscenes/'
# Label counts of the toy train split (`python tools/occupancy_stats.py --data-root
# data/toy_nuscenes`): the cross-entropy's class weights come from the data trained on.
occ_class_frequencies = [
    4913, 7248, 8423, 16819, 257530, 21929, 6548, 28720, 1673, 17918, 84209, 1194219, 380652,
    778345, 1689684, 1076850, 743402, 96080918]
num_frames = 2
# The generator writes 2 camera sweeps between keyframes (3 frames = 0.5 s): the test
# interval picks the previous keyframe, training draws 2 or 3.
train_frame_interval = [2, 3]
test_frame_interval = 3
max_past_frames = (num_frames - 1) * max(train_frame_interval)

# (width, height): the whole 800 x 450 toy image at scale 0.36 (2 rows cropped), as many
# pixels as the paper's 704 x 256 crop at half size (352 x 128), which cut off the upper
# 70 rows and with them a quarter to half of the visible facades and canopies.
image_size = (288, 160)
train_image_aug = dict(type='ImageAug3D', final_size=image_size,
                       resize_range=(0.92, 1.12), bottom_crop_range=(0.0, 0.0),
                       flip_prob=0.5, rotation_range=(0.0, 0.0))
test_image_aug = dict(type='ImageAug3D', final_size=image_size,
                      bottom_crop_range=(0.0, 0.0), test_mode=True)
depth_target = dict(type='LiDARDepthTarget', stride=16, depth_range=(1.0, 45.0), load_dim=5)

train_pipeline = [
    dict(type='LoadMultiViewImages', num_frames=num_frames, interval=train_frame_interval,
         color_order={{_base_.color_order}}),
    dict(type='LoadOccupancy'),
    train_image_aug,
    {{_base_.photometric_aug}},
    {{_base_.bev_aug}},
    depth_target,
    dict(type='PackOccInputs'),
]
test_pipeline = [
    dict(type='LoadMultiViewImages', num_frames=num_frames, interval=test_frame_interval,
         color_order={{_base_.color_order}}),
    dict(type='LoadOccupancy'),
    test_image_aug,
    dict(type='PackOccInputs'),
]

train_dataloader = dict(
    batch_size=2, num_workers=2,
    dataset=dict(data_root=data_root, pipeline=train_pipeline,
                 max_past_frames=max_past_frames))
val_dataloader = dict(
    batch_size=1, num_workers=2,
    dataset=dict(data_root=data_root, pipeline=test_pipeline,
                 max_past_frames=max_past_frames))
test_dataloader = val_dataloader
