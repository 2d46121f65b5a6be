"""The phone → viseme table: complete, in range, and shaped as a viewer expects."""

from __future__ import annotations

import pytest

from talkinghead.motion.visemes import ARPABET, BY_PHONE, GLIDES, VISEMES, phone_to_viseme
from talkinghead.types import LIP_CHANNELS

CMUDICT_PHONES = """AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S
SH T TH UH UW V W Y Z ZH""".split()


def shape(phone: str) -> dict[str, float]:
    return dict(zip(LIP_CHANNELS, phone_to_viseme(phone).shape))


def test_every_arpabet_phone_has_exactly_one_viseme():
    assert ARPABET == set(CMUDICT_PHONES)
    listed = [phone for viseme in VISEMES for phone in viseme.phones]
    assert len(listed) == len(set(listed)) == len(CMUDICT_PHONES) + 1  # + SIL
    assert 12 <= len(VISEMES) <= 15


def test_shapes_are_targets_over_the_lip_channels():
    for viseme in VISEMES:
        assert len(viseme.shape) == len(LIP_CHANNELS)
        assert all(0.0 <= value <= 1.0 for value in viseme.shape), viseme.name
        assert 0.0 < viseme.dominance <= 1.0 and 0.0 < viseme.lip_dominance <= 1.0
        assert viseme.contact is None or viseme.contact in LIP_CHANNELS


def test_silence_is_the_photos_own_mouth():
    assert set(shape("SIL").values()) == {0.0}
    for filler in ("+NSN+", "+SPN+", "<sil>"):
        assert phone_to_viseme(filler).name == "rest"


@pytest.mark.parametrize("phone", ["P", "B", "M"])
def test_bilabials_close_the_lips(phone):
    s = shape(phone)
    assert s["lips_press"] == 1.0 and s["jaw_open"] == 0.0
    assert phone_to_viseme(phone).contact == "lips_press"


@pytest.mark.parametrize("phone", ["F", "V"])
def test_labiodentals_tuck_the_lower_lip(phone):
    assert shape(phone)["lower_lip_tuck"] == 1.0 and shape(phone)["jaw_open"] < 0.1


def test_vowels_are_wide_round_or_open():
    for phone in ("IY", "IH"):
        assert shape(phone)["lips_wide"] >= 0.7 and shape(phone)["lips_round"] == 0.0
    for phone in ("UW", "UH", "W"):
        assert shape(phone)["lips_round"] >= 0.9 and shape(phone)["lips_wide"] == 0.0
    for phone in ("AA", "AE"):
        assert shape(phone)["jaw_open"] >= 0.7
    assert shape("OW")["lips_round"] > 0.5 and shape("OW")["jaw_open"] > shape("UW")["jaw_open"]


def test_tongue_consonants_leave_the_lips_to_the_vowels():
    for phone in ("T", "K", "HH"):
        assert phone_to_viseme(phone).lip_dominance < phone_to_viseme("UW").lip_dominance / 2


def test_labels_are_read_leniently_but_not_guessed():
    assert phone_to_viseme("aa1") is phone_to_viseme("AA")
    with pytest.raises(KeyError):
        phone_to_viseme("QQ")


def test_diphthongs_glide_to_a_listed_vowel():
    for phone, glide in GLIDES.items():
        assert phone in ARPABET and glide in BY_PHONE
        assert phone_to_viseme(phone) is not phone_to_viseme(glide)
