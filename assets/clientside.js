/* CNN Lens: callbacks that need no server round trip. Registered from dashboard/callbacks/clientside.py.
   Ids and values to compare against come from Python, in the client-constants store (layout.client_constants). */
(function () {
  const TYPED = {f4: Float32Array, f8: Float64Array, u1: Uint8Array, u2: Uint16Array, u4: Uint32Array,
                 i1: Int8Array, i2: Int16Array, i4: Int32Array};

  function noUpdate() { return window.dash_clientside.no_update; }

  function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

  /* A plotly array, either a typed-array spec {dtype, bdata, shape} or nested lists, as {flat, shape}. */
  function unpack(value) {
    if (value && !Array.isArray(value) && typeof value.bdata === "string") {
      const binary = atob(value.bdata);
      const bytes = new Uint8Array(binary.length);
      for (let i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
      return {flat: new TYPED[value.dtype](bytes.buffer), shape: String(value.shape).split(",").map(Number)};
    }
    const shape = [];
    for (let level = value; Array.isArray(level); level = level[0]) { shape.push(level.length); }
    return {flat: value.flat(shape.length - 1), shape: shape};
  }

  /* A heatmap's cells divided by a peak: z becomes value / peakOf(position in customdata), and each cell's
     customdata becomes its `stride` positions followed by the true value, for the hover. */
  function rescaled(trace, stride, peakOf) {
    const z = unpack(trace.z), where = unpack(trace.customdata);
    const rows = z.shape[0], columns = z.shape[1];
    const scaledRows = new Array(rows), customRows = new Array(rows);
    for (let r = 0; r < rows; r++) {
      const scaled = new Array(columns), custom = new Array(columns);
      for (let c = 0; c < columns; c++) {
        const cell = r * columns + c, value = z.flat[cell];
        const position = new Array(stride + 1);
        for (let k = 0; k < stride; k++) { position[k] = where.flat[stride * cell + k]; }
        scaled[c] = Number.isNaN(value) ? null : value / (peakOf(position) || 1);
        position[stride] = value;
        custom[c] = position;
      }
      scaledRows[r] = scaled;
      customRows[r] = custom;
    }
    return {z: scaledRows, customdata: customRows,
            hovertemplate: trace.hovertemplate.replace("%{z:.4g}", "%{customdata[" + stride + "]:.4g}")};
  }

  /* The mosaic recoloured tile by tile: z becomes value / the tile's peak |value|, the true value moves
     to customdata[3] for the hover. Figures without channel peaks (bars, matrices, messages) pass through. */
  function perChannel(figure) {
    const trace = figure && figure.data && figure.data[0];
    const meta = trace && trace.meta;
    if (!meta || !meta.channel_peaks) { return figure; }
    const share = meta.signed ? "share of tile's max |value|" : "share of tile's max";
    const recoloured = Object.assign({}, trace, rescaled(trace, 3, function (p) { return meta.channel_peaks[p[0]]; }), {
      zmin: meta.signed ? -1 : 0, zmax: 1,
      colorbar: Object.assign({}, trace.colorbar, {title: Object.assign({}, (trace.colorbar || {}).title, {text: share})})
    });
    return Object.assign({}, figure, {data: [recoloured].concat(figure.data.slice(1).map(perChannelTile))});
  }

  /* A tile drawn again at full resolution over a shrunk mosaic (views.activation_view, zoomed): the same
     recolouring on its own peak; the true value moves to customdata[2]. */
  function perChannelTile(trace) {
    const meta = trace && trace.meta;
    if (!meta || !meta.tile_peak) { return trace; }
    return Object.assign({}, trace, rescaled(trace, 2, function () { return meta.tile_peak; }), {
      zmin: meta.signed ? -1 : 0, zmax: 1, zmid: meta.signed ? 0 : null
    });
  }

  /* Lazy panels: every element with data-lazy="<key>" is watched; the keys of those on screen go to the
     visible-panels store, which the gates read. A closed section's contents are not in the document
     (components.section), so its panels come and go as it opens and closes: the section bodies are watched
     for them. Started once. */
  let watching = false;
  function watchLazyPanels(storeId) {
    if (watching || typeof IntersectionObserver === "undefined") { return; }
    const bodies = document.querySelectorAll(".section-body");
    if (!bodies.length) {  // the layout is not in the document yet
      window.setTimeout(function () { watchLazyPanels(storeId); }, 50);
      return;
    }
    watching = true;
    const onScreen = new Map();
    let reported = null;
    function report() {
      const keys = [];
      onScreen.forEach(function (visible, element) {
        const key = element.getAttribute("data-lazy");
        if (visible && keys.indexOf(key) < 0) { keys.push(key); }
      });
      keys.sort();
      if (!same(keys, reported)) {
        reported = keys;
        window.dash_clientside.set_props(storeId, {data: keys});
      }
    }
    const observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (onScreen.has(entry.target)) { onScreen.set(entry.target, entry.isIntersecting); }
      });
      report();
    }, {rootMargin: "0px"});
    function rescan() {
      let changed = false;
      onScreen.forEach(function (visible, element) {
        if (!element.isConnected) { observer.unobserve(element); onScreen.delete(element); changed = true; }
      });
      document.querySelectorAll("[data-lazy]").forEach(function (element) {
        if (!onScreen.has(element)) { onScreen.set(element, false); observer.observe(element); }
      });
      if (changed) { report(); }
    }
    function touchesPanels(nodes) {
      for (let i = 0; i < nodes.length; i++) {
        const node = nodes[i];
        if (node.nodeType === 1 && (node.hasAttribute("data-lazy") || node.querySelector("[data-lazy]"))) {
          return true;
        }
      }
      return false;
    }
    const mutations = new MutationObserver(function (records) {
      if (records.some(function (r) { return touchesPanels(r.addedNodes) || touchesPanels(r.removedNodes); })) {
        rescan();
      }
    });
    bodies.forEach(function (body) { mutations.observe(body, {childList: true, subtree: true}); });
    rescan();
  }


  /* What-if edits in an image value ("42|x=3,r=15"): image_keys and edits.to_text write the same form. */
  const EDIT_KEYS = ["x", "y", "r", "s", "n", "e"];
  const EDIT_DEFAULTS = {x: 0, y: 0, r: 0, s: 1, n: 0, e: null};

  function splitImage(value) {
    const text = String(value === null || value === undefined ? "" : value), bar = text.indexOf("|");
    return bar < 0 ? {base: value, edit: ""} : {base: text.slice(0, bar), edit: text.slice(bar + 1)};
  }

  function parseEdit(text) {
    const edit = Object.assign({}, EDIT_DEFAULTS);
    (text || "").split(",").forEach(function (part) {
      const eq = part.indexOf("=");
      if (eq < 0) { return; }
      const key = part.slice(0, eq), value = part.slice(eq + 1);
      if (key === "e") { edit.e = value.split("-").map(Number); } else if (key in edit) { edit[key] = Number(value); }
    });
    return edit;
  }

  function editText(edit) {
    const parts = [];
    EDIT_KEYS.forEach(function (key) {
      const value = edit[key];
      if (key === "e") { if (value) { parts.push("e=" + value.join("-")); } return; }
      const rounded = Number(Number(value).toFixed(4));  /* slider steps: 1.1500000000000001 is 1.15 */
      if (rounded !== EDIT_DEFAULTS[key]) { parts.push(key + "=" + String(rounded)); }
    });
    return parts.join(",");
  }

  function imageValue(base, text) {
    if (!text) { return /^\d{1,9}$/.test(String(base)) ? Number(base) : base; }
    return String(base) + "|" + text;
  }

  /* A drawing's value ("st:<code>"), written as image_keys.encode_drawing writes it: version, pad size, stroke
     width, label (255: none), then each stroke's point count (2 bytes) and points (x, y: whole pixels rounded
     half up, kept on the pad, no point twice in a row), URL-safe base64. Null when there is nothing to draw or
     too much to carry (the server then picks the drawing by its pixels). */
  const PATH_POINT = /[ML]\s*(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)\s*,\s*(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)/g;

  function drawingValue(paths, label, constants) {
    const size = constants.padSize, bytes = [1, size, constants.strokeWidth, label];
    const onPad = function (v) { return Math.min(size, Math.max(0, Math.floor(Number(v) + 0.5))); };
    let strokes = 0, total = 0;
    for (let i = 0; i < paths.length; i++) {
      if (typeof paths[i] !== "string") { return null; }
      const points = [];
      let match;
      PATH_POINT.lastIndex = 0;
      while ((match = PATH_POINT.exec(paths[i])) !== null) {
        const x = onPad(match[1]), y = onPad(match[2]), last = points[points.length - 1];
        if (!last || last[0] !== x || last[1] !== y) { points.push([x, y]); }
      }
      if (!points.length) { continue; }
      strokes += 1;
      total += points.length;
      if (strokes > constants.maxStrokes || total > constants.maxPoints) { return null; }
      bytes.push(points.length >> 8, points.length & 255);
      points.forEach(function (p) { bytes.push(p[0], p[1]); });
    }
    if (!strokes) { return null; }
    let text = "";
    bytes.forEach(function (b) { text += String.fromCharCode(b); });
    const value = "st:" + btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    return value.length > constants.maxCode ? null : value;
  }

  /* A value read from the address as view_state.parse_value reads it. */
  function fromAddress(kind, text) {
    if (kind === "int") { return parseInt(text, 10); }
    if (kind === "float") { return parseFloat(text); }
    if (kind === "list") { return text.split(",").filter(function (p) { return p; }); }
    return /^\d{1,9}$/.test(text) ? Number(text) : text;
  }

  function toAddress(kind, value) {
    if (kind === "list") { return (value || []).join(","); }
    return String(value);
  }

  /* Write the view into the address as a new history entry; return it (null: the address holds it already). */
  function pushAddress(state, replace) {
    const view = state.view, params = new URLSearchParams();
    params.set("model", view.model);
    view.fields.forEach(function (field) {
      const value = state.values[field.key];
      if (value === null || value === undefined || same(value, view.defaults[field.key])) { return; }
      if (field.kind === "list" && !value.length && !view.defaults[field.key]) { return; }
      params.set(field.key, toAddress(field.kind, value));
    });
    const next = "?" + params.toString();
    if (next === window.location.search) { return null; }
    if (replace) { window.history.replaceState(null, "", next); } else { window.history.pushState(null, "", next); }
    return next;
  }

  /* A field the browser code that changes it writes itself (view_state.Field.by_browser). */
  function writeField(key, value, replace) {
    const state = window.__cnnLensView;
    if (!state || same(state.values[key], value)) { return; }
    state.values[key] = value;
    pushAddress(state, replace);
  }

  /* Back or forward: set the view's fields to what the address says (syncAddress keeps the last view). */
  function restoreView() {
    const state = window.__cnnLensView;
    if (!state) { return; }
    const view = state.view, params = new URLSearchParams(window.location.search);
    if ((params.get("model") || view.model) !== view.model) { window.location.reload(); return; }
    const changes = [];
    let reload = false;
    view.fields.forEach(function (field) {
      const text = params.get(field.key);
      const wanted = text === null ? view.defaults[field.key] : fromAddress(field.kind, text);
      const current = state.values[field.key];
      if (same(wanted, current) || (wanted === null && !current)) { return; }
      if (!field.in_place) { reload = true; return; }
      changes.push([field, wanted]);
    });
    if (reload) { window.location.reload(); return; }
    changes.forEach(function (change) {
      if (change[0].input < 0) { state.values[change[0].key] = change[1]; }  /* the address has it already */
      const props = {};
      props[change[0].prop] = change[1];
      window.dash_clientside.set_props(change[0].component, props);
    });
  }

  /* A closed section's contents sit in an unselected dcc.Tabs tab, out of the document (components.section).
     dcc.Tabs asks Dash's renderer to compare every change in the page against its own subtree (its
     dashChildrenUpdate flag), ~30 µs per section per store update, every click; its tabs here never change,
     so the flag is dropped once the component library has loaded (before the layout arrives). */
  document.addEventListener("DOMContentLoaded", function () {
    const tabs = window.dash_core_components && window.dash_core_components.Tabs;
    if (tabs && "dashChildrenUpdate" in tabs) { delete tabs.dashChildrenUpdate; }  /* the renderer tests "in" */
  });

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
  cnnLens: {
    /* The server's figure for a layer panel, on one colour scale for all tiles or one per tile. */
    applyColourScale: function (figure, scale, constants) {
      if (!figure) { return noUpdate(); }
      return scale === constants.perChannel ? perChannel(figure) : figure;
    },

    /* The layer a card click, a click on the layer graph's node or Previous/Next selects, and every card's
       class (a model drawn as a graph has no cards). */
    selectLayer: function (cardClicks, previousClicks, nextClicks, graphClick, current, layers, constants) {
      const names = (layers || []).map(function (layer) { return layer.name; });
      if (!names.length) { return noUpdate(); }
      const context = window.dash_clientside.callback_context;
      const trigger = context.triggered_id;
      let position = Math.max(0, names.indexOf(current));
      const clicked = graphClick && graphClick.points && graphClick.points.length ? graphClick.points[0].customdata
        : null;
      if (trigger && typeof trigger === "object" && names.indexOf(trigger.layer) >= 0) {
        position = names.indexOf(trigger.layer);
      } else if (trigger === constants.previousLayer) {
        position = Math.max(0, position - 1);
      } else if (trigger === constants.nextLayer) {
        position = Math.min(names.length - 1, position + 1);
      } else if (trigger === constants.layerGraph) {
        if (names.indexOf(clicked) < 0) { return noUpdate(); }  /* the input node: nothing to select */
        position = names.indexOf(clicked);
      }
      const chosen = names[position];
      const cards = context.outputs_list[1].map(function (output) {
        return output.id.layer === chosen ? "layer-card selected" : "layer-card";
      });
      return [chosen, cards];
    },

    /* The ring around the selected layer's node on the layer graph, moved without a request. */
    markLayerNode: function (selected, figure) {
      const data = figure && figure.data;
      if (!data || data.length < 3) { return noUpdate(); }
      const nodes = data[1], at = (nodes.customdata || []).indexOf(selected);
      if (at < 0) { return noUpdate(); }
      const ring = Object.assign({}, data[2], {x: [nodes.x[at]], y: [nodes.y[at]]});
      return Object.assign({}, figure, {data: [data[0], data[1], ring]});
    },

    /* The input-channel choices for the selected layer; the control hides when there is nothing to choose. */
    inputChannelControl: function (layerName, current, layers) {
      // The choices come from Python (views.channel_options), so the two sides cannot disagree.
      const layer = (layers || []).find(function (l) { return l.name === layerName; });
      const options = layer ? layer.channel_options : [];
      if (!options.length) {
        // No value: Dash 4's Dropdown would drop one missing from its options, a second change for nothing.
        return [[], null, "inline-field hidden"];
      }
      const valid = options.some(function (o) { return o.value === current; });
      return [options, valid ? current : options[0].value, "inline-field"];
    },

    /* A wide layer's pages of channels (strongest first); a new layer opens on its first page. */
    channelPageControl: function (layerName, current, layers) {
      const layer = (layers || []).find(function (l) { return l.name === layerName; });
      const options = layer ? layer.page_options : [];
      if (!options.length) {
        return current === null ? [[], noUpdate(), "inline-field hidden"] : [[], null, "inline-field hidden"];
      }
      return [options, 0, "inline-field"];
    },

    /* A thumbnail of the test-set gallery clicked: that image becomes the picked one, and the page scrolls
       up to the lens so the panels it changes are in view. */
    pickFromGallery: function (click, figure) {
      const point = click && click.points && click.points[0];
      const meta = figure && figure.data && figure.data[0] && figure.data[0].meta;
      if (!point || !meta || !meta.indices) { return noUpdate(); }
      const height = meta.tile[0], width = meta.tile[1];
      const column = Math.round(point.x), row = Math.round(point.y);
      if (column % (width + 1) === width || row % (height + 1) === height) { return noUpdate(); }  /* a gutter */
      const position = Math.floor(row / (height + 1)) * meta.columns + Math.floor(column / (width + 1));
      if (position >= meta.indices.length) { return noUpdate(); }
      window.scrollTo({top: 0, behavior: "smooth"});
      return meta.indices[position];
    },

    /* Each layer card with a dead-count line shows its layer's count ("3 of 32 dead"; empty for none). */
    deadCountsInCards: function (counts) {
      const outputs = window.dash_clientside.callback_context.outputs_list || [];
      return outputs.map(function (output) { return (counts && counts[output.id.layer]) || ""; });
    },

    /* A branched model's layer graph: a node's hover says how many of its channels are dead, its outline red. */
    deadCountsInGraph: function (counts, figure) {
      const nodes = figure && figure.data && figure.data[1];
      if (!nodes || !nodes.meta || !nodes.meta.hover || !counts) { return noUpdate(); }
      const names = nodes.customdata || [];
      const hover = names.map(function (name, i) {
        return nodes.meta.hover[i] + (counts[name] ? "<br><b>" + counts[name] + "</b> on the test set" : "");
      });
      const outline = names.map(function (name) { return counts[name] ? "#b91c1c" : "white"; });
      const marker = Object.assign({}, nodes.marker, {line: {width: 2, color: outline}});
      const data = figure.data.slice();
      data[1] = Object.assign({}, nodes, {hovertext: hover, marker: marker});
      return Object.assign({}, figure, {data: data});
    },

    /* A mosaic's relayout event passes on only when it is a zoom or a pan (the four axis ranges, as
       Python's callbacks.layers.zoom_window reads them); an autosize or a reset stays in the browser. */
    zoomWindow: function (relayout) {
      const keys = ["xaxis.range[0]", "xaxis.range[1]", "yaxis.range[0]", "yaxis.range[1]"];
      if (!relayout || !keys.every(function (key) { return typeof relayout[key] === "number"; })) {
        return noUpdate();
      }
      return relayout;
    },

    /* The confusion cell whose images the gallery shows is framed (the frame Python's testset_figures.cell_frame
       draws), once the gallery has its answer: redrawing the matrix takes ~50 ms here, which the gallery
       need not wait for. The server draws the same frame whenever it sends the matrix again. */
    markCell: function (gallery, click, figure, constants) {
      const point = click && click.points && click.points[0];
      const trace = figure && figure.data && figure.data[0];
      if (!point || !trace || !Array.isArray(trace.x) || !Array.isArray(trace.y) || !constants) { return noUpdate(); }
      const column = trace.x.indexOf(point.x), row = trace.y.indexOf(point.y);
      if (column < 0 || row < 0) { return noUpdate(); }
      const base = constants.cellFrame;
      const frame = Object.assign({}, base, {x0: base.x0 + column, x1: base.x1 + column, y0: base.y0 + row,
                                             y1: base.y1 + row});
      const shapes = (figure.layout && figure.layout.shapes) || [];
      if (shapes.length === 1 && same(shapes[0], frame)) { return noUpdate(); }
      return Object.assign({}, figure, {layout: Object.assign({}, figure.layout, {shapes: [frame]})});
    },

    /* The class to rank channels for is asked only when they are sorted by activation × gradient. */
    classFieldHidden: function (sort, constants) {
      return !constants || sort !== constants.sortContribution;
    },

    /* A point of the embedding map clicked: that image becomes the picked one (the page scrolls up to the lens). */
    pickFromMap: function (click) {
      const point = click && click.points && click.points[0];
      const data = point && point.customdata;
      if (!Array.isArray(data) || typeof data[0] !== "number") { return noUpdate(); }
      window.scrollTo({top: 0, behavior: "smooth"});
      return data[0];
    },

    /* The embedding map's ring moves to the picked image, wherever it was picked. */
    markPicked: function (digit, figure) {
      const data = figure && figure.data;
      if (!data || data.length < 2) { return noUpdate(); }
      let x = [], y = [];  /* a picked image the map does not draw (a sampled map, an own image): no ring */
      for (let t = 0; t < data.length - 1 && !x.length && typeof digit === "number"; t++) {
        const custom = data[t].customdata || [];
        for (let i = 0; i < custom.length; i++) {
          if (custom[i][0] === digit) { x = [data[t].x[i]]; y = [data[t].y[i]]; break; }
        }
      }
      const ring = Object.assign({}, data[data.length - 1], {x: x, y: y});
      return Object.assign({}, figure, {data: data.slice(0, -1).concat([ring])});
    },

    /* A click on a note (what became of an upload) closes it. */
    closeNote: function (clicks) {
      return clicks ? "" : noUpdate();
    },

    /* Choosing another model opens the page on it: its layers, classes and controls are its own. */
    openModel: function (chosen, current) {
      if (!chosen || chosen === current) { return noUpdate(); }
      return "?model=" + encodeURIComponent(chosen);
    },

    /* A random test digit, or a random misclassified one when the switch is on. */
    randomDigit: function (clicks, misclassifiedOnly, pool) {
      if (!clicks || !pool) { return noUpdate(); }
      const onlyWrong = Array.isArray(misclassifiedOnly) && misclassifiedOnly.length > 0;
      const size = onlyWrong ? pool.misclassified.length : pool.size;
      if (!size) { return noUpdate(); }
      const pick = Math.floor(Math.random() * size);
      return onlyWrong ? pool.misclassified[pick] : pick;
    },

    /* What the main panels show: the served model (its version, so a new one refreshes them) or a run's
       checkpoint. "The served model" scrubs the run that trained it: its last stop is the served model.
       Unchanged views are not written again, so no panel recomputes for nothing. */
    checkpointView: function (position, steps, shownRun, signature, current, constants) {
      const served = shownRun === constants.served || shownRun === null || shownRun === undefined;
      const run = served ? (signature ? signature.served_run : null) : shownRun;
      const hasSteps = typeof position === "number" && Array.isArray(steps) && position < steps.length;
      let view;
      if (served && (!run || !hasSteps || position === steps.length - 1)) {
        view = {model: signature ? signature.served : null};
      } else if (hasSteps) {
        view = {run: run, step: steps[position]};
      } else {
        return noUpdate();
      }
      return same(view, current) ? noUpdate() : view;
    },

    /* The explanations follow the view once the activation panel has answered for it. */
    deferView: function (activationFigure, view, explained) {
      return same(view, explained) ? noUpdate() : view;
    },

    /* Play steps the slider through the checkpoints; a click toggles it, and it stops at the last one. */
    playTimeline: function (clicks, ticks, value, marks, timerDisabled) {
      const steps = Object.keys(marks || {}).map(Number).sort(function (a, b) { return a - b; });  /* positions */
      const triggered = (window.dash_clientside.callback_context.triggered[0] || {}).prop_id || "";
      if (!steps.length) { return [noUpdate(), true, "▶ Play"]; }
      if (triggered.indexOf("n_clicks") >= 0) {
        if (!timerDisabled) { return [noUpdate(), true, "▶ Play"]; }
        const restart = value === steps[steps.length - 1] ? steps[0] : noUpdate();
        return [restart, false, "⏸ Pause"];
      }
      const next = steps.find(function (step) { return step > value; });
      if (next === undefined) { return [noUpdate(), true, "▶ Play"]; }
      return [next, next === steps[steps.length - 1], next === steps[steps.length - 1] ? "▶ Play" : "⏸ Pause"];
    },

    /* A section's header button opens or closes it; a header link opens it and scrolls to it. A closed
       section's contents are not in the document, so the lazy panels inside them compute nothing. */
    toggleSections: function (toggleClicks, linkClicks, open, constants) {
      watchLazyPanels(constants.visiblePanels);
      const context = window.dash_clientside.callback_context;
      const trigger = context.triggered_id;
      const names = context.outputs_list[1].map(function (output) { return output.id.section; });
      let opened = Array.isArray(open) ? open.slice() : [];
      if (trigger && typeof trigger === "object" && names.indexOf(trigger.section) >= 0) {
        const name = trigger.section, isOpen = opened.indexOf(name) >= 0;
        if (trigger.type === constants.sectionLinkType) {
          if (!isOpen) { opened.push(name); }
          window.setTimeout(function () {
            const section = document.getElementById(constants.sectionIds[name]);
            if (section) { section.scrollIntoView({behavior: "smooth", block: "start"}); }
          }, 30);
        } else {
          opened = isOpen ? opened.filter(function (n) { return n !== name; }) : opened.concat([name]);
        }
      } else if (!context.triggered.length || !context.triggered[0].value) {
        opened = Array.isArray(open) ? open : [];  // the page's first call: draw the stored state
      }
      const isOpen = function (output) { return opened.indexOf(output.id.section) >= 0; };
      return [opened,
              context.outputs_list[1].map(function (o) { return isOpen(o) ? "section-body" : "section-body closed"; }),
              context.outputs_list[2].map(function (o) { return isOpen(o) ? "true" : "false"; }),
              context.outputs_list[3].map(function (o) {
                return isOpen(o) ? constants.sectionOpen : constants.sectionClosed;
              })];
    },

    /* Lazy panels' gates, a group of them at once: what each panel should show (its values of the group's
       inputs after the visible-panels store, named as Python's layout.LAZY_GATES names them), written only while
       the panel is on screen, and only when it differs from what it shows: a panel scrolled into view catches
       up at once. One callback per group, not per gate: Dash's own work per callback was most of the delay. */
    lazyGates: function () {
      const values = Array.prototype.slice.call(arguments);
      const constants = values.pop();
      const listed = window.dash_clientside.callback_context.outputs_list;
      const outputs = Array.isArray(listed) ? listed : [listed];
      const currents = values.splice(values.length - outputs.length, outputs.length);
      const visible = values.shift();
      const results = outputs.map(function (output, position) {
        const gate = constants.gates[output.id], current = currents[position];
        if (!gate || !Array.isArray(visible) || visible.indexOf(gate.panel) < 0) { return noUpdate(); }
        const wanted = {};
        gate.keys.forEach(function (key, k) { wanted[key] = values[gate.inputs[k]]; });
        const idle = gate.idleWhenEmpty;
        if (idle && (!wanted[idle] || (Array.isArray(wanted[idle]) && !wanted[idle].length))) {
          if (!current) { return noUpdate(); }  // idle from the start: the panel shows its first state, ask nothing
          gate.keys.forEach(function (key) { if (key !== idle) { wanted[key] = null; } });
        }
        return same(wanted, current) ? noUpdate() : wanted;
      });
      return Array.isArray(listed) ? results : results[0];
    },

    /* The controls' buttons open the workbench on a tab; its tabs switch; × closes it. */
    workbench: function (buttonClicks, closeClicks, mode) {
      const context = window.dash_clientside.callback_context, trigger = context.triggered_id;
      let open = !document.getElementById(context.outputs_list[0].id) ||
        !document.getElementById(context.outputs_list[0].id).hidden;
      let chosen = mode;
      if (trigger && typeof trigger === "object") {
        const clicked = context.inputs_list[0].find(function (item) { return same(item.id, trigger); });
        if (!clicked || !clicked.value) { return [noUpdate(), noUpdate(), context.outputs_list[2].map(noUpdate)]; }
        chosen = trigger.mode;
        open = true;
      } else if (trigger === context.inputs_list[1].id) {
        open = false;
      } else if (!context.triggered.length || !context.triggered[0].value) {
        open = false;  /* the page's first call: closed */
      }
      return [!open, chosen === mode ? noUpdate() : chosen,
              context.outputs_list[2].map(function (output) { return output.id.mode !== chosen; })];
    },

    /* A stroke (Plotly reports every stroke's path), Undo, Clear or a label: the pad's strokes, and the drawing
       picked at once by its value, so the panels' requests leave without waiting for the server. */
    padDraw: function (relayout, undoClicks, clearClicks, said, paths, constants) {
      const trigger = window.dash_clientside.callback_context.triggered_id;
      let next = Array.isArray(paths) ? paths.slice() : [];
      if (trigger === constants.padUndo) {
        next = next.slice(0, -1);
      } else if (trigger === constants.padClear) {
        next = [];
      } else if (trigger === constants.pad) {
        if (!relayout || !Array.isArray(relayout.shapes)) { return [noUpdate(), noUpdate()]; }  /* a resize */
        next = relayout.shapes.map(function (shape) { return shape && shape.path; });
      } else if (trigger !== constants.padLabel) {
        return [noUpdate(), noUpdate()];
      }
      const label = said === constants.notSaid || said === null || said === undefined ? 255 : Number(said);
      const value = Number.isInteger(label) && label >= 0 && label <= 255 ? drawingValue(next, label, constants) : null;
      return [next, value === null ? noUpdate() : value];
    },

    /* What-if edits: the sliders and the erase rectangle make the picked image's value ("42|x=3,r=15"). */
    whatIf: function (sliderValues, eraseDrawn, resetClicks, digit, options, constants) {
      const context = window.dash_clientside.callback_context, trigger = context.triggered_id;
      const nothing = [noUpdate(), noUpdate()];
      if (!context.triggered.length || !trigger) { return nothing; }
      const parts = splitImage(digit), current = parseEdit(parts.edit);
      const edit = Object.assign({}, current);
      context.inputs_list[0].forEach(function (slider) { edit[slider.id.edit] = slider.value; });
      if (trigger === constants.editReset) {
        Object.assign(edit, EDIT_DEFAULTS);
      } else if (typeof trigger === "object" && trigger.type === constants.editPictureType) {
        const shapes = eraseDrawn && eraseDrawn.shapes;
        if (!Array.isArray(shapes) || !shapes.length) { return nothing; }
        const r = shapes[shapes.length - 1], size = constants.imageSize;
        const clamp = function (v, high) { return Math.max(0, Math.min(high, v)); };
        const top = clamp(Math.ceil(Math.min(r.y0, r.y1)), size[0]), bottom = clamp(Math.floor(Math.max(r.y0, r.y1)) + 1, size[0]);
        const left = clamp(Math.ceil(Math.min(r.x0, r.x1)), size[1]), right = clamp(Math.floor(Math.max(r.x0, r.x1)) + 1, size[1]);
        if (bottom <= top || right <= left) { return nothing; }
        edit.e = [top, left, bottom, right];
      }
      const value = imageValue(parts.base, editText(edit));
      if (same(value, digit)) { return nothing; }
      const known = (options || []).some(function (o) { return same(o.value, value); });
      // Named after the image it edits ("#42 · true 4 · …" gives "#42 edited: r=10"); the server's own
      // option, with the edited image's prediction, replaces it when the page next lists the options.
      const base = (options || []).find(function (o) { return same(o.value, parts.base); });
      const baseName = base ? String(base.label).split(" · ")[0] : "image";
      const label = value === parts.base ? null : baseName + " edited: " + editText(edit);
      return [value, known || label === null ? noUpdate() : [{label: label, value: value, search: label}].concat(options || [])];
    },

    /* The sliders follow the picked image's edit (a link, back, another image, Undo the edits). Before the
       workbench is built there are none: nothing to do. */
    editSliders: function (digit, built, sliderValues) {
      const sliders = window.dash_clientside.callback_context.outputs_list;
      const edit = parseEdit(splitImage(digit).edit);
      return sliders.map(function (slider, k) {
        return same(edit[slider.id.edit], sliderValues[k]) ? noUpdate() : edit[slider.id.edit];
      });
    },

    /* The erase picker shows the picture the lens shows, bigger, in rectangle-drawing mode, while its tab is open. */
    erasePicture: function (picture, mode, built, constants) {
      const pictures = window.dash_clientside.callback_context.outputs_list;
      return pictures.map(function () {
        if (mode !== constants.editMode || !picture || !picture.layout) { return noUpdate(); }
        const layout = Object.assign({}, picture.layout, {
          height: 200, width: 200, dragmode: "drawrect", shapes: [], uirevision: JSON.stringify(picture.data[0].z).length,
          newshape: {line: {color: "#dc2626", width: 2}, fillcolor: "rgba(220,38,38,0.25)"},
          margin: {l: 0, r: 0, t: 0, b: 0}});
        return {data: picture.data, layout: layout};
      });
    },

    /* An uploaded file goes to the server only when it is small enough; a bigger one gets a message here. */
    uploadGate: function (contents, filename, constants) {
      if (!contents) { return [noUpdate(), noUpdate()]; }
      if (contents.length > constants.maxUploadChars) {
        return [noUpdate(), (filename || "That file") + " is larger than " + constants.maxUploadMb + " MB: choose a smaller image."];
      }
      return [{contents: contents, filename: filename || ""}, "Reading " + (filename || "the image") + "…"];
    },

    /* The address bar holds the view (view_state.py): a change of view writes it with history.pushState (one
       history entry per change). Its only output is a store nobody reads: a callback with outputs the panels
       read (the fields themselves) would make Dash hold every panel request until it ran. Back and forward
       are read by a popstate listener (restoreView), which sets the fields in place, or reloads the page for a
       model, checkpoint or open sections of another view (the server builds those). */
    syncAddress: function () {
      const args = Array.prototype.slice.call(arguments);
      const constants = args.pop(), view = constants.view, values = args;
      const previous = window.__cnnLensView ? window.__cnnLensView.values : null;
      const opened = new URLSearchParams(window.location.search);
      const known = {};
      view.fields.forEach(function (field) {
        if (field.input < 0) {  /* written by the browser code that changes it (writeField) */
          const text = opened.get(field.key);
          known[field.key] = previous ? previous[field.key]
            : (text === null ? view.defaults[field.key] : fromAddress(field.kind, text));
          return;
        }
        let value = values[field.input];
        if (field.part) { value = value && value[field.part] !== undefined ? value[field.part] : null; }
        known[field.key] = value === undefined ? null : value;
      });
      window.__cnnLensView = {view: view, values: known};
      if (!window.__cnnLensPopstate) {
        window.__cnnLensPopstate = true;
        window.addEventListener("popstate", restoreView);
      }
      const next = pushAddress(window.__cnnLensView);
      return next === null ? noUpdate() : next;
    },

    /* A click on a cell of the activations, the filters or gradients, the saliency or the probabilities opens
       the explanation drawer (cells.parse reads the text). The server is asked only while a cell is open; the
       drawer follows the image, the checkpoint and the settings, and a new layer closes a cell of the old one. */
    pickCell: function (activationClick, kernelClick, saliencyClick, probabilityClick, closeClicks, layer, digit,
                        view, effective, saliencyClass, cell, inputChannel, drawerClass, constants) {
      const c = constants.cells, trigger = window.dash_clientside.callback_context.triggered_id;
      const point = function (click) { return click && Array.isArray(click.points) ? click.points[0] : null; };
      const whole = function (v) { return Math.max(0, Math.round(Number(v))); };
      /* A mosaic's (channel, row, col): figures send small index arrays as typed arrays. */
      const triple = function (q) {
        return q && q.customdata && q.customdata.length === 3 && typeof q.customdata !== "string"
          ? Array.from(q.customdata).map(whole).join(",") : null;
      };
      const current = typeof cell === "string" ? cell : "";
      let next = current, p = null;
      if (trigger === c.close) {
        next = "";
      } else if (trigger === c.layer) {
        if (/^[ag]:/.test(current)) { next = ""; }  /* a cell of the layer that was shown */
      } else if (trigger === c.activation && (p = point(activationClick))) {
        next = "a:" + (triple(p) || whole(p.x));
      } else if (trigger === c.kernel && (p = point(kernelClick))) {
        if (inputChannel === c.colour) { return [noUpdate(), noUpdate(), noUpdate()]; }  /* RGB pictures */
        next = triple(p) ? "g:" + triple(p) + ";c=" + (Number.isInteger(inputChannel) ? inputChannel : "all")
          : "g:" + whole(p.y) + "," + whole(p.x) + ";matrix";
      } else if (trigger === c.saliency && (p = point(saliencyClick))) {
        next = "s:" + whole(p.y) + "," + whole(p.x);
      } else if (trigger === c.probability && (p = point(probabilityClick))) {
        next = "p:" + whole(p.pointNumber);
      }
      const cellOut = next === current ? noUpdate() : next;
      /* The address learns the cell here (not through syncAddress: one callback less before the request); a cell
         set from the address (back, forward) is already in it. */
      /* A new layer closes its cell within the layer's own history entry (syncAddress writes the layer). */
      if (trigger !== c.cell) { writeField("cell", next, trigger === c.layer); }
      if (!next) {
        return [cellOut, noUpdate(), drawerClass === c.closedClass ? noUpdate() : c.closedClass];
      }
      const request = {cell: next, image: digit, layer: layer, view: view, effective: effective || [],
                       saliency: saliencyClass};
      return [cellOut, request, drawerClass === c.openClass ? noUpdate() : c.openClass];
    },

    /* Copy link: the address (which holds the view) to the clipboard, and shown, for copying by hand. */
    copyLink: function (clicks) {
      if (!clicks) { return [noUpdate(), noUpdate()]; }
      const link = window.location.href;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(link).catch(function () {});
      }
      return [link, "link-box"];
    },

    /* Compare A and B: show the control of what B is (another image, or another checkpoint). */
    abMode: function (mode, constants) {
      const image = mode === constants.abOtherImage;
      return [!image, image, !image];
    },

    /* Swap A and B: B becomes the picked image and A the image compared with it. */
    swapAB: function (clicks, a, b) {
      if (!clicks || a === null || a === undefined || b === null || b === undefined) {
        return [noUpdate(), noUpdate()];
      }
      return [b, a];
    },

    /* Start draws a fresh token for the training it asks for; Cancel names that token. */
    startRequest: function (clicks) {
      if (!clicks) { return noUpdate(); }
      const bytes = new Uint8Array(16);
      window.crypto.getRandomValues(bytes);
      return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
    }
  }
});
})();
