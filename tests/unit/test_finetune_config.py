"""Checks that answer at once, before any job: numbers per field, data names, uploads, the operator's limits."""

import pytest

from studio.errors import StudioError
from studio.finetune.config import FinetuneConfig, MethodSettings, Stage, TrainingSettings
from studio.finetune.data import data_source, load_data
from studio.finetune.form import defaults, parse_form
from studio.finetune.limits import check_steps, planned_steps


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e12, 0, -1e-4, "lots"])
def test_absurd_learning_rates_are_refused_naming_the_field(value):
    with pytest.raises(StudioError, match=r"^learning_rate: .* is not valid; use a number above 0, at most 10"):
        TrainingSettings(learning_rate=value)


@pytest.mark.parametrize("field, value", [("epochs", float("inf")), ("batch_size", float("nan")),
                                          ("max_steps", 2.5), ("weight_decay", float("inf")),
                                          ("validation_fraction", float("nan")), ("seed", -1)])
def test_other_training_numbers_are_refused_per_field(field, value):
    with pytest.raises(StudioError, match=rf"^{field}: "):
        TrainingSettings(**{field: value})


@pytest.mark.parametrize("field, value", [("rank", float("inf")), ("alpha", float("nan")), ("dropout", 1.5)])
def test_method_numbers_are_refused_per_field(field, value):
    with pytest.raises(StudioError, match=rf"^{field}: "):
        MethodSettings(**{field: value})


def test_a_stage_override_is_refused_naming_the_stage_and_field():
    with pytest.raises(StudioError, match=r"^stage easy: learning_rate: inf is not valid"):
        Stage("easy", "sums-in-words-easy", learning_rate=float("inf"))


def test_whole_numbers_stay_whole():
    assert TrainingSettings(max_steps=3.0, batch_size=4.0).max_steps == 3


def test_a_server_path_is_refused_the_same_whether_or_not_it_exists(tmp_path):
    real = tmp_path / "secret.jsonl"
    real.write_text('{"text": "private"}\n')
    messages = []
    for name in (str(real), str(tmp_path / "absent.jsonl")):
        with pytest.raises(StudioError) as err:
            load_data(name, uploads={"mine.jsonl": str(real)})
        messages.append(str(err.value).replace(name, "NAME"))
    assert messages[0] == messages[1]
    assert "mine.jsonl" in messages[0] and "cannot be named" in messages[0] and "private" not in messages[0]


def test_data_comes_from_uploads_by_name_and_from_example_sets(tmp_path):
    upload = tmp_path / "gradio-cache" / "rows.txt"
    upload.parent.mkdir()
    upload.write_text("one\ntwo\n")
    assert data_source("rows.txt", {"rows.txt": str(upload)}) == (upload, "rows.txt")
    assert load_data("animal-facts").shape == "text"
    assert load_data(str(upload), any_path=True).name == "rows.txt"  # the command line only


def test_the_step_limit_is_named():
    config = FinetuneConfig(data="sums-in-words", training=TrainingSettings(epochs=50))
    datasets = {"train": load_data("sums-in-words")}
    with pytest.raises(StudioError, match=r"would take \d+ steps, .*\(100 steps, max_finetune_steps\)"):
        check_steps(config, datasets, 100)
    assert check_steps(config, datasets, 0) == planned_steps(len(datasets["train"].rows)
                                                              - round(0.1 * len(datasets["train"].rows)),
                                                              config.training)


def test_uploads_are_bounded_and_named(tmp_path):
    paths = []
    for i in range(3):
        (tmp_path / f"d{i}.txt").write_text("x\n")
        paths.append(str(tmp_path / f"d{i}.txt"))
    with pytest.raises(StudioError, match=r"upload: '3 files' is not valid; upload at most 2 files .*max_uploads"):
        parse_form(defaults() | {"upload": paths}, max_uploads=2)
    with pytest.raises(StudioError, match="name each file in a curriculum stage"):
        parse_form(defaults() | {"upload": paths[:2]}, max_uploads=8)
    stages = '[{"name": "a", "data": "d0.txt"}, {"name": "b", "data": "d1.txt", "difficulty": 2}]'
    config, uploads = parse_form(defaults() | {"upload": paths[:2], "stages": stages}, max_uploads=8)
    assert set(uploads) == {"d0.txt", "d1.txt"} and [s.data for s in config.ordered_stages()] == ["d0.txt", "d1.txt"]


def test_old_configs_still_read_and_remote_code_is_not_a_visitor_setting():
    config = FinetuneConfig.from_dict({"model": "embedded/text-tiny", "data": "sums-in-words",
                                       "trust_remote_code": True})
    assert config.training.restore_best is True
