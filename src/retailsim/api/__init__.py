"""Scoring API: next-30-day predictions over HTTP (``retailsim serve``; FastAPI + uvicorn).

:func:`retailsim.api.app.create_app` builds the app; :class:`retailsim.api.service.ScoringService` serves the
predictions through :mod:`retailsim.ml.predict`, the code behind ``retailsim ml predict`` and ``ml score``.
See ``docs/api.md``.
"""
