"""Exact-dedupe normalisation keeps meaning: values stay apart, invisible and look-alike differences do not split."""

from __future__ import annotations

import unicodedata

import pytest

from fluxcat.dedupe import DedupeEntry, exact_duplicates, normalise_plain, normalise_prompt
from fluxcat.dedupe.normalise import _plain, fold_unicode

PARAMS = "schnell|512x512|4|0|1"

# NFKC made each of these the same prompt as its digit look-alike: a wrong product image.
VALUES_APART = [
    ("a box of 10² sugar cubes", "a box of 102 sugar cubes"),
    ("a poster of 2⁵ stars", "a poster of 25 stars"),
    ("a bottle of H₂O", "a bottle of H2O"),
    ("a recipe card for ½ cup of flour", "a recipe card for 12 cup of flour"),
    ("a ¾ inch bolt", "a 34 inch bolt"),
    ("a sticker with ① on it", "a sticker with 1 on it"),
    ("a 10 ㎡ rug", "a 10 m2 rug"),
]

# The same prompt written with something invisible, a look-alike letter of another script, or other digits.
SAME_PROMPT = [
    ("a red\u200b leather wallet", "a red leather wallet"),  # zero-width space
    ("a red lea\u00adther wallet", "a red leather wallet"),  # soft hyphen
    ("a red leather wal\u2060let\ufeff", "a red leather wallet"),  # word joiner, byte-order mark
    ("a r\u0435d leather w\u0430llet", "a red leather wallet"),  # Cyrillic е and а inside Latin words
    ("a red le\u03b1ther wallet", "a red leather wallet"),  # Greek alpha
    ("ваза из стекл\u0061", "ваза из стекла"),  # a Latin a inside a Russian word
    ("κούπ\u0061 καφέ", "κούπα καφέ"),  # a Latin a inside a Greek word
    ("a pack of \u0663 mugs", "a pack of 3 mugs"),  # Arabic-Indic digit three
    ("a pack of \u09e9 mugs", "a pack of 3 mugs"),  # Bengali digit three
    ("ＲＥＤ ＷＡＬＬＥＴ", "red wallet"),  # full width
    ("an o\ufb03ce chair", "an office chair"),  # ligature
    ("a sign reading 'H\u0415LLO'", "a sign reading 'HELLO'"),  # Cyrillic Е inside a quoted Latin word
]


@pytest.mark.parametrize("first, second", VALUES_APART)
def test_superscripts_subscripts_fractions_and_circled_numbers_keep_their_value(first, second):
    assert normalise_prompt(first) != normalise_prompt(second)
    assert normalise_prompt(first) == normalise_prompt(first.upper().lower())


@pytest.mark.parametrize("first, second", SAME_PROMPT)
def test_invisible_and_look_alike_differences_no_longer_split_a_prompt(first, second):
    assert normalise_prompt(first) == normalise_prompt(second)


def test_what_the_image_spells_out_keeps_its_digits():
    assert normalise_prompt("a sign reading '\u0663'") != normalise_prompt("a sign reading '3'")


# Catalogs written wholly in Cyrillic or Greek (and words mixing other scripts): never folded, so exact dedupe
# groups them exactly as NFKC + the plain rules did before.
RUSSIAN_GREEK = [
    "Красная кружка на белом фоне", "красная кружка, на белом фоне.", "Синяя кружка на белом фоне",
    "Ваза из стекла, 30 см", "ваза из стекла 30см", "Ваза из стекла, 40 см", "Ёлочная игрушка — шар",
    "Κόκκινη κούπα σε λευκό φόντο", "κόκκινη κούπα, σε λευκό φόντο!", "Μπλε κούπα σε λευκό φόντο",
    "Ρολόι χειρός, 42 mm", "ρολόι χειρός 42mm", "Σοκολάτα 70% κακάο",
    "チョコレート工場の箱", "お茶のパッケージ", "كوب قهوة أحمر",
]


def test_cyrillic_and_greek_catalogs_stay_as_written_and_dedupe_as_before():
    for prompt in RUSSIAN_GREEK:
        assert fold_unicode(prompt) == unicodedata.normalize("NFC", prompt)
        assert normalise_prompt(prompt) == _plain(unicodedata.normalize("NFKC", prompt))  # the previous normalisation
    entries = [DedupeEntry(row, prompt, PARAMS) for row, prompt in enumerate(RUSSIAN_GREEK)]
    groups = {row: match.canonical for row, match in exact_duplicates(entries).items()}
    assert groups == {1: 0, 4: 3, 8: 7, 11: 10}


def test_normalise_plain_keeps_its_contract_for_the_guard():
    assert normalise_plain("A Red-Leather Wallet, 27-inch (grey)") == "a red leather wallet 27 inch gray"
    assert normalise_plain("a r\u0435d\u200b wallet") == "a red wallet"
