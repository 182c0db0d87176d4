"""Training from the page on data other than MNIST: the seed CNN adapted to 32×32×3 images and their class
count, trained as a run (the same code the training process runs), served, and scrubbed checkpoint by checkpoint."""

from __future__ import annotations

import numpy as np

from dashboard import runs, training, views
from dashboard.callbacks import digit, layers
from dashboard.config import Settings
from tests import user_models


def test_a_run_on_colour_images_trains_serves_and_scrubs(tmp_path):
    from dashboard.data import load_data
    from dashboard.lens import Lens

    npz = user_models.write_rgb_npz(tmp_path / "shapes.npz", size=32, n_train=400, n_test=100)
    folder = tmp_path / "models"
    folder.mkdir()
    data = load_data(npz)
    store = runs.RunStore(folder)
    run_id = store.create(runs.TrainingOptions(epochs=3, batch_size=32, train_size=400, seed=1))
    assert training.run_in_this_process(folder, run_id, data, serve=True) == 0
    served = Lens.start(Settings(model_dir=folder, data=npz, offline=True))
    assert served.ready and served.trainable and served.noun == "image"
    conv1 = served.layer("conv1")
    assert conv1.output_shape == (30, 30, 32) and served.layer("probabilities").output_shape == (10,)
    assert served.weights()["conv1"]["kernel"].shape == (3, 3, 3, 32)  # filters over red, green and blue
    assert served.predictions().accuracy > 0.3  # ten classes of coloured squares: well above chance (0.1)
    # Every checkpoint of the run moves the views: the first (untrained) and the last differ, each its own.
    steps = [entry["step"] for entry in served.runs.history(run_id)]
    first, last = {"run": run_id, "step": steps[0]}, {"run": run_id, "step": steps[-1]}
    for view, step in ((first, steps[0]), (last, steps[-1])):
        figure, _, _ = layers.layer_views(served, 0, "conv1", views.COLOUR, "weights", view)[3:]
        kernel = served.runs.checkpoint(run_id, step).weights["conv1"]["kernel"]
        np.testing.assert_array_equal(np.asarray(figure.data[0].customdata), kernel[:, :, :, 0])
        _, probabilities, _, _, _, _ = digit.digit_views(served, 3, "predicted", view, None)
        expected = served.tensors(3, checkpoint=(run_id, step)).probabilities
        np.testing.assert_allclose(np.asarray(probabilities.data[0].y), expected, rtol=1e-6)
    assert not np.allclose(served.runs.checkpoint(run_id, steps[0]).weights["conv1"]["kernel"],
                           served.runs.checkpoint(run_id, steps[-1]).weights["conv1"]["kernel"])
