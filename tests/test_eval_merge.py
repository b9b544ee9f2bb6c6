"""An evaluation split into parts (run_indices / --run-indices) and joined (merge-evaluations)."""

from __future__ import annotations

import json

import pytest
from tiny_data import TEST, TRAIN, fast

from distilled_datasets.cli import main as cli_main
from distilled_datasets.training.evaluation.harness import evaluate
from distilled_datasets.training.evaluation.merge import merge_evaluations


def tiny(out=None, runs=3, **kw):
    return evaluate("random-real", dataset="mnist", ipc=1, config=fast(runs=runs), out=out, train_data=TRAIN,
                    test_data=TEST, **kw)


def test_parts_merge_into_the_record_of_one_invocation(tmp_path):
    whole = tiny()
    first = tiny(tmp_path / "a.json", run_indices=[2, 0])
    second = tiny(tmp_path / "b.json", run_indices=[1])
    assert not first["complete"] and [r["run"] for r in first["runs"]] == [0, 2]
    assert first["run_indices"] == [0, 2] and first["seeds"] == [0, 1, 2]
    merged = merge_evaluations([tmp_path / "a.json", tmp_path / "b.json"], out=tmp_path / "m.json", command="merge")
    # Each run seeds everything with its index, so a part measures exactly what one invocation would.
    assert [r["accuracy"] for r in merged["runs"]] == [r["accuracy"] for r in whole["runs"]]
    assert merged["accuracy"] == whole["accuracy"] and merged["complete"] is True
    assert [m["runs"] for m in merged["merged_from"]] == [[0, 2], [1]]
    assert merged["merge_command"] == "merge" and "run_indices" not in merged
    assert json.loads((tmp_path / "m.json").read_text()) == merged
    assert second["accuracy"]["n"] == 1


def test_missing_runs_leave_the_merge_incomplete_and_resume_fills_a_part(tmp_path):
    tiny(tmp_path / "a.json", run_indices=[0])
    tiny(tmp_path / "b.json", run_indices=[2])
    merged = merge_evaluations([tmp_path / "a.json", tmp_path / "b.json"], out=tmp_path / "a.json")
    assert merged["complete"] is False and merged["accuracy"]["n"] == 2
    # Resuming the merged file measures only the run that is still missing.
    resumed = tiny(tmp_path / "a.json", resume=True)
    assert resumed["complete"] and resumed["resumed_runs"] == 2
    assert [r["run"] for r in resumed["runs"]] == [0, 1, 2]
    assert resumed["runs"][0] == merged["runs"][0] and resumed["runs"][2] == merged["runs"][1]
    assert resumed["merged_from"] == merged["merged_from"]  # the reused runs keep their provenance


def test_a_shorter_evaluation_merges_with_the_missing_runs_of_a_longer_one(tmp_path):
    tiny(tmp_path / "one.json", runs=1)  # an earlier evaluation of 1 run (reduced: 1 instead of 3)
    tiny(tmp_path / "rest.json", runs=3, run_indices=[1, 2])
    merged = merge_evaluations([tmp_path / "one.json", tmp_path / "rest.json"])
    assert merged["complete"] and merged["seeds"] == [0, 1, 2] and merged["protocol"]["runs"] == 3
    reasons = " ".join(merged["protocol"]["reduced_reasons"])  # the 3-run part's protocol, not the 1-run one's
    assert "runs = 3 instead of 5" in reasons and "runs = 1" not in reasons
    assert [r["accuracy"] for r in merged["runs"]] == [r["accuracy"] for r in tiny()["runs"]]


