#!/usr/bin/env python
"""What an interactive page (``viz_prediction.py --html``) costs: file size and time to
first render in headless Chromium, for a keyframe as it is and for a full-grid prediction.

Example::

    python tools/bench_viz_page.py --data-root data/toy_nuscenes --pred-dir preds \\
        --out work_dirs/bench_viz --screenshot docs/viz_page.png

Cases, both on the first keyframe of ``--ann-file`` that has a prediction in ``--pred-dir``
(the ground truth stands in for the prediction without ``--pred-dir``):

* ``sample``: the keyframe's prediction;
* ``full grid``: every one of the 640,000 voxels occupied (the prediction's label where it
  has one, ``manmade`` elsewhere): the worst case for the voxel payload, and for meshing
  (the visible faces are the grid's outer shell).

Each page is written by ``viz_prediction.py`` itself (its command line, as a user runs it)
and opened ``--repeats`` times; the report gives its size split into plotly.js, camera
images, voxel grids and the rest, the occupied voxels and visible faces, the median time
from navigation to the first finished render (page parse, inflate, mesh, WebGL draw), and
the time to re-render after hiding a class. Chromium draws WebGL in software here
(SwiftShader, this machine's CPUs): a browser with a GPU is faster.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

from core.grid_io import load_npz_grids
from core.infos import load_info_file
from core.occ3d import FREE_LABEL, OCC3D_CLASS_NAMES
from visualization.headless_chromium import HeadlessChromium

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILL_CLASS = OCC3D_CLASS_NAMES.index('manmade')
SIZE_BUDGET_MB = 8.0  # the budget for a 40k-voxel sample, images included
RENDERS = 'Number(document.documentElement.dataset.renders || 0)'


def page_parts(path):
    """Bytes of a page by part: plotly.js, camera images, voxel grids, the rest."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    start = text.index('<script>') + len('<script>')
    plotly_js = text.index('</script>', start) - start
    marker = '<script type="application/json" id="occ-data">'
    begin = text.index(marker) + len(marker)
    data = json.loads(text[begin:text.index('</script>', begin)])
    images = sum(len(src) for frame in data['frames'] for _, src in frame['cameras'])
    grids = sum(len(frame[key] or '') for frame in data['frames'] for key in ('pred', 'gt'))
    total = os.path.getsize(path)
    return {'total': total, 'plotly.js': plotly_js, 'images': images, 'grids': grids,
            'rest': total - plotly_js - images - grids}


def write_page(data_root, ann_file, pred_dir, token, out, image_width):
    """Runs ``viz_prediction.py --html`` for one keyframe; returns the page's path."""
    subprocess.run([sys.executable, os.path.join(ROOT, 'viz_prediction.py'), '--data-root',
                    data_root, '--ann-file', ann_file, '--pred-dir', pred_dir, '--viz-dir', out,
                    '--html', '--sample', token, '--image-width', str(image_width),
                    '--no-progress'], check=True, stdout=subprocess.DEVNULL)
    return os.path.join(out, token + '.html')


def time_page(path, repeats, screenshot=None):
    """Median first-render time (ms, from navigation), visible faces, the median time (ms)
    from a click on the legend entry of ``manmade`` to the finished re-render, and the
    console errors."""
    first, toggle = [], []
    width, height = (1400, 1150) if screenshot else (1400, 1000)
    with HeadlessChromium(width, height) as browser:
        for _ in range(repeats):
            browser.open(path)
            browser.wait_for(f'{RENDERS} >= 1 || window.occViz.error !== null')
            status = browser.evaluate('window.occViz')
            if status['error']:
                raise SystemExit(f'bench_viz_page: the page failed: {status["error"]}')
            first.append(status['firstRenderMs'])
            x, y = browser.evaluate(
                "(() => { const item = [...document.querySelectorAll('.legend .traces')]"
                ".find((g) => g.textContent === 'manmade');"
                " const r = item.querySelector('.legendtoggle').getBoundingClientRect();"
                " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
            renders, start = browser.evaluate(f'[{RENDERS}, performance.now()]')
            browser.click(x, y)
            browser.wait_for(f'{RENDERS} > {renders}')
            toggle.append(browser.evaluate('performance.now()') - start)
        if screenshot:
            browser.open(path)
            browser.wait_for(f'{RENDERS} >= 1')
            browser.screenshot().save(screenshot)
        errors = list(browser.console_errors)
    return statistics.median(first), status['faces'], statistics.median(toggle), errors


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-root', required=True)
    parser.add_argument('--ann-file', default='nuscenes_infos_val_sweep.pkl')
    parser.add_argument('--pred-dir', help='saved predictions (default: the ground truth)')
    parser.add_argument('--out', default=None, help='where the pages go (default: a temp dir)')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--image-width', type=int, default=480)
    parser.add_argument('--screenshot', help='save a screenshot of the sample page here')
    args = parser.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix='bench_viz_page-')
    ann_file = args.ann_file if os.path.isabs(args.ann_file) else os.path.join(
        args.data_root, args.ann_file)
    infos = load_info_file(ann_file, args.data_root)[1]
    info = next(i for i in infos if args.pred_dir is None or os.path.exists(
        os.path.join(args.pred_dir, i['token'] + '.npz')))
    if args.pred_dir:
        pred = load_npz_grids(os.path.join(args.pred_dir, info['token'] + '.npz'), ['pred'],
                              'prediction')['pred']
    else:
        pred = load_npz_grids(os.path.join(args.data_root, info['occ_path']), ['semantics'],
                              'ground truth')['semantics']
    cases = {'sample': pred, 'full grid': np.where(pred == FREE_LABEL, FILL_CLASS, pred)}
    print(f'keyframe {info["token"]}, camera images {args.image_width} px wide, '
          f'{args.repeats} loads each, headless Chromium (software WebGL), '
          f'{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}')
    print(f'{"case":<10} {"voxels":>8} {"faces":>8} {"page MB":>8} {"plotly":>7} '
          f'{"images":>7} {"grids":>7} {"rest":>6} {"1st render s":>12} {"hide class s":>12}')
    for n, (name, grid) in enumerate(cases.items()):
        # named as the source, which the page's title shows
        pred_dir = os.path.join(out, f'case_{n}', os.path.basename(
            os.path.normpath(args.pred_dir)) if args.pred_dir else 'ground_truth')
        os.makedirs(pred_dir, exist_ok=True)
        np.savez_compressed(os.path.join(pred_dir, info['token'] + '.npz'),
                            pred=grid.astype(np.uint8))
        path = write_page(args.data_root, ann_file, pred_dir, info['token'],
                          os.path.join(out, f'case_{n}', 'pages'), args.image_width)
        parts = page_parts(path)
        first, faces, toggle, errors = time_page(
            path, args.repeats, args.screenshot if name == 'sample' else None)
        mb = {key: value / 1e6 for key, value in parts.items()}
        print(f'{name:<10} {int((grid != FREE_LABEL).sum()):>8} {faces["left"]:>8} '
              f'{mb["total"]:>8.2f} {mb["plotly.js"]:>7.2f} {mb["images"]:>7.2f} '
              f'{mb["grids"]:>7.2f} {mb["rest"]:>6.2f} {first / 1e3:>12.2f} '
              f'{toggle / 1e3:>12.2f}' + (f'  console errors: {errors}' if errors else ''))
        if name == 'sample' and mb['total'] > SIZE_BUDGET_MB:
            print(f'over the {SIZE_BUDGET_MB:g} MB budget')
    print(f'pages under {out}; load average now {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
    main()
