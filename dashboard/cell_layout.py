"""The cell explanation drawer: a clicked number taken apart, as formulas (MathJax), tables and small maps.

Every symbol in a formula is tied to a number on the screen: the formula is written once with symbols, then
again with the numbers substituted, down to the value hover shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape

import numpy as np
import plotly.graph_objects as go
from dash import dcc, html

from dashboard import cell_figures, components, ids
from dashboard.backward import PixelFlow, WeightGradient
from dashboard.cells import CellExplanation
from dashboard.decompose import Decomposition, Part

ACTIVATION_TEX = {"relu": r"\mathrm{ReLU}", "sigmoid": r"\sigma", "tanh": r"\tanh", "linear": "",
                  "softmax": r"\mathrm{softmax}"}
TOP_FILTERS = 6
DRAWER_OPEN, DRAWER_CLOSED = "cell-drawer", "cell-drawer hidden"


class _HtmlText:
    """Tiny HTML-as-text builders with html.X's call shape: an explanation is one dcc.Markdown (HTML allowed)
    instead of hundreds of Dash components, each of which would cost the renderer on every later store update."""

    def __getattr__(self, tag: str) -> Callable[..., str]:
        def element(children=None, className: str | None = None, colSpan: int | None = None) -> str:
            parts = children if isinstance(children, list) else [] if children is None else [children]
            inner = "".join(part if isinstance(part, _Markup) else escape(str(part)) for part in parts)
            attributes = (f' class="{escape(className)}"' if className else "") + (
                f' colspan="{colSpan}"' if colSpan else "")
            return _Markup(f"<{tag.lower()}{attributes}>{inner}</{tag.lower()}>")
        return element


class _Markup(str):
    """Text that is HTML already (not escaped again)."""


_h = _HtmlText()


def tex_number(value: float | None, digits: int = 4) -> str:
    """Return a number for a formula: 4 significant digits, powers of ten as ×10^k, negatives in brackets."""
    if value is None or not math.isfinite(value):
        return r"\text{n/a}"
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = rf"{mantissa}\times10^{{{int(exponent)}}}"
    return f"({text})" if value < 0 else text


def _number(value: float) -> str:
    return f"{value + 0.0:.4g}"  # + 0.0: no "-0"


def _math(*lines: str) -> str:
    """Return display formulas for MathJax, as Markdown."""
    return _Markup("\n\n".join(f"$${line}$$" for line in lines))


def markdown(parts: list) -> dcc.Markdown:
    """Return an explanation's parts (HTML and formulas) as one Markdown component that MathJax typesets."""
    return dcc.Markdown("\n\n".join(parts), mathjax=True, dangerously_allow_html=True, className="cell-math")


def _activation_tex(name: str | None) -> str:
    escaped = (name or "").replace("_", "\\_")
    return ACTIVATION_TEX.get(name or "linear", rf"\mathrm{{{escaped}}}")


def _grid(values: np.ndarray | None, *, mark: tuple[int, int] | None = None, signed: bool = True) -> str:
    """Return a small grid of numbers (a window, a kernel, products) as a table, sign shown by colour."""
    rows = []
    for r, row in enumerate(np.atleast_2d(values if values is not None else np.zeros((0, 0)))):
        cells = []
        for c, value in enumerate(row):
            classes = [] if not signed or not np.isfinite(value) or value == 0 else ["pos" if value > 0 else "neg"]
            if mark == (r, c):
                classes.append("winner")
            cells.append(_h.Td("pad" if not np.isfinite(value) else _number(float(value)),
                                 className=" ".join(classes) or None))
        rows.append(_h.Tr(cells))
    return _h.Table(_h.Tbody(rows), className="cell-grid")


def _part_block(part: Part) -> str:
    """Return one input channel's window, kernel slice and products side by side, and their sum."""
    products = part.products
    grids = [_h.Div([_h.Div("x: the window", className="grid-title"), _grid(part.window)]),
             _h.Div([_h.Div("× w: kernel", className="grid-title"), _grid(part.weights)])]
    if products is not None:
        grids.append(_h.Div([_h.Div("= products", className="grid-title"), _grid(products)]))
    extra = f" × pointwise weight {_number(part.scale)}" if part.scale is not None else ""
    return _h.Div([
        _h.Div([_h.B(part.name), f": sum of products{extra} = {_number(part.value)}"], className="part-head"),
        _h.Div(grids, className="grids"),
    ], className="part")


