"""The colour names the facet reader knows, each read as one of fifteen base colours.

A catalogue and its index know fifteen base colours (:data:`BASE_COLOURS`, with the names that are only another way
of saying one of them). Shoppers and shops name shades (:data:`MORE_COLOUR_NAMES`): paint-chart, gemstone, flower,
food and fabric names, each read as the base colour it is nearest to, so that "a garnet dress" asks for burgundy and
"in primrose" for yellow. Where a shade sits between two base colours the nearer one by eye was chosen; a shop with
its own palette extends these mappings.

Shade names that are also everyday words (:data:`SHADE_WORDS`: "sage", "gold", "honey", "ash") are not matched
everywhere, since "sage advice", "a gold buckle" and "ash wood" name no colour (fabric names, "denim" or "linen",
are not colours at all). The facet reader reads them as a colour with their colour word ("sage green"), where
nothing but a colour can stand ("in sage", "sage-coloured", "sage soles", "dusty sage"), and where every other word
of their clause is a facet or a word that carries none ("make it sage", "a gold pair please": see
:mod:`cti_ir.index.frame_words`). A base colour made vague ("reddish", "pinky") is read as the colour itself
(:data:`TINGE_WORDS`).

Where the names came from: the base colours' own names; then shade names of fashion retail, paint charts and
colour-naming surveys (the names the xkcd colour survey and the CSS colour list give, where they name a shade a
shopper would use), each mapped by eye to the nearest base colour. An automatic mapping was tried and dropped: the
nearest base colour in CIELAB, with the survey's own colours for the fifteen base names, agreed with the reading
by eye for too few names ("mint" and "sage" came out beige).
"""

from __future__ import annotations

from types import MappingProxyType

