"""nuScenes v1.0 JSON tables: static vocabularies, tokens and a collector.

Records follow the nuScenes schema field for field (see the devkit's
``schema_nuscenes.md``); the devkit adds derived fields (``data``, ``anns``,
``channel``, ``category_name`` ...) itself when it loads them.
"""
import hashlib
import json
import os

TABLE_NAMES = ('category', 'attribute', 'visibility', 'instance', 'sensor', 'calibrated_sensor',
               'ego_pose', 'log', 'scene', 'sample', 'sample_data', 'sample_annotation', 'map')

# The 23 nuScenes object categories (names exactly as in nuScenes).
CATEGORIES = (
    ('human.pedestrian.adult', 'Adult subcategory.'),
    ('human.pedestrian.child', 'Child subcategory.'),
    ('human.pedestrian.wheelchair',
     'Wheelchairs. If a person is in the wheelchair, include in the annotation.'),
    ('human.pedestrian.stroller',
     'Strollers. If a person is in the stroller, include in the annotation.'),
    ('human.pedestrian.personal_mobility',
     'A small electric or self-propelled vehicle, e.g. skateboard, scooter.'),
    ('human.pedestrian.police_officer', 'Police officer.'),
    ('human.pedestrian.construction_worker', 'Construction worker.'),
    ('animal', 'All animals, e.g. cats, dogs, birds.'),
    ('vehicle.car',
     'Vehicle designed primarily for personal use, e.g. sedans, hatch-backs, vans, SUVs.'),
    ('vehicle.motorcycle',
     'Gasoline or electric powered 2-wheeled vehicle designed to move rapidly.'),
    ('vehicle.bicycle',
     'Human or electric powered 2-wheeled vehicle designed to travel at lower speeds.'),
    ('vehicle.bus.bendy', 'Bendy bus subcategory.'),
    ('vehicle.bus.rigid', 'Rigid bus subcategory.'),
    ('vehicle.truck',
     'Vehicles primarily designed to haul cargo including lorries and pick-up trucks.'),
    ('vehicle.construction',
     'Vehicles primarily designed for construction, e.g. excavators, cranes.'),
    ('vehicle.emergency.ambulance', 'All types of ambulances.'),
    ('vehicle.emergency.police', 'All types of police vehicles.'),
    ('vehicle.trailer', 'Any vehicle trailer, both for trucks, cars and bikes.'),
    ('movable_object.barrier',
     'Temporary road barrier placed in the scene in order to redirect traffic.'),
    ('movable_object.trafficcone', 'All types of traffic cones.'),
    ('movable_object.pushable_pullable',
     'Objects that a pedestrian may push or pull, e.g. dollies, bins.'),
    ('movable_object.debris',
     'Movable debris or trash that is too large to be driven over safely.'),
    ('static_object.bicycle_rack', 'Area or device intended to park or secure bicycles in a row.'),
)

ATTRIBUTES = (
    ('vehicle.moving', 'Vehicle is moving.'),
    ('vehicle.stopped',
     'Vehicle, with a driver/rider in/on it, is currently stationary but has an intent to move.'),
    ('vehicle.parked',
     'Vehicle is stationary (usually for longer duration) with no immediate intent to move.'),
    ('cycle.with_rider', 'There is a rider on the bicycle or motorcycle.'),
    ('cycle.without_rider', 'There is NO rider on the bicycle or motorcycle.'),
    ('pedestrian.sitting_lying_down', 'The human is sitting or lying down.'),
    ('pedestrian.standing', 'The human is standing.'),
    ('pedestrian.moving', 'The human is moving.'),
)

# nuScenes visibility bins: token, level, description (fraction of the object visible in all
# cameras)
VISIBILITY = (
    ('1', 'v0-40', 'visibility of whole object is between 0 and 40%'),
    ('2', 'v40-60', 'visibility of whole object is between 40 and 60%'),
    ('3', 'v60-80', 'visibility of whole object is between 60 and 80%'),
    ('4', 'v80-100', 'visibility of whole object is between 80 and 100%'),
)


def visibility_token(fraction):
    """nuScenes visibility token (str '1'..'4') for a visible fraction in [0, 1]."""
    if fraction < 0.4:
        return '1'
    if fraction < 0.6:
        return '2'
    if fraction < 0.8:
        return '3'
    return '4'


def make_token(*key):
    """Deterministic 32-hex-digit token of a key (nuScenes tokens are 32 hex chars)."""
    return hashlib.md5('/'.join(str(k) for k in key).encode('utf-8')).hexdigest()


def category_token(name):
    return make_token('category', name)


def attribute_token(name):
    return make_token('attribute', name)


def sensor_token(channel):
    return make_token('sensor', channel)


class Tables:
    """Collects records of all tables and writes them as ``<dir>/<table>.json``.

    ``records`` maps table name -> list of record dicts.
    """

    def __init__(self, channels):
        """``channels`` (dict of str) maps sensor channel -> modality ('camera' / 'lidar')."""
        self.records = {name: [] for name in TABLE_NAMES}
        self.records['category'] = [dict(token=category_token(n), name=n, description=d)
                                    for n, d in CATEGORIES]
        self.records['attribute'] = [dict(token=attribute_token(n), name=n, description=d)
                                     for n, d in ATTRIBUTES]
        self.records['visibility'] = [dict(token=t, level=lv, description=d)
                                      for t, lv, d in VISIBILITY]
        self.records['sensor'] = [dict(token=sensor_token(c), channel=c, modality=m)
                                  for c, m in channels.items()]

    def add(self, table, record):
        """Append ``record`` (dict) to table ``table`` (str); returns the record."""
        self.records[table].append(record)
        return record

    def write(self, table_dir):
        """Write every table into ``table_dir`` (str path), created if missing."""
        os.makedirs(table_dir, exist_ok=True)
        for name in TABLE_NAMES:
            with open(os.path.join(table_dir, name + '.json'), 'w') as f:
                json.dump(self.records[name], f, indent=0)
                f.write('\n')
