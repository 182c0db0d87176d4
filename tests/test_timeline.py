"""The timeline callbacks and training figures, called directly over a real (tiny) run."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard import compare_layout, training_figures
from dashboard.callbacks import digit, layers, timeline, training
from dashboard.training_layout import SERVED


def test_the_slider_has_one_stop_per_checkpoint_labelled_by_epoch(lens, trained_run):
    maximum, value, marks, disabled, play_disabled, steps = timeline.timeline(lens, trained_run, None, None, None)
    assert steps == [0, 1, 2, 3, 6, 12] and maximum == 5 and value == 5  # a new run opens on its last checkpoint
    assert [marks[i]["label"] for i in range(6)] == ["0", " ", " ", "½", "1", "2"]
    assert not disabled and not play_disabled
    # The session's served model was trained outside any run (ModelService.load_or_train): nothing to scrub.
    assert timeline.timeline(lens, SERVED, None, 3, steps)[3] is True
    _, _, _, _, _, _ = timeline.timeline(lens, "../../etc", None, None, None)  # refused quietly


def test_the_served_model_scrubs_the_run_that_trained_it(private_settings, model_dir, trained_run):
    """With "the served model" chosen (the page as it opens), the slider has the serving run's checkpoints;
    its last stop is the served model itself."""
    import shutil

    from dashboard.lens import Lens
    from dashboard.model_service import ModelService

    shutil.copytree(model_dir / "runs" / trained_run, private_settings.model_dir / "runs" / trained_run)
    ModelService(private_settings.model_dir).publish(trained_run)
    served = Lens.start(private_settings)
    assert served.models.served_run == trained_run
    maximum, value, _, disabled, play_disabled, steps = timeline.timeline(served, SERVED, None, None, None)
    assert steps == [0, 1, 2, 3, 6, 12] and value == maximum == 5 and not disabled and not play_disabled
    assert f"the last checkpoint of run {trained_run}" in timeline.view_label(served, {"model": served.served.version})


def test_views_and_label_follow_the_checkpoint(lens, trained_run):
    view = {"run": trained_run, "step": 0}
    label = timeline.view_label(lens, view)
    assert f"run {trained_run} at epoch 0 (step 0)" in label and "test accuracy" in label
    _, probabilities, summary, _, _, _ = digit.digit_views(lens, 3, "predicted", view, None)
    expected = lens.tensors(3, checkpoint=(trained_run, 0)).probabilities
    np.testing.assert_allclose(np.asarray(probabilities.data[0].y), expected, rtol=1e-6)
    figure, caption, _ = layers.layer_views(lens, 0, "conv1", None, "weights", view)[3:]
    kernel = lens.runs.checkpoint(trained_run, 0).weights["conv1"]["kernel"]
    assert np.nansum(np.asarray(figure.data[0].z)) == pytest.approx(float(kernel.sum()), rel=1e-5, abs=1e-6)
    for bad, words in [({"run": trained_run, "step": 5}, "no checkpoint at step 5"),
                       ({"run": "nope", "step": 0}, "is not a run id"), ({"run": trained_run}, "must name a run"),
                       ({"run": trained_run, "step": "x"}, "whole number")]:
        _, caption, _ = layers.layer_views(lens, 0, "conv1", None, "weights", bad)[:3]
        assert words in caption, (bad, caption)


def test_curves_and_distributions_carry_the_recorded_numbers(lens, trained_run):
    history = lens.runs.history(trained_run)
    view = {"run": trained_run, "step": 3}
    curves, norms = timeline.curves(lens, {"shown": trained_run, "compare": [], "signature": None})
    test_loss = next(t for t in curves.data if t.name.endswith("· test") and t.yaxis == "y")
    np.testing.assert_allclose(np.asarray(test_loss.y, dtype=float), [s["test_loss"] for s in history])
    conv1_gradient = next(t for t in norms.data if t.name == "conv1" and t.yaxis == "y2")
    np.testing.assert_allclose(np.asarray(conv1_gradient.y), [s["layers"]["conv1"]["gradient_norm"] for s in history])
    weights, gradients = timeline.distributions(lens, {"shown": trained_run, "compare": [], "signature": None}, "dense")
    trace = weights.data[0]
    customdata = np.asarray(trace.customdata)
    counts, low, high = customdata[..., 0], customdata[0, :, 1], customdata[0, -1, 2]
    for row, snapshot in enumerate(history):
        checkpoint = lens.runs.checkpoint(trained_run, snapshot["step"])
        values = np.concatenate([checkpoint.weights["dense"]["kernel"].ravel(), checkpoint.weights["dense"]["bias"]])
        expected, _ = np.histogram(values, bins=np.append(low, high))
        np.testing.assert_array_equal(counts[row], expected)
    assert "dense: gradients" in gradients.layout.title.text
    _, caption = timeline.compare_runs(lens, {"digit": 0, "view": view, "shown": trained_run, "compare": []})
    assert caption == ""
    grid, caption = timeline.compare_runs(lens, {"digit": 0, "view": view, "shown": SERVED,
                                                 "compare": [trained_run, trained_run]})
    assert "Pick runs" in grid.layout.annotations[0].text or caption
    assert timeline.compare_runs(lens, None) == (timeline.no_update,) * 2  # never on screen yet: nothing to draw
    assert timeline.curves(lens, None) == (timeline.no_update,) * 2


def test_the_run_list_and_delete_refusals(lens, trained_run):
    signature, options, compare, b_checkpoints = training.runs_signature(lens, 1, "", "", None)
    assert [trained_run, "finished", 6] in signature["runs"] and any(o["value"] == trained_run for o in compare)
    assert options[0]["value"] == SERVED
    # The comparison's B checkpoints follow the runs too: every checkpoint of the new run is offered.
    assert [o["value"] for o in b_checkpoints if o["value"].startswith(trained_run)] == [
        compare_layout.checkpoint_value(trained_run, int(c["step"])) for c in lens.runs.history(trained_run)]
    assert training.runs_signature(lens, 2, "", "", signature) == (training.no_update,) * 4  # nothing changed
    assert trained_run in str(training.run_table(lens, {"shown": SERVED, "compare": [], "signature": signature}))
    assert training.run_table(lens, None) is training.no_update  # the training section was never on screen
    message, _ = training.delete_run(lens, 1, SERVED)
    assert "Pick a run" in message
    message, _ = training.delete_run(lens, 1, "../../model.json")
    assert "is not a run id" in message


@pytest.mark.parametrize("builder, args", [
    (training_figures.training_curves, ([],)),
    (training_figures.layer_norm_curves, (np.arange(3), {"a": [1, 2, 3]}, {"b": [1, 2, 3]})),
    (training_figures.layer_norm_curves, (np.arange(3), {"a": [1, 2]}, {"a": [1, 2]})),
    (training_figures.distribution_heatmap, (np.arange(2), np.arange(4), np.zeros((2, 2)))),
    (training_figures.common_histograms, ([],)),
])
def test_training_figures_refuse_bad_shapes(builder, args):
    kwargs = {"value_name": "w", "title": "t"} if builder is training_figures.distribution_heatmap else {}
    with pytest.raises(ValueError):
        builder(*args, **kwargs)


def test_common_histograms_put_every_snapshot_on_one_range():
    edges, counts = training_figures.common_histograms([np.array([0.0, 1.0]), np.array([2.0, 3.0, 4.0])], bins=4)
    np.testing.assert_allclose(edges, [0, 1, 2, 3, 4])
    assert counts.tolist() == [[1, 1, 0, 0], [0, 0, 1, 2]]


def test_explanations_follow_the_checkpoint(lens, trained_run):
    """Integrated Gradients at a checkpoint adds up to that checkpoint's logit change (NumPy forward pass)."""
    from dashboard import attributions
    from dashboard.callbacks import explanations
    from tests import numpy_reference as ref

    checkpoint = (trained_run, 3)
    image, label = lens.image(11)
    request = attributions.AttributionRequest(class_weights=attributions.class_score(10, label), ig_steps=128,
                                              smoothgrad_samples=4)
    result = lens.explain(11, request, grad_cam_layer="conv2", target=label, checkpoint=checkpoint)
    chain = ref.seed_chain(lens.runs.checkpoint(*checkpoint).weights)
    logit_change = ref.forward(chain, image)[1][label] - ref.forward(chain, np.zeros_like(image))[1][label]
    assert float(result.maps["Integrated Gradients"].sum()) == pytest.approx(logit_change, rel=0.01, abs=1e-3)
    served = lens.explain(11, request, grad_cam_layer="conv2", target=label)
    assert not np.allclose(served.maps["gradient"], result.maps["gradient"])
    grid, caption, _, _ = explanations.explanations(lens, {"digit": 11, "view": {"run": trained_run, "step": 3}},
                                                    "true", "none", 4, 0.1, 16, "black", "conv2", 0.7, [])
    assert "step 3" in str(grid.layout.annotations) and f"class-{label} logit" in caption
