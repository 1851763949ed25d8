"""Stage 4: render verified cards (``model.Deck``) into files. Never imports torch."""
