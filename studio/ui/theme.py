"""The studio's look: Gradio's Soft theme with every text colour at WCAG AA contrast (4.5:1) or better.

Soft's indigo labels on light indigo (3.6:1), white on indigo-500 buttons (4.46:1) and grey-400
help text (2.5:1) failed axe-core's colour-contrast rule on every tab; the darker shades below
pass it (checked by tests/browser/test_accessibility_browser.py). Small pictures (64 px model
outputs) are drawn pixelated rather than blurred, and at phone width the tab strip wraps so
every tab stays reachable.
"""

from __future__ import annotations

import gradio as gr

INDIGO_700 = "#4338ca"  # white on it: 7.0:1
INDIGO_800 = "#3730a3"  # on indigo-100 (#e0e7ff): 8.2:1
GREY_600 = "#4b5563"  # on white: 7.6:1, on grey-50: 7.2:1

CSS = f"""
.studio-header h1 {{margin-bottom: 0}}
.studio-stats {{font-variant-numeric: tabular-nums; min-height: 3em}}  /* a job's progress: no jump when it fills */
footer, footer a, footer button, .show-api, .settings, .built-with {{color: {GREY_600} !important}}
[data-testid="upload-text"] .or, .info-text {{color: {GREY_600} !important}}
.studio-pixelated img {{image-rendering: pixelated; object-fit: contain !important}}
#pg-inside img {{padding-top: 2.4em; object-fit: contain !important}}  /* below the floating label, never under it */
@media (max-width: 640px) {{
  .tab-wrapper {{flex-wrap: wrap; height: auto !important}}
  .tab-wrapper .overflow-menu > button {{display: none !important}}
  .tab-wrapper .overflow-menu {{position: static !important}}
  .tab-wrapper .overflow-dropdown {{display: flex !important; position: static !important; flex-direction: row;
    box-shadow: none !important; border: none !important; padding: 0 !important; background: none !important}}
  .tab-wrapper .overflow-dropdown button {{white-space: nowrap; overflow: visible; max-width: none}}
}}
"""


def studio_theme() -> gr.themes.Base:
    return gr.themes.Soft().set(
        block_label_text_color=INDIGO_800,
        block_title_text_color=INDIGO_800,
        block_info_text_color=GREY_600,
        body_text_color_subdued=GREY_600,
        button_primary_background_fill=INDIGO_700,
        button_primary_background_fill_hover=INDIGO_800,
        button_primary_text_color="#ffffff",
        color_accent_soft="#e0e7ff",
        link_text_color=INDIGO_700,
        link_text_color_visited=INDIGO_800,
        input_placeholder_color=GREY_600,
        checkbox_label_background_fill_selected=INDIGO_700,
        checkbox_label_text_color_selected="#ffffff",
    )


# Arrow keys move between tabs, as WAI-ARIA's tabs pattern expects (Gradio's tab strip ignores them).
KEYBOARD_JS = """
<script>
document.addEventListener("keydown", (event) => {
  const tab = event.target.closest && event.target.closest('[role="tab"]');
  if (!tab || !["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) return;
  const tabs = [...tab.closest('[role="tablist"]').querySelectorAll('[role="tab"]')];
  const menu = [...document.querySelectorAll(".tab-wrapper .overflow-dropdown button")];
  const all = tabs.concat(menu);
  let i = all.indexOf(tab);
  if (event.key === "ArrowRight") i = (i + 1) % all.length;
  if (event.key === "ArrowLeft") i = (i - 1 + all.length) % all.length;
  if (event.key === "Home") i = 0;
  if (event.key === "End") i = all.length - 1;
  event.preventDefault();
  all[i].click();
  all[i].focus();  // at once, so a quick second key starts from here
  setTimeout(() => {
    const selected = document.querySelector('[role="tablist"] [role="tab"][aria-selected="true"]');
    (selected || all[i]).focus();
  }, 50);
});
</script>
"""
