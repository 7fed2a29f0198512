/* GD-OCC occupancy page (visualization/page.py writes it): inflates the label grids of the
   JSON block #occ-data, meshes their visible voxel faces and draws them with plotly.js.
   window.occViz reports the renders (count, first render time) for tests and benchmarks. */
(function () {
  'use strict';
  const D = JSON.parse(document.getElementById('occ-data').textContent);
  const [NX, NY, NZ] = D.grid.shape;
  const NVOX = NX * NY * NZ;
  const V = D.grid.voxel_size;
  const [X0, Y0, Z0] = D.grid.min;
  // Face directions (+x, -x, +y, -y, +z, -z): axis = direction >> 1, odd = negative.
  // QUAD: a rectangle's corners as fractions of its (height, width) in its plane.
  const QUAD = [[0, 0], [1, 0], [1, 1], [0, 1]];
  // Unlit: the drawn colour is the given one (shaded per face direction beforehand).
  const FLAT = {ambient: 1, diffuse: 0, specular: 0, fresnel: 0, roughness: 1};
  const NCLASS = D.classes.length;
  const NERR = D.errors.length;

  const state = {
    frame: 0, mode: 'prediction', grids: null,
    shown: {class: new Uint8Array(NCLASS).fill(1), error: new Uint8Array(NERR).fill(1), ego: 1},
  };
  const status = {renders: 0, firstRenderMs: null, lastRenderMs: null, faces: null,
                  rectangles: null, error: null};
  window.occViz = status;
  const gd = document.getElementById('plot');
  const hasGt = D.frames.some((f) => f.gt !== null);

  async function inflate(b64) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'));
    const grid = new Uint8Array(await new Response(stream).arrayBuffer());
    if (grid.length !== NVOX) throw new Error(`grid of ${grid.length} voxels, expected ${NVOX}`);
    return grid;
  }

  /* Visible faces of the voxels whose label (< shown.length) is shown: a face is drawn
     where the neighbour across it is outside the grid, or its label is not drawn (free,
     hidden, or any value >= shown.length). Coplanar visible faces of one label are merged
     into rectangles (greedy meshing, slice by slice), which draws the same surface with far
     fewer triangles. Returns per label {x, y, z, i, j, k, direction} (vertices in metres,
     ego frame; two triangles per rectangle; each vertex's face direction), the visible unit
     faces and the rectangles. */
  function meshFaces(labels, shown) {
    const n = shown.length;
    const drawn = (l) => l < n && shown[l] === 1;
    const dims = [NX, NY, NZ], stride = [NY * NZ, NZ, 1];
    const rects = [];  // per bucket (label * 6 + direction): lattice corners, 12 per rectangle
    for (let b = 0; b < n * 6; b++) rects.push([]);
    const corner = [0, 0, 0];
    let faces = 0;
    for (let d = 0; d < 6; d++) {
      const a = d >> 1, step = d & 1 ? -1 : 1;
      const [u, w] = [[1, 2], [0, 2], [0, 1]][a];
      const nu = dims[u], nw = dims[w];
      const mask = new Int16Array(nu * nw);  // label + 1 of a visible face, else 0
      for (let s = 0; s < dims[a]; s++) {
        const next = s + step, inside = next >= 0 && next < dims[a];
        for (let p = 0; p < nu; p++) {
          for (let q = 0; q < nw; q++) {
            const idx = s * stride[a] + p * stride[u] + q * stride[w];
            const l = labels[idx];
            const visible = drawn(l) && !(inside && drawn(labels[idx + step * stride[a]]));
            mask[p * nw + q] = visible ? l + 1 : 0;
            faces += visible;
          }
        }
        const plane = s + (step > 0 ? 1 : 0);
        for (let p = 0; p < nu; p++) {
          for (let q = 0; q < nw; q++) {
            const m = mask[p * nw + q];
            if (m === 0) continue;
            let width = 1;
            while (q + width < nw && mask[p * nw + q + width] === m) width++;
            let height = 1;
            grow: while (p + height < nu) {
              for (let t = 0; t < width; t++) if (mask[(p + height) * nw + q + t] !== m) break grow;
              height++;
            }
            for (let r = p; r < p + height; r++) mask.fill(0, r * nw + q, r * nw + q + width);
            const out = rects[(m - 1) * 6 + d];
            for (const [du, dw] of QUAD) {
              corner[a] = plane; corner[u] = p + du * height; corner[w] = q + dw * width;
              out.push(corner[0], corner[1], corner[2]);
            }
          }
        }
      }
    }
    let count = 0;
    const meshes = [];  // per label: its rectangles of all six directions
    for (let l = 0; l < n; l++) {
      const m = rects.slice(6 * l, 6 * l + 6).reduce((sum, r) => sum + r.length / 12, 0);
      const x = new Float32Array(4 * m), y = new Float32Array(4 * m), z = new Float32Array(4 * m);
      const i = new Uint32Array(2 * m), j = new Uint32Array(2 * m), k = new Uint32Array(2 * m);
      const direction = new Uint8Array(4 * m);
      let v = 0;
      for (let d = 0; d < 6; d++) {
        const corners = rects[6 * l + d];
        for (let c = 0; c < corners.length; c += 3, v++) {
          x[v] = X0 + V * corners[c];
          y[v] = Y0 + V * corners[c + 1];
          z[v] = Z0 + V * corners[c + 2];
          direction[v] = d;
        }
      }
      for (let t = 0; t < m; t++) {
        i[2 * t] = 4 * t; j[2 * t] = 4 * t + 1; k[2 * t] = 4 * t + 2;
        i[2 * t + 1] = 4 * t; j[2 * t + 1] = 4 * t + 2; k[2 * t + 1] = 4 * t + 3;
      }
      count += m;
      meshes.push({x, y, z, i, j, k, direction});
    }
    return {meshes, count: faces, rectangles: count};
  }

  function errorGrid(pred, gt) {
    const free = NCLASS;  // the free label; error kinds are 0..NERR-1, anything else none
    const grid = new Uint8Array(NVOX).fill(255);
    for (let v = 0; v < NVOX; v++) {
      const p = pred[v] !== free, g = gt[v] !== free;
      if (p && !g) grid[v] = 0;
      else if (!p && g) grid[v] = 1;
      else if (p && g && pred[v] !== gt[v]) grid[v] = 2;
    }
    return grid;
  }

  const rgb = (c, s) => `rgb(${c.map((x) => Math.round(x * s)).join(',')})`;

  /* One trace per kind (class or error kind) of a meshed grid in `scene`, each vertex
     coloured by its face's direction; `legend` adds the kinds' legend entries (marker
     traces of one missing point: plotly's legend cannot draw a swatch of vertex colours). */
  function voxelTraces(mesh, scene, kinds, group, shown, legend) {
    const traces = [];
    kinds.forEach((kind, l) => {
      const common = {scene, name: kind.name, legendgroup: `${group}:${l}`,
                      visible: shown[l] ? true : 'legendonly'};
      const shades = D.face_shades.map((s) => rgb(kind.rgb, s));
      if (legend) {
        traces.push(Object.assign({type: 'scatter3d', mode: 'markers', x: [null], y: [null],
                                   z: [null], hoverinfo: 'skip', showlegend: true,
                                   marker: {color: shades[4], symbol: 'square', size: 10}},
                                  common));
      }
      const m = mesh ? mesh.meshes[l] : null;
      if (!m || m.x.length === 0 || !shown[l]) return;
      traces.push(Object.assign({
        type: 'mesh3d', showlegend: false, x: m.x, y: m.y, z: m.z, i: m.i, j: m.j, k: m.k,
        vertexcolor: Array.from(m.direction, (d) => shades[d]),
        flatshading: true, lighting: FLAT, hoverinfo: 'name',
      }, common));
    });
    return traces;
  }

  function egoTraces(frame, scene, legend) {
    const [L, W, H] = D.ego_size;
    const xs = [-L / 2, L / 2], ys = [-W / 2, W / 2], zs = [0, H];
    const box = {x: [], y: [], z: []};
    for (const x of xs) for (const y of ys) for (const z of zs) {
      box.x.push(x); box.y.push(y); box.z.push(z);
    }
    const visible = state.shown.ego ? true : 'legendonly';
    const common = {scene, legendgroup: 'ego', name: 'ego vehicle', hoverinfo: 'name', visible};
    const path = frame.path;
    return [
      Object.assign({type: 'mesh3d', alphahull: 0, color: 'rgb(70,70,70)', lighting: FLAT,
                     showlegend: legend}, box, common),
      // The heading: an arrow on the roof, pointing forward (+x).
      Object.assign({type: 'mesh3d', x: [L / 2 + 1.5, -L / 4, -L / 4], y: [0, W / 2, -W / 2],
                     z: [H + 0.05, H + 0.05, H + 0.05], i: [0], j: [1], k: [2],
                     color: 'rgb(255,255,255)', lighting: FLAT, showlegend: false}, common),
      Object.assign({type: 'scatter3d', mode: 'lines+markers', showlegend: false,
                     x: path.map((p) => p[0]), y: path.map((p) => p[1]),
                     z: path.map((p) => p[2] + 0.1),
                     line: {color: 'rgb(20,20,20)', width: 3},
                     marker: {size: 2, color: 'rgb(20,20,20)'}}, common),
    ];
  }

  function sceneLayout(domain) {
    const axis = (lo, n) => ({range: [lo, lo + V * n], autorange: false, visible: false});
    return {
      domain: {x: domain, y: [0, 1]}, aspectmode: 'manual',
      aspectratio: {x: 1, y: NY / NX, z: NZ / NX},
      xaxis: axis(X0, NX), yaxis: axis(Y0, NY), zaxis: axis(Z0, NZ),
      camera: D.camera, dragmode: 'turntable',
    };
  }

  function figure() {
    const frame = D.frames[state.frame];
    const {pred, gt, error} = state.grids;
    const errors = state.mode === 'errors' && gt !== null;
    const left = errors ? meshFaces(error, state.shown.error) : meshFaces(pred, state.shown.class);
    const right = gt === null ? null : meshFaces(gt, state.shown.class);
    status.faces = {left: left.count, right: right === null ? null : right.count};
    status.rectangles = {left: left.rectangles, right: right === null ? null : right.rectangles};
    let traces = errors
      ? voxelTraces(left, 'scene', D.errors, 'error', state.shown.error, true)
      : voxelTraces(left, 'scene', D.classes, 'class', state.shown.class, true);
    traces = traces.concat(egoTraces(frame, 'scene', true));
    const annotations = [{text: errors ? 'errors (prediction vs ground truth)' : 'prediction',
                          x: hasGt ? 0.25 : 0.5}];
    const layout = {
      uirevision: 'occ', margin: {l: 0, r: 0, t: 28, b: 0}, paper_bgcolor: '#fff',
      legend: {tracegroupgap: 0},
      scene: sceneLayout(hasGt ? [0, 0.5] : [0, 1]),
    };
    if (hasGt) {
      traces = traces.concat(voxelTraces(right, 'scene2', D.classes, 'class', state.shown.class,
                                         errors));
      traces = traces.concat(egoTraces(frame, 'scene2', false));
      layout.scene2 = sceneLayout([0.5, 1]);
      annotations.push({text: gt === null ? 'no ground truth for this keyframe' : 'ground truth',
                        x: 0.75});
    }
    layout.annotations = annotations.map((a) => Object.assign(
      {xref: 'paper', yref: 'paper', y: 1, yanchor: 'bottom', showarrow: false,
       font: {size: 14}}, a));
    return {traces, layout};
  }

  async function render() {
    const start = performance.now();
    const {traces, layout} = figure();
    const meshed = performance.now();
    await Plotly.react(gd, traces, layout, {displaylogo: false, responsive: true});
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    status.lastRenderMs = {mesh: meshed - start, plot: performance.now() - meshed};
    status.renders += 1;
    if (status.firstRenderMs === null) status.firstRenderMs = performance.now();
    document.documentElement.dataset.renders = String(status.renders);
  }

  function fmt(value, digits) {
    return value === null ? 'n/a' : value.toFixed(digits);
  }

  function showText(frame) {
    document.getElementById('title').textContent = D.title;
    document.getElementById('frame-info').textContent =
      `sample ${frame.token}` + (frame.scene ? ` · ${frame.scene}` : '') +
      (frame.timestamp ? ` · t = ${frame.timestamp} µs` : '');
    const m = frame.metrics;
    document.getElementById('metrics').textContent = m === null ? 'no ground truth: no metrics'
      : `RayIoU ${fmt(m.RayIoU, 3)} (@1 m ${fmt(m['RayIoU@1'], 3)}, @2 m ` +
        `${fmt(m['RayIoU@2'], 3)}, @4 m ${fmt(m['RayIoU@4'], 3)}) · mIoU ${fmt(m.mIoU, 2)} %`;
    const e = frame.ego;
    document.getElementById('ego').textContent =
      `ego vehicle at x ${e.x.toFixed(2)} m, y ${e.y.toFixed(2)} m (global), heading ` +
      `${e.heading_deg.toFixed(1)}° · grey box and white arrow at the centre, black line: ` +
      'its keyframes in this scene';
    const cams = document.getElementById('cameras');
    if (cams.children.length === 0) {
      for (const [name] of frame.cameras) {
        const fig = document.createElement('figure');
        const img = document.createElement('img');
        img.alt = name;
        const cap = document.createElement('figcaption');
        cap.textContent = name.replace('CAM_', '');
        fig.append(img, cap);
        cams.append(fig);
      }
    }
    frame.cameras.forEach(([, src], c) => { cams.children[c].firstChild.src = src; });
  }

  let request = 0;
  async function showFrame(index) {
    const mine = ++request;
    const frame = D.frames[index];
    const pred = await inflate(frame.pred);
    const gt = frame.gt === null ? null : await inflate(frame.gt);
    if (mine !== request) return;  // a later frame was asked for meanwhile
    state.frame = index;
    state.grids = {pred, gt, error: gt === null ? null : errorGrid(pred, gt)};
    document.getElementById('frame-label').textContent =
      `keyframe ${index + 1} / ${D.frames.length}`;
    showText(frame);
    await render();
  }

  function toggle(group) {
    if (group === 'ego') {
      state.shown.ego ^= 1;
    } else {
      const [kind, l] = group.split(':');
      state.shown[kind][Number(l)] ^= 1;
    }
    return render();
  }

  function fail(error) {
    status.error = String(error);
    const box = document.getElementById('failure');
    box.hidden = false;
    box.textContent = `This page could not be drawn: ${error}`;
    console.error(error);
  }

  document.title = D.title;
  if (!hasGt) document.getElementById('errors-mode').hidden = true;
  if (D.frames.length > 1) {
    const slider = document.getElementById('frame');
    slider.max = String(D.frames.length - 1);
    document.getElementById('frame-bar').hidden = false;
    slider.addEventListener('input', () => showFrame(Number(slider.value)).catch(fail));
  }
  for (const radio of document.querySelectorAll('input[name=mode]')) {
    radio.addEventListener('change', () => {
      state.mode = radio.value;
      render().catch(fail);
    });
  }
  showFrame(0).then(() => {
    gd.on('plotly_legendclick', (ev) => {
      toggle(ev.data[ev.curveNumber].legendgroup).catch(fail);
      return false;
    });
    gd.on('plotly_legenddoubleclick', () => false);
    // Linked cameras: turning one view turns the other.
    let syncing = false;
    const sync = (ev) => {
      if (syncing || !hasGt) return;
      for (const [from, to] of [['scene', 'scene2'], ['scene2', 'scene']]) {
        const camera = ev[`${from}.camera`];
        if (camera) {
          syncing = true;
          Plotly.relayout(gd, {[`${to}.camera`]: camera}).catch(fail)
            .finally(() => { syncing = false; });
          return;
        }
      }
    };
    gd.on('plotly_relayout', sync);
    gd.on('plotly_relayouting', sync);
  }).catch(fail);
}());
