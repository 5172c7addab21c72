"""What a customer's search text means: a few plain words, every one of which must match.

The text is never handed to a full-text engine as a query: FTS5 and ``to_tsquery`` both have
a query syntax (``NEAR(``, ``*``, ``"``, ``AND``, ``:``, ``&``, ``!``) in which a stray
character is a syntax error or a different question. Only runs of letters and digits are
kept, lower-cased, and the adapters quote each as a term of its own (FTS5 ``"word"``,
PostgreSQL ``plainto_tsquery``). Letters and digits are also exactly where both engines'
tokenizers (FTS5 ``unicode61``, PostgreSQL's ``simple`` configuration) split words, so a term
found here is a token the index holds.
"""

from __future__ import annotations

import re

__all__ = ["MAX_TERMS", "MAX_TERM_LENGTH", "search_terms"]

MAX_TERMS = 8
MAX_TERM_LENGTH = 64

# [^\W_] is "a word character but not the underscore": letters and digits of any script.
_WORD = re.compile(r"[^\W_]+")


def search_terms(text: str) -> tuple[str, ...]:
    """The distinct words of ``text``, lower-cased, in order; at most ``MAX_TERMS``.

    A text without letters or digits (``'"*'``) has no terms: it matches nothing.
    Words longer than ``MAX_TERM_LENGTH`` are cut there (no real word is that long; the
    bound keeps a hostile query small).
    """
    words = (w.lower()[:MAX_TERM_LENGTH] for w in _WORD.findall(text))
    return tuple(dict.fromkeys(words))[:MAX_TERMS]