def test_parts_tested_or_sampled_differently_never_merge(tmp_path):
    """Regression: a part tested on the first 100 test images (or with its generator sampling otherwise,
    same weights) merged into a record claiming the full test split and one sampling."""
    tiny(tmp_path / "a.json", run_indices=[0])
    evaluate("random-real", dataset="mnist", ipc=1, config=fast(runs=3, test_limit=10), out=tmp_path / "b.json",
             train_data=TRAIN, test_data=TEST, run_indices=[1])
    with pytest.raises(ValueError, match=r"\(protocol.reduced_reasons, test_split.images differ\)"):
        merge_evaluations([tmp_path / "a.json", tmp_path / "b.json"])
    with pytest.raises(ValueError, match="--resume: .* holds a different evaluation .*test_split"):
        evaluate("random-real", dataset="mnist", ipc=1, config=fast(runs=3, test_limit=10), out=tmp_path / "a.json",
                 train_data=TRAIN, test_data=TEST, run_indices=[1], resume=True)
    resampled = json.loads((tmp_path / "a.json").read_text())
    resampled["source"]["generator_sampling"] = {"noise_scale": 0.7}
    resampled["runs"][0]["run"], resampled["run_indices"] = 2, [2]
    (tmp_path / "c.json").write_text(json.dumps(resampled))
    with pytest.raises(ValueError, match=r"\(source.generator_sampling differ\)"):
        merge_evaluations([tmp_path / "a.json", tmp_path / "c.json"])


def test_bad_run_indices_are_refused_before_any_work(tmp_path):
    for bad in ([], [3], [-1], [True], ["1"]):
        with pytest.raises(ValueError, match=r"run_indices must be .* 0\.\.2"):
            tiny(run_indices=bad)