def _verdict(result: float | None, value: float, what: str = "the value on hover") -> str:
    if result is None:
        return _h.P(f"Not recomputed here; {what}: {_number(value)}.", className="cell-verdict")
    same = bool(np.isclose(result, value, rtol=1e-4, atol=1e-6))
    text = (f"Recomputed: {result:.6g}; {what}: {value:.6g} "
            + ("— equal (float32 rounding aside)." if same else "— they differ: please report this."))
    return _h.P(text, className="cell-verdict ok" if same else "cell-verdict bad")


def _conv_body(d: Decomposition) -> list:
    top, left = d.extra["rows"][0], d.extra["cols"][0]
    kh, kw = d.extra["kernel"]
    channels = d.extra["channels"]
    f = _activation_tex(d.activation)
    if d.kind == "depthwise":
        formula = (rf"a = {f}\Big(b + \sum_{{i=0}}^{{{kh - 1}}}\sum_{{j=0}}^{{{kw - 1}}}"
                   rf" x[{top}+i,\,{left}+j]\;w[i,j]\Big)")
    elif d.kind == "separable":
        formula = (rf"a = {f}\Big(b + \sum_{{c}} p_c \sum_{{i,j}} x_c[{top}+i,\,{left}+j]\;d_c[i,j]\Big)"
                   r"\quad p: \text{pointwise},\ d: \text{depthwise}")
    else:
        formula = (rf"a = {f}\Big(b + \sum_{{c=0}}^{{{channels - 1}}}\sum_{{i=0}}^{{{kh - 1}}}\sum_{{j=0}}^{{{kw - 1}}}"
                   rf" x_c[{top}+i,\,{left}+j]\; w_c[i,j]\Big)")
    children: list = [_h.P(f"x: {d.source}, the layer's input; the window starts at row {top}, col {left} "
                             f"(stride {d.extra['strides'][0]}, padding “{d.extra['padding']}”). "
                             + (f"The {len(d.parts)} input channels that contribute most, in full:"
                                if d.rest_count else "Each input channel:"), className="cell-text"),
                      _math(formula)]
    children += [_part_block(part) for part in d.parts]
    if d.rest_count:
        magnitude = sum(abs(p.value) for p in d.parts) + abs(d.rest)
        share = abs(d.rest) / magnitude if magnitude else 0.0
        children.append(_h.P(f"The other {d.rest_count} input channels together: {_number(d.rest)} "
                               f"({share:.0%} of the channels' total |contribution|).", className="cell-rest"))
    # The sum over channels in words (each term is a "sum of products" above); the formula takes its total.
    sums = " + ".join(_number(p.value) for p in d.parts) + (f" + {_number(d.rest)}" if d.rest_count else "")
    children.append(_h.P(f"Σ over the input channels: {sums} = {_number(d.total or 0.0)}", className="cell-sum"))
    bias = tex_number(d.bias or 0.0)
    result = tex_number(d.result) if d.result is not None else "?"
    # One line that fits the drawer: z (the sum + the bias) is in the words under it.
    children.append(_math(rf"a = {f}\big(\underbrace{{{tex_number(d.total)}}}_{{\sum}}"
                          rf" + \underbrace{{{bias}}}_{{b}}\big) = {result}"))
    children.append(_h.P(f"z = Σ + b = {_number(d.pre_activation or 0.0)}, the pre-activation; "
                         f"a = {d.activation or 'linear'}(z).", className="cell-sum"))
    return children


def _pool_body(d: Decomposition) -> list:
    part = d.parts[0]
    winner = None
    if d.kind == "max" and "winner" in d.extra and "rows" in d.extra:
        winner = (d.extra["rows"].index(d.extra["winner"][0]), d.extra["cols"].index(d.extra["winner"][1]))
    rule = "the largest value" if d.kind == "max" else f"the mean of the {d.extra.get('count')} values"
    where = (f"rows {d.extra['rows'][0]}–{d.extra['rows'][-1]}, cols {d.extra['cols'][0]}–{d.extra['cols'][-1]}"
             if "rows" in d.extra else "the whole map")
    symbol = r"\max" if d.kind == "max" else r"\operatorname{mean}"
    children: list = [_h.P(f"The window on {d.source} {part.name}, {where}; the output is {rule} in it"
                             + (" (the winner marked)." if winner else "."), className="cell-text")]
    if "rows" in d.extra:
        children.append(_grid(part.window, mark=winner, signed=False))
    children.append(_math(rf"a = {symbol}(\text{{window}}) = {tex_number(d.result)}"))
    return children


