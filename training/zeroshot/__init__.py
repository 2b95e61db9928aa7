"""``python -m training.zeroshot``: composed search trained without triplets (see ``training.zeroshot.cli``)."""
