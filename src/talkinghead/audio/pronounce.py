"""From a transcript to words the aligner can say: normalised words and their phones.

Words come from CMUdict as shipped in the pocketsphinx wheel. A word it does not know (a
name, a typo, a foreign word) gets a rough pronunciation from its spelling, which is enough to
shape the mouth (bilabials, rounding, open vowels) but not an accurate reading.
"""

from __future__ import annotations

import re
import unicodedata

ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen \
fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
SCALES = ((1_000_000, "million"), (1000, "thousand"), (100, "hundred"))
YEARS = range(1100, 2100)  # four-digit numbers here are read in pairs, as years usually are

# Spelling → phones, longest match first. Only for words outside the dictionary: it aims at
# the right mouth shapes (lips closed on b/m/p, round on oo/o/w, wide on ee/i), not at the
# right reading of English orthography.
SPELLING = {
    "tion": "SH AH N", "sion": "ZH AH N", "tch": "CH", "sch": "SH K", "igh": "AY",
    "sh": "SH", "ch": "CH", "th": "TH", "ph": "F", "ng": "NG", "ck": "K", "qu": "K W",
    "wh": "W", "gh": "G", "kn": "N", "wr": "R",
    "ee": "IY", "ea": "IY", "ie": "IY", "oo": "UW", "ou": "AW", "ow": "OW", "oa": "OW",
    "ai": "EY", "ay": "EY", "ei": "EY", "ey": "EY", "oi": "OY", "oy": "OY", "au": "AO",
    "aw": "AO", "ew": "UW", "ue": "UW", "er": "ER", "ir": "ER", "ur": "ER", "ar": "AA R",
    "or": "AO R",
    "a": "AE", "b": "B", "c": "K", "d": "D", "e": "EH", "f": "F", "g": "G", "h": "HH",
    "i": "IH", "j": "JH", "k": "K", "l": "L", "m": "M", "n": "N", "o": "AA", "p": "P",
    "q": "K", "r": "R", "s": "S", "t": "T", "u": "AH", "v": "V", "w": "W", "x": "K S",
    "y": "IY", "z": "Z",
}
LONGEST_SPELLING = max(map(len, SPELLING))


def transcript_words(text: str) -> list[str]:
    """Lower-case words of a transcript: punctuation dropped, numbers written out.

    Apostrophes inside words stay ("don't" is a dictionary word); hyphens split words.
    """
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").lower()
    words = []
    for token in re.findall(r"[\w']+", text.replace("-", " ")):
        token = token.strip("'_")
        if token.isdigit():
            words += number_words(int(token))
        elif token:
            words.append(token)
    return words


def number_words(n: int) -> list[str]:
    """English words for a whole number as a reader says it: 1984 → nineteen eighty four
    (a year), 1500 → one thousand five hundred, 42 → forty two."""
    if n in YEARS and n % 100 != 0:
        return number_words(n // 100) + number_words(n % 100)
    if n < 20:
        return [ONES[n]]
    if n < 100:
        return [TENS[n // 10]] + (number_words(n % 10) if n % 10 else [])
    for scale, name in SCALES:
        if n >= scale:
            rest = number_words(n % scale) if n % scale else []
            return number_words(n // scale) + [name] + rest
    raise AssertionError("unreachable: every n >= 100 has a scale")


def spelled_phones(word: str) -> str:
    """Space-separated ARPAbet phones guessed from spelling (see SPELLING)."""
    letters = "".join(
        c for c in unicodedata.normalize("NFKD", word) if c.isascii() and c.isalpha()
    )
    if len(letters) > 3 and letters.endswith("e") and letters[-2] not in "aeiouy":
        letters = letters[:-1]  # the silent final e of "make", "mobile"
    phones, i = [], 0
    while i < len(letters):  # every single letter is in SPELLING, so a match always exists
        size = next(
            size
            for size in range(min(LONGEST_SPELLING, len(letters) - i), 0, -1)
            if letters[i : i + size] in SPELLING
        )
        phones += SPELLING[letters[i : i + size]].split()
        i += size
    collapsed = []
    for phone in phones:
        if not collapsed or collapsed[-1] != phone:  # "mm", "ll", "tt" are one sound
            collapsed.append(phone)
    return " ".join(collapsed) or "AH"