def _dense_body(d: Decomposition) -> list:
    rows = [_h.Tr([_h.Th("input"), _h.Th("x"), _h.Th("w"), _h.Th("x · w")])]
    for part in d.parts:
        x, w = np.ravel(part.window if part.window is not None else [np.nan]), np.ravel(
            part.weights if part.weights is not None else [np.nan])
        rows.append(_h.Tr([_h.Td(part.name), _h.Td(_number(float(x[0]))), _h.Td(_number(float(w[0]))),
                             _h.Td(_number(part.value))]))
    if d.rest_count:
        rows.append(_h.Tr([_h.Td(f"the other {d.rest_count} inputs", colSpan=3), _h.Td(_number(d.rest))],
                            className="rest-row"))
    f = _activation_tex(d.activation)
    children: list = [_h.P(f"Every input of {d.source} times its weight; the {len(d.parts)} largest products "
                             "one by one:", className="cell-text"),
                      _h.Table(_h.Tbody(rows), className="cell-table"),
                      _math(rf"z = \sum_k x_k w_k + b = {tex_number(d.total)} + {tex_number(d.bias or 0.0)} = "
                            rf"{tex_number(d.pre_activation)}")]
    if d.activation == "softmax":
        children += _softmax_body(d)
    else:
        children.append(_math(rf"a = {f}({tex_number(d.pre_activation)}) = {tex_number(d.result)}"))
    return children


def _softmax_body(d: Decomposition) -> list:
    unit = d.extra["unit"]
    rows = [_h.Tr([_h.Th("class"), _h.Th("logit z"), _h.Th("exp(z − max z)"), _h.Th("p")])]
    for k, (logit, exponential) in enumerate(zip(d.extra["logits"], d.extra["exponentials"])):
        rows.append(_h.Tr([_h.Td(str(k)), _h.Td(_number(logit)), _h.Td(_number(exponential)),
                             _h.Td(_number(exponential / d.extra["normaliser"]))],
                            className="chosen-row" if k == unit else None))
    return [_h.P("Softmax: every class's logit, exponentiated (less the largest, which changes nothing but "
                   "keeps the numbers small), divided by their sum:", className="cell-text"),
            _h.Table(_h.Tbody(rows), className="cell-table"),
            _math(rf"p_{{{unit}}} = \frac{{e^{{z_{{{unit}}} - \max z}}}}{{\sum_k e^{{z_k - \max z}}}} = "
                  rf"\frac{{{tex_number(d.extra['exponentials'][unit])}}}{{{tex_number(d.extra['normaliser'])}}} = "
                  rf"{tex_number(d.extra['result'])}")]


def _simple_body(d: Decomposition) -> list:
    e = d.extra
    if d.kind == "batchnorm":
        return [_h.P("Batch normalisation with the statistics learned in training (moving mean μ and variance "
                       "σ²), then a learned scale γ and shift β:", className="cell-text"),
                _math(r"y = \gamma\,\frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}} + \beta",
                      rf"= {tex_number(e['gamma'])}\cdot\frac{{{tex_number(e['x'])} - {tex_number(e['mean'])}}}"
                      rf"{{\sqrt{{{tex_number(e['variance'])} + {tex_number(e['epsilon'])}}}}}"
                      rf" + {tex_number(e['beta'])} = {tex_number(d.result)}")]
    if d.kind == "merge":
        symbol = {"Add": "+", "Subtract": "-", "Multiply": r"\times"}.get(e["operation"], ",")
        names = ", ".join(p.name for p in d.parts)
        values = f" {symbol} ".join(tex_number(p.value) for p in d.parts)
        op = "" if symbol in "+-" or symbol == r"\times" else rf"\operatorname{{{e['operation'].lower()}}}"
        return [_h.P(f"{e['operation']} of the same cell of {names}:", className="cell-text"),
                _math(rf"a = {op}({values}) = {tex_number(d.result)}")]
    if d.kind == "activation":
        return [_math(rf"a = {_activation_tex(d.activation)}(x) = {_activation_tex(d.activation)}"
                      rf"({tex_number(d.pre_activation)}) = {tex_number(d.result)}")]
    if d.kind == "softmax":
        return _softmax_body(d)
    if d.kind == "position":
        where = e.get("from")
        text = ("padding: a zero added around the input" if where is None else
                f"copied from {d.source} at " + (f"row {where[0]}, col {where[1]}, channel {where[2]}"
                                                  if len(where) == 3 else f"position {where}"))
        return [_h.P(f"Nothing is computed here: the value is {text}.", className="cell-text")]
    if d.kind == "scale":
        return [_math(rf"a = x \cdot s + o = {tex_number(e['x'])}\cdot{tex_number(e['scale'])} + "
                      rf"{tex_number(e['offset'])} = {tex_number(d.result)}")]
    return [_h.P(d.note, className="cell-text")]


