# Toy ablation: GSVP without the geometric prior. The decoder prunes each stage's children by
# predicted occupancy alone (SparseOcc's rule), not by occupancy and the LSS depth mass.
_base_ = ['./toy_gdocc.py']

model = dict(decoder=dict(use_prior=False))
