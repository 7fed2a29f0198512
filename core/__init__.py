"""The ground floor every other package stands on: the Occ3D grid and its conventions, voxel
<-> metre geometry, ego poses and ray origins, info pickles, occupancy files, errors and
atomic writes. It imports only third-party libraries, never a package of this project."""
