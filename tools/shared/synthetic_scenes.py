"""Random Occ3D-like label grids (road, sidewalks, buildings, trees, vehicles) for metric
demos and benchmarks; the toy nuScenes world (tools/make_toy_nuscenes.py) is the full data."""
import numpy as np

FREE = 17
CLASS = dict(barrier=1, bus=3, car=4, pedestrian=7, traffic_cone=8, truck=10, road=11,
             sidewalk=13, terrain=14, manmade=15, vegetation=16)


def make_scene(rng):
    """Returns ``(semantics, origins)``: uint8 [200, 200, 16] labels indexed [x, y, z] in the
    ego frame, and float64 [8, 3] ray origins (ego-frame metres) along the road."""
    sem = np.full((200, 200, 16), FREE, dtype=np.uint8)
    sem[:, :, :2] = CLASS['terrain']
    road_lo, road_hi = 85 + rng.integers(-5, 5), 115 + rng.integers(-5, 5)
    sem[:, road_lo:road_hi, :2] = CLASS['road']
    sem[:, road_lo - 8:road_lo, :3] = CLASS['sidewalk']
    sem[:, road_hi:road_hi + 8, :3] = CLASS['sidewalk']
    for side_lo, side_hi in ((0, road_lo - 10), (road_hi + 10, 200)):
        x = 0
        while x < 200:
            width = int(rng.integers(15, 40))
            if rng.random() < 0.7:
                y0 = int(rng.integers(side_lo, max(side_lo + 1, side_hi - 20)))
                sem[x:x + width, y0:y0 + int(rng.integers(10, 30)), 2:int(rng.integers(8, 16))] = \
                    CLASS['manmade']
            else:
                y0 = int(rng.integers(side_lo, max(side_lo + 1, side_hi - 6)))
                sem[x:x + width, y0:y0 + 5, 3:int(rng.integers(6, 12))] = CLASS['vegetation']
            x += width + int(rng.integers(2, 10))
    for _ in range(int(rng.integers(10, 25))):
        name = rng.choice(['car', 'car', 'car', 'truck', 'bus', 'pedestrian', 'barrier',
                           'traffic_cone'])
        size = dict(car=(11, 5, 4), truck=(18, 6, 8), bus=(28, 7, 8), pedestrian=(2, 2, 5),
                    barrier=(1, 5, 3), traffic_cone=(1, 1, 2))[name]
        x0 = int(rng.integers(0, 200 - size[0]))
        y0 = int(rng.integers(road_lo - 6, road_hi + 6 - size[1]))
        sem[x0:x0 + size[0], y0:y0 + size[1], 2:2 + size[2]] = CLASS[name]
    xs = np.linspace(-25.0, 5.0, 8) + rng.uniform(-1, 1)
    y_road = -40 + 0.4 * (road_lo + road_hi) / 2
    origins = np.stack([xs, np.full(8, y_road), np.full(8, 1.84)], axis=1)
    sem[((origins[:, 0] + 40) / 0.4).astype(int)[:, None] + np.arange(-6, 6),
        int((y_road + 40) / 0.4) - 3:int((y_road + 40) / 0.4) + 3, 2:] = FREE
    return sem, origins
