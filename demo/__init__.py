"""The Gradio demo: upload a clip, paint the objects, watch the overlay stream back, take the masks away.

``python app.py`` starts it; :func:`demo.app.build_demo` builds the page (tests inject a model loader).
"""
