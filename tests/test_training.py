"""Training runs: what a run records is checked against NumPy, and the served model survives every way a run ends."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

from dashboard import runs, training
from dashboard.callbacks import training as training_callbacks
from dashboard.model_service import METADATA_FILE, ModelService, file_sha256
from tests import numpy_reference as ref
from tests.conftest import TINY_RUN


def _probe(mnist, options: runs.TrainingOptions):
    x_train, y_train = mnist.training_subset(options.train_size, options.seed)
    pick = np.random.default_rng(options.seed + 1).permutation(len(x_train))[:training.PROBE_TRAIN_DIGITS]
    return x_train[pick], y_train[pick]


def test_a_run_records_checkpoints_within_the_first_epoch_and_at_every_epoch_end(model_dir, trained_run):
    store = runs.RunStore(model_dir)
    record = store.record(trained_run)
    assert record["status"] == runs.FINISHED and record["data_source"]
    steps_per_epoch = TINY_RUN["train_size"] // TINY_RUN["batch_size"]  # 6
    history = store.history(trained_run)
    # Before training, at 1/8, 1/4 and 1/2 of the first epoch (rounded to steps), then every epoch end.
    assert [s["step"] for s in history] == [0, 1, 2, 3, steps_per_epoch, 2 * steps_per_epoch]
    assert [s["epoch"] for s in history] == [0, 1 / 6, 2 / 6, 0.5, 1.0, 2.0]
    for snapshot in history:
        checkpoint = store.checkpoint(trained_run, snapshot["step"])
        assert snapshot["checkpoint"] == runs.checkpoint_name(snapshot["step"])
        for layer, stats in snapshot["layers"].items():
            for kind, arrays in (("weight", checkpoint.weights[layer]), ("gradient", checkpoint.gradients[layer])):
                values = np.concatenate([v.ravel() for v in arrays.values()]).astype(np.float64)
                assert stats[f"{kind}_norm"] == pytest.approx(np.sqrt(np.sum(values ** 2)), rel=1e-5)
                histogram = stats[f"{kind}_histogram"]
                expected, _ = np.histogram(values, bins=np.asarray(histogram["edges"]))
                assert histogram["counts"] == expected.tolist() and sum(histogram["counts"]) == values.size
    # Training moved the weights, and the first snapshot is the untrained network.
    first, last = store.checkpoint(trained_run, 0), store.checkpoint(trained_run, 12)
    assert not np.allclose(first.weights["conv1"]["kernel"], last.weights["conv1"]["kernel"])
    assert history[0]["train_loss"] is None and history[-1]["train_loss"] > 0


def test_the_last_checkpoint_is_the_saved_model_and_its_scores_are_true(model_dir, trained_run, mnist):
    import keras

    store = runs.RunStore(model_dir)
    last = store.checkpoint(trained_run, 12)
    saved = keras.models.load_model(store.folder(trained_run) / "model.keras", compile=False)
    for layer in saved.layers:
        for variable, name in zip(layer.trainable_weights, ("kernel", "bias")):
            np.testing.assert_array_equal(variable.numpy(), last.weights[layer.name][name])
    chain = ref.seed_chain(last.weights)
    outputs = [ref.forward(chain, image) for image in mnist.x_test]
    hits = np.array([np.argmax(logits) for _, logits in outputs]) == mnist.y_test
    losses = np.array([ref.cross_entropy(logits, int(label)) for (_, logits), label in zip(outputs, mnist.y_test)])
    # Each checkpoint is scored on a fixed slice of the test digits; the finished run on all of them.
    count = min(training.PROBE_TEST_DIGITS, len(mnist.x_test))
    snapshot = store.history(trained_run)[-1]
    assert snapshot["test_accuracy"] == pytest.approx(float(hits[:count].mean()), abs=1e-6)
    assert snapshot["test_loss"] == pytest.approx(float(losses[:count].mean()), rel=1e-4)
    record = store.record(trained_run)
    assert record["test_accuracy"] == pytest.approx(float(hits.mean()), abs=1e-6)
    assert record["test_loss"] == pytest.approx(float(losses.mean()), rel=1e-4)


def test_recorded_gradients_are_the_probe_batch_loss_gradient(model_dir, trained_run, mnist):
    store = runs.RunStore(model_dir)
    options = runs.TrainingOptions.from_dict(store.record(trained_run)["options"])
    images, labels = _probe(mnist, options)
    checkpoint = store.checkpoint(trained_run, 3)
    chain = ref.seed_chain(checkpoint.weights)

    def mean_loss(chain_now) -> float:
        return float(np.mean([ref.cross_entropy(ref.forward(chain_now, x)[1], int(y)) for x, y in zip(images, labels)]))

    # The output bias has a closed form: d mean CE / d b = mean(softmax - one-hot).
    probabilities = np.array([ref.forward(chain, x)[0][-1] for x in images])
    closed_form = (probabilities - np.eye(10)[labels]).mean(axis=0)
    np.testing.assert_allclose(checkpoint.gradients["probabilities"]["bias"], closed_form, rtol=1e-3, atol=1e-6)
    # One first-layer weight by central finite differences.
    recorded = checkpoint.gradients["conv1"]["kernel"]
    epsilon, where = 1e-5, np.unravel_index(np.argmax(np.abs(recorded)), recorded.shape)
    shifted = []
    for sign in (1, -1):
        weights = {layer: {k: v.astype(np.float64).copy() for k, v in named.items()}
                   for layer, named in checkpoint.weights.items()}
        weights["conv1"]["kernel"][where] += sign * epsilon
        shifted.append(mean_loss(ref.seed_chain(weights)))
    finite_difference = (shifted[0] - shifted[1]) / (2 * epsilon)
    assert recorded[where] == pytest.approx(finite_difference, rel=1e-2)


def test_views_at_a_checkpoint_compute_that_checkpoints_network(lens, trained_run):
    served_before = lens.tensors(7).probabilities.copy()
    image, label = lens.image(7)
    for step in (12, 0, 3):  # out of order: each pass must use its own checkpoint's weights
        tensors = lens.tensors(7, checkpoint=(trained_run, step))
        chain = ref.seed_chain(lens.runs.checkpoint(trained_run, step).weights)
        outputs, logits = ref.forward(chain, image)
        for name, expected in zip(ref.SEED_CHAIN, outputs):
            np.testing.assert_allclose(tensors.activations[name], expected, rtol=1e-4, atol=1e-5)
        assert tensors.loss == pytest.approx(ref.cross_entropy(logits, label), rel=1e-4)
        assert lens.weights((trained_run, step))["conv2"]["kernel"] is lens.checkpoints.checkpoint(
            trained_run, step).weights["conv2"]["kernel"]
    np.testing.assert_array_equal(lens.tensors(7).probabilities, served_before)
    lens._tensor_cache.clear()
    np.testing.assert_allclose(lens.tensors(7).probabilities, served_before, rtol=1e-6)


def test_publishing_a_run_switches_every_process_atomically(private_settings, mnist):
    reader = ModelService(private_settings.model_dir)
    before = reader.load_cached(mnist).version
    store = runs.RunStore(private_settings.model_dir)
    run_id = store.create(runs.TrainingOptions(epochs=1, batch_size=50, train_size=100))
    assert training.run_in_this_process(private_settings.model_dir, run_id, mnist, serve=True) == 0
    published = json.loads((private_settings.model_dir / METADATA_FILE).read_text())
    assert published["run"] == run_id and published["model_file"] == f"runs/{run_id}/model.keras"
    assert reader.refresh(mnist, every_seconds=0) is True
    assert reader.current.version == file_sha256(store.folder(run_id) / "model.keras")[:12] != before
    assert reader.served_run == run_id
    # A published file that fails its checks is skipped: the process keeps serving what it had.
    bad = dict(published, model_sha256="0" * 64)
    (private_settings.model_dir / METADATA_FILE).write_text(json.dumps(bad))
    assert reader.refresh(mnist, every_seconds=0) is False and reader.served_run == run_id
    bad["model_file"] = "../../etc/passwd"
    (private_settings.model_dir / METADATA_FILE).write_text(json.dumps(bad))
    assert reader.refresh(mnist, every_seconds=0) is False and reader.served_run == run_id


def _launch_and_wait_for_progress(settings, options: runs.TrainingOptions):
    store = runs.RunStore(settings.model_dir)
    run_id = store.create(options)
    process = training.launch(settings, run_id)
    deadline = time.time() + 90
    while time.time() < deadline and not (store.progress(run_id) or {}).get("step"):
        assert process.poll() is None, (store.folder(run_id) / "training.log").read_text()[-2000:]
        time.sleep(0.2)
    assert (store.progress(run_id) or {}).get("step"), "the training never reported progress"
    return store, run_id, process


def test_a_training_killed_mid_epoch_is_marked_failed_and_the_old_model_stays(private_settings):
    from dashboard.lens import Lens

    lens = Lens.start(private_settings)
    served, published = lens.served.version, (private_settings.model_dir / METADATA_FILE).read_bytes()
    store, run_id, process = _launch_and_wait_for_progress(
        private_settings, runs.TrainingOptions(epochs=20, batch_size=16, train_size=4000))
    assert store.record(run_id)["status"] == runs.RUNNING
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    record = store.record(run_id)
    assert record["status"] == runs.FAILED and "ended before finishing" in record["error"]
    assert (private_settings.model_dir / METADATA_FILE).read_bytes() == published
    assert lens.served.version == served
    assert store.history(run_id), "the checkpoints written before the kill are kept"


def test_a_cancelled_training_stops_at_its_next_step_and_keeps_the_old_model(private_settings):
    published = (private_settings.model_dir / METADATA_FILE).read_bytes()
    store, run_id, process = _launch_and_wait_for_progress(
        private_settings, runs.TrainingOptions(epochs=20, batch_size=16, train_size=4000))
    asked = time.perf_counter()
    store.request_cancel(run_id)
    assert process.wait(timeout=30) == training.EXIT_CANCELLED
    assert time.perf_counter() - asked < 5
    assert store.record(run_id)["status"] == runs.CANCELLED
    assert not (store.folder(run_id) / "model.keras").exists()
    # Keras ends the epoch after a stop request; those weights must not be saved as that epoch's.
    last_step = store.progress(run_id)["step"]
    assert all(snapshot["step"] <= last_step for snapshot in store.history(run_id))
    assert (private_settings.model_dir / METADATA_FILE).read_bytes() == published


def test_the_training_job_refuses_bad_options_and_reports_a_finished_run(private_settings):
    reports = []
    for bad, words in [((0, 128, 0.001, None, "relu"), "Epochs 0 is out of range"),
                       ((1, "x", 0.001, None, "relu"), "Batch size must be a whole number"),
                       ((1, 128, 5.0, None, "relu"), "Learning rate 5.0 is out of range"),
                       ((1, 128, 0.001, 3, "relu"), "Training digits 3 is out of range"),
                       ((1, 128, 0.001, None, "softplus"), "Activation 'softplus' is not one of")]:
        outcome = training_callbacks.run_training_job(private_settings, reports.append, TOKEN, *bad)
        assert outcome.startswith("Not started") and words in outcome, outcome
    outcome = training_callbacks.run_training_job(private_settings, reports.append, "../x", 1, 50, 0.002, 150, "tanh")
    assert outcome.startswith("Not started") and "is not a training request" in outcome
    assert reports == [] and runs.RunStore(private_settings.model_dir).list() == []
    outcome = training_callbacks.run_training_job(private_settings, reports.append, TOKEN, 1, 50, 0.002, 150, "tanh")
    assert "finished" in outcome and "now the served model" in outcome, outcome
    (record,) = runs.RunStore(private_settings.model_dir).list()
    assert record["options"]["activation"] == "tanh" and record["options"]["learning_rate"] == 0.002
    assert reports[0][0] == "0" and reports[-1][0] == "1000" and all(r[2] == record["id"] for r in reports)
    assert json.loads((private_settings.model_dir / METADATA_FILE).read_text())["run"] == record["id"]


TOKEN = "0123456789abcdef0123456789abcdef"


def test_cancel_names_the_start_request_not_a_run(private_settings):
    """Cancel reaches the run its page's Start launched, whenever it is pressed, and never another run."""
    store = runs.RunStore(private_settings.model_dir)
    earlier = store.create(runs.TrainingOptions(epochs=1), request="a" * 32)
    store.transition(earlier, runs.FINISHED)
    # Pressed before the run exists (the job not started yet): the run is never created.
    assert training.cancel_request(private_settings, TOKEN) is None
    outcome = training_callbacks.run_training_job(private_settings, lambda _: None, TOKEN, 1, 50, 0.002, 150, "relu")
    assert outcome == "Not started: cancelled before the training started."
    assert [r["id"] for r in store.list()] == [earlier]
    # Pressed after: the request names its own run, whose cancel file appears; the earlier run is untouched.
    later_token = "b" * 32
    later = store.create(runs.TrainingOptions(epochs=1), request=later_token)
    assert training.cancel_request(private_settings, later_token) == later
    assert store.cancel_requested(later) and not store.cancel_requested(earlier)
    assert store.record(later)["request"] == later_token
    with pytest.raises(runs.RunError, match="is not a training request"):
        training.cancel_request(private_settings, "../../etc/passwd")


