"""Every tunable number of the toy nuScenes world, in one place.

Units: metres, seconds, radians unless a name says otherwise (``_deg``, ``_us``).
Frames: *global* is the world frame (x east, y north, z up, ground at z = 0);
*ego* is the vehicle frame (x forward, y left, z up, origin on the ground below
the rear axle, as in nuScenes); sensor frames are described in ``sensors.py``.

Colours are linear RGB albedos in [0, 1]; the renderer multiplies them by the
shading term and writes ``round(255 * value)``.
"""
from dataclasses import dataclass, field
from typing import Dict, Tuple

# --------------------------------------------------------------------------
# Occ3D-nuScenes label space (index order is the on-disk label value).
# --------------------------------------------------------------------------
OCC_CLASS_NAMES = (
    'others', 'barrier', 'bicycle', 'bus', 'car', 'construction_vehicle',
    'motorcycle', 'pedestrian', 'traffic_cone', 'trailer', 'truck',
    'driveable_surface', 'other_flat', 'sidewalk', 'terrain', 'manmade',
    'vegetation', 'free')
OCC = {name: i for i, name in enumerate(OCC_CLASS_NAMES)}
FREE = OCC['free']
NUM_OCC_CLASSES = len(OCC_CLASS_NAMES)  # 18, including free

# When two shapes share a voxel the higher priority label wins.  Small things
# rank highest so a cone next to a bus is not swallowed by it; every object
# beats the ground it stands on.
OCC_PRIORITY = {
    'free': 0, 'driveable_surface': 1, 'other_flat': 2, 'terrain': 3,
    'sidewalk': 4, 'manmade': 5, 'vegetation': 6, 'bus': 7, 'trailer': 8,
    'construction_vehicle': 9, 'truck': 10, 'car': 11, 'others': 12,
    'barrier': 13, 'traffic_cone': 14, 'motorcycle': 15, 'bicycle': 16,
    'pedestrian': 17,
}

# Ground label raster codes (uint8 per 0.1 m cell, see world.GroundRaster).
GROUND_TERRAIN, GROUND_OTHER_FLAT, GROUND_SIDEWALK, GROUND_ROAD = 0, 1, 2, 3
GROUND_MARK_WHITE, GROUND_MARK_YELLOW = 4, 5
GROUND_CODE_TO_OCC = (
    OCC['terrain'], OCC['other_flat'], OCC['sidewalk'],
    OCC['driveable_surface'], OCC['driveable_surface'], OCC['driveable_surface'])

# Surface texture programs understood by render.shade (per part).
TEX_PLAIN, TEX_FACADE, TEX_GLASS, TEX_FOLIAGE, TEX_STRIPES = 0, 1, 2, 3, 4
TEX_BUS, TEX_CONE, TEX_SIDEWALK = 5, 6, 7

# nuScenes camera channels in the order the devkit and most codebases list them.
CAMERA_CHANNELS = (
    'CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT',
    'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')
LIDAR_CHANNEL = 'LIDAR_TOP'


@dataclass(frozen=True)
class CameraMount:
    """One camera of the rig: position (m, ego frame), heading and focal length.

    ``yaw_deg`` turns the optical axis (camera +z) counter-clockwise from ego +x.
    ``focal_px_1600`` is fx = fy for a 1600 px wide image (nuScenes resolution);
    it is scaled linearly with the rendered image width.
    """
    channel: str
    translation: Tuple[float, float, float]
    yaw_deg: float
    focal_px_1600: float


