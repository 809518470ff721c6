"""What a row asks QA to check: quoted text or the `text` column, and a colour from `color_hex` or the lexicon."""

from fluxcat.qa.expect import expectation


def test_quoted_text_and_the_text_column():
    assert expectation({"prompt": 'a mug reading "GOOD MORNING", and “Fig & Cedar”'}).text == "GOOD MORNING Fig & Cedar"
    assert expectation({"prompt": 'a mug reading "IGNORED"', "text": "Hello"}).text == "Hello"
    assert expectation({"prompt": "men's shoes, no quotes"}).text is None


def test_colour_from_color_hex_or_one_product_colour_word():
    assert expectation({"prompt": "a navy jacket", "color_hex": "#1A2B3C"}).colour == "#1a2b3c"
    assert expectation({"prompt": "a red leather wallet on a white background"}).colour == "#ff0000"
    assert expectation({"prompt": "a charcoal wool coat"}).colour == "#36454f"  # a lexicon word CSS lacks
    assert expectation({"prompt": 'a tee printed "RED ALERT"'}).colour is None  # quoted text is not the product
    both = expectation({"prompt": "a red and white striped mug"})
    assert both.colour is None and "several colours" in both.notes[0]
    bad = expectation({"prompt": "a mug", "color_hex": "reddish"})
    assert bad.colour is None and "not #rrggbb" in bad.notes[0]
