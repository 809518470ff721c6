"""The attribute guard alone (no embeddings): what it explains away, what it refuses, and the reasons it gives."""

from __future__ import annotations

import pytest

from fluxcat.dedupe.guard import compare, load_lexicon, tokenise
from tests.fluxcat.dedupe.pairs import REWORDINGS, VARIANTS, load

SAME = [  # the examples of rewordings the guard used to block
    ("A soft and warm blanket", "A warm and soft blanket"),
    ("A vase on a shelf beside a plant", "A vase beside a plant on a shelf"),
    ("Close-up shot of a kettle", "A kettle, close-up shot"),
    ("White trainers on a rug", "White sneakers on a rug"),
    ("A grey settee", "A grey sofa"),
    ("A cellphone on a desk", "A mobile phone on a desk"),
    ("A kettle, photo", "A kettle, snapshot"),
    ("An image of a kettle", "A kettle"),
    ("A photo showing a kettle", "A kettle"),
    ("A row of glasses", "Glasses in a row"),
    ("A pile of books", "Books piled"),
    ("A set of knives", "A knife set"),
    ("A mug on a white background", "A mug against a white background"),
    ("A 750 ml bottle", "A 0.75 litre bottle"),
    ("A 16 oz jar", "A 1 lb jar"),
    # issue 19's kinds, each by a general rule rather than a listed word
    ("A cosy grey jumper", "A cozy gray sweater"),  # breame's spellings
    ("A colourful aluminium tray", "A colorful aluminum tray"),
    ("A leather hand bag", "A leather handbag"),  # WordNet's closed compounds
    ("A window sill with a plant", "A plant on a windowsill"),
    ("A white ear bud case", "A white earbud case"),  # an unknown closed word read as its two words
    ("A tea light holder", "A tealight holder"),
    ("A board with sliced tomatoes", "Sliced tomatoes on a board"),  # relations turned one way
    ("A bowl with strawberries", "Strawberries in a bowl"),  # a container (WordNet): in
    ("A board with tomatoes and basil", "Tomatoes and basil on a board"),
    ("A child's raincoat", "A raincoat for a child"),  # a possessive is "for"
    ("Men's running shoes", "Running shoes for men"),
    ("Mens running shoes", "Men's running shoes"),
    ("Muddy boots on a porch", "Boots covered in mud on a porch"),  # WordNet's -y adjectives of stuff
    ("A heart pendant", "A heart-shaped pendant"),
    ("A dress in emerald green", "An emerald green dress"),  # "in" / "made of" + a describing head
    ("A vase made of glass", "A glass vase"),
    ("A lamp with a brass finish", "A brass finish lamp"),
    ("Black wireless headphones", "Wireless headphones, black"),  # a describing clause after a comma
    ("A navy and gold print in a frame", "A print, navy and gold, in a frame"),
    ("A guitar amp", "A guitar amplifier"),  # short forms (listed: WordNet's first senses do not give them)
    ("A grey couch", "A grey sofa"),
    ("A red automobile", "A red car"),  # WordNet: the same first sense
    ("A pile of gold bangles", "Gold bangles piled up"),
    ("Candles arranged on a tray", "Candles on a tray"),
    # round 3's general rules (sentences of our own, not from the labelled sets)
    ("A pack of forty tea bags", "A pack of 40 tea bags"),  # number words compose
    ("A jar of two hundred buttons", "A jar of 200 buttons"),
    ("Sixty five pegs in a tub", "65 pegs in a tub"),
    ("A microfibre duster", "A microfiber duster"),  # a British ending of a word breame does not list
    ("A sequinned clutch bag", "A sequined clutch bag"),  # a doubled consonant, as in "travelled"
    ("A dash cam on a windscreen", "A dashboard camera on a windscreen"),  # clipped word by word
    ("A cushion with a beaded cover", "A cushion with a bead cover"),  # "N-ed X" as "N X"
    ("A kite held by a boy", "A boy holding a kite"),  # a relation verb before "by" is passive
    ("A tray with a bowl of cherries on top", "A bowl of cherries on top of a tray"),
    ("A candle with a vanilla scent", "A vanilla-scented candle"),  # a hyphen joins the noun to the -ed word
    ("A vase with a blue tint", "A blue-tinted vase"),
    # round 4's general rules (sentences of our own, not from the labelled sets)
    ("An upright vacuum cleaner in a hallway", "An upright vacuum in a hallway"),  # first concrete sense of both
    ("A lace bra on a hanger", "A lace brassiere on a hanger"),  # WordNet's own short form (first sense)
    ("A box of decaf tea bags", "A box of decaffeinated tea bags"),  # ... and a participle compared in place
    ("A hexagonal tile", "A hexagon tile"),  # an attribute adjective derived from its noun
    ("A big teddy bear on a bed", "A large teddy bear on a bed"),  # one head adjective sense
    ("A little wicker basket", "A small wicker basket"),
    ("A cushion with a star shape on a sofa", "A star-shaped cushion on a sofa"),  # "with an X shape"
    ("A folder with stripes and a zip", "A striped folder with a zip"),  # a plural noun ends its thing
    ("A chequerboard cake", "A checkerboard cake"),  # a compound on breame's stem ("chequered")
    ("In-ear earphones lying on a phone", "A phone with in-ear earphones lying on it"),  # "in-ear": one word
    ("A carry-on suitcase by a gate", "A carry on suitcase by a gate"),  # ... or written apart
    ("A glass bowl with a frosted finish", "A frosted glass bowl"),  # an adjective + "finish" describes
    ("A pine dresser with three drawers", "A 3-drawer pine dresser"),  # a counted part as the modifier
    # round 5's general rules (sentences of our own, not from the labelled sets)
    ("A UV lamp on a desk", "An ultraviolet lamp on a desk"),  # initials from a word's parts, before a shared head
    ("A remote control car", "An RC car"),  # plain initials still
    ("A meat tenderiser on a board", "A meat tenderizer on a board"),  # the -ise family of an unknown word
    ("A wallet with rivets on the flap", "A wallet with a riveted flap"),  # what a part has, as a derived adjective
    ("A boot with fur on the cuff", "A boot with a furry cuff"),
    ("A belt with spikes on the strap", "A belt with a spiked strap"),
    # round 6's general rules (sentences of our own, not from the labelled sets)
    ("A plaza with a fountain", "A piazza with a fountain"),  # one first sense outside things (a place, an act)
    ("A candle with a calm ambiance", "A candle with a calm ambience"),
    ("A tent at night", "A tent at nighttime"),  # attribute words of one category, one first noun sense: one value
    ("A patio in daylight", "A patio in the daytime"),
    ("A bluish vase", "A blueish vase"),  # one word, two spellings one letter apart (WordNet)
    ("A quilted jacket", "A jacket with quilting"),  # a derived -ed adjective and what its verb leaves (WordNet)
    ("A cushion with beading", "A beaded cushion"),
    ("A cake with decorations", "A decorated cake"),  # -ated: with its -ation noun
    ("A bottle with insulation", "An insulated bottle"),
    ("A wooden bread cutter", "A wooden breadcutter"),  # two dictionary words: no doubled consonant to undo
    ("A charm attached to a zip pull", "A zip pull with a charm attached"),  # "to" under a shared participle
    ("A phone held in a hand", "A hand holding a phone"),  # a relation verb's participle before "in" is passive
    ("A bottle carried in a basket", "A basket carrying a bottle"),
    ("A Saint Jude candle", "A St. Jude candle"),  # a contraction's period ends no clause
    ("Buttons filling a jar", "A jar filled with buttons"),  # "V-ing" of a listed "V-ed with", from the other side
    # round 7's general rules (sentences of our own, not from the labelled sets)
    ("A hand-held torch on a shelf", "A handheld torch on a shelf"),  # a hyphen's parts as the word they make
    ("A hand-made quilt", "A handmade quilt"),
    ("A non-stick frying pan", "A nonstick frying pan"),
    ("A hand-woven rug", "A handwoven rug"),  # an unknown closed word's parts read as the hyphen's ("woven": weave)
    ("A bottle of 40% vinegar", "A bottle of 40 percent vinegar"),  # a percent sign is the unit "percent"
    ("A bottle of 40 per cent vinegar", "A bottle of 40% vinegar"),
    ("A Bureau of Land Management map on a desk", "A BLM map on a desk"),  # an initialism spelled out (small words
    ("A pay-as-you-go phone on a desk", "A PAYG phone on a desk"),  # may give theirs or none; hyphens join)
    ("A flag with stripes flying over a fort", "A striped flag flying over a fort"),  # "flying over" is no "flyover"
    ("A gift box with ribbons on a table", "A ribboned gift box on a table"),  # -ed on a known word: no two words
    ("A tree with tinsel in a hall", "A tinselled tree in a hall"),
    ("A jar of honey for a child", "A child's jar of honey"),  # "for" describes the container, not what it holds
    ("A bowl with a lid for a cat", "A cat's bowl with a lid"),  # ... nor what the thing has
    ("A towel with blue stripes", "A blue striped towel"),  # colours just before a derived adjective may colour it
    ("A blue towel with white stripes", "A white striped blue towel"),
    ("A bat and ball set for a child", "A child's bat and ball set"),  # "for" after an "and": where "'s" puts it
    ("A trowel for gardeners and a watering can on a bench", "A gardener's trowel and a watering can on a bench"),
    # round 8's general rules (sentences of our own, not from the labelled sets)
    ("A desk lamp with a light-emitting diode bulb", "A desk lamp with an LED bulb"),  # three words, one initial
    ("A MAP tray of salad leaves", "A modified atmosphere packaging tray of salad leaves"),  # each: known capitals
    ("A beach full of rocks", "A rocky beach"),  # an -y or -ful adjective of a noun: what the thing is full of
    ("A cake full of fruit", "A fruity cake"),
    ("A meadow full of flowers", "A flowery meadow"),
    ("A sky full of stars over a tent", "A starry sky over a tent"),
    ("A garden full of colour", "A colourful garden"),
    ("Cupcakes, dark blue, lined up on a shelf", "Dark blue cupcakes lined up on a shelf"),  # a collective after a
    ("Jars, amber, piled on a shelf", "Amber jars piled on a shelf"),  # comma counts as one before the head does
    ("A camouflage rucksack", "A camo rucksack"),  # the full form WordNet gives of a clipped attribute word
    ("A khaki camouflage cap", "A cap, khaki camouflage"),  # ... is that attribute value: a describing clause
    # round 9's general rules (sentences of our own, not from the labelled sets)
    ("A lens of 2 dioptre", "A lens of 2 diopter"),  # -re written -er, one synset of WordNet for both spellings
    ("A piastre coin", "A piaster coin"),
    ("A spice rack organised by cuisine on a wall", "A spice rack organized by cuisine on a wall"),  # a verb before
    ("A rug vandalised by a dog", "A dog vandalizing a rug"),  # "by" is spelled as every word is
    ("A jug holding stems of lavender", "Stems of lavender held in a jug"),  # a passive or "V-ing" after "X of Y"
    ("A trough filled with heads of lettuce", "Heads of lettuce filling a trough"),  # is said of the X
    ("A junior tennis racket", "A Jr. tennis racket"),  # an abbreviation WordNet writes with its full stop
    ("A doctor toy kit", "A Dr. toy kit"),
]

