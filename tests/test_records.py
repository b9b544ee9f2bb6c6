"""Evaluation records are checked wherever they are read (records.py): property-based, random edits
of a real record either leave a consistent record or are refused with the package's error."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiny_data import TEST, TRAIN, fast

from distilled_datasets.training.evaluation.harness import EvalConfig, evaluate
from distilled_datasets.training.evaluation.records import InvalidRecordError, check_record

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    out = tmp_path_factory.mktemp("records") / "r.json"
    evaluate("random-real", dataset="mnist", ipc=2, config=fast(runs=2), out=out, train_data=TRAIN, test_data=TEST)
    return json.loads(out.read_text())


def _paths(value, prefix=()):
    """Every (path, value) in a JSON value."""
    yield prefix, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True)
                           | st.text(max_size=6), lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)


def test_the_real_record_is_consistent(record):
    assert check_record(record, "r.json") is record


@pytest.mark.parametrize("path, value", [(("runs", 0, "accuracy"), float("nan")), (("accuracy", "mean"), float("nan")),
                                         (("accuracy", "mean"), 99.0), (("runs", 1, "run"), 5),
                                         (("runs", 0, "correct"), -1), (("seeds",), [0, 0])])
def test_edits_that_change_a_number_are_refused(record, path, value):
    edited = copy.deepcopy(record)
    target = edited
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(InvalidRecordError):
        check_record(edited, "edited.json")


@FAST
@given(data=st.data())
def test_random_edits_are_consistent_or_refused(record, data):
    edited = copy.deepcopy(record)
    paths = [p for p, _ in _paths(edited) if p]
    path = data.draw(st.sampled_from(paths))
    target = edited
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(json_values)
    try:
        check_record(edited, "edited.json")
    except InvalidRecordError:
        return
    # Accepted: then what the tables print still holds together.
    runs = edited["runs"]
    assert all(abs(r["accuracy"] - 100 * r["correct"] / r["test_images"]) < 1e-3 for r in runs)
    if runs:
        mean = sum(100 * r["correct"] / r["test_images"] for r in runs) / len(runs)
        assert abs(edited["accuracy"]["mean"] - mean) < 1e-3


def test_config_values_are_bounded_in_python_too():
    from distilled_datasets.training.generative.run_config import RunConfig

    with pytest.raises(ValueError, match=r"epochs \(--epochs\) must be"):
        EvalConfig(epochs=10**12)
    config = RunConfig()
    config.stage1.steps = 10**12
    with pytest.raises(ValueError, match=r"stage1.steps \(--stage1-steps\) must be at most"):
        config.validate()
