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


PLAIN_FIELDS = {"textbox", "number", "slider", "checkbox", "dropdown", "radio", "checkboxgroup"}


def test_no_event_the_page_triggers_sends_a_form_field_by_field(studio_url):
    """The page also keeps a loading status for every input of every event that completed (`blocks.pack_form`):
    a form's plain fields leave the page as one value, and the API's endpoints still name every field."""
    config = page_config(studio_url)
    kind = {c["id"]: c["type"] for c in config["components"]}
    page_events = [d for d in config["dependencies"] if d["backend_fn"] and d["targets"]]
    assert len(page_events) >= 30
    for event in page_events:
        plain = [i for i in event["inputs"] if kind[i] in PLAIN_FIELDS]
        assert len(plain) <= 2, (event["api_name"], len(plain))
    api = {d["api_name"]: d for d in config["dependencies"] if d["api_visibility"] == "public"}
    for name, at_least in (("text_generate", 20), ("image_generate", 20), ("audio_generate", 10),
                           ("finetune_train", 20), ("playground_train", 20)):
        assert len([i for i in api[name]["inputs"] if kind[i] in PLAIN_FIELDS]) >= at_least, name
