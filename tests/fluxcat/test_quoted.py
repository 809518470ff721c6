"""Quoted text in every quote style, apostrophes left alone."""

import pytest

from fluxcat.dedupe.normalise import normalise_prompt
from fluxcat.qa.expect import expected_text
from fluxcat.quoted import quoted_texts, without_quotes


@pytest.mark.parametrize("prompt, quotes", [
    ('a mug reading "HELLO"', ["HELLO"]),
    ("a mug reading 'HELLO'", ["HELLO"]),
    ("a mug reading “HELLO” and ‘BYE’", ["HELLO", "BYE"]),
    ("a banner «Soldes» and „Hallo“ and 「セール」", ["Soldes", "Hallo", "セール"]),
    ("a child's 'DON'T PANIC' mug", ["DON'T PANIC"]),
    ("‘don’t stop’ poster", ["don’t stop"]),
    ("the kids' mugs, a men's shirt", []),
    ("it's a '' blank", []),
])
def test_quote_styles(prompt, quotes):
    assert quoted_texts(prompt) == quotes


def test_apostrophes_are_not_quotes_and_quotes_are_removed():
    assert without_quotes("a child's 'HI' cup") == "a child's   cup"


def test_single_quoted_text_is_what_qa_reads_back():
    assert expected_text({"prompt": "a neon sign that says 'OPEN LATE'"}) == "OPEN LATE"


def test_quote_style_does_not_split_equal_prompts_but_quoted_case_does():
    assert normalise_prompt("a mug reading 'HELLO'") == normalise_prompt('A mug reading "HELLO"')
    assert normalise_prompt("a mug reading 'HELLO'") != normalise_prompt("a mug reading 'hello'")
