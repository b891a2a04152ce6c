"""The benchmarks' shared harness: alternation, the two printed lines, measures of several numbers, a task's run."""

import json
import pickle
import threading

import pytest

from benchmarks.harness import alternate, column, report, TaskRun
from studio.events import ProgressEvent
from studio.settings import Settings


def test_alternate_reverses_the_order_every_other_round_and_skips_the_warm_up():
    calls = []
    runs = alternate({"studio": lambda: calls.append("studio") or 1.0, "bare": lambda: calls.append("bare") or 2.0},
                     repeats=3, warmup=1)
    assert calls == ["studio", "bare", "bare", "studio", "studio", "bare", "bare", "studio"]
    assert runs == {"studio": [1.0, 1.0, 1.0], "bare": [2.0, 2.0, 2.0]}


def test_report_prints_one_json_line_and_one_human_line_with_the_ratio_studio_over_bare(capsys):
    line = report("x/s", [9.0, 10.0, 11.0], [10.0, 10.0, 10.0], unit="x/s", target=0.95)
    json_line, human = capsys.readouterr().out.strip().splitlines()
    assert json.loads(json_line) == line
    assert line["ratio"] == 1.0 and line["met"] is True and line["paired_ratio"] == 1.0
    assert human.startswith("x/s: studio 10 x/s, bare 10 x/s, ratio studio/bare 1.000") and "met" in human


def test_report_lower_is_better_misses_above_the_target(capsys):
    line = report("ttft", [3.0, 3.0], [2.0, 2.0], unit="ms", target=1.2, higher_is_better=False)
    assert line["ratio"] == 1.5 and line["met"] is False
    assert "NOT met" in capsys.readouterr().out


def test_column_takes_one_named_measure_of_every_run():
    runs = {"studio": [{"a": 1, "b": 2}, {"a": 3, "b": 4}], "bare": [{"a": 5, "b": 6}, {"a": 7, "b": 8}]}
    assert column(runs, "b") == {"studio": [2, 4], "bare": [6, 8]}


def test_a_task_run_pickles_each_event_and_times_it_from_its_start(tmp_path):
    run = TaskRun(Settings(), outputs_dir=tmp_path)
    assert run.settings.outputs_dir == tmp_path and run.should_stop is False
    run.start().emit(ProgressEvent(1, 2, unit="steps"))
    [(seconds, event)] = run.events
    assert seconds >= 0 and event.step == 1
    with pytest.raises((pickle.PicklingError, TypeError, AttributeError)):
        run.emit(ProgressEvent(1, 2, unit="steps", preview=threading.Lock()))  # what the pipe would refuse
    assert run.start().events == []
