# GD-OCC on another grid and label set: the toy world labelled on 100 x 100 x 8 voxels of
# 0.8 m over Occ3D's range, with Occ3D's 17 classes merged into 9. Nothing in the code is
# Occ3D-specific: the grid and the class names below reach the pipeline, the dataset's
# metainfo (and from it the evaluator and viz_prediction.py) and, through the model's
# `occ_grid` / `class_names`, every module. The world:
#   python tools/make_toy_nuscenes.py --out data/toy_nuscenes_0.8m --occ-voxel-size 0.8 \
#       --occ-shape 100 100 8
#   python tools/create_data.py --root data/toy_nuscenes_0.8m
_base_ = ['./toy_gdocc.py']

data_root = 'data/toy_nuscenes_0.8m/'
occ_grid = dict(grid_min=[-40.0, -40.0, -1.0], voxel_size=0.8, grid_shape=[100, 100, 8])
occ_class_names = ['others', 'barrier', 'two_wheeler', 'vehicle', 'pedestrian', 'traffic_cone',
                   'ground', 'manmade', 'vegetation', 'free']
occ_thing_classes = ['two_wheeler', 'vehicle', 'pedestrian']
# The label each stored Occ3D label becomes (index = Occ3D label: others, barrier, bicycle,
# bus, car, construction_vehicle, motorcycle, pedestrian, traffic_cone, trailer, truck,
# driveable_surface, other_flat, sidewalk, terrain, manmade, vegetation, free).
occ_label_map = [0, 1, 2, 3, 3, 3, 2, 4, 5, 3, 3, 6, 6, 6, 6, 7, 8, 9]

# The dataset base's steps and metainfo, restated with this grid and these classes.
occ_metainfo = dict(classes=occ_class_names, thing_classes=occ_thing_classes, occ_grid=occ_grid)
load_occupancy = dict(num_classes=len(occ_class_names), grid_shape=occ_grid['grid_shape'],
                      label_map=occ_label_map)
train_pipeline = dict(load_occupancy=load_occupancy, bev_aug=dict(occ_grid=occ_grid))
test_pipeline = dict(load_occupancy=load_occupancy)
train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline,
                                     metainfo=occ_metainfo))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline,
                                   metainfo=occ_metainfo))
test_dataloader = val_dataloader

model = dict(
    occ_grid=occ_grid,
    class_names=occ_class_names,
    # 100 x 100 x 8 halves to 25 x 25 x 2 (3.2 m, the paper's coarse grid) in 2 stages.
    decoder=dict(
        num_stages=2, topk_train=(4000, 12000), topk_test=(4000, 12000),
        # No label counts of this grid and label set have been measured: unweighted.
        loss_ce=dict(class_frequencies=None)))
