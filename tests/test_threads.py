"""Thread pools follow the CPUs the process may use (helpers/config.py), read from fake cgroup files."""

from __future__ import annotations

import pytest

from helpers import config


def _v2(tmp_path, text):
    (tmp_path / "cpu.max").write_text(text)
    return tmp_path


def _v1(tmp_path, quota, period, folder="cpu"):
    (tmp_path / folder).mkdir()
    (tmp_path / folder / "cpu.cfs_quota_us").write_text(quota)
    (tmp_path / folder / "cpu.cfs_period_us").write_text(period)
    return tmp_path


@pytest.fixture(autouse=True)
def _no_override(monkeypatch):
    monkeypatch.delenv("WORKBOOK_THREADS", raising=False)


def test_cgroup_v2_quota_lowers_the_host_cores(tmp_path):
    # the wrong answer: the host's 64 cores, as TensorFlow counts them inside a 1-CPU pod
    root = _v2(tmp_path, "100000 100000\n")
    assert config.cgroup_cpu_quota(root) == 1.0
    assert config.usable_cpus(root, affinity=64) == 1


def test_fractional_quota_rounds_up_and_never_reaches_zero(tmp_path):
    assert config.usable_cpus(_v2(tmp_path, "150000 100000"), affinity=8) == 2
    (tmp_path / "cpu.max").write_text("50000 100000")
    assert config.usable_cpus(tmp_path, affinity=8) == 1  # not int(0.5) == 0


def test_no_limit_keeps_the_affinity(tmp_path):
    assert config.cgroup_cpu_quota(_v2(tmp_path, "max 100000")) is None
    assert config.usable_cpus(tmp_path, affinity=3) == 3


def test_affinity_lower_than_the_quota_wins(tmp_path):
    # taskset -c 0 inside a 4-CPU quota: one CPU, not four
    assert config.usable_cpus(_v2(tmp_path, "400000 100000"), affinity=1) == 1


@pytest.mark.parametrize("folder", ["cpu", "cpu,cpuacct"])
def test_cgroup_v1_quota(tmp_path, folder):
    root = _v1(tmp_path, "200000", "100000", folder)
    assert config.cgroup_cpu_quota(root) == 2.0
    assert config.usable_cpus(root, affinity=16) == 2


def test_cgroup_v1_minus_one_is_no_limit(tmp_path):
    assert config.cgroup_cpu_quota(_v1(tmp_path, "-1", "100000")) is None
    assert config.usable_cpus(tmp_path, affinity=4) == 4


@pytest.mark.parametrize("text", ["", "garbage", "abc 100000", "100000 0", "1 2 3"])
def test_damaged_cpu_max_is_ignored_not_an_error(tmp_path, text):
    assert config.usable_cpus(_v2(tmp_path, text), affinity=2) == 2


def test_no_cgroup_at_all_as_on_windows_and_macos(tmp_path, monkeypatch):
    monkeypatch.delattr(config.os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(config.os, "cpu_count", lambda: None)
    assert config.affinity_cpus() == 1
    assert config.usable_cpus(tmp_path / "missing") == 1


def test_override_and_its_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_THREADS", "3")
    assert config.usable_cpus(_v2(tmp_path, "100000 100000"), affinity=1) == 3
    monkeypatch.setenv("WORKBOOK_THREADS", "0")
    with pytest.raises(config.WorkbookConfigError, match="positive whole number"):
        config.usable_cpus(tmp_path)


def test_env_variables_set_before_import_but_a_users_choice_is_kept(monkeypatch):
    monkeypatch.setattr(config, "THREADS", config.THREADS)
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.setenv("TF_NUM_INTEROP_THREADS", "5")
    assert config.limit_thread_pools(1) == 1
    assert config.os.environ["TF_NUM_INTRAOP_THREADS"] == "1"
    assert config.os.environ["TF_NUM_INTEROP_THREADS"] == "5"


def test_tensorflow_pools_follow_the_usable_cpus():
    import helpers

    tf = helpers.tf
    want = int(config.os.environ.get("TF_NUM_INTRAOP_THREADS") or config.THREADS)
    assert tf.config.threading.get_intra_op_parallelism_threads() == want
    assert config.THREADS == config.usable_cpus()


def test_litert_default_starts_no_worker_thread():
    """Why config leaves LiteRT's num_threads alone: its default runs on the calling thread (any quota
    allows it). The wrong assumption this rejects: that LiteRT, like TensorFlow, starts one thread per core."""
    import os

    import numpy as np

    import helpers

    task = "/proc/self/task"
    if not os.path.isdir(task):
        pytest.skip("counts threads through /proc (Linux)")
    model = helpers.keras.Sequential([helpers.keras.Input((4,)), helpers.keras.layers.Dense(256), helpers.keras.layers.Dense(256)])
    blob = helpers.measure.to_tflite(model)

    def threads_after(num_threads):
        before = len(os.listdir(task))
        interp = helpers.measure.interpreter(blob, num_threads=num_threads)
        interp.allocate_tensors()
        interp.set_tensor(interp.get_input_details()[0]["index"], np.zeros((1, 4), np.float32))
        interp.invoke()
        return len(os.listdir(task)) - before, interp

    added, keep = threads_after(None)
    assert added == 0
    added_two, keep_two = threads_after(2)
    assert added_two >= 1  # the count is measurable: two threads do add a worker