DIFFERENT = [  # (attribute named in the reason, first, second)
    ("colour", "A red mug", "A blue mug"),
    ("material", "A wooden chair", "A metal chair"),
    ("size", "A small tote bag", "A large tote bag"),
    ("numbers", "A set of 4 glasses", "A set of 6 glasses"),
    ("quoted text", 'A mug reading "Hi"', 'A mug reading "HI"'),
    ("negation", "A glass teapot with tea", "A glass teapot without tea"),
    ("side", "A left glove", "A right glove"),
    ("audience", "Women's boots", "Men's boots"),
    ("time of day", "A patio at sunset", "A patio at noon"),
    ("view", "A shoe, front view", "A shoe, back view"),
    ("scene", "A lamp in a kitchen", "A lamp in a bedroom"),
    ("state", "A lit candle", "An unlit candle"),
    ("state", "An empty jar", "A full jar"),
    ("state", "A shirt, folded", "A shirt, hanging"),
    ("state", "A laptop, open", "A laptop, closed"),
    ("shape", "A round mirror", "A square mirror"),
    ("subject", "A dress on a model", "A dress on a mannequin"),
    ("size", "A king size bed", "A queen size bed"),
    ("size", "Small dogs on a sofa", "Large dogs on a sofa"),
    ("numbers", "A phone 15 on a desk", "A phone 16 on a desk"),
    ("quantity with unit", "A 1 litre jug", "A 1.5 litre jug"),
    ("quantity with unit", "A 1 kg bag", "A 1 lb bag"),
    (None, "A candle on a shelf", "Candles on a shelf"),
    (None, "A dog chasing a cat", "A cat chasing a dog"),
    (None, "A red mug, blue lid", "A blue mug, red lid"),
    (None, "A mug with a blue lid", "A mug with a lid, blue"),
    # co-hyponyms are never synonyms; WordNet lumps the lists call distinct stay apart
    ("subject", "A dog on a sofa", "A cat on a sofa"),
    (None, "A cactus in a pot", "A succulent in a pot"),
    (None, "Headphones on a desk", "Earphones on a desk"),
    (None, "A pram in a park", "A stroller in a park"),
    (None, "A bike helmet", "A motorbike helmet"),
    (None, "A cat in a box", "A cat on a box"),
    (None, "A table with chairs", "Chairs on a table"),  # furniture is never turned
    ("colour", "A red mug", "A crimson mug"),
    ("colour", "A dress in red", "A dress in blue"),
    (None, "A green house", "A greenhouse"),  # no compound after a describing word
    (None, "A woman standing on a beach", "A woman sitting on a beach"),
    (None, "A phone lying face up", "A phone lying face down"),
    ("audience", "A man's watch", "A woman's watch"),
    (None, "A leathery bag", "A leather bag"),
    # round 3: a relation with no object still says where; words on one base with other first parts differ
    (None, "A drone seen from above", "A drone seen from below"),
    (None, "A black leotard on a hook", "A black unitard on a hook"),  # WordNet: one sense (leotard.n.01)
    (None, "A pack of thirty pegs", "A pack of forty pegs"),
    (None, "A jar of one hundred buttons", "A jar of two hundred buttons"),
    (None, "A red jacket with a hood", "A jacket with a red hood"),
    # round 4: a rarer sense, a short form, an adjective value only where WordNet's first senses agree
    (None, "A toy on a bed", "A toy dog on a bed"),  # toy_dog.n.01 is no first concrete sense of "toy"
    (None, "A wreath on a door", "A garland on a door"),  # wreath.n.01 is no first concrete sense of "garland"
    (None, "A silicone teething ring", "A silicone pacifier"),
    ("subject", "A cat toy", "A caterpillar toy"),  # "cat" is first a feline, no short "caterpillar"
    (None, "A calf on a farm", "A calfskin on a farm"),
    ("size", "A tiny dress", "A petite dress"),  # a satellite sense: never one value
    ("colour", "A purple vase", "A violet vase"),
    ("material", "A metal vase", "A metallic vase"),  # "metal" is mostly a noun
    ("size", "A big mug", "A little mug"),
    (None, "A wall with three framed prints", "A framed wall"),  # plural "prints" are things, not a finish
    ("numbers", "A pine dresser with three drawers", "A 4-drawer pine dresser"),
    (None, "A 2-seat sofa with 3 cushions", "A 3-seat sofa with 2 cushions"),  # two counts never trade places
    # round 5: initials of one word only before a WordNet compound's head; what is on a part stays on that part
    (None, "A PC case", "A polycarbonate case"),  # "pc" would be "p" + "carbonate"
    (None, "An AC unit", "An aircraft unit"),
    (None, "A boot with fur on the cuff", "A boot with a furry sole"),  # another part
    (None, "A boot with fur on the cuff", "A furry boot"),  # the whole thing, not the part
    (None, "A boot with fur on the cuff", "A boot with a cuff and fur"),  # "with fur" said on its own
    ("colour", "A belt with spikes on the strap", "A belt with a red spiked strap"),
    ("colour", "A red UV lamp", "A blue ultraviolet lamp"),
    # one and many of a word LemmInflect knows only as a verb ("studs": "he studs")
    (None, "A leather jacket with studs", "A leather jacket with a stud"),
    (None, "A denim vest with a rivet", "A denim vest with rivets"),
    # round 6: what each new rule must still refuse
    (None, "A painted box", "A box with a painting"),  # a painting is a work of art, not what "painted" leaves
    ("material", "A velvet cushion", "A velvety cushion"),  # a suffix's letter is no spelling
    (None, "A charm attached to a bag", "A bag with a charm"),  # the participle said once: "to" stays "to"
    (None, "A tag tied to a bag", "A bag with a tag attached"),  # two participles
    (None, "A bottle carried in a basket", "A bottle carrying a basket"),  # who carries whom
    (None, "A CD case", "A card case"),  # consonants are no contraction of a longer word
    (None, "Buttons filling a jar", "Buttons filled with a jar"),  # which holds which
    ("size", "A tent at night, size x", "A tent at nighttime, size xs"),
    # round 7: what each new rule must still refuse
    ("quantity with unit", "A bottle of 40% vinegar", "A bottle of 45 percent vinegar"),
    (None, "A hand-held torch", "A left-hand torch"),  # a word no dictionary knows stays two
    (None, "A green-house plant", "A green plant"),  # a hyphen joins, it adds nothing: "greenhouse" is no colour
    (None, "A hand-made quilt", "A machine-made quilt"),
    ("numbers", "A six-pack of cans", "A 4-pack of cans"),  # a number word stays a number ("sixpack")
    (None, "A BLM map on a desk", "A Bureau of Land map on a desk"),  # initials that spell something else
    ("scene", "A Bureau of Land Management map on a desk", "A BLM map on a table"),  # the rest must still match
    ("colour", "A Bureau of Land Management map on a desk", "A BLM map, red, on a desk"),
    ("colour", "A carton of OJ", "A carton of orange juice"),  # an attribute word goes into no initialism
    ("colour", "A Grey Bear Company mug", "A GBC mug"),  # ... in any spelling
    ("quoted text", 'A mug reading "DIY"', "A mug reading do it yourself"),  # quoted capitals are text
    (None, "A PC case", "A polycarbonate case"),  # one word never makes one
    (None, "A jar of honey for a child", "A jar of child honey"),  # its content is no child's
    (None, "A bowl with a lid for a cat", "A bowl with a cat lid"),
    (None, "A blue towel with stripes", "A towel with blue stripes"),  # a reading each, never one the other's
    (None, "A blue towel with white stripes", "A blue and white striped towel"),
    (None, "A raincoat and boots for a child", "A raincoat and a child's boots"),  # the first, not the last
    (None, "A trowel for gardeners and a watering can", "A trowel and a gardener's watering can"),  # "and a": shown
    (None, "A drone flying over a bridge", "A drone on a flyover"),
    (None, "A ribboned gift box on a table", "A gift box with ribs on a table"),  # ... so its content is no child's
    # round 8: what each new rule must still refuse
    ("colour", "A desk lamp with a light-emitting diode bulb", "A desk lamp with a red LED bulb"),  # the rest matches
    (None, "A light-emitting bulb", "An LED bulb"),  # two words never where a dictionary knows the capitals
    ("material", "A steel modified atmosphere tray", "A SMA tray"),  # an attribute goes into none, however long
    (None, "A beach full of rocks", "A sandy beach"),  # full of what the adjective says, not of anything
    (None, "A rocky beach", "A beach next to rocks"),  # what it is full of, not what is near it
    (None, "A busy street", "A street with a bus"),  # an adjective that is also a verb is not "full of" a noun
    ("size", "A sky full of stars", "A sky full of big stars"),
    (None, "Cupcakes, dark blue, on a shelf", "A dark blue cupcake on a shelf"),  # no collective: the count stays
    ("pattern", "A camouflage rucksack", "A floral rucksack"),
    ("colour", "A khaki camouflage cap", "A cap, olive camouflage"),
    ("state", "Cupcakes, dark blue, lined up on a shelf", "Light blue cupcakes lined up on a shelf"),
    # round 9: what each new rule must still refuse
    (None, "A violin with a rich timbre", "A violin with rich timber"),  # -re/-er where WordNet gives two senses
    (None, "A piastre coin", "Piaster coins"),  # one and many stay apart
    ("numbers", "A lens of 2 dioptre", "A lens of 3 diopter"),
    (None, "A rug vandalised by a dog", "A dog vandalized by a rug"),  # who does it still counts
    (None, "A jug holding stems of lavender", "Stems held in a jug of lavender"),  # the "of" stays where it was
    (None, "A trough filled with heads of lettuce", "Heads of lettuce filled with a trough"),  # which holds which
    (None, "A senior tennis racket", "A Jr. tennis racket"),  # only the word it shortens
    (None, "A Sr. tennis racket", "A super tennis racket"),  # letters in order are not enough without WordNet
]


