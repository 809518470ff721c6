"""Data files shipped with fluxcat (word lists for the dedupe attribute guard)."""
