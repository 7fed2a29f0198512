"""Renderers of occupancy grids for people: the static figure (PNG) and the interactive page
(one self-contained HTML file per sample or per scene).

* :mod:`.style`: the Occ3D class colours and the ego vehicle's drawn size, shared by both;
* :mod:`.camera_images`: the six camera images of a keyframe, read with one-line errors;
* :mod:`.figure`: the PNG figure (cameras, 3D ray-cast views and bird's-eye views);
* :mod:`.page`: the HTML page (plotly.js embedded, voxels meshed in the browser);
* :mod:`.headless_chromium`: a headless Chromium session that renders a page, for the
  page's tests, its benchmark and the screenshot in the docs.

Nothing here reads a model or computes a metric: the entry point ``viz_prediction.py``
hands the grids and the figures over.
"""
