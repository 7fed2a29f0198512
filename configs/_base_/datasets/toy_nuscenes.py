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
train_image_aug = dict(final_size=image_size, resize_range=(0.92, 1.12))
test_image_aug = dict(final_size=image_size)

# The base's pipelines with this world's frames and image size (steps by name).
train_pipeline = dict(load_images=dict(num_frames=num_frames, interval=train_frame_interval),
                      image_aug=train_image_aug)
test_pipeline = dict(load_images=dict(num_frames=num_frames, interval=test_frame_interval),
                     image_aug=test_image_aug)

train_dataloader = dict(
    batch_size=2, num_workers=2,
    dataset=dict(data_root=data_root, pipeline=train_pipeline,
                 max_past_frames=max_past_frames))
val_dataloader = dict(
    batch_size=1, num_workers=2,
    dataset=dict(data_root=data_root, pipeline=test_pipeline,
                 max_past_frames=max_past_frames))
test_dataloader = val_dataloader