BASE_COLOURS = MappingProxyType({
    "black": ("black", "jet black"), "white": ("white", "snow white", "cream"), "grey": ("grey", "gray"),
    "red": ("red", "bright red", "cherry red"), "blue": ("blue", "royal blue", "bright blue", "light blue"),
    "navy": ("navy", "navy blue", "dark blue"), "green": ("green", "forest green", "lime"),
    "yellow": ("yellow", "lemon", "golden"), "pink": ("pink", "light pink", "hot pink"),
    "purple": ("purple", "violet", "lilac"), "orange": ("orange", "tangerine"),
    "brown": ("brown", "dark brown", "tan brown"), "beige": ("beige", "tan", "khaki"),
    "burgundy": ("burgundy", "maroon", "dark red"), "teal": ("teal", "turquoise", "blue green"),
})
# Matched only as written, never as the correction of a misspelt word ("alive" must not become "olive", nor "plush"
# "blush"). A name of two words whose last is a base colour ("turquoise blue", "coral pink") is listed when its
# first word is a colour of its own, so that the longer reading wins.
MORE_COLOUR_NAMES = MappingProxyType({
    "black": ("ebony", "onyx", "raven black", "coal black", "pitch black", "obsidian", "inky black", "sable",
              "liquorice", "licorice", "soot black", "midnight black", "ink black", "carbon black"),
    "white": ("off white", "ivory", "eggshell", "pearl white", "chalk white", "bone white", "alabaster",
              "optic white", "milk white", "porcelain", "winter white", "oyster white", "paper white",
              "ivory white", "frost white", "coconut white", "creme", "vanilla white", "egg shell"),
    "grey": ("charcoal", "slate", "slate grey", "slate gray", "ash grey", "ash gray", "heather grey", "heather gray",
             "graphite", "pewter", "gunmetal", "dove grey", "dove gray", "steel grey", "steel gray", "light grey",
             "light gray", "dark grey", "dark gray", "smoke grey", "silver grey", "silver gray", "platinum",
             "storm grey", "storm gray", "cement grey", "stone grey", "stone gray", "pebble grey", "flint grey",
             "elephant grey", "granite", "zinc", "marl", "grey marl"),
    "red": ("crimson", "scarlet", "ruby", "ruby red", "brick red", "tomato red", "vermilion", "cardinal red",
            "blood red", "poppy red", "fire engine red", "lipstick red", "carmine", "strawberry red", "chilli red",
            "chili red", "pillar box red", "postbox red", "berry red", "flame red", "coral red", "vermillion", "rouge",
            "lipstick", "paprika red"),
    "blue": ("cobalt", "cobalt blue", "sapphire", "azure", "cerulean", "sky blue", "baby blue", "powder blue",
             "cornflower", "cornflower blue", "electric blue", "ice blue", "denim blue", "periwinkle",
             "ultramarine", "lapis", "lapis blue", "bluebell", "steel blue", "air force blue", "china blue",
             "delft blue", "capri blue", "ocean blue", "sea blue", "mid blue", "pale blue", "dusty blue",
             "kingfisher", "kingfisher blue", "hyacinth", "azul"),
    "navy": ("midnight blue", "ink blue", "indigo", "marine blue", "oxford blue", "deep blue", "french navy",
             "dark navy", "naval blue", "admiral blue", "nautical blue"),
    "green": ("emerald", "emerald green", "olive", "olive green", "sage green", "mint green", "jade", "kelly green",
              "bottle green", "hunter green", "moss green", "pistachio", "army green", "khaki green", "chartreuse",
              "pine green", "racing green", "pea green", "apple green", "leaf green", "grass green", "fern green",
              "avocado", "seafoam", "sea green", "lime green", "neon green", "dark green", "light green",
              "pale green", "spring green", "shamrock", "malachite", "olive drab", "jade green", "celadon", "viridian",
              "evergreen", "wintergreen", "spearmint", "seaweed", "asparagus", "kiwi"),
    "yellow": ("mustard", "mustard yellow", "canary", "canary yellow", "butter yellow", "saffron", "pale yellow",
               "bright yellow", "lemon yellow", "primrose", "buttercup", "daffodil", "sunflower yellow",
               "sunshine yellow", "banana yellow", "citrine", "ochre", "maize", "neon yellow", "goldenrod",
               "dandelion", "custard", "ocher"),
    "pink": ("blush", "blush pink", "fuchsia", "magenta", "rose pink", "salmon", "salmon pink", "bubblegum pink",
             "dusty pink", "baby pink", "pastel pink", "dusty rose", "flamingo pink", "candy pink", "shell pink",
             "petal pink", "peony", "peony pink", "cerise", "raspberry", "watermelon pink", "blossom pink",
             "neon pink", "pale pink", "powder pink", "ballet pink", "carnation pink", "coral pink", "rosa",
             "rose gold", "carnation"),
    "purple": ("plum", "aubergine", "eggplant", "lavender", "mauve", "amethyst", "grape", "orchid", "mulberry",
               "wisteria", "damson", "boysenberry", "blackcurrant", "royal purple", "deep purple", "dark purple",
               "light purple", "thistle", "heliotrope"),
    "orange": ("rust", "coral", "peach", "apricot", "burnt orange", "pumpkin", "terracotta", "marigold",
               "clementine", "papaya", "persimmon", "cantaloupe", "flame orange", "neon orange", "burnt sienna",
               "mango", "melon", "terra cotta", "paprika"),
    "brown": ("chocolate", "chocolate brown", "cognac", "mocha", "espresso", "chestnut", "caramel", "walnut",
              "cinnamon", "mahogany", "coffee brown", "toffee", "cocoa", "tobacco", "hazelnut", "umber", "sienna",
              "russet", "tawny", "pecan", "teak", "camel brown", "auburn", "sepia", "whisky", "whiskey"),
    "beige": ("camel", "sand", "sandy", "nude", "oatmeal", "taupe", "ecru", "biscuit", "fawn", "stone beige",
              "champagne", "putty", "latte", "parchment", "buff", "almond", "bisque", "greige", "cappuccino",
              "sandstone", "manilla"),
    "burgundy": ("wine", "wine red", "oxblood", "bordeaux", "claret", "merlot", "cranberry", "garnet", "cabernet",
                 "sangria", "burgundy red"),
    "teal": ("aqua", "petrol", "petrol blue", "cyan", "aquamarine", "peacock blue", "duck egg blue", "dark cyan",
             "turquoise blue", "teal blue", "teal green", "peacock green", "lagoon", "deep teal", "robin egg blue",
             "robin's egg blue"),
})
# Everyday words that are also shade names, read as a colour only where nothing else can stand (see above). With
# them, the first word of a two-word name above said alone ("in flint", "make it cardinal"), where that word names
# one base colour and is neither a shade's modifier ("dusty", "deep"), a product's word ("oxford", "ballet", "denim",
# "capri") nor a motif printed on one in the real captions ("a bottle logo", "an elephant on it", "sunflower
# printed", "a leaf"; and "more nautical" names a style).
SHADE_WORDS = MappingProxyType({shade: colour for colour, shades in {
    "black": ("raven", "coal", "jet", "soot", "carbon", "inky", "pitch"),
    "white": ("pearl", "chalk", "bone", "snow", "milk", "frost", "vanilla", "coconut", "oyster", "paper"),
    "grey": ("ash", "heather", "dove", "steel", "smoke", "silver", "storm", "fog", "mist", "pebble", "cement",
             "flint"),
    "red": ("brick", "cherry", "tomato", "poppy", "berry", "strawberry", "blood", "cardinal", "chilli", "chili",
            "postbox"),
    "blue": ("sky", "ice", "ocean", "delft"), "navy": ("midnight", "ink", "marine", "admiral", "naval"),
    "green": ("sage", "mint", "moss", "pine", "forest", "grass", "fern", "spruce", "hunter", "kelly", "pea"),
    "yellow": ("butter", "gold", "straw", "honey", "banana", "sunshine"),
    "pink": ("rose", "bubblegum", "candy", "blossom", "petal", "flamingo", "watermelon"),
    "purple": ("iris",), "orange": ("amber", "ginger", "copper", "mandarin"),
    "brown": ("coffee", "bronze", "mink", "bark", "earth", "mud", "clay"),
    "beige": ("stone", "wheat", "mushroom", "desert"), "teal": ("peacock",),
}.items() for shade in shades})
# Things known for one colour, which shoppers use as a shade's name ("in concrete", "make it caviar", "a
# marshmallow-coloured one"): foods, animals, materials, flowers, everyday objects, each read as the base colour a
# reader would picture, and only where nothing but a colour can stand and not before a part or a print, whose motif
# the thing then is ("a lobster print", "fox soles"). Written from everyday English; things printed on products in
# the real captions ("bottle", "elephant", "leaf"), things of two colours ("zebra", "penguin") and things whose
# colour varies ("apple", "sea", "twilight") are left out, and so are things one letter from a fashion word, which
# may be its slip ("crow" and "crew", "taxi" and "maxi", "tin" and "tan").
THING_COLOURS = MappingProxyType({thing: colour for colour, things in {
    "black": ("panther", "caviar", "tuxedo", "blackout", "beetle"),
    "white": ("snowdrop", "magnolia", "marshmallow", "cloud", "swan", "ghost", "sugar", "milky", "meringue",
              "yoghurt", "yogurt", "polar", "lily", "jasmine", "gardenia", "seashell"),
    "grey": ("concrete", "pigeon", "mouse", "shark", "wolf", "battleship", "nickel", "iron", "aluminium",
             "aluminum", "titanium", "gravel", "asphalt", "tarmac", "overcast", "koala", "rhino", "donkey"),
    "red": ("ketchup", "lobster", "ladybird", "ladybug", "lava", "radish", "pillarbox", "firetruck",
            "firebrick", "letterbox"),
    "blue": ("biro", "glacier", "blueberry", "hydrangea", "bluebird"),
    "green": ("meadow", "salad", "lettuce", "cucumber", "frog", "cactus", "jungle", "ivy", "clover", "basil",
              "matcha", "pickle", "broccoli", "spinach", "lawn", "gooseberry", "lizard"),
    "yellow": ("corn", "sweetcorn", "yolk", "highlighter", "lemonade", "sherbet"),
    "pink": ("candyfloss", "shrimp", "prawn", "piglet", "lychee", "rhubarb"),
    "purple": ("ube", "violets", "lilacs"),
    "orange": ("carrot", "satsuma", "marmalade", "fox", "goldfish", "tangerines", "kumquat", "squash"),
    "brown": ("nutmeg", "acorn", "conker", "cola", "gingerbread", "oak", "hazel", "bear", "truffle",
              "molasses", "syrup"),
    "beige": ("cashew", "porridge", "peanut", "toast", "hummus", "dune", "nougat", "shortbread", "oat", "oats",
              "sesame", "driftwood"),
    "burgundy": ("rosewood", "raisin", "beet", "beetroot", "plummy", "jam"),
    "teal": ("mallard", "verdigris"),
}.items() for thing in things})
# A base colour made vague ("reddish", "a bluish one", "pinky"): read as the colour itself, since the catalogue knows
# no finer shade. Matched as written, like the names above.
TINGE_WORDS = MappingProxyType({
    "black": ("blackish",), "white": ("whitish", "whiteish"), "grey": ("greyish", "grayish", "greyey"),
    "red": ("reddish",), "blue": ("bluish", "blueish", "bluey"), "navy": ("navyish",),
    "green": ("greenish", "greeny"), "yellow": ("yellowish", "yellowy"), "pink": ("pinkish", "pinky"),
    "purple": ("purplish", "purpleish", "purpley", "purply"),
    "orange": ("orangish", "orangeish", "orangey", "orangy"),
    "brown": ("brownish", "browny"), "beige": ("beigeish", "beigy"), "burgundy": ("burgundyish",), "teal": ("tealish",),
})
