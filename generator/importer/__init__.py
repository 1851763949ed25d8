"""``tnquiz import``: check study notes against PyTorch and draft cards from them (torch-free here).

``parse`` finds code steps and claims in a note; ``check.import_notes`` has the worker run each note's
code in one session (``generator/execute/session.py``) and ``compare`` judge every claim; ``report``
prints the verdicts and ``draft`` writes card files; ``cli`` is the command. Importing this package
loads nothing: ``tnquiz``'s other commands start as fast as before.
"""
