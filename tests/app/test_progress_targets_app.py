"""Where the shipped page shows Gradio's progress tracker, read from the config the launched app gives a browser.

Gradio's page keeps a loading status for every component an event ever tracked progress on and searches the
layout for each on every later message (`StudioBlocks`): only events that stream a job keep a visible tracker."""

import json
import urllib.request

STATUS_LINES = {"text_generate": "text-stats", "image_generate": "image-status", "audio_generate": "audio-status",
                "finetune_train": "ft-status", "playground_train": "pg-stats"}
# Every event with outputs and a visible tracker: generators that relay work (the Text tab's Enter is `generate`).
TRACKED = {"text_generate", "generate", "image_generate", "image_load_lora", "image_unload_loras",
           "audio_generate", "finetune_train", "finetune_resume", "finetune_check", "finetune_merge",
           "finetune_export"}


def page_config(url: str) -> dict:
    with urllib.request.urlopen(url.rstrip("/") + "/config", timeout=30) as answer:
        return json.load(answer)


def test_job_events_track_on_their_status_line_and_one_go_events_on_the_header_hidden(studio_url):
    config = page_config(studio_url)
    elem = {c["id"]: c["props"].get("elem_id") for c in config["components"]}
    header = config["layout"]["children"][0]["id"]  # the page's first component: found at once by the page
    events = {d["api_name"]: d for d in config["dependencies"] if d["backend_fn"]}
    for name, line in STATUS_LINES.items():
        assert [elem[i] for i in events[name]["show_progress_on"]] == [line], name
    tracked = {name for name, d in events.items() if d["outputs"] and d["show_progress"] != "hidden"}
    assert tracked == TRACKED
    one_go = [name for name in events if name.startswith(("model_card", "toggle_")) or name == "image_png_info"]
    assert len(one_go) >= 8
    for name in one_go:  # a model card, a toggle, a refill: over too soon to show, and no status deep in the page
        assert (events[name]["show_progress"], events[name]["show_progress_on"]) == ("hidden", [header]), name
