/* CNN Lens: callbacks that need no server round trip. Registered from dashboard/callbacks/clientside.py. */
(function () {
  const TYPED = {f4: Float32Array, f8: Float64Array, u1: Uint8Array, u2: Uint16Array, u4: Uint32Array,
                 i1: Int8Array, i2: Int16Array, i4: Int32Array};

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

  /* The mosaic recoloured tile by tile: z becomes value / the tile's peak |value|, the true value moves
     to customdata[3] for the hover. Figures without channel peaks (bars, matrices, messages) pass through. */
  function perChannel(figure) {
    const trace = figure && figure.data && figure.data[0];
    const meta = trace && trace.meta;
    if (!meta || !meta.channel_peaks) { return figure; }
    const z = unpack(trace.z), where = unpack(trace.customdata);
    const rows = z.shape[0], columns = z.shape[1];
    const scaledRows = new Array(rows), customRows = new Array(rows);
    for (let r = 0; r < rows; r++) {
      const scaled = new Array(columns), custom = new Array(columns);
      for (let c = 0; c < columns; c++) {
        const cell = r * columns + c, value = z.flat[cell];
        const channel = where.flat[3 * cell], peak = meta.channel_peaks[channel] || 1;
        scaled[c] = Number.isNaN(value) ? null : value / peak;
        custom[c] = [channel, where.flat[3 * cell + 1], where.flat[3 * cell + 2], value];
      }
      scaledRows[r] = scaled;
      customRows[r] = custom;
    }
    const share = meta.signed ? "share of tile's max |value|" : "share of tile's max";
    const recoloured = Object.assign({}, trace, {
      z: scaledRows, customdata: customRows, zmin: meta.signed ? -1 : 0, zmax: 1,
      hovertemplate: trace.hovertemplate.replace("%{z:.4g}", "%{customdata[3]:.4g}"),
      colorbar: Object.assign({}, trace.colorbar, {title: Object.assign({}, (trace.colorbar || {}).title, {text: share})})
    });
    return Object.assign({}, figure, {data: [recoloured].concat(figure.data.slice(1))});
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
  cnnLens: {
    /* The server's figure for a layer panel, on one colour scale for all tiles or one per tile. */
    applyColourScale: function (figure, scale) {
      if (!figure) { return window.dash_clientside.no_update; }
      return scale === "per-channel" ? perChannel(figure) : figure;
    },

    /* The layer a card click or Previous/Next selects, and every card's class. */
    selectLayer: function (cardClicks, previousClicks, nextClicks, current, layers) {
      const names = (layers || []).map(function (layer) { return layer.name; });
      if (!names.length) { return window.dash_clientside.no_update; }
      const trigger = window.dash_clientside.callback_context.triggered_id;
      let position = Math.max(0, names.indexOf(current));
      if (trigger && typeof trigger === "object" && names.indexOf(trigger.layer) >= 0) {
        position = names.indexOf(trigger.layer);
      } else if (trigger === "previous-layer-button") {
        position = Math.max(0, position - 1);
      } else if (trigger === "next-layer-button") {
        position = Math.min(names.length - 1, position + 1);
      }
      const chosen = names[position];
      return [chosen, names.map(function (name) { return name === chosen ? "layer-card selected" : "layer-card"; })];
    },

    /* The input-channel choices for the selected layer; the control hides when there is nothing to choose. */
    inputChannelControl: function (layerName, current, layers) {
      // The choices come from Python (views.channel_options), so the two sides cannot disagree.
      const layer = (layers || []).find(function (l) { return l.name === layerName; });
      const options = layer ? layer.channel_options : [];
      if (!options.length) {
        return [[], current, "inline-field hidden"];  // the server ignores it for such layers
      }
      const valid = options.some(function (o) { return o.value === current; });
      return [options, valid ? current : options[0].value, "inline-field"];
    },

    /* A random test digit, or a random misclassified one when the switch is on. */
    randomDigit: function (clicks, misclassifiedOnly, pool) {
      if (!clicks || !pool) { return window.dash_clientside.no_update; }
      const onlyWrong = Array.isArray(misclassifiedOnly) && misclassifiedOnly.length > 0;
      const size = onlyWrong ? pool.misclassified.length : pool.size;
      if (!size) { return window.dash_clientside.no_update; }
      const pick = Math.floor(Math.random() * size);
      return onlyWrong ? pool.misclassified[pick] : pick;
    },

    /* What the main panels show: the served model (its version, so a new one refreshes them) or a run's
       checkpoint. Unchanged views are not written again, so no panel recomputes for nothing. */
    checkpointView: function (position, steps, shownRun, signature, current) {
      const noUpdate = window.dash_clientside.no_update;
      let view;
      if (shownRun === "served" || shownRun === null || shownRun === undefined) {
        view = {model: signature ? signature.served : null};
      } else if (typeof position === "number" && Array.isArray(steps) && position < steps.length) {
        view = {run: shownRun, step: steps[position]};
      } else {
        return noUpdate;
      }
      return JSON.stringify(view) === JSON.stringify(current) ? noUpdate : view;
    },

    /* The explanations follow the view once the activation panel has answered for it. */
    deferView: function (activationFigure, view, explained) {
      return JSON.stringify(view) === JSON.stringify(explained) ? window.dash_clientside.no_update : view;
    },

    /* Play steps the slider through the checkpoints; a click toggles it, and it stops at the last one. */
    playTimeline: function (clicks, ticks, value, marks, timerDisabled) {
      const noUpdate = window.dash_clientside.no_update;
      const steps = Object.keys(marks || {}).map(Number).sort(function (a, b) { return a - b; });  /* positions */
      const triggered = (window.dash_clientside.callback_context.triggered[0] || {}).prop_id || "";
      if (!steps.length) { return [noUpdate, true, "▶ Play"]; }
      if (triggered.indexOf("n_clicks") >= 0) {
        if (!timerDisabled) { return [noUpdate, true, "▶ Play"]; }
        const restart = value === steps[steps.length - 1] ? steps[0] : noUpdate;
        return [restart, false, "⏸ Pause"];
      }
      const next = steps.find(function (step) { return step > value; });
      if (next === undefined) { return [noUpdate, true, "▶ Play"]; }
      return [next, next === steps[steps.length - 1], next === steps[steps.length - 1] ? "▶ Play" : "⏸ Pause"];
    }
  }
});
})();
