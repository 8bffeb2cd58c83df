"""Undo the usual evasions before tokenisation, without harming ordinary Kazakh or Russian text.

Steps, in order (each one is a pure function, tested on its own):

1. ``unicode_fold``   NFKC (fullwidth, ligatures, styled letters), drop zero-width and control
                      characters and stray combining marks, unify quotes and dashes.
2. ``join_spaced``    "з а к л а д к и   м е ф" -> "закладки меф" (runs of 4+ single letters
                      separated by one space, dot, dash or underscore; wider gaps split words).
3. ``fold_word``      per word with letters of two scripts: Latin look-alikes folded into Cyrillic
                      (or the reverse, whichever script the word mostly uses); digits inside words
                      read as letters (leetspeak: "m3th", "п4тр0ны"). Words of one script and plain
                      numbers are never touched, so Kazakh letters (ә ғ қ ң ө ұ ү һ і) survive.
4. ``transliterate``  Latin-typed Russian ("zakladki", "mefedron") and Latin-script Kazakh (the
                      2018/2021 alphabets' á ä ǵ ğ ń ñ ó ö ú ü ū ş ç ı ý and informal "sh", "zh",
                      "q", "gh", "ng") back to Cyrillic, only in texts that read as Russian or
                      Kazakh (``translit_language``); English words, acronyms, camelCase names,
                      handles and links stay Latin.
5. ``squeeze``        runs of 3+ identical letters -> one; whitespace collapsed.

Light on purpose (standard library only). No maintained transliteration library reads informal chat
translit back (cyrtranslit follows GOST 7.79 and has no Kazakh), hence the tables below.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# Latin -> Cyrillic look-alikes (lower and upper case). Kazakh і (U+0456) is Latin i's twin.
_LAT_TO_CYR = dict(
    zip(
        "aceopxyiABCEHKMOPTXYI",
        "асеорхуіАВСЕНКМОРТХУІ",
        strict=True,
    )
)
_CYR_TO_LAT = {v: k for k, v in _LAT_TO_CYR.items()} | {"у": "y", "к": "k", "м": "m", "т": "t", "н": "h"}
# Digits (and a few symbols) standing for letters inside words.
_LEET_LAT = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s"}
_LEET_CYR = {"0": "о", "1": "і", "3": "з", "4": "а", "6": "б", "8": "в", "@": "а"}
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u2061\u2062\u2063"))
_PUNCT = str.maketrans({"«": '"', "»": '"', "“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "–": "-", "—": "-"})

_SPACED = re.compile(
    r"(?<![\w])(?:\w(?:[ ._\-]|\s{2,}|(?=$))){3,}\w?(?![\w])",
)
_WORD = re.compile(r"[\w@$]+", re.UNICODE)
_REPEAT = re.compile(r"([^\W\d_])\1{2,}")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_NEWLINES = re.compile(r"\n{3,}")


def _script(ch: str) -> str:
    if "a" <= ch.lower() <= "z":
        return "lat"
    if "\u0400" <= ch <= "\u04ff" or "\u0500" <= ch <= "\u052f":
        return "cyr"
    return "other"


def unicode_fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(_ZERO_WIDTH).translate(_PUNCT)
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Mn" and "\u0300" <= ch <= "\u036f":
            continue  # stray combining marks left after NFKC composed the real letters
        if cat == "Cc" and ch not in "\n\t":
            continue
        out.append(ch)
    return "".join(out)


def join_spaced(text: str) -> str:
    """Join letters spelled out with single separators; two or more spaces mark a word break."""

    def repl(match: re.Match[str]) -> str:
        chunk = match.group(0)
        letters = re.findall(r"\w", chunk)
        if len(letters) < 4 or sum(c.isalpha() for c in letters) < 3:
            return chunk
        words = re.split(r"\s{2,}", chunk.strip())
        joined = " ".join(re.sub(r"[ ._\-]", "", w) for w in words)
        return joined + (" " if chunk.endswith(" ") else "")

    return _SPACED.sub(repl, text)


def fold_word(word: str) -> str:
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return word
    scripts = [_script(c) for c in letters]
    n_lat, n_cyr = scripts.count("lat"), scripts.count("cyr")
    digits = sum(c.isdigit() or c in "@$" for c in word)
    if n_lat and n_cyr:
        # A Cyrillic-only letter (д, ж, л, п, қ ...) decides for Cyrillic even in a mostly-Latin word.
        cyr_only = any(s == "cyr" and c not in _CYR_TO_LAT for c, s in zip(letters, scripts, strict=True))
        target = "cyr" if cyr_only or n_cyr >= n_lat else "lat"
    elif n_cyr:
        target = "cyr"
    elif n_lat:
        target = "lat"
    else:
        return word
    mixed = bool(n_lat and n_cyr)
    leet = digits > 0 and len(letters) >= 2 and digits <= len(letters) + 1
    if not mixed and not leet:
        return word
    out = []
    if target == "cyr":
        word = word.replace("JI", "Л").replace("Ji", "Л").replace("ji", "л")
    for i, ch in enumerate(word):
        if leet and target == "cyr" and ch == "3" and i > 0:
            ch = "е"  # inside a word 3 reads as е (т3л3ф0н); at the start as з (3акладки)
        elif mixed and target == "cyr" and ch in _LAT_TO_CYR:
            ch = _LAT_TO_CYR[ch]
        elif mixed and target == "cyr" and ch in "uU":
            ch = "и" if ch == "u" else "И"
        elif mixed and target == "lat" and ch in _CYR_TO_LAT:
            ch = _CYR_TO_LAT[ch]
        elif leet and (ch.isdigit() or ch in "@$"):
            table = _LEET_CYR if target == "cyr" else _LEET_LAT
            ch = table.get(ch, ch)
        out.append(ch)
    return "".join(out)


# Latin -> Cyrillic, longest match first. Informal schemes disagree, so each table takes the reading
# most posts use; Kazakh-only letters come from the 2018 (acute) and 2021 (umlaut) Latin alphabets.
_KK_MARKS = "áäǵğńñóöúüūşçıý"
_SHARED = {
    **dict.fromkeys("áä", "ә"), **dict.fromkeys("ǵğ", "ғ"), **dict.fromkeys("ńñ", "ң"),
    **dict.fromkeys("óö", "ө"), **dict.fromkeys("úü", "ү"), "ū": "ұ", "ş": "ш", "ç": "ч", "ı": "ы", "ý": "у",
    "zh": "ж", "kh": "х", "sh": "ш", "ch": "ч", "ts": "ц", "ya": "я", "yu": "ю", "yo": "ё",
    "a": "а", "b": "б", "c": "ц", "d": "д", "e": "е", "f": "ф", "g": "г", "h": "х", "k": "к", "l": "л",
    "m": "м", "n": "н", "o": "о", "p": "п", "r": "р", "s": "с", "t": "т", "u": "у", "v": "в", "x": "х",
    "y": "ы", "z": "з",
}  # fmt: skip
_TABLES = {
    "ru": _SHARED | {"shch": "щ", "sch": "щ", "ye": "е", "ja": "я", "ju": "ю", "jo": "ё", "ck": "к", "ph": "ф",
                     "i": "и", "j": "й", "q": "к", "w": "в"},
    "kk": _SHARED | {"gh": "ғ", "i": "і", "j": "ж", "q": "қ", "w": "у"},
}  # fmt: skip
_LATIN_VOWELS = frozenset("aeiouyáäóöúüūıý")
_SYLLABLE_Y = frozenset("aeioyáäóö")
_SYLLABLE_I = frozenset("aeouyáäóöúüū")
_LATIN_LETTERS = "a-zA-Z" + _KK_MARKS + _KK_MARKS.upper().replace("I", "İ")
_LATIN_RUN = re.compile(f"[{_LATIN_LETTERS}]+")
_CYRILLIC_RUN = re.compile("[\u0400-\u052f]+")
# A Latin word standing alone: not part of a handle, link, hashtag or a word with digits.
_LATIN_WORD = re.compile(rf"(?<![\w@#/.:])[{_LATIN_LETTERS}]+(?![\w@#/:]|\.\w)")
# Letters of other Latin alphabets (é, ß, ł): their text is not Russian or Kazakh (İ lowers to i + dot).
_FOREIGN_LATIN = re.compile(
    "[" + "".join(c for c in map(chr, range(0xC0, 0x250)) if c.isalpha() and c.lower() not in _KK_MARKS + "i̇") + "]"
)
_ALPHA_WORD = re.compile(r"(?<![\w'])[^\W\d_]+(?![\w'])")  # whole words only: not 120k, not clinic's
_KK_CYRILLIC = frozenset("әғқңөұүһіӘҒҚҢӨҰҮҺІ")
# Function words that give a text's language away; words shared by two of the languages are left out.
_RU_WORDS = frozenset(
    "v na po ne ya ty vy eto chto kak dlya ot za iz k ili da vse vsem uzhe tolko esli kto gde kogda pishi "  # noqa: SIM905
    "pishite est nuzhen nuzhna nuzhny nuzhno rabota srochno dengi prodam prodayu kuplyu privet spasibo segodnya "
    "zavtra ochen mozhno nado tebe menya mne bez cherez tak tozhe eshe eshche potom seichas sejchas kazhdyi kazhdyy "
    "gorod gorodu oplata cena tsena pozhaluista pozhalujsta khorosho horosho davai davay bylo budet mozhet bolshe "
    "ih nas vas nam vam svoi moi moy tvoi vsego".split()
)
_KK_WORDS = frozenset(
    "sen ol biz siz sizge bul osy jane zhane ushin úshin dep emes jok joq zhok kerek qala qalada aqsha kúnde "  # noqa: SIM905
    "kunde kunine kúnine jaz jazyńyz jazynyz salem sálem rahmet qalai qalay qaida qayda bugin búgin erten erteń "
    "tenge teńge myń jaqsy zhaqsy keldi boldy bolady beremiz beremin satamyn satamyz tolem tólem bari bári "
    "eshkim eshteńe eshtene qazir mende sende bizde sizde nege qansha apa aga aǵa jumys zhumys túnde tunde jyl "
    "zhyl aptasyna".split()
)
_EN_WORDS = frozenset(
    "the and to of for you is in with at this that it we are be your me have has from by or not all get yes now "  # noqa: SIM905
    "just new only free today an my do was were will can if our they he she what how who about out up so but any "
    "more here there them their when one day per via dm hmu lol its im please thanks hi hello guys some like "
    "need want".split()
)
_TRANSLIT_MARKERS = ("zh", "kh", "sh", "ch", "ya", "yu", "yo")
# Spellings English words almost never have (and Kazakh "q" without "u"), and ones translit almost never has.
_TRANSLIT_SPELLING = re.compile(r"zh|kh|ya|yu")
_KAZAKH_Q = re.compile(r"q(?!u)")
_ENGLISH_SPELLING = re.compile(r"th|wh|ph|w|ee(?!$)|ea|ou|c[aoulrt]|tion|ing$|ght")  # -ee$: luchshee


def _script_of_word(word: str) -> str:
    if _LATIN_RUN.fullmatch(word):
        return "lat"
    return "cyr" if _CYRILLIC_RUN.fullmatch(word) else "mixed"


def _stays_latin(word: str) -> bool:
    """Acronyms, camelCase names (iPhone, WhatsApp) and English function words are never converted."""
    if word.isupper() and len(word) <= 5:
        return True
    if any(c.isupper() for c in word[1:]) and not word.isupper():
        return True
    return word.lower() in _EN_WORDS


def _looks_translit(word: str) -> bool:
    low = word.lower()
    if low in _RU_WORDS or low in _KK_WORDS or any(c in _KK_MARKS for c in low):
        return True
    return any(m in low for m in _TRANSLIT_MARKERS) or bool(_KAZAKH_Q.search(low))


def translit_language(text: str) -> tuple[str | None, bool]:
    """("ru" | "kk" | None, every_word): which table to read the text's Latin words with, and whether
    every Latin word is translit (a text typed in Latin) or only words that look like it (Latin words
    inside Cyrillic text). None: leave the text alone (English, or no sign of Russian or Kazakh)."""
    words = _ALPHA_WORD.findall(text)
    latin = [w.lower() for w in words if _script_of_word(w) == "lat"]
    if not latin or _FOREIGN_LATIN.search(text):
        return None, False  # no Latin words, or letters of another Latin alphabet (é, ß, ł): not ours
    cyrillic = [w for w in words if _script_of_word(w) == "cyr"]
    kk_cyrillic = sum(any(c in _KK_CYRILLIC for c in w) for w in cyrillic)
    ru_hits = kk_hits = spelled = en_hits = 0
    for w in latin:
        if w in _RU_WORDS:
            ru_hits += 1
        elif w in _KK_WORDS or any(c in _KK_MARKS for c in w) or _KAZAKH_Q.search(w):
            kk_hits += 1
        elif _TRANSLIT_SPELLING.search(w):
            spelled += 1
        elif w in _EN_WORDS or _ENGLISH_SPELLING.search(w):
            en_hits += 1
    language = "kk" if kk_hits + kk_cyrillic > ru_hits + 0.25 * (len(cyrillic) - kk_cyrillic) else "ru"
    if ru_hits + kk_hits + spelled > en_hits:
        return language, True
    if cyrillic and not en_hits:
        return language, False
    return None, False


@functools.lru_cache(maxsize=65536)
def _to_cyrillic(word: str, language: str) -> str:
    table = _TABLES[language]
    low = word.lower()
    out: list[str] = []
    i = 0
    while i < len(low):
        ch, prev, nxt = low[i], low[i - 1 : i], low[i + 1 : i + 2]
        # y or i closing a syllable after a vowel is й: moy, kazhdyy, sayt, vashei, boiynsha, aiyna
        # (after u only at the end, investiruy: Kazakh tuys reads ы)
        after_i_kratkoe = bool(out) and out[-1] == "й"
        closes = not (nxt and nxt in _LATIN_VOWELS)
        if (ch == "y" and closes and not after_i_kratkoe and (prev in _SYLLABLE_Y or (prev == "u" and not nxt))) or (
            ch == "i" and prev and prev in _SYLLABLE_I and not (nxt and nxt in "aeiou")
        ):
            out.append("й")
            i += 1
            continue
        if language == "kk" and i + 2 == len(low) and low.endswith("ng"):
            out.append("ң")  # mening, jasyń: word-final ng; inside a word (tenge) it stays н + г
            i += 2
            continue
        for size in (4, 3, 2, 1):
            piece = low[i : i + size]
            if len(piece) == size and piece in table:
                out.append(table[piece])
                i += size
                break
        else:
            return word  # a letter the tables do not know (é, ß): not Russian or Kazakh, keep the word
    cyr = "".join(out)
    if word.isupper() and len(word) > 1:
        return cyr.upper()
    return cyr[:1].upper() + cyr[1:] if word[0].isupper() else cyr


def transliterate(text: str) -> str:
    """Latin-typed Russian and Latin-script Kazakh words back to Cyrillic; English text untouched."""
    language, every_word = translit_language(text)
    if language is None:
        return text

    def repl(match: re.Match[str]) -> str:
        word = match.group(0)
        if _stays_latin(word) or not (every_word or _looks_translit(word)):
            return word
        return _to_cyrillic(word, language)

    return _LATIN_WORD.sub(repl, text)


def squeeze(text: str) -> str:
    text = _REPEAT.sub(r"\1", text)
    text = _SPACES.sub(" ", text)
    return _NEWLINES.sub("\n\n", text).strip()


def normalize(text: str) -> str:
    """The text the model reads. Idempotent: normalize(normalize(x)) == normalize(x)."""
    text = unicode_fold(text)
    text = join_spaced(text)
    text = _WORD.sub(lambda m: fold_word(m.group(0)), text)
    text = transliterate(text)
    return squeeze(text)
