"""What a new password must be (OWASP ASVS V2.1, NIST SP 800-63B 5.1.1.2).

Length counts characters after NFKC normalisation, with invisible characters not counted; no
composition rules. A password is refused when it is on the list of common and breached passwords
that ships with zxcvbn (the 30,000 most frequent of the Xato corpus), when it is a guessable
pattern (sequences, repeats, keyboard walks, dates, a dictionary word with digits: a zxcvbn score
below ``MIN_STRENGTH``), or when it is built on the account's own e-mail or display name. The
minimum length is the ``triage_password_min_chars`` setting.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from saqshy.errors import ErrorCode, InvalidInput
from saqshy.settings import Settings
from saqshy.text import has_visible, invisible
from triage_api.services.security import MAX_PASSWORD_CHARS

# The setting's default, for callers without settings at hand (the server always passes its own).
DEFAULT_MIN_CHARS: int = Settings.model_fields["triage_password_min_chars"].default

# zxcvbn's score 3: about 10^10 guesses, out of reach of online guessing and slow for an offline
# attack on an Argon2id hash.
MIN_STRENGTH = 3
# zxcvbn refuses longer input; a long password is judged by its start (the rest only adds to it).
_ESTIMATE_CHARS = 72


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def _personal_words(email: str | None, display_name: str | None) -> list[str]:
    words: list[str] = []
    if email:
        words += [email.casefold(), email.casefold().partition("@")[0]]
    if display_name:
        name = display_name.casefold()
        words += [name, *name.split()]
    return [word for word in words if len(word) >= 4]


def check_password(
    password: str, *, min_chars: int = DEFAULT_MIN_CHARS, email: str | None = None, display_name: str | None = None
) -> None:
    """Raise ``InvalidInput`` saying why ``password`` is refused; return when it is acceptable."""
    normalised = unicodedata.normalize("NFKC", password)
    if not has_visible(normalised):
        raise InvalidInput("the password must not be only spaces or invisible characters",
                           code=ErrorCode.PASSWORD_BLANK)
    length = sum(1 for char in normalised if not invisible(char))
    if length < min_chars:
        raise InvalidInput(f"the password must have at least {min_chars} characters",
                           code=ErrorCode.PASSWORD_TOO_SHORT, params={"min": min_chars})
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"the password must have at most {MAX_PASSWORD_CHARS} characters",
                           code=ErrorCode.PASSWORD_TOO_LONG, params={"max": MAX_PASSWORD_CHARS})
    folded = normalised.casefold()
    if folded in _common_passwords() or folded.strip() in _common_passwords():
        raise InvalidInput("this password is on a list of common or breached passwords; choose another",
                           code=ErrorCode.PASSWORD_COMMON)
    personal = _personal_words(email, display_name)
    if any(word in folded for word in personal):
        raise InvalidInput("the password must not contain your e-mail address or name",
                           code=ErrorCode.PASSWORD_PERSONAL)
    estimate = zxcvbn(normalised[:_ESTIMATE_CHARS], user_inputs=personal)
    if estimate["score"] < MIN_STRENGTH:
        raise InvalidInput("this password is easy to guess (a common word, a sequence, a repeat or a date); "
                           "a few unrelated words make a strong one", code=ErrorCode.PASSWORD_GUESSABLE)