def forward_body(d: Decomposition) -> list:
    """Return the components that take one forward cell apart."""
    if d.kind in ("conv", "depthwise", "separable"):
        body = _conv_body(d)
    elif d.kind in ("max", "average"):
        body = _pool_body(d)
    elif d.kind == "dense":
        body = _dense_body(d)
    else:
        body = _simple_body(d)
    if d.note and d.kind not in ("none", "input"):
        body.append(_h.P(d.note, className="cell-text"))
    return body + [_verdict(d.result, d.value)]


def forward_figure(explained: CellExplanation) -> go.Figure | None:
    """Return the receptive field on the image, the window on the layer's input, and the effective field."""
    d = explained.forward
    if d is None:
        return None
    if d.kind == "dense" and "contribution_map" in d.extra:
        return cell_figures.contribution_mosaic(d.extra["contribution_map"], unit=d.cell[0])
    if explained.picture is None or explained.field is None or explained.picture.shape[-1] != 1:
        return None
    field = [(explained.field, cell_figures.FIELD_COLOUR)] if explained.field[2] >= explained.field[0] else []
    maps = [dict(z=explained.picture[:, :, 0], ink=True, title="receptive field", value_name="pixel", boxes=field)]
    if explained.source is not None and d.window is not None and d.source != "input":
        channel = d.parts[0].channel if d.parts else 0
        boxes = [(d.window, cell_figures.FIELD_COLOUR)]
        if "winner" in d.extra and len(d.cell) == 3:
            winner = d.extra["winner"]
            boxes.append(((winner[0], winner[1], winner[0], winner[1]), cell_figures.WINNER_COLOUR))
        maps.append(dict(z=explained.source, signed=bool(np.min(explained.source) < 0),
                         title=f"window: {d.source} ch {channel}", value_name="value", boxes=boxes))
    if explained.effective is not None:
        maps.append(dict(z=explained.effective, title="effective field |∂a/∂x|", value_name="|∂a/∂x|", boxes=field))
    return cell_figures.maps_side_by_side(maps)


def _strided(symbol: str, stride: int) -> str:
    return symbol if stride == 1 else f"{stride}{symbol}"


def gradient_body(g: WeightGradient, loss_note: str) -> list:
    """Return the components that write one weight's gradient out as Σ input × δ."""
    f = _activation_tex(g.activation)
    if g.kind == "dense":
        k, u = g.weight
        delta = tex_number(float(g.upstream[0]))
        if g.softmax is not None:
            delta_rule = (rf"\delta_{{{u}}} = p_{{{u}}} - y_{{{u}}} = {tex_number(g.softmax[0])} - {g.softmax[1]:g}"
                          rf" = {delta}")
        else:
            slope = tex_number(g.slope) if g.slope is not None else "?"
            delta_rule = (rf"\delta_{{{u}}} = \frac{{\partial L}}{{\partial a_{{{u}}}}}\,{f}'(z_{{{u}}}) = "
                          rf"{tex_number(float(g.output_gradient[0]))}\cdot{slope} = {delta}")
        return [_h.P(f"{loss_note} A dense weight is used once, so its gradient is one product: the input it "
                     f"multiplies ({g.input_name or f'input {k}'}) times the upstream gradient δ at the unit's "
                     "pre-activation z.", className="cell-text"),
                _math(rf"\frac{{\partial L}}{{\partial W_{{{k},{u}}}}} = x_{{{k}}}\,\delta_{{{u}}}", delta_rule,
                      rf"x_{{{k}}}\,\delta_{{{u}}} = {tex_number(float(g.inputs[0]))}\cdot{delta}"
                      rf" = {tex_number(g.total)}"),
                _verdict(g.total, g.value, "the gradient on hover")]
    i, j, c, filt = g.weight
    return [_h.P(f"{loss_note} Weight w[{i},{j}] of filter {filt} on input channel {c} multiplies one input value "
                   "at every output position; its gradient adds up, over those positions, that input value times δ, "
                   "the loss's gradient at the filter's pre-activation z (∂L/∂a passed back through the activation's "
                   f"derivative). The maps: x, the values of input channel {c} that w[{i},{j}] multiplied at each "
                   f"output position; δ of filter {filt}; their product. Hover them for every number.",
                   className="cell-text"),
            _math(rf"\delta_{{{filt}}} = \frac{{\partial L}}{{\partial a_{{{filt}}}}}\odot {f}'(z_{{{filt}}})",
                  rf"\frac{{\partial L}}{{\partial w_{{{c},{filt}}}[{i},{j}]}} = \sum_{{r,s}}"
                  rf" x_{{{c}}}[{_strided('r', g.stride[0])}+{i},\; {_strided('s', g.stride[1])}+{j}]\;"
                  rf"\delta_{{{filt}}}[r,s]",
                  rf"= \textstyle\sum(\text{{products}}) = {tex_number(g.total)}"),
            _verdict(g.total, g.value, "the gradient on hover")]


