"""The layer graph of a branched model: which models get one, where its nodes go, what a click carries."""

from __future__ import annotations

import plotly.graph_objects as go

from dashboard import layer_graph
from dashboard.tensors import LayerInfo


def layer(name: str, *inputs: str, kind: str = "Conv2D") -> LayerInfo:
    return LayerInfo(name=name, kind=kind, output_shape=(8, 8, 4), parameters=0, weight_shapes={}, activation=None,
                     inputs=inputs)


# An inception-like block: two branches from "stem" meet in "join", and a skip from "stem" to "out".
BRANCHED = [layer("stem", "input"), layer("left", "stem"), layer("right_a", "stem"), layer("right_b", "right_a"),
            layer("join", "left", "right_b", kind="Concatenate"), layer("out", "join", "stem", kind="Add")]


def test_only_models_with_branches_get_a_graph(lens, catalog):
    assert not layer_graph.is_branched(lens.layers)
    assert layer_graph.is_branched(catalog.resolve("residual").layers)
    assert not layer_graph.is_branched(catalog.resolve("sequential").layers)
    assert layer_graph.is_branched(BRANCHED)


def test_each_node_sits_in_the_column_of_its_longest_path_and_no_two_share_a_place():
    placement = layer_graph.place(BRANCHED)
    # Longest paths from the input, counted by hand.
    expected = {"input": 0, "stem": 1, "left": 2, "right_a": 2, "right_b": 3, "join": 4, "out": 5}
    assert {name: column for name, (column, _) in placement.positions.items()} == expected
    assert len(set(placement.positions.values())) == len(placement.positions)
    assert sorted(placement.edges) == sorted([("input", "stem"), ("stem", "left"), ("stem", "right_a"),
                                              ("right_a", "right_b"), ("left", "join"), ("right_b", "join"),
                                              ("join", "out"), ("stem", "out")])
    assert all(placement.positions[a][0] < placement.positions[b][0] for a, b in placement.edges)


def test_the_figure_carries_layer_names_for_clicks_and_arcs_skips_over_the_nodes():
    figure = layer_graph.layer_graph_figure(BRANCHED, (32, 32, 3), "join")
    edges, nodes, ring = figure.data
    assert list(nodes.customdata) == ["input", "stem", "left", "right_a", "right_b", "join", "out"]
    at = list(nodes.customdata).index("join")
    assert (ring.x[0], ring.y[0]) == (nodes.x[at], nodes.y[at])
    # The skip stem -> out spans four columns: it rises above the first row instead of crossing the nodes.
    assert min(y for y in edges.y if y is not None) < 0
    assert figure.layout.width >= 6 * layer_graph.COLUMN_PX
    go.Figure(figure.to_dict())  # passes Plotly's validators (the page skips them)


def test_the_input_is_offered_as_a_layer_for_graphs_and_colour_chains(lens, catalog):
    from dashboard import layout

    chain = [layer("a", "input"), layer("b", "a")]
    assert not layer_graph.shows_input(chain, (28, 28, 1))
    assert layer_graph.shows_input(chain, (32, 32, 3))  # a chain over colour images: a card for its channels
    assert layer_graph.shows_input(BRANCHED, (28, 28, 1))
    assert [row["name"] for row in layout.layer_table(lens)][0] == lens.layers[0].name
    residual = catalog.resolve("residual")
    assert [row["name"] for row in layout.layer_table(residual)][:2] == ["input", residual.layers[0].name]
