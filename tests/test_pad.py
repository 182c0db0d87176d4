"""The drawing pad's figure and the strokes read back from Plotly's drawing events (issue 13)."""

from __future__ import annotations

import pytest

from dashboard import pad_figures


def test_paths_become_points_in_pad_pixels():
    strokes = pad_figures.strokes_from_paths(["M10,20L30.5,40L-1e1,5", "M 7 , 8 Z"])
    assert strokes == [[(10.0, 20.0), (30.5, 40.0), (-10.0, 5.0)], [(7.0, 8.0)]]


@pytest.mark.parametrize("path", ["", "M10", "C1,2,3,4", "M1,2Q3,4", "M١,٢", "M1,2;alert(1)", None, 42,
                                  "M1,2" + "L1,1" * 60_000])
def test_anything_but_a_drawn_path_is_refused(path):
    with pytest.raises(ValueError):
        pad_figures.strokes_from_paths([path])


def test_the_number_of_strokes_and_points_is_capped():
    with pytest.raises(ValueError, match="strokes"):
        pad_figures.strokes_from_paths(["M1,1"] * (pad_figures.MAX_STROKES + 1))
    with pytest.raises(ValueError, match="points"):
        pad_figures.strokes_from_paths(["M1,1" + "L2,2" * 2000] * 3)



def test_the_pad_draws_its_strokes_fixed_and_keeps_drawing():
    figure = pad_figures.drawing_pad(["M1,1L2,2"])
    assert figure.layout.dragmode == "drawopenpath" and figure.layout.uirevision == "pad"
    assert [shape.path for shape in figure.layout.shapes] == ["M1,1L2,2"]
    assert figure.layout.shapes[0].editable is False
    assert figure.layout.newshape.line.width == pad_figures.STROKE_WIDTH
    assert (figure.layout.width, figure.layout.height) == (pad_figures.PAD_SIZE, pad_figures.PAD_SIZE)