@dataclass
class WorldConfig:
    """World, sensor and rendering parameters (one instance drives a whole run)."""

    # ---------------- time ----------------
    keyframe_interval_us: int = 500_000         # keyframes at 2 Hz (nuScenes)
    first_timestamp_us: int = 1_531_883_530_000_000   # 2018-07-18, like nuScenes
    scene_spacing_us: int = 3_600_000_000      # scenes start one hour apart
    log_utc_offset_hours: int = 8              # log names carry +0800

    # ---------------- streets ----------------
    lane_width: float = 3.5
    lanes_per_direction_choices: Tuple[int, ...] = (1, 1, 2)
    parking_lane_width: float = 2.4
    parking_lane_prob: float = 0.75            # per side
    sidewalk_width_range: Tuple[float, float] = (2.8, 4.5)
    curb_height: float = 0.15                  # sidewalk slab top, above road
    road_margin_behind: float = 110.0          # street length before the ego start
    road_margin_ahead: float = 130.0           # street length after the ego end
    heading_amplitude_range: Tuple[float, float] = (0.15, 0.6)   # rad
    heading_period_range: Tuple[float, float] = (180.0, 320.0)   # m
    centreline_step: float = 0.5
    min_curve_radius: float = 55.0
    cross_street_prob: float = 0.65
    # the crossing lies at f * path_length + ahead metres along the main street
    cross_street_position: Tuple[Tuple[float, float], Tuple[float, float]] = ((0.25, 1.0),
                                                                             (12.0, 40.0))
    cross_street_angle_range: Tuple[float, float] = (1.15, 1.99)  # rad from main
    cross_street_half_length: float = 95.0
    dash_length: float = 3.0
    dash_gap: float = 6.0
    marking_width: float = 0.15
    crosswalk_stripe: float = 0.5               # width of stripes and gaps
    crosswalk_depth: float = 3.0
    sidewalk_slab_length: float = 4.0           # sidewalks are boxes of at most this length
    sidewalk_slab_step: float = 0.5             # ... whose ends snap to this step

    # ---------------- lots and buildings ----------------
    lot_length_range: Tuple[float, float] = (12.0, 34.0)
    lot_setback_range: Tuple[float, float] = (0.0, 10.0)
    lot_zero_setback_prob: float = 0.3
    lot_other_flat_prob: float = 0.35           # else terrain
    lot_building_prob: float = 0.85
    lot_open_depth: float = 30.0                # zone depth of lots without building
    open_lot_back_building_prob: float = 0.5    # building behind an open lot's zone
    building_gap_range: Tuple[float, float] = (0.0, 5.0)
    building_depth_range: Tuple[float, float] = (8.0, 20.0)
    building_height_range: Tuple[float, float] = (5.0, 24.0)
    building_roof_box_prob: float = 0.4
    window_spacing: Tuple[float, float] = (3.2, 3.0)   # facade grid (along, up)

    # ---------------- vegetation and street furniture ----------------
    street_tree_prob: float = 0.6               # per street side
    street_tree_spacing_range: Tuple[float, float] = (7.0, 14.0)
    tree_trunk_height_range: Tuple[float, float] = (2.3, 3.2)
    tree_crown_width_range: Tuple[float, float] = (2.4, 4.6)
    tree_crown_height_range: Tuple[float, float] = (2.0, 4.0)
    lot_tree_count_range: Tuple[int, int] = (0, 3)
    hedge_prob: float = 0.3                     # per terrain lot
    hedge_height_range: Tuple[float, float] = (0.7, 1.4)
    pole_spacing_range: Tuple[float, float] = (22.0, 36.0)
    pole_height: float = 7.0
    signs_per_side: float = 1.0                 # per 100 m of street
    curb_band_offset: float = 0.45              # poles, signs, bikes, bins: this far from the curb
    street_tree_inset: float = 0.6              # street trees: this far inside the sidewalk edge
    walk_band_inset: float = 1.1                # walkers keep this far from both sidewalk edges

    # ---------------- traffic and people (per 100 m of street) ----------------
    moving_vehicles_per_lane: float = 3.0
    lane_speed_range: Tuple[float, float] = (5.0, 11.0)
    parked_slot_length: float = 6.8
    parked_occupancy: float = 0.65
    parked_lateral_jitter: float = 0.15
    parked_yaw_jitter: float = 0.04
    waiting_vehicle_prob: float = 0.7           # a car waits at each cross-street approach
    # free space (along, across) an object needs around its box when placed
    moving_vehicle_clearance: Tuple[float, float] = (1.5, 0.15)
    pedestrian_clearance: Tuple[float, float] = (0.2, 0.1)
    static_clearance: Tuple[float, float] = (0.15, 0.15)
    walking_pedestrians_per_side: float = 3.0
    standing_pedestrians_per_side: float = 1.5
    pedestrian_speed_range: Tuple[float, float] = (0.8, 1.6)
    bicycle_groups_per_side: float = 0.8
    bins_per_side: float = 1.0
    construction_zone_prob: float = 0.5
    construction_zone_length_range: Tuple[float, float] = (14.0, 28.0)
    construction_zone_window: Tuple[float, float] = (-20.0, 30.0)  # start, around the ego path
    moving_vehicle_mix: Dict[str, float] = field(default_factory=lambda: {
        'car': 0.72, 'truck': 0.1, 'bus': 0.08, 'motorcycle': 0.07,
        'construction_vehicle': 0.03})
    parked_vehicle_mix: Dict[str, float] = field(default_factory=lambda: {
        'car': 0.78, 'truck': 0.08, 'trailer': 0.05, 'motorcycle': 0.06,
        'construction_vehicle': 0.03})
    # (length, width, height) ranges of the annotation box, metres
    object_sizes: Dict[str, Tuple[Tuple[float, float], ...]] = field(default_factory=lambda: {
        'car': ((3.8, 5.0), (1.7, 2.0), (1.4, 1.75)),
        'truck': ((6.0, 9.5), (2.3, 2.6), (2.9, 3.8)),
        'bus': ((10.0, 12.5), (2.5, 2.9), (3.0, 3.5)),
        'trailer': ((7.0, 11.0), (2.4, 2.6), (3.3, 3.9)),
        'construction_vehicle': ((5.0, 7.0), (2.4, 2.8), (2.6, 3.2)),
        'motorcycle': ((1.9, 2.2), (0.7, 0.9), (1.2, 1.45)),
        'bicycle': ((1.6, 1.8), (0.5, 0.65), (1.0, 1.2)),
        'pedestrian': ((0.5, 0.8), (0.5, 0.75), (1.5, 1.95)),
        'barrier': ((0.4, 0.6), (2.0, 2.6), (0.9, 1.1)),
        'traffic_cone': ((0.35, 0.45), (0.35, 0.45), (0.6, 0.95)),
        'bin': ((0.55, 0.75), (0.55, 0.75), (0.95, 1.2)),
    })
    ego_size: Tuple[float, float, float] = (4.1, 1.75, 1.55)  # Renault Zoe-like
    ego_rear_axle_to_centre: float = 1.3
    ego_clearance: Tuple[float, float] = (4.0, 0.5)   # extra (front/back, side) m

    # ---------------- ego motion ----------------
    ego_speed_range: Tuple[float, float] = (5.0, 10.0)
    ego_speed_period_range: Tuple[float, float] = (6.0, 14.0)
    lane_change_prob: float = 0.5               # only on multi-lane streets
    lane_change_duration: float = 3.0

    # ---------------- sensors ----------------
    cameras: Tuple[CameraMount, ...] = (
        CameraMount('CAM_FRONT', (1.70, 0.02, 1.51), 0.0, 1266.0),
        CameraMount('CAM_FRONT_RIGHT', (1.55, -0.49, 1.50), -55.0, 1266.0),
        CameraMount('CAM_FRONT_LEFT', (1.52, 0.49, 1.51), 55.0, 1266.0),
        CameraMount('CAM_BACK', (0.03, 0.00, 1.58), 180.0, 809.0),
        CameraMount('CAM_BACK_LEFT', (1.04, 0.48, 1.56), 110.0, 1266.0),
        CameraMount('CAM_BACK_RIGHT', (1.04, -0.48, 1.56), -110.0, 1266.0),
    )
    lidar_translation: Tuple[float, float, float] = (0.94, 0.0, 1.84)
    lidar_yaw_deg: float = -90.0                # nuScenes LIDAR_TOP: x right, y forward
    lidar_beams: int = 32
    lidar_elevation_range_deg: Tuple[float, float] = (-30.67, 10.67)  # HDL-32E
    lidar_azimuth_steps: int = 1084
    lidar_max_range: float = 70.0
    lidar_min_range: float = 1.0
    lidar_range_noise: float = 0.01             # std, metres
    camera_near: float = 0.05
    render_distance: float = 160.0              # parts beyond are not drawn

    # ---------------- rendering ----------------
    sun_elevation_range: Tuple[float, float] = (0.5, 1.1)   # rad
    ambient: float = 0.5
    diffuse: float = 0.6
    fog_distance: float = 350.0                 # exp(-d / fog) of colour kept
    texture_strength: float = 0.22
    texture_detail_distance: float = 35.0       # fine grain fades out by this distance
    jpeg_quality: int = 88
    sky_horizon: Tuple[float, float, float] = (0.80, 0.86, 0.93)
    sky_zenith: Tuple[float, float, float] = (0.32, 0.52, 0.85)

    # ---------------- occupancy (Occ3D-nuScenes grid) ----------------
    occ_range_min: Tuple[float, float, float] = (-40.0, -40.0, -1.0)
    occ_voxel_size: float = 0.4
    occ_shape: Tuple[int, int, int] = (200, 200, 16)
    occ_lidar_sweeps_per_keyframe: int = 4    # accumulated sweeps: 8 Hz (nuScenes LiDAR: 20 Hz)
    occ_accumulation_margin: float = 3.0   # s of LiDAR accumulated before / after the keyframes
    occ_closing_radius: int = 1      # voxels; hole closing fills gaps of up to 2 r voxels
    occ_ground_closing_radius: int = 3   # voxels, the same in the ground layer (2-D)
    camera_mask_rays: Tuple[int, int] = (400, 225)  # rays per camera (half the 800 x 450 image)
    # solid_semantics (the reference voxelisation of the true geometry)
    ground_subsamples: int = 4       # per voxel side for the majority ground label
    overlap_epsilon: float = 1e-3    # shapes must overlap a voxel by more than this
    annotation_range: float = 50.0
    map_resolution: float = 0.1      # ground raster and maps/*.png, metres/pixel
    map_padding: float = 60.0        # raster margin around all geometry


