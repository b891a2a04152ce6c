"""Where the shipped page shows Gradio's progress tracker, read from the config the launched app gives a browser.

Gradio's page keeps a loading status for every component an event ever tracked progress on and searches the
layout for each on every later message (`StudioBlocks`): every event tracks on the page's first component,
hidden, and each job's progress is its status line, drawn by the studio (`relay`). (The Teacher tab, absent
here, keeps Gradio's tracker over the settings its refresh rewrites: its own choice.)"""

import json
import urllib.request


def page_config(url: str) -> dict:
    with urllib.request.urlopen(url.rstrip("/") + "/config", timeout=30) as answer:
        return json.load(answer)


def test_every_event_tracks_hidden_on_the_header_so_the_pages_status_set_stays_one(studio_url):
    config = page_config(studio_url)
    header = config["layout"]["children"][0]["id"]  # the page's first component: found at once by the page
    events = {d["api_name"]: d for d in config["dependencies"] if d["outputs"]}
    for name in ("text_generate", "image_generate", "audio_generate", "finetune_train", "finetune_attach",
                 "playground_train", "image_png_info"):
        assert name in events, name
    assert len(events) >= 40
    for name, event in events.items():
        assert (event["show_progress"], event["show_progress_on"]) == ("hidden", [header]), name
