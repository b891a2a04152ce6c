"""Whose files are whose: owner folders, unguessable names, housekeeping; and model names from visitors."""

import os
import time

import pytest

from studio.errors import StudioError
from studio.ownership import clean_old_outputs, is_owned, owner_outputs, owner_tag, settings_for
from studio.records import new_output_dir
from studio.registry import resolve
from studio.settings import Settings


def test_each_owner_has_a_folder_named_by_a_one_way_tag(tmp_path):
    settings = Settings(outputs_dir=tmp_path)
    alice, bob = settings_for(settings, "visitor:alice"), settings_for(settings, "visitor:bob")
    assert alice.outputs_dir != bob.outputs_dir and "alice" not in str(alice.outputs_dir)
    assert alice.outputs_dir == owner_outputs(tmp_path, "visitor:alice")
    assert len(owner_tag("x")) == 24
    folder = new_output_dir(alice.outputs_dir, "text")
    assert is_owned(folder, settings, "visitor:alice") and not is_owned(folder, settings, "visitor:bob")
    assert not is_owned(folder / ".." / ".." / ".." / owner_tag("visitor:bob"), settings, "visitor:alice")


def test_output_folder_names_cannot_be_guessed_from_the_time(tmp_path):
    names = {new_output_dir(tmp_path, "image").name for _ in range(5)}
    assert len(names) == 5
    stamp = time.strftime("%Y%m%d-")
    assert all(name.startswith(stamp) and len(name.split("-")[-1]) == 16 for name in names)


def test_housekeeping_removes_only_old_folders(tmp_path):
    settings = Settings(outputs_dir=tmp_path)
    old = new_output_dir(settings_for(settings, "a").outputs_dir, "text")
    (old / "answer.txt").write_text("old")
    new = new_output_dir(settings_for(settings, "b").outputs_dir, "text")
    (new / "answer.txt").write_text("new")
    past = time.time() - 7200
    for path in (old, old / "answer.txt"):
        os.utime(path, (past, past))
    assert clean_old_outputs(tmp_path, 3600) == 1
    assert not old.exists() and (new / "answer.txt").exists()


@pytest.mark.parametrize("name", ["/etc", "/etc/passwd", "../assets/embedded/text-tiny", "~/.cache", "./assets",
                                  "assets/embedded/../../etc", "/nonexistent/folder", "a/b/c", "C:\\models"])
def test_a_visitor_cannot_name_a_server_path_and_learns_nothing_of_it(name):
    with pytest.raises(StudioError) as err:
        resolve(name, "text")
    message = str(err.value).replace(repr(name), "NAME")
    with pytest.raises(StudioError) as missing:
        resolve("/no/such/folder/here", "text")
    assert message == str(missing.value).replace(repr("/no/such/folder/here"), "NAME")  # exists or not: same words


def test_folders_inside_allowed_roots_and_the_cli_may_be_named(tmp_path):
    model = tmp_path / "runs" / "m"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    assert resolve(str(model), "text", local_roots=(str(tmp_path / "runs"),)).kind == "folder"
    assert resolve(str(model), "text", any_path=True).kind == "folder"
    with pytest.raises(StudioError, match="not a model this studio offers"):
        resolve(str(model), "text", local_roots=(str(tmp_path / "other"),))


def test_hub_ids_stay_hub_ids_even_when_a_folder_has_that_name():
    assert resolve("assets/embedded", "text").kind == "hub"
    assert resolve("HuggingFaceTB/SmolLM2-135M-Instruct", "text").kind == "hub"


def test_locked_studio_takes_presets_only():
    assert resolve("embedded/text-tiny", "text", presets_only=True).kind == "embedded"
    with pytest.raises(StudioError, match="preset list"):
        resolve("someone/model", "text", presets_only=True)
