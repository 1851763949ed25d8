"""``tnquiz quiz`` and ``tnquiz stats``: a terminal quiz over ``build/cards.json`` with FSRS scheduling.

Nothing in this package imports torch, the runner or the worker: the quiz only reads the built deck.
Modules: ``clock`` (the one source of "now"), ``scheduler`` (pure FSRS wrapper), ``store`` (SQLite review
state and log), ``session`` (queue building and the session state machine, pure), ``ui`` (rich terminal),
``stats`` and ``cli`` (the click commands).
"""