def gradient_figure(g: WeightGradient) -> go.Figure | None:
    """Return the input map, the δ map and their product map side by side (a conv weight)."""
    if g.kind != "conv":
        return None
    i, j, c, f = g.weight
    return cell_figures.maps_side_by_side([
        dict(z=g.inputs, signed=bool(np.min(g.inputs) < 0), title="x", value_name=f"x (channel {c})"),
        dict(z=g.upstream, signed=True, title="δ", value_name=f"δ = ∂L/∂z (filter {f})"),
        dict(z=g.products, signed=True, title="x · δ", value_name="x·δ"),
    ])


def flow_body(flow: PixelFlow, score_note: str) -> list:
    """Return how a saliency pixel's gradient splits over the first layer's filters."""
    order = np.argsort(-np.abs(flow.per_filter))
    shown = order[:TOP_FILTERS]
    rows = [_h.Tr([_h.Th("filter"), _h.Th("share of ∂S/∂x")])]
    rows += [_h.Tr([_h.Td(str(int(k))), _h.Td(_number(float(flow.per_filter[k])))]) for k in shown]
    rest = float(flow.per_filter[order[TOP_FILTERS:]].sum())
    if len(order) > TOP_FILTERS:
        rows.append(_h.Tr([_h.Td(f"the other {len(order) - TOP_FILTERS} filters"), _h.Td(_number(rest))],
                            className="rest-row"))
    row, col, colour = flow.pixel
    return [_h.P(f"{score_note} The pixel at row {row}, col {col} feeds every filter of {flow.layer} whose window "
                   "covers it; its gradient is the sum, over those filters and windows, of the kernel weight that "
                   "multiplied it times the score's gradient δ at that filter's pre-activation (t: the stride).",
                   className="cell-text"),
            _math(r"\frac{\partial S}{\partial x[r,c]} = \sum_f \sum_{(r',c')\ni(r,c)} w_f[r - r'\,t,\ c - c'\,t]\;"
                  r"\delta_f[r',c']", rf"= {tex_number(flow.total)}"),
            _h.Table(_h.Tbody(rows), className="cell-table"),
            _verdict(flow.total, flow.value, "the saliency on hover")]


def drawer(effective: list) -> html.Aside:
    """Return the explanation drawer (hidden until a cell is clicked); `effective`: the field switch's value."""
    return html.Aside([
        html.Div([html.H2("", id=ids.CELL_TITLE, className="panel-subtitle"),
                  html.Button("×", id=ids.CELL_CLOSE, className="cell-close", title="Close the explanation",
                              **components.html_attributes({"aria-label": "Close the explanation"}))],
                 className="cell-head"),
        dcc.Checklist(id=ids.CELL_EFFECTIVE, options=[{"label": " show the effective receptive field (∂a/∂x)",
                                                        "value": "on"}], value=effective, className="cell-option"),
        html.Div(dcc.Graph(id=ids.CELL_GRAPH, config={"displayModeBar": False}, responsive=False),
                 id=ids.CELL_GRAPH_BOX, className="hidden"),
        html.Div(id=ids.CELL_BODY, className="cell-body"),
    ], id=ids.CELL_DRAWER, className=DRAWER_CLOSED,
        **components.html_attributes({"aria-live": "polite"}))


def note_body(note: str) -> dcc.Markdown:
    """Return a plain note (a cell that has no decomposition) as the drawer's body."""
    return markdown([_h.P(note, className="cell-text")])
