"""The run store: options, records, liveness, deletion. No TensorFlow needed."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from dashboard import runs


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(epochs=51), dict(epochs=2.5), dict(batch_size=0),
                                 dict(learning_rate=0.0), dict(learning_rate=float("nan")), dict(learning_rate=2),
                                 dict(train_size=5), dict(activation="softplus"), dict(seed=-1)])
def test_training_options_refuse_bad_values(bad):
    with pytest.raises(runs.RunError):
        runs.TrainingOptions(**bad)


def test_options_round_trip_and_unknown_keys_are_refused():
    options = runs.TrainingOptions(epochs=2, learning_rate=0.01, train_size=500, activation="sigmoid")
    assert runs.TrainingOptions.from_dict(options.to_dict()) == options
    assert "sigmoid, 2 epoch(s), batch 128, lr 0.01, 500 digits" == options.describe()
    with pytest.raises(runs.RunError, match="unknown training options: gpu"):
        runs.TrainingOptions.from_dict({**options.to_dict(), "gpu": True})


def test_run_ids_cannot_reach_outside_the_runs_folder(tmp_path):
    store = runs.RunStore(tmp_path)
    for bad in ["../model.json", "20261126-000000-abcd/../../x", "", None, 5, {"id": 1}]:
        with pytest.raises(runs.RunError):
            store.folder(bad)


def test_create_list_and_delete(tmp_path):
    store = runs.RunStore(tmp_path)
    first = store.create(runs.TrainingOptions(epochs=1))
    time.sleep(1.1)
    second = store.create(runs.TrainingOptions(epochs=2))
    assert [r["id"] for r in store.list()] == [second, first]  # newest first
    assert {r["status"] for r in store.list()} == {runs.QUEUED} and len(store.active()) == 2
    with pytest.raises(runs.RunError, match="still queued"):
        store.delete(first, served_runs={None})
    store.update(first, status=runs.FINISHED)
    with pytest.raises(runs.RunError, match="is the model being served"):
        store.delete(first, served_runs={None, first})
    store.delete(first, served_runs={second})
    assert [r["id"] for r in store.list()] == [second]
    with pytest.raises(runs.RunError, match="there is no run"):
        store.record(first)


def test_a_run_whose_process_died_is_marked_failed_or_cancelled(tmp_path):
    store = runs.RunStore(tmp_path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    for cancel, expected in ((False, runs.FAILED), (True, runs.CANCELLED)):
        run_id = store.create(runs.TrainingOptions())
        store.update(run_id, status=runs.RUNNING, pid=gone.pid, host=socket.gethostname(), started=time.time())
        if cancel:
            store.request_cancel(run_id)
        assert store.record(run_id)["status"] == expected
        assert store.record(run_id)["finished"] > 0
    # A queued run whose process never started is given up after the same silence.
    never = store.create(runs.TrainingOptions())
    assert store.record(never)["status"] == runs.QUEUED
    store.update(never, created=time.time() - runs.HEARTBEAT_TIMEOUT_SECONDS - 1)
    assert store.record(never)["error"] == "the training process never started"
    # On another host the pid means nothing: silence longer than the heartbeat timeout does.
    run_id = store.create(runs.TrainingOptions())
    store.update(run_id, status=runs.RUNNING, pid=1, host="elsewhere", started=time.time())
    assert store.record(run_id)["status"] == runs.RUNNING
    long_ago = time.time() - runs.HEARTBEAT_TIMEOUT_SECONDS - 1
    store.update(run_id, created=long_ago, started=long_ago)
    assert store.record(run_id)["status"] == runs.FAILED


def test_checkpoints_round_trip_and_a_damaged_one_is_reported(tmp_path):
    store = runs.RunStore(tmp_path)
    run_id = store.create(runs.TrainingOptions())
    weights = {"conv1": {"kernel": np.arange(6, dtype=np.float32).reshape(1, 2, 3), "bias": np.ones(3, np.float32)}}
    gradients = {"conv1": {"kernel": -np.ones((1, 2, 3), np.float32), "bias": np.zeros(3, np.float32)}}
    runs.save_checkpoint(store.checkpoint_path(run_id, 7), step=7, epoch=0.5, weights=weights, gradients=gradients)
    checkpoint = store.checkpoint(run_id, 7)
    assert (checkpoint.step, checkpoint.epoch, checkpoint.key) == (7, 0.5, f"{run_id}@7")
    np.testing.assert_array_equal(checkpoint.weights["conv1"]["kernel"], weights["conv1"]["kernel"])
    np.testing.assert_array_equal(checkpoint.gradients["conv1"]["kernel"], gradients["conv1"]["kernel"])
    with pytest.raises(runs.RunError, match="no checkpoint at step 8"):
        store.checkpoint(run_id, 8)
    store.checkpoint_path(run_id, 9).write_bytes(b"not an npz")
    with pytest.raises(runs.RunError, match="unreadable"):
        store.checkpoint(run_id, 9)


def test_a_finished_run_stays_finished_whoever_writes_second(tmp_path):
    store = runs.RunStore(tmp_path)
    run_id = store.create(runs.TrainingOptions())
    assert store.transition(run_id, runs.RUNNING)["status"] == runs.RUNNING
    assert store.transition(run_id, runs.FINISHED, test_accuracy=0.9)["status"] == runs.FINISHED
    after = store.transition(run_id, runs.FAILED, error="a late reaper")
    assert after["status"] == runs.FINISHED and "error" not in after and after["test_accuracy"] == 0.9
    store.update(run_id, pid=123)  # plain updates merge, they do not change the status
    assert store.record(run_id)["status"] == runs.FINISHED


def test_histogram_counts_every_value_on_its_own_range():
    values = np.array([-1.0, 0.0, 0.0, 2.0])
    histogram = runs.histogram(values, bins=3)
    assert histogram["edges"] == [-1.0, 0.0, 1.0, 2.0] and histogram["counts"] == [1, 2, 1]
    assert runs.histogram(np.zeros(5))["counts"] == [5]
    assert sum(runs.histogram(np.array([1.0, np.nan, 2.0, np.inf]))["counts"]) == 2  # a diverged run's values


def test_one_run_at_a_time(tmp_path):
    from dashboard import training
    from dashboard.config import Settings

    store = runs.RunStore(tmp_path)
    busy = store.create(runs.TrainingOptions())
    with pytest.raises(runs.RunError, match=f"run {busy} is still training"):
        training.start_run(Settings(model_dir=tmp_path, offline=True), runs.TrainingOptions())
    assert len(store.list()) == 1


def test_run_states_are_cheap_and_follow_every_change(tmp_path, monkeypatch):
    """states() (the page's poll) reads a finished run once, re-reads it when its files change, always checks a
    running one (so a dead training is seen), and counts checkpoints."""
    store = runs.RunStore(tmp_path)
    finished = store.create(runs.TrainingOptions())
    store.transition(finished, runs.FINISHED)
    storage_progress = store.folder(finished) / runs.PROGRESS_FILE
    storage_progress.write_text('{"snapshots": 3}')
    assert store.states() == [(finished, runs.FINISHED, 3)]

    reads = []
    real_record = runs.RunStore.record
    monkeypatch.setattr(runs.RunStore, "record", lambda self, run_id: reads.append(run_id) or real_record(self, run_id))
    assert store.states() == [(finished, runs.FINISHED, 3)] and reads == []  # unchanged: not read again
    time.sleep(0.01)
    storage_progress.write_text('{"snapshots": 4}')
    assert store.states() == [(finished, runs.FINISHED, 4)] and reads == [finished]

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    running = store.create(runs.TrainingOptions())
    store.update(running, status=runs.RUNNING, pid=gone.pid, host=socket.gethostname(), started=time.time())
    reads.clear()
    # The running run's process is gone: it is marked failed at once, without any file changing. (Order: by
    # id, which is by second; two runs created within one second sort by their random suffix.)
    assert set(store.states()) == {(running, runs.FAILED, 0), (finished, runs.FINISHED, 4)}
    assert reads == [running]
