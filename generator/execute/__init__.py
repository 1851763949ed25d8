"""Stage 2: run cards' snippets in isolated worker processes, with a result cache in front.

``runner`` (torch-free) schedules cards onto ``worker`` processes (the only module that imports
torch), started in the ``sandbox`` where the platform has one; they speak in the typed
``messages``; ``cache`` stores validated results. Guarantees: docs/reliability.md.
"""
