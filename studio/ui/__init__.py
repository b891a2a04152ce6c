"""The Gradio layer: one thin module per tab, mapping widgets to engine calls."""
