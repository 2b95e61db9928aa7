"""Requests written as an opinion of the product in the photo, put into plain words before the request reader reads
them.

Shoppers who review what they see rather than ask for something dismiss a thing after naming it ("the dots: a nope
from me", "white? nobody asked", "v-necked... nah"), say what they got against what they wanted ("sleeves: got
three-quarter, wanted short"), and wrap the request in ratings and verdicts ("four stars", "docked a star", "10/10",
"bottom line:", "hands down"). :func:`opinion_negations` writes the first as a negation before the thing, the second
as "short instead of three-quarter", and drops the third; for the reader only (the shopper's own words go to the
encoder when the reader reads nothing). "stars" alone is kept: "a top with stars" is a print.
"""

from __future__ import annotations

import re

# A thing named, then dismissed, the dismissal ending its clause: "the dots: a nope from me", "white? nobody asked",
# "v-necked... nah", "the collar - hard pass", "sleeves: no". Read as "not <thing>".
_DISMISSALS = (r"(?:a\s+)?(?:hard\s+|big\s+)?(?:nope|nah|no|pass|no\s+thanks|no\s+thank\s+you|not\s+for\s+me|no\s+way|"
               r"nobody\s+asked|not\s+a\s+fan|not\s+it|yikes)(?:\s+from\s+me)?")
# Not after a comma nor before a question mark: "make it black, no?" asks for black.
_DISMISSED = re.compile(r"(^|[,.;!?(]\s*|\.\.\.\s*)([^,.;:!?(]{1,40}?)\s*(?:\?+|:|\.\.\.|\s-)\s*" + _DISMISSALS
                        + r"(?=\s*(?:[,.;!)]|$))", re.IGNORECASE)
# What came against what was wanted: "got loose, wanted fitted", "received black but wanted purple".
_GOT_WANTED = re.compile(r"\b(?:got|received|came\s+in|came\s+with|it'?s)\s+([^,;.]+?),?\s+(?:but\s+)?"
                         r"(?:wanted|want|ordered|expected|needed|hoped\s+for)\s+([^,;.]+)", re.IGNORECASE)
# Ratings and verdicts around a request, which name nothing of the product.
_RATINGS = re.compile(r"\b(?:(?:docked|minus|lost|loses|knocked\s+off)\s+(?:a|one|two|\d)\s+stars?|"
                      r"(?:\d+(?:\.\d)?|one|two|three|four|five|half\s+a)\s+stars?|\d+\s*/\s*(?:5|10)\b|"
                      r"bottom\s+line|hands\s+down)", re.IGNORECASE)


def opinion_negations(text: str) -> str:
    """``text`` with a thing dismissed after it is named written as "not <thing>", "got X, wanted Y" as "Y instead of
    X", and ratings and verdicts left out; for the reader only."""
    text = _RATINGS.sub(" ", text)
    text = _GOT_WANTED.sub(lambda m: f"{m.group(2).strip()} instead of {m.group(1).strip()}", text)
    return _DISMISSED.sub(lambda m: f"{m.group(1)}not {m.group(2).strip()}", text)
