"""Robustness to the shopper's wording: the same modifications rewritten in held-apart styles (``bench_paraphrase``)."""
