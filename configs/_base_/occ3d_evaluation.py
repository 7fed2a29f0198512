# Occ3D-nuScenes evaluation: RayIoU (SparseOcc's definition) and camera-mask mIoU.
custom_imports = dict(imports=['models', 'loaders'], allow_failed_imports=False)

occ_class_names = [
    'others', 'barrier', 'bicycle', 'bus', 'car', 'construction_vehicle', 'motorcycle',
    'pedestrian', 'traffic_cone', 'trailer', 'truck', 'driveable_surface', 'other_flat',
    'sidewalk', 'terrain', 'manmade', 'vegetation', 'free']

val_evaluator = dict(type='OccupancyMetric', class_names=occ_class_names, use_image_mask=True)
test_evaluator = val_evaluator
