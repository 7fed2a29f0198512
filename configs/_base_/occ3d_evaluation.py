# Occ3D-nuScenes evaluation: RayIoU (SparseOcc's definition) and camera-mask mIoU.
# Class names, thing classes and grid are not restated: OccupancyMetric reads them from the
# dataset's metainfo (the dataset base's `occ_metainfo`), which mmengine's loops hand to
# the evaluator. The plugin is registered by the dataset base's `custom_imports`.
val_evaluator = dict(type='OccupancyMetric', use_image_mask=True)
test_evaluator = val_evaluator