# --------------------------------------------------------------------------
# Palettes (linear RGB albedo)
# --------------------------------------------------------------------------
ASPHALT = (0.30, 0.30, 0.31)
MARK_WHITE = (0.86, 0.86, 0.83)
MARK_YELLOW = (0.86, 0.70, 0.20)
SIDEWALK = (0.64, 0.62, 0.58)
TERRAIN = (0.30, 0.44, 0.18)
OTHER_FLAT = (0.55, 0.46, 0.40)
ROOF = (0.36, 0.34, 0.33)
WINDOW = (0.16, 0.20, 0.27)
GLASS = (0.10, 0.12, 0.16)
TYRE = (0.05, 0.05, 0.05)
TRUNK = (0.36, 0.26, 0.16)
POLE = (0.42, 0.44, 0.47)
BUILDING_COLOURS = ((0.76, 0.68, 0.58), (0.62, 0.36, 0.28), (0.56, 0.58, 0.60),
                    (0.86, 0.82, 0.74), (0.46, 0.51, 0.56), (0.71, 0.56, 0.42))
FOLIAGE_COLOURS = ((0.17, 0.36, 0.11), (0.22, 0.42, 0.14), (0.14, 0.30, 0.12),
                   (0.28, 0.40, 0.12))
# Vehicle paints avoid the asphalt grey so a car never blends into the road.
CAR_COLOURS = ((0.90, 0.90, 0.90), (0.05, 0.05, 0.06), (0.70, 0.72, 0.74),
               (0.72, 0.08, 0.08), (0.10, 0.20, 0.62), (0.10, 0.36, 0.20),
               (0.92, 0.76, 0.10), (0.92, 0.45, 0.10), (0.80, 0.72, 0.56))
