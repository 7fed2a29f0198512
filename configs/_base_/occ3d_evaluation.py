# Occ3D-nuScenes evaluation: RayIoU (SparseOcc's definition) and camera-mask mIoU.
# Class names are not restated: OccupancyMetric defaults to core.occ3d.OCC3D_CLASS_NAMES,
# the list the dataset bases' `occ_class_names` spell out, and a config combining this
# base with a dataset base may not define a key twice (mmengine refuses duplicates among
# bases). The plugin is registered by the dataset base's `custom_imports`.
val_evaluator = dict(type='OccupancyMetric', use_image_mask=True)
test_evaluator = val_evaluator
