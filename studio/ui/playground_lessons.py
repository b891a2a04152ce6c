"""The Playground's Lesson row and Compare row: page wiring only (the lesson format is studio.playground.lessons).

A lesson steps the form through a teacher's setups with a note each; Compare keeps
one finished run's history in the page's per-session state so the next run's plots
overlay it. Both live here so the tab module stays about the form and the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from studio.errors import StudioError
from studio.playground.form import FORM_FIELDS, parse_form
from studio.playground.lessons import BUILT_IN, Lesson, decode_lesson, encode_lesson

from .blocks import packed_on
from .common import form_handler, user_errors

NO_LESSON = "Pick a lesson, or open a lesson link, to step through a teacher's setups."
NO_KEPT = "No run kept. After a run ends, name it and press **Keep this run for comparison**."


def page_link(request: gr.Request | None, key: str, code: str) -> str:
    """`code` as a link to this page (from the page's own address when the browser sent it)."""
    headers = getattr(request, "headers", None) or {}
    page = (headers.get("referer") or "").split("?", 1)[0].split("#", 1)[0]
    return f"{page}?{key}={code}" if page.startswith(("http://", "https://")) else code


@dataclass
class LessonRow:
    """The lesson a visitor follows (pick, note, Back/Next, step i of n) and the one a teacher is making."""

    pick: gr.Dropdown
    note: gr.Markdown
    back: gr.Button
    forward: gr.Button
    position: gr.Markdown
    following: gr.State  # {"code": lesson string, "index": 0-based step} or None
    title: gr.Textbox
    step_note: gr.Textbox
    add: gr.Button
    link: gr.Textbox
    open: gr.Button
    draft: gr.State  # the teacher's lesson so far (a lesson string) or None

    @classmethod
    def build(cls) -> "LessonRow":
        with gr.Group(elem_id="pg-lesson"):
            with gr.Row(equal_height=True):
                pick = gr.Dropdown(list(BUILT_IN), value=None, label="Lesson", elem_id="pg-lesson-pick", scale=3,
                                   info="Built-in lessons: each step loads a setup to train and compare.")
                back = gr.Button("Back", elem_id="pg-lesson-back", interactive=False, scale=1, min_width=60)
                forward = gr.Button("Next", elem_id="pg-lesson-next", interactive=False, scale=1, min_width=60)
                position = gr.Markdown("", elem_id="pg-lesson-step")
            note = gr.Markdown(NO_LESSON, elem_id="pg-lesson-note")
            with gr.Accordion("Make a lesson", open=False):
                with gr.Row():
                    title = gr.Textbox("My lesson", label="Lesson title", elem_id="pg-lesson-title", max_length=80)
                    step_note = gr.Textbox("", label="Note for this step", elem_id="pg-lesson-new-note",
                                           max_length=400, placeholder="What should the class look at here?",
                                           scale=2)
                add = gr.Button("Add this setup as a step", elem_id="pg-lesson-add")
                with gr.Row():
                    link = gr.Textbox("", label="Lesson link", elem_id="pg-lesson-link", buttons=["copy"], scale=4,
                                      info="Copy this link for a class; or paste a lesson link and press Open.")
                    open_btn = gr.Button("Open", elem_id="pg-lesson-open", scale=1)
        return cls(pick, note, back, forward, position, gr.State(None), title, step_note, add, link, open_btn,
                   gr.State(None))

    @property
    def shown(self) -> list:
        return [self.following, self.note, self.position, self.back, self.forward]

    def at(self, lesson: Lesson, index: int) -> dict:
        """The row's updates for step `index` of `lesson` (the form's come from the tab's `show`)."""
        index = max(0, min(index, len(lesson) - 1))
        return {self.following: {"code": encode_lesson(lesson), "index": index},
                self.note: f"**{lesson.title}** · {lesson.steps[index].note}",
                self.position: f"step {index + 1} of {len(lesson)}",
                self.back: gr.update(interactive=index > 0),
                self.forward: gr.update(interactive=index < len(lesson) - 1)}

    def wire(self, show: Callable, shown: list, form: dict) -> Callable:
        """Connects the row; `show(config, request)` gives the form's updates. Returns the handler for a
        `?lesson=` link, which the tab's page-load handler calls."""
        outputs = shown + self.shown

        def go(lesson: Lesson, index: int, request) -> dict:
            updates = self.at(lesson, index)
            return show(lesson.steps[updates[self.following]["index"]].config, request) | updates

        @user_errors
        def pick(title: str, request: gr.Request):
            if title not in BUILT_IN:
                raise StudioError(f"Lesson: {title!r} is not a built-in lesson; choose one from the list.")
            return go(BUILT_IN[title], 0, request)

        def stepper(delta: int):
            @user_errors
            def move(following: dict | None, request: gr.Request):
                if not following:
                    raise StudioError("Lesson: open a lesson first (pick one, or paste a lesson link and press Open).")
                return go(decode_lesson(following["code"]), following["index"] + delta, request)
            return move

        @user_errors
        def open_link(text: str, request: gr.Request):
            return go(decode_lesson(text), 0, request)

        @form_handler((*FORM_FIELDS, "title", "step_note", "draft"))
        @user_errors
        def add(values: dict, request: gr.Request):
            lesson = decode_lesson(values["draft"]) if values["draft"] else Lesson("", ())
            title = " ".join((values["title"] or "").split())[:80] or "My lesson"
            lesson = Lesson(title, lesson.steps).adding(parse_form(values), values["step_note"])
            code = encode_lesson(lesson)
            gr.Info(f"Step {len(lesson)} added; the lesson link below now has {len(lesson)} step(s).")
            return {self.draft: code, self.link: page_link(request, "lesson", code), self.step_note: ""}

        self.pick.input(pick, self.pick, outputs, api_visibility="private")
        self.back.click(stepper(-1), self.following, outputs, api_visibility="private")
        self.forward.click(stepper(+1), self.following, outputs, api_visibility="private")
        self.open.click(open_link, self.link, outputs, api_name="playground_open_lesson")
        packed_on([self.add.click], add, [*form.values(), self.title, self.step_note, self.draft],
                  [self.draft, self.link, self.step_note], api_visibility="private")

        def from_url(request: gr.Request) -> dict | None:
            """A `?lesson=` link opens at step 1; a malformed one is named in a warning and changes nothing."""
            text = request.query_params.get("lesson") if request else None
            if not text:
                return None
            try:
                return go(decode_lesson(text), 0, request) | {self.link: page_link(request, "lesson", text)}
            except StudioError as err:
                gr.Warning(f"This lesson link could not be opened: {err}")
                return {}

        return from_url


@dataclass
class CompareRow:
    """Keep one finished run (its per-epoch history and a label) for the next run's plots to overlay."""

    label: gr.Textbox
    keep: gr.Button
    forget: gr.Button
    status: gr.Markdown
    last_run: gr.State  # the newest finished run's history, set by Train
    kept: gr.State  # {"label": str, "history": [...]} or None, read by Train

    @classmethod
    def build(cls) -> "CompareRow":
        with gr.Row(equal_height=True):
            label = gr.Textbox("", label="Name this run", elem_id="pg-keep-label", placeholder="e.g. batch norm on",
                               max_length=40, scale=2)
            keep = gr.Button("Keep this run for comparison", elem_id="pg-keep", scale=2)
            forget = gr.Button("Forget kept run", elem_id="pg-forget", scale=1)
        status = gr.Markdown(NO_KEPT, elem_id="pg-keep-status")
        return cls(label, keep, forget, status, gr.State(None), gr.State(None))

    def wire(self) -> None:
        @user_errors
        def keep(history: list | None, label: str):
            if not history:
                raise StudioError("Keep this run: no finished run yet; train one (or stop one that has run an "
                                  "epoch), then keep it.")
            label = " ".join((label or "").split())[:40] or "kept run"
            return ({"label": label, "history": history},
                    f"Kept **{label}** ({len(history)} epochs): the next run's plots show it as "
                    f"\"train ({label})\" and so on.")

        def forget():
            return None, NO_KEPT

        self.keep.click(keep, [self.last_run, self.label], [self.kept, self.status], api_visibility="private")
        self.forget.click(forget, None, [self.kept, self.status], api_visibility="private")