@pytest.mark.parametrize("first,second", SAME)
def test_rewordings_are_explained(first, second):
    verdict = compare(tokenise(first), tokenise(second))
    assert verdict.same, verdict.reason


@pytest.mark.parametrize("category,first,second", DIFFERENT)
def test_every_attribute_difference_is_refused_and_named(category, first, second):
    verdict = compare(tokenise(first), tokenise(second))
    assert not verdict.same
    if category in ("colour", "material", "size", "negation", "side", "audience", "time of day", "view", "state",
                    "numbers", "quoted text", "quantity with unit"):
        assert category in verdict.reason, verdict.reason


def test_reasons_name_the_rule_that_matched():
    lexicon = load_lexicon()
    reason = lambda a, b: compare(tokenise(a, lexicon), tokenise(b, lexicon), lexicon).reason
    assert "automobile = car (WordNet synonym: car.n.01)" in reason("An automobile on a road", "A car on a road")
    assert "catalogue = catalog (spelling)" in reason("A catalogue on a table", "A catalog on a table")
    assert "hand bag = handbag (" in reason("A hand bag", "A handbag") and "compound" in reason("A hand bag", "A handbag")
    assert "'X with Y' as 'Y in or on X'" in reason("A board with bread", "Bread on a board")
    assert "big = large (WordNet adjective synonym)" in reason("A big mug", "A large mug")
    assert "bra = brassiere" in reason("A bra", "A brassiere")
    assert "(clipping)" in reason("A box of decaf tea", "A box of decaffeinated tea")
    assert "a sense of 'vacuum' that is no kind of its first" in reason("A vacuum cleaner", "A vacuum")
    assert "uv lamp = ultraviolet lamp (initialism)" in reason("A UV lamp", "An ultraviolet lamp")
    assert "'X with N on the P' as 'X with an N-ed P'" in reason("A boot with fur on the cuff", "A boot with a furry cuff")
    assert "tenderiser = tenderizer (spelling)" in reason("A meat tenderiser", "A meat tenderizer")


