"""Stage 2: run cards' snippets in isolated worker processes, with a result cache in front.

``runner`` (torch-free) schedules cards onto ``worker`` processes (the only module that imports
torch) and consults ``cache``.
"""