TRUCK_COLOURS = ((0.92, 0.92, 0.90), (0.20, 0.35, 0.70), (0.75, 0.15, 0.12),
                 (0.85, 0.85, 0.80))
BUS_COLOURS = ((0.90, 0.32, 0.10), (0.20, 0.42, 0.80), (0.92, 0.92, 0.90))
CONSTRUCTION_COLOUR = (0.95, 0.74, 0.08)
CLOTHES_COLOURS = ((0.15, 0.15, 0.35), (0.60, 0.10, 0.12), (0.12, 0.12, 0.12),
                   (0.85, 0.85, 0.82), (0.20, 0.45, 0.25), (0.75, 0.60, 0.20),
                   (0.35, 0.25, 0.50))
SKIN_COLOURS = ((0.85, 0.65, 0.50), (0.60, 0.42, 0.30), (0.40, 0.27, 0.18))
BIN_COLOURS = ((0.14, 0.30, 0.20), (0.30, 0.30, 0.32), (0.20, 0.25, 0.45))
BARRIER_RED = (0.85, 0.10, 0.08)
CONE_ORANGE = (0.96, 0.42, 0.05)

# LiDAR reflectivity per Occ3D class, in nuScenes intensity units (0-255).
LIDAR_REFLECTIVITY = (
    40, 60, 30, 45, 45, 50, 35, 25, 90, 45, 45, 12, 20, 28, 16, 35, 22, 0)
LIDAR_MARKING_REFLECTIVITY = 110.0