def test_merge_refuses_parts_of_different_evaluations_and_conflicting_runs(tmp_path):
    tiny(tmp_path / "a.json", run_indices=[0])
    evaluate("random-real", dataset="mnist", ipc=2, config=fast(runs=3), out=tmp_path / "other.json",
             train_data=TRAIN, test_data=TEST, run_indices=[1])
    with pytest.raises(ValueError, match="different evaluation"):
        merge_evaluations([tmp_path / "a.json", tmp_path / "other.json"])
    conflicting = json.loads((tmp_path / "a.json").read_text())
    conflicting["runs"][0]["accuracy"] += 1.0  # edited: no longer what its counts give
    (tmp_path / "c.json").write_text(json.dumps(conflicting))
    with pytest.raises(ValueError, match="accuracy .* is not 100 \\* correct / test_images"):
        merge_evaluations([tmp_path / "a.json", tmp_path / "c.json"])
    run = conflicting["runs"][0]  # a consistent record of another result for the same run
    run["correct"] -= 1
    run["accuracy"] = round(100 * run["correct"] / run["test_images"], 4)
    conflicting["accuracy"]["mean"] = run["accuracy"]
    (tmp_path / "c.json").write_text(json.dumps(conflicting))
    with pytest.raises(ValueError, match="run 0 is in .* with different results"):
        merge_evaluations([tmp_path / "a.json", tmp_path / "c.json"])
    outside = json.loads((tmp_path / "a.json").read_text())
    outside["runs"][0]["run"] = 7  # a run index outside its seeds 0..2
    (tmp_path / "o.json").write_text(json.dumps(outside))
    with pytest.raises(ValueError, match="run 7 is not one of its seeds"):
        merge_evaluations([tmp_path / "a.json", tmp_path / "o.json"])
    with pytest.raises(ValueError, match="at least two"):
        merge_evaluations([tmp_path / "a.json"])
    (tmp_path / "x.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not a consistent evaluation record"):
        merge_evaluations([tmp_path / "a.json", tmp_path / "x.json"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        merge_evaluations([tmp_path / "a.json", tmp_path / "missing.json"])


def test_cli_split_and_merge(tiny_mnist_root, tmp_path, capsys):
    common = ["evaluate", "--dataset", "mnist", "--source", "random-real", "--ipc", "1", "--runs", "2", "--epochs",
              "1", "--device", "cpu", "--no-progress", "--data-root", str(tiny_mnist_root)]
    assert cli_main(common + ["--run-indices", "1", "--out", str(tmp_path / "b.json")]) == 0
    assert "part: runs [1] of 2" in capsys.readouterr().out
    assert cli_main(common + ["--run-indices", "0", "--out", str(tmp_path / "a.json")]) == 0
    code = cli_main(["merge-evaluations", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                     "--out", str(tmp_path / "m.json")])
    assert code == 0 and "(complete)" in capsys.readouterr().out
    merged = json.loads((tmp_path / "m.json").read_text())
    assert merged["complete"] and merged["merge_command"].startswith("distilled-datasets")
    parts = ["merge-evaluations", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out"]
    assert cli_main(parts + [str(tmp_path / "m.json")]) == 2  # exists: refused without --overwrite
    assert "pass --overwrite" in capsys.readouterr().err
    assert cli_main(parts + [str(tmp_path / "m.json"), "--overwrite"]) == 0
    (tmp_path / "notes.json").write_text('{"mine": "not an evaluation"}')
    assert cli_main(parts + [str(tmp_path / "notes.json"), "--overwrite"]) == 2  # never another kind of file
    assert "not an evaluation record" in capsys.readouterr().err
    assert json.loads((tmp_path / "notes.json").read_text()) == {"mine": "not an evaluation"}
    assert cli_main(common + ["--run-indices", "2", "--out", str(tmp_path / "c.json")]) == 2
    assert "--run-indices: run_indices must be" in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"runs": [' + "9" * 5000 + "]}", "an integer of 5000 digits"),
    ('{"accuracy": NaN}', "NaN is not JSON"),
    ("\xff\xfe{}", "cannot be read"),
])
def test_a_hostile_part_is_one_line_naming_it(tmp_path, capsys, text, message):
    # Regressions: a part nested 100,000 deep or holding a 5000-digit number ended in a traceback.
    good = tmp_path / "good.json"
    evaluate("random-real", dataset="mnist", ipc=1, config=fast(runs=2, epochs=1), out=good, train_data=TRAIN,
             test_data=TEST, run_indices=[0])
    bad = tmp_path / "bad.json"
    bad.write_bytes(text.encode("latin-1") if text.startswith("\xff") else text.encode())
    assert cli_main(["merge-evaluations", str(good), str(bad), "--out", str(tmp_path / "out.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and str(bad) in err and message in err
    assert not (tmp_path / "out.json").exists()


def test_parts_that_would_merge_into_a_record_nothing_reads_are_refused(tmp_path, capsys):
    # Regressions: a part without a method was written, then crashed; a run outside the plan was merged
    # into a record that read_record refuses; a run without durations crashed the merge.
    parts = []
    for r in (0, 1):
        parts.append(tmp_path / f"part{r}.json")
        evaluate("random-real", dataset="mnist", ipc=1, config=fast(runs=3, epochs=1), out=parts[-1],
                 train_data=TRAIN, test_data=TEST, run_indices=[r])
    record = json.loads(parts[1].read_text())
    del record["method"]
    parts[1].write_text(json.dumps(record))
    with pytest.raises(ValueError, match="'method'"):
        merge_evaluations(parts, out=tmp_path / "a.json")
    record["method"] = "random real"
    record["seeds"], record["runs"][0]["run"] = [7], 7  # a part whose one run lies outside the others' plan
    with pytest.raises(ValueError, match="runs \\[7\\] .* lie outside the 3 runs"):
        merge_evaluations([parts[0], _write(tmp_path / "b.json", record)], out=tmp_path / "b-merged.json")
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "b-merged.json").exists()
    record["seeds"], record["runs"][0]["run"] = [0, 1, 2], 1
    for key in ("run_seconds", "train_seconds"):
        del record["runs"][0][key]
    merged = merge_evaluations([parts[0], _write(tmp_path / "d.json", record)], out=tmp_path / "d-merged.json")
    assert merged["time"]["mean_run_seconds"] is not None and len(merged["runs"]) == 2


def _write(path, record, **changes):
    path.write_text(json.dumps({**record, **changes}))
    return path
