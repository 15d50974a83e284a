"""Tiny models trained by the project whose mechanism is known, used as ground truth in tests.

``induction``: a 2-layer attention-only GPT-2 trained on in-context bigrams, which forms a
previous-token head in layer 0 and an induction head in layer 1.
"""
