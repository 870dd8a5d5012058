"""Did-you-mean suggestions, used by every error that names an unknown thing."""

from __future__ import annotations

from collections.abc import Iterable


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """Return ``"did you mean 'x'?"`` for the closest candidate, or None."""
    import difflib  # only when something is wrong: loading a correct config never needs it

    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def unknown(kind: str, word: str, candidates: Iterable[str]) -> str:
    """Message for an unknown name: the suggestion and the valid names."""
    names = sorted(set(candidates))
    text = f"unknown {kind} '{word}'"
    hint = did_you_mean(word, names)
    if hint:
        text += f"; {hint}"
    listing = ", ".join(names) if names else "none"
    return f"{text} (known: {listing})"
