"""Training: a run from its config, resumable and multi-worker (``trainer``), and scoring finished runs (``evaluation``)."""