def test_first_start_without_a_model_serves_a_progress_page_then_the_dashboard(tmp_path):
    from app import create_app
    from dashboard.config import Settings

    settings = Settings(model_dir=tmp_path / "empty", offline=True, epochs=1, train_limit=200, batch_size=50)
    started = time.perf_counter()
    app = create_app(settings)
    client = app.server.test_client()
    first_page = client.get("/_dash-layout").get_data(as_text=True)
    assert time.perf_counter() - started < 15  # no training before serving (data and TF import only)
    assert "Training the first model" in first_page
    deadline = time.time() + 120
    while time.time() < deadline and "Activations" not in client.get("/_dash-layout").get_data(as_text=True):
        time.sleep(1)
    assert "Activations" in client.get("/_dash-layout").get_data(as_text=True)
    (record,) = runs.RunStore(settings.model_dir).list()
    assert record["status"] == runs.FINISHED


STARTER = """
import sys
from pathlib import Path
from dashboard.config import Settings
from dashboard.lens import Lens
lens = Lens.start(Settings(model_dir=Path(sys.argv[1]), offline=True, epochs=1, train_limit=200, batch_size=50))
print("ready" if lens.ready else "waiting")
"""


def test_three_processes_starting_on_an_empty_folder_start_one_training(tmp_path):
    """gunicorn's workers start together: exactly one training run, which every worker then serves."""
    from tests.conftest import run_side_by_side

    folder = tmp_path / "shared"
    outputs = run_side_by_side(STARTER, str(folder), count=3, timeout=120)
    # Each served at once: "waiting" (the run still trains) or, for a starter slowed by TensorFlow's import on a
    # busy machine, "ready" (it came after the run had published its model). None trained itself: one run.
    assert {out.strip() for out, _ in outputs} <= {"waiting", "ready"} and "waiting" in [o.strip() for o, _ in outputs]
    store = runs.RunStore(folder)
    (record,) = store.list()
    deadline = time.time() + 120
    while store.record(record["id"])["status"] in runs.ACTIVE and time.time() < deadline:
        time.sleep(0.5)
    assert store.record(record["id"])["status"] == runs.FINISHED
    # The run publishes its model just after it records that it finished (training.main): wait for that too
    # (a busy machine, two test processes, showed the moment between them).
    published = folder / METADATA_FILE
    while not published.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert json.loads(published.read_text())["run"] == record["id"]
