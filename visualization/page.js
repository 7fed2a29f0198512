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
  // Face directions (+x, -x, +y, -y, +z, -z) and their corners on the unit cube.
  const DIRS = [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]];
  const CORNERS = [
    [[1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 0, 1]],
    [[0, 0, 0], [0, 0, 1], [0, 1, 1], [0, 1, 0]],
    [[0, 1, 0], [0, 1, 1], [1, 1, 1], [1, 1, 0]],
    [[0, 0, 0], [1, 0, 0], [1, 0, 1], [0, 0, 1]],
    [[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]],
    [[0, 0, 0], [0, 1, 0], [1, 1, 0], [1, 0, 0]],
  ];
  // Unlit: the drawn colour is the given one (shaded per face direction beforehand).
  const FLAT = {ambient: 1, diffuse: 0, specular: 0, fresnel: 0, roughness: 1};
  const NCLASS = D.classes.length;
  const NERR = D.errors.length;

  const state = {
    frame: 0, mode: 'prediction', grids: null,
    shown: {class: new Uint8Array(NCLASS).fill(1), error: new Uint8Array(NERR).fill(1), ego: 1},
  };
  const status = {renders: 0, firstRenderMs: null, faces: null, error: null};
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
     hidden, or any value >= shown.length). Returns buckets[label][direction] =
     {x, y, z, i, j, k} (metres, ego frame) and the face count. */
  function meshFaces(labels, shown) {
    const n = shown.length;
    const drawn = (l) => l < n && shown[l] === 1;
    const faces = [];
    const counts = new Uint32Array(n * 6);
    for (let i = 0; i < NX; i++) {
      for (let j = 0; j < NY; j++) {
        for (let k = 0; k < NZ; k++) {
          const idx = (i * NY + j) * NZ + k;
          const l = labels[idx];
          if (!drawn(l)) continue;
          for (let d = 0; d < 6; d++) {
            const a = i + DIRS[d][0], b = j + DIRS[d][1], c = k + DIRS[d][2];
            const outside = a < 0 || a >= NX || b < 0 || b >= NY || c < 0 || c >= NZ;
            if (outside || !drawn(labels[(a * NY + b) * NZ + c])) {
              faces.push(idx * 6 + d);
              counts[l * 6 + d]++;
            }
          }
        }
      }
    }
    const buckets = [];
    for (let l = 0; l < n; l++) {
      buckets.push(DIRS.map((_, d) => {
        const m = counts[l * 6 + d];
        return {x: new Float32Array(4 * m), y: new Float32Array(4 * m), z: new Float32Array(4 * m),
                i: new Uint32Array(2 * m), j: new Uint32Array(2 * m), k: new Uint32Array(2 * m),
                used: 0};
      }));
    }
    for (const f of faces) {
      const d = f % 6, idx = (f - d) / 6;
      const k = idx % NZ, j = ((idx - k) / NZ) % NY, i = (idx - k - j * NZ) / (NY * NZ);
      const b = buckets[labels[idx]][d];
      const v = 4 * b.used, t = 2 * b.used;
      CORNERS[d].forEach((corner, c) => {
        b.x[v + c] = X0 + V * (i + corner[0]);
        b.y[v + c] = Y0 + V * (j + corner[1]);
        b.z[v + c] = Z0 + V * (k + corner[2]);
      });
      b.i[t] = v; b.j[t] = v + 1; b.k[t] = v + 2;
      b.i[t + 1] = v; b.j[t + 1] = v + 2; b.k[t + 1] = v + 3;
      b.used++;
    }
    return {buckets, count: faces.length};
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

  /* Traces of one meshed grid in `scene`; `legend` puts the entries into the legend. */
  function voxelTraces(mesh, scene, kinds, group, shown, legend) {
    const traces = [];
    kinds.forEach((kind, l) => {
      DIRS.forEach((_, d) => {
        const b = mesh ? mesh.buckets[l][d] : null;
        const carriesLegend = legend && d === 4;
        if (!carriesLegend && (!b || b.used === 0)) return;
        traces.push({
          type: 'mesh3d', scene, name: kind.name, legendgroup: `${group}:${l}`,
          showlegend: carriesLegend, visible: shown[l] ? true : 'legendonly',
          x: b ? b.x : [], y: b ? b.y : [], z: b ? b.z : [],
          i: b ? b.i : [], j: b ? b.j : [], k: b ? b.k : [],
          color: rgb(kind.rgb, D.face_shades[d]), flatshading: true, lighting: FLAT,
          hoverinfo: 'name',
        });
      });
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
    const {traces, layout} = figure();
    await Plotly.react(gd, traces, layout, {displaylogo: false, responsive: true});
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
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