def test_initials_come_from_word_starts_and_the_dictionary_words_that_end_a_word():
    from fluxcat.dedupe.align import initialism

    assert initialism("rc", ["remote", "control"]) and initialism("uv", ["ultraviolet"])
    assert initialism("cctv", ["closed", "circuit", "television"])  # "television": "t" or "tv"
    assert not initialism("ar", ["aircraft"])  # "raft" is a word, but shorter than five letters
    assert not initialism("rcc", ["remote", "control"]) and not initialism("c", ["control"])


def test_a_full_form_is_an_attribute_only_where_the_clipping_leaves_off_no_word():
    lexicon = load_lexicon()
    assert lexicon.categories["camo"] == lexicon.categories["camouflage"] == "pattern"
    assert "rosebush" not in lexicon.categories and "springtime" not in lexicon.categories  # "bush", "time"


def test_single_and_other_quote_styles_are_quoted_text():
    for quoted in ("'SALE'", "“SALE”", "‘SALE’", "«SALE»"):
        assert compare(tokenise(f"A mug reading {quoted}"), tokenise('A mug reading "SALE"')).same
        assert not compare(tokenise(f"A mug reading {quoted}"), tokenise('A mug reading "sale"')).same


def test_a_catalog_word_file_can_split_what_wordnet_lumps(tmp_path):
    import json

    assert compare(tokenise("A grey couch"), tokenise("A grey sofa")).same
    path = tmp_path / "words.json"
    path.write_text(json.dumps({"distinct": [["couch", "sofa"]]}))
    lexicon = load_lexicon(str(path))
    assert "sofa.n.01" not in tokenise("A couch", lexicon).key[0][2]


def test_the_guard_alone_refuses_every_labelled_variant():
    lexicon = load_lexicon()
    merged = [(c, a, b) for c, a, b in VARIANTS if compare(tokenise(a, lexicon), tokenise(b, lexicon), lexicon).same]
    assert merged == []


def test_held_out_rewordings_are_explained_too():
    """The word lists were tuned on three quarters of the pairs; the held-out quarter is checked the same way."""
    lexicon = load_lexicon()
    held_out = load("rewordings", "holdout")
    explained = sum(compare(tokenise(a, lexicon), tokenise(b, lexicon), lexicon).same for _, a, b in held_out)
    assert len(held_out) >= 25 and explained >= 0.9 * len(held_out)


def test_keys_ignore_order_of_phrases_and_clauses_only():
    assert tokenise("A mug on a table, studio light").key == tokenise("Studio lighting, a mug on a table").key
    assert tokenise("A mug on a table").key != tokenise("A table on a mug").key
    assert len(REWORDINGS) >= 100 and len(VARIANTS) >= 100
