"""Colour words of other languages, each read as one of the fifteen base colours.

A shopper writing in a second language, or through a translator that leaves some words as they were, often names
the colour in their first language: "make it rojo", "the same in bleu marine", "schwarze, please". These are the
basic colour terms of six languages that many online shoppers write in and that use the Latin alphabet: Spanish,
French, Italian, Portuguese, German and Dutch, with the gendered and plural forms an adjective takes in each
("roja", "rojos", "blanches", "schwarzen"). The reader folds accents before it reads ("marrón" is "marron", "grün"
is "grun", "weiß" is "weiss"), so they are listed without them.

Which words are read where:

- :data:`FOREIGN_COLOUR_NAMES` are matched wherever they are written, like the English shade names of
  :mod:`cti_ir.index.colour_names`, and are never the correction of a misspelt word. None of them is an English
  word by pyspellchecker's list (a test holds this).
- :data:`FOREIGN_SHADE_WORDS` are also English words ("verde", "rote", "rode", "viola", "blanche", "gris"), so
  like the English shade words that are everyday words they are read as a colour only where nothing but a colour
  can stand ("make it verde", "in gris", "viola instead of white").
- Left out on purpose: "rot" and "wit" (German red and Dutch white, but common English words; "wit" is also a slip
  for "with" in the real Fashion-IQ captions), "negro" and "negros" (Spanish black, but a slur in English), "marron"
  (French and Spanish brown once the accent is folded, but the real captions use it as a slip for "maroon"), and
  "cafe" (brown in Latin America, a place in English).

Where the list came from: written by hand from each language's standard basic colour terms, for shoppers like
those the ``traveller`` phrasing set imitates (whose words nobody on the team has read; how it was checked is in
docs/results/phrasing.md). A shop whose shoppers write in other languages extends it.
"""

from __future__ import annotations

from types import MappingProxyType


def _forms(words: str) -> tuple[str, ...]:
    return tuple(words.split())


FOREIGN_COLOUR_NAMES = MappingProxyType({
    "red": _forms("rojo roja rojos rosso rossa rossi rosse vermelho vermelha vermelhos vermelhas "
                  "roten roter rotes"),
    "blue": _forms("azul azules azuis bleu bleue bleus bleues azzurro azzurra azzurri azzurre celestes "
                   "blau blaue blauen blauer blaues blauw blauwe"),
    "navy": ("azul marino", "bleu marine", "blu scuro", "blu navy", "azul marinho", "dunkelblau", "dunkelblaue",
             "dunkelblauen", "marineblau", "donkerblauw", "donkerblauwe"),
    "green": _forms("verdes vert verte verts vertes grun grune grunen gruner grunes gruen groen groene"),
    "black": _forms("negra negras noir noire noirs noires nera neri nere preto preta pretos pretas schwarz "
                    "schwarze schwarzen schwarzer schwarzes zwart zwarte"),
    "white": _forms("blanco blancos blancas blancs bianco bianchi bianche branco branca brancos brancas "
                    "weisse weissen weisser weisses witte"),
    "yellow": _forms("amarilla amarillos amarillas jaune jaunes giallo gialla gialli gialle amarelo amarela "
                     "amarelos amarelas gelb gelbe gelben gelber gelbes geel gele"),
    "grey": _forms("grises grise grigio grigia grigi grigie cinza cinzas cinzento cinzenta grau graue grauen "
                   "grauer graues grijs grijze"),
    "brown": _forms("marrones brun brune bruns brunes marrone marroni marrom marrons castanho castanha "
                    "braune braunen brauner braunes bruine"),
    "pink": _forms("rosado rosada rosados rosadas roze"),
    "purple": _forms("morado morada morados moradas violette violettes roxo roxa roxos roxas violett paars "
                     "paarse"),
    "orange": _forms("naranja naranjas anaranjado anaranjada arancione arancioni arancio laranja laranjas oranje"),
    "beige": _forms("beis bege"),
    "burgundy": _forms("granate granates vinotinto vinho weinrot bordeauxrot bordeauxrood"),
    "teal": _forms("turquesa turquesas turchese turkis tuerkis"),
})

FOREIGN_SHADE_WORDS = MappingProxyType({word: colour for colour, words in {
    "red": ("rojas", "rouges", "rote", "rood", "rode"), "blue": ("blu", "celeste"), "green": ("verde", "verdi"),
    "black": ("nero",), "white": ("blanca", "blanc", "blanche", "bianca", "weiss"), "yellow": ("amarillo",),
    "grey": ("gris",), "brown": ("braun", "bruin"), "purple": ("purpura", "viola", "lila"),
}.items() for word in words})
