"""tnquiz: PyTorch flashcards whose every answer is verified by running it."""

__version__ = "0.1.0"
