# SparseOcc v1.1, 60 epochs (x0.2 at epoch 48), as its r50_nuimg_704x256_8f_60e.py.
_base_ = ['./sparseocc_r50_nuimg_704x256_8f.py']

max_epochs = 60
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[48],
         gamma=0.2),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
