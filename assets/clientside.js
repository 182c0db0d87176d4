/* CNN Lens: callbacks that need no server round trip. Registered from dashboard/callbacks/clientside.py. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  cnnLens: {
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
      const layer = (layers || []).find(function (l) { return l.name === layerName; });
      if (!layer || layer.input_channels <= 1) {
        return [[], "summary", "inline-field hidden"];
      }
      const options = [{label: "all (L2 norm)", value: "summary"}];
      if (layer.full_matrix) { options.push({label: "full matrix", value: "matrix"}); }
      for (let c = 0; c < layer.input_channels; c++) { options.push({label: "channel " + c, value: c}); }
      const valid = options.some(function (o) { return o.value === current; });
      return [options, valid ? current : "summary", "inline-field"];
    },

    /* A random test digit, or a random misclassified one when the switch is on. */
    randomDigit: function (clicks, misclassifiedOnly, pool) {
      if (!clicks || !pool) { return window.dash_clientside.no_update; }
      const onlyWrong = Array.isArray(misclassifiedOnly) && misclassifiedOnly.length > 0;
      const size = onlyWrong ? pool.misclassified.length : pool.size;
      if (!size) { return window.dash_clientside.no_update; }
      const pick = Math.floor(Math.random() * size);
      return onlyWrong ? pool.misclassified[pick] : pick;
    }
  }
});
