"""Phones with timings from speech, by pocketsphinx (en-us model shipped in its wheel).

Two ways, both returning `PhoneSegment`s that cover the clip from 0 to its end:

- `recognize_phones`: phone-loop recognition with the en-us acoustic model and its phone
  language model, then a second pass for the lip closures. Needs nothing but the audio.
  Vowels and silences are reliable in the loop's 1-best phones, lip closures (p, b, m) are
  not: it hears about 60 % of them (fewer at the start of a word after silence, or on the
  telephone), mostly as t, k, d, n, th, l, uw, w or a pause. So the 1-best phones are decoded
  once more, as a grammar in which a p, b or m may stand in place of those phones or of a
  short pause, or come before a vowel, liquid or glide, favoured by fixed weights: the
  acoustic model then decides each closure between few alternatives instead of against all
  phones and the phone language model (benchmarks/lip_timing.py gives recall and false
  closures).
- `align_transcript`: forced alignment to a transcript. Phones come from the dictionary, so
  they are right whenever the words are; timings are within a few 10 ms frames on clean speech.

Long audio is cut at pauses first (see `activity.speech_activity`); only the speech between
pauses is decoded, which keeps memory flat, keeps pocketsphinx's per-utterance feature
normalisation local, and skips the cost of decoding silence.

Non-English speech: the recogniser still labels it with the nearest en-us phones. Vowel
openness, rounding and lip closures mostly survive that mapping (they are acoustically
salient in every language), while sounds English lacks (front rounded vowels as in French
"tu", German "ü"; trills; clicks; tones) come out as a near English phone or as silence.
Timing follows the audio either way. Forced alignment is for English transcripts only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pocketsphinx import Decoder, get_model_path

from ..types import ANALYSIS_RATE, AudioClip, PhoneSegment
from .activity import runs, speech_activity
from .pronounce import spelled_phones, transcript_words

log = logging.getLogger("talkinghead")

SILENCE = "SIL"
FRAME_RATE = 100  # pocketsphinx feature frames per second (its default `frate`)
ACOUSTIC_MODEL = "en-us/en-us"
PHONE_LM = "en-us/en-us-phone.lm.bin"
DICTIONARY = "en-us/cmudict-en-us.dict"
PHONE_DICTIONARY = Path(__file__).with_name("models") / "phones.dict"  # each phone a word

# Decoder settings, tuned on tests/fixtures/speech for agreement with forced alignment, and
# for speed.
PHONE_LM_WEIGHT = 2.0  # the phone bigram matters less than for words: 2 instead of 6.5
TOP_GAUSSIANS = 2  # Gaussians scored per senone; 2 of 4 is ~25 % faster at equal accuracy
# Digital silence (exact zeros, common in synthesised or edited audio) gives -inf log
# energies that derail pocketsphinx's feature normalisation: whole words are lost and
# alignment fails. A faint fixed noise floor (-72 dBFS, well below any recording's own
# noise) prevents that and changes nothing audible.
NOISE_FLOOR = 8.0 / 32768
NOISE_SEED = 0  # the floor is the same every run, so results are reproducible

# Closure rescoring (see the module's docstring). The phones recognition hears in place of
# a p, b or m, on espeak-ng voices and LibriVox readings, wide band and telephone:
HEARD_FOR_BILABIAL = frozenset("T D K G N NG TH DH L W UW V F HH".split())
BILABIALS = ("P", "B", "M")
# Grammar weights against 1 for the phone heard, tuned on the sentences of
# benchmarks/lip_timing.py. More weight hears more closures and invents more: recall of
# the force-aligned p/b/m 0.62 without the pass; 0.84 at 30/10 with 117 closures touching
# no p/b/m; 0.88 at 1000/100 with 140; 0.89 at 10000/300 with 161; never more closures
# inside open vowels. The pass costs ~60 % of the loop's time.
REPLACE_WEIGHT = 1000.0  # a p/b/m in place of a phone of HEARD_FOR_BILABIAL or a short pause
INSERT_WEIGHT = 100.0  # a p/b/m before a phone of INSERT_BEFORE
# What a p, b or m can precede: vowels, the liquids and glides of "play", "bring", and the
# other bilabials ("jumped"). Not a pause: a word's last p/b/m is heard as some phone.
INSERT_BEFORE = frozenset(
    "AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW L R W Y P B M".split()
)
SHORT_PAUSE_FRAMES = 20  # a pause inside speech shorter than this may be a stop's closure
SHORT_PAUSE = "GAP"  # such a pause in the grammar (decoded as SILENCE)
# The grammar is narrow: beams much tighter than the defaults (1e-48, 7e-29) lost no
# closure on the benchmark's sentences.
RESCORE_BEAM = 1e-30
RESCORE_WORD_BEAM = 1e-20

MIN_PAUSE_S = 0.30  # speech regions closer than this are decoded together
# Silence kept around each decoded region: the models expect a lead-in and a lead-out. With
# 0.15 s, 12 of 30 short espeak-ng sentences (padded with 0.4 s of silence) failed to align
# to their own transcript; with 0.3 s, 7. Never more than half the pause to the next region,
# so pieces do not overlap.
CONTEXT_S = 0.30
CUT_CONTEXT_S = 0.15  # where a long region is cut, each side keeps this much of the other
MAX_CHUNK_S = 20.0  # a region longer than this is cut at its quietest point
RECOGNIZE_CHUNK_S = 10.0  # recognition joins regions into chunks up to this long
ALIGN_CHUNK_S = 20.0  # alignment joins regions into chunks up to this long
MIN_SPEECH_COVER = 0.6  # an alignment must place words on this share of the speech frames

# Word-count slack when the transcript is spread over chunks: the chunk's grammar must say
# its expected words minus SLACK and may say up to SLACK more (the acoustics choose).
SLACK_WORDS = 2
SLACK_FRACTION = 0.25


@dataclass(frozen=True)
class Chunk:
    """Speech decoded as one pocketsphinx utterance: one or more pieces of the clip, played
    back to back (the pauses between them shortened to their context margins)."""

    pieces: tuple[tuple[int, int], ...]  # [start, end) frames at FRAME_RATE, in clip order
    speech: int  # frames of speech inside

    @property
    def start(self) -> int:
        return self.pieces[0][0]

    @property
    def end(self) -> int:
        return self.pieces[-1][1]

    @property
    def length(self) -> int:
        return sum(end - start for start, end in self.pieces)

    def audio(self, pcm: np.ndarray) -> bytes:
        """The pieces' 16-bit samples, joined."""
        hop = ANALYSIS_RATE // FRAME_RATE
        return b"".join(pcm[start * hop : end * hop].tobytes() for start, end in self.pieces)

    def segment(self, name: str, start: int, end: int) -> PhoneSegment | None:
        """A decoder label over utterance frames [start, end) as a PhoneSegment in clip time;
        a label running over a junction between pieces is cut there, one past the end is
        dropped."""
        offset = 0
        for first, last in self.pieces:
            if start < offset + last - first:
                end = min(end - offset, last - first)
                return _segment(name, first + start - offset, first + end)
            offset += last - first
        return None


def recognize_phones(clip: AudioClip, *, voice_windows: np.ndarray | None = None) -> list[PhoneSegment]:
    """Phones recognised in the clip, with silences and noises as SILENCE.

    `voice_windows`: the clip's `vad.speech_probability`, when the caller has it already.
    """
    pcm = _pcm(clip)
    recognizer = _recognizer()
    segments = []
    for chunk in _chunks(pcm, _speech(clip, voice_windows), merge_up_to_s=RECOGNIZE_CHUNK_S):
        segments += _recognize_chunk(recognizer, pcm, chunk)
    return _cover(segments, len(pcm))


def align_transcript(clip: AudioClip, text: str, *, voice_windows: np.ndarray | None = None) -> list[PhoneSegment]:
    """Phones of `text` aligned to the clip, with silences as SILENCE.

    The words are spread over the chunks in proportion to their phone counts and each chunk's
    amount of speech; each chunk's grammar lets the acoustics move its last words to the next
    chunk or take more. Words outside the dictionary are pronounced from their spelling (and
    named in a warning). A chunk whose alignment fails or leaves much of its speech wordless
    is recognised instead, with a warning.
    """
    words = transcript_words(text)
    pcm = _pcm(clip)
    speech = _speech(clip, voice_windows)
    decoder = _align_decoder()
    _add_unknown_words(decoder, words)
    sizes = np.array([len(decoder.lookup_word(word).split()) for word in words])
    chunks = _chunks(pcm, speech, merge_up_to_s=ALIGN_CHUNK_S)
    segments, next_word = [], 0
    for index, chunk in enumerate(chunks):
        remaining = words[next_word:]
        expected = _word_share(sizes[next_word:], chunks[index:])
        said, aligned = _align_chunk(
            decoder, pcm, chunk, remaining, expected, last=index == len(chunks) - 1
        )
        if aligned is None or not _covers_speech(speech, chunk, aligned):
            log.warning(
                "forced alignment failed for %.1f-%.1f s; using phone recognition there",
                chunk.start / FRAME_RATE, chunk.end / FRAME_RATE,
            )
            said, aligned = expected, _recognize_chunk(_recognizer(), pcm, chunk)
        segments += aligned
        next_word += said
    if next_word < len(words):
        log.warning(
            "transcript words with no speech left to align them to: %s", " ".join(words[next_word:])
        )
    return _cover(segments, len(pcm))


def _pcm(clip: AudioClip) -> np.ndarray:
    """(N,) int16 samples for pocketsphinx, with the fixed noise floor added."""
    if clip.rate != ANALYSIS_RATE:
        raise ValueError(f"phone analysis needs 16 kHz audio, got {clip.rate} Hz")
    noise = np.random.default_rng(NOISE_SEED)
    pcm = np.empty(len(clip.samples), np.int16)
    # A second at a time, drawn in order: the same noise as drawn at once, without float64
    # copies of a whole clip (~0.2 GB per 10 minutes).
    for start in range(0, len(pcm), ANALYSIS_RATE):
        piece = clip.samples[start : start + ANALYSIS_RATE]
        pcm[start : start + len(piece)] = np.clip(piece + noise.normal(0.0, NOISE_FLOOR, len(piece)), -1.0, 1.0) * 32767
    return pcm


def _speech(clip: AudioClip, voice_windows: np.ndarray | None = None) -> np.ndarray:
    """(frames,) bool speech activity at FRAME_RATE, judged on the clip as it is (no noise floor)."""
    frames = len(clip.samples) * FRAME_RATE // ANALYSIS_RATE
    return speech_activity(clip.samples, ANALYSIS_RATE, FRAME_RATE, frames, voice_windows=voice_windows)


@dataclass(frozen=True)
class Recognizer:
    """The two decoders of recognition. Fresh ones per call cost ~40 ms and keep concurrent
    calls independent."""

    loop: Decoder  # phone loop: the 1-best phones
    rescorer: Decoder  # phones as words, for the grammar that lets closures in


def _phone_loop() -> Decoder:
    """The phone loop alone: what live sessions decode as audio arrives (no rescoring there)."""
    return Decoder(
        hmm=get_model_path(ACOUSTIC_MODEL), allphone=get_model_path(PHONE_LM), dict=None,
        lw=PHONE_LM_WEIGHT, topn=TOP_GAUSSIANS, loglevel="FATAL",
    )


def _recognizer() -> Recognizer:
    loop = _phone_loop()
    # No filler words: pauses are the loop's own SIL phones, which keeps the grammar small.
    rescorer = Decoder(
        hmm=get_model_path(ACOUSTIC_MODEL), dict=str(PHONE_DICTIONARY), lm=None,
        fsgusefiller=False, topn=TOP_GAUSSIANS, beam=RESCORE_BEAM, pbeam=RESCORE_BEAM,
        wbeam=RESCORE_WORD_BEAM, loglevel="FATAL",
    )
    return Recognizer(loop, rescorer)


def _align_decoder() -> Decoder:
    return Decoder(
        hmm=get_model_path(ACOUSTIC_MODEL), dict=get_model_path(DICTIONARY), lm=None,
        loglevel="FATAL",
    )


def _chunks(pcm: np.ndarray, speech: np.ndarray, *, merge_up_to_s: float) -> list[Chunk]:
    """Speech regions (pauses shorter than MIN_PAUSE_S bridged), long ones cut, with their
    context margins, and neighbours joined into one chunk while its pieces add up to at most
    `merge_up_to_s`."""
    regions = []
    for start, end in runs(speech):
        if regions and start - regions[-1][1] < MIN_PAUSE_S * FRAME_RATE:
            regions[-1] = (regions[-1][0], end)
        else:
            regions.append((start, end))
    regions = [piece for region in regions for piece in _cut_long(pcm, region)]
    chunks: list[Chunk] = []
    for piece in _with_context(regions, len(speech)):
        pieces = (piece,)
        if chunks and chunks[-1].length + piece[1] - piece[0] <= merge_up_to_s * FRAME_RATE:
            pieces = chunks.pop().pieces + pieces
        chunks.append(Chunk(pieces, sum(int(speech[a:b].sum()) for a, b in pieces)))
    return chunks


def _with_context(regions: list[tuple[int, int]], frames: int) -> list[tuple[int, int]]:
    """Each region grown by CONTEXT_S into the pauses around it (at most half of each), or by
    CUT_CONTEXT_S into the speech where a long region was cut."""
    context, cut = round(CONTEXT_S * FRAME_RATE), round(CUT_CONTEXT_S * FRAME_RATE)

    def margin(pause: int) -> int:
        return cut if pause == 0 else min(context, pause // 2)

    grown = []
    for i, (start, end) in enumerate(regions):
        before = margin(start - regions[i - 1][1]) if i else context
        after = margin(regions[i + 1][0] - end) if i + 1 < len(regions) else context
        grown.append((max(0, start - before), min(frames, end + after)))
    return grown


def _cut_long(pcm: np.ndarray, region: tuple[int, int]) -> list[tuple[int, int]]:
    """A region split at its quietest 10 ms frames until no piece exceeds MAX_CHUNK_S."""
    start, end = region
    limit = round(MAX_CHUNK_S * FRAME_RATE)
    if end - start <= limit:
        return [region]
    hop = ANALYSIS_RATE // FRAME_RATE
    energy = (pcm[start * hop : end * hop].astype(np.float32) ** 2).reshape(-1, hop).sum(1)
    quarter = (end - start) // 4  # cut in the middle half, so both sides stay long
    cut = start + quarter + int(np.argmin(energy[quarter:-quarter]))
    return _cut_long(pcm, (start, cut)) + _cut_long(pcm, (cut, end))


def _recognize_chunk(recognizer: Recognizer, pcm: np.ndarray, chunk: Chunk) -> list[PhoneSegment]:
    audio = chunk.audio(pcm)
    _decode(recognizer.loop, audio)
    heard = [(seg.word, seg.start_frame, seg.end_frame + 1) for seg in recognizer.loop.seg()]
    labels = _rescore_closures(recognizer.rescorer, audio, _grammar_phones(heard))
    segments = (chunk.segment(name, start, end) for name, start, end in labels or heard)
    return [seg for seg in segments if seg is not None]


def _rescore_closures(decoder: Decoder, audio: bytes, phones: list[str]) -> list[tuple[str, int, int]] | None:
    """(phone, start, end) labels in utterance frames from decoding `audio` once more with
    `phones` (from `_grammar_phones`) as a grammar in which p, b or m may replace or precede
    them; None where that decoding fails."""
    count = len(phones)
    transitions = []  # states 0..count along the phones; count + 1 + k before phone k
    for k, phone in enumerate(phones):
        word = SILENCE if phone == SHORT_PAUSE else phone
        transitions.append((k, k + 1, 1.0, word))
        if phone in HEARD_FOR_BILABIAL or phone == SHORT_PAUSE:
            transitions += [(k, k + 1, REPLACE_WEIGHT, bilabial) for bilabial in BILABIALS]
        if phone in INSERT_BEFORE:
            transitions += [(k, count + 1 + k, INSERT_WEIGHT, bilabial) for bilabial in BILABIALS]
            transitions.append((count + 1 + k, k + 1, 1.0, word))
    decoder.add_fsg("closures", decoder.create_fsg("closures", 0, count, transitions))
    decoder.activate_search("closures")
    try:
        _decode(decoder, audio)
    except RuntimeError:
        return None
    if decoder.hyp() is None:
        return None
    return [(seg.word, seg.start_frame, seg.end_frame + 1) for seg in decoder.seg()
            if seg.word not in ("<s>", "</s>")]


def _grammar_phones(heard: list[tuple[str, int, int]]) -> list[str]:
    """The loop's (label, start, end) as the rescoring grammar's phones: fillers as SILENCE,
    pauses inside speech shorter than SHORT_PAUSE_FRAMES as SHORT_PAUSE."""
    phones = []
    for k, (name, start, end) in enumerate(heard):
        phone = _phone(name)
        inside = 0 < k < len(heard) - 1
        short = phone == SILENCE and inside and end - start < SHORT_PAUSE_FRAMES
        phones.append(SHORT_PAUSE if short else phone)
    return phones


def _phone(name: str) -> str:
    """A decoder label as a phone; fillers become SILENCE."""
    return SILENCE if name.startswith("+") or name in ("<sil>", "<s>", "</s>") else name


def _segment(name: str, start: int, end: int) -> PhoneSegment:
    """A PhoneSegment from a decoder label and [start, end) frames."""
    return PhoneSegment(_phone(name), start / FRAME_RATE, end / FRAME_RATE)


def _cover(segments: list[PhoneSegment], samples: int) -> list[PhoneSegment]:
    """Segments in time order, gaps filled and neighbouring silences merged, spanning
    0 to the clip's end."""
    duration = samples / ANALYSIS_RATE
    covered: list[PhoneSegment] = []
    t = 0.0
    for seg in sorted(segments, key=lambda s: s.start):
        if seg.start > t:
            covered.append(PhoneSegment(SILENCE, t, seg.start))
        covered.append(PhoneSegment(seg.phone, max(seg.start, t), seg.end))
        t = max(t, seg.end)
    if t < duration:
        covered.append(PhoneSegment(SILENCE, t, duration))
    merged: list[PhoneSegment] = []
    for seg in covered:
        if seg.end <= seg.start:
            continue
        if merged and seg.phone == SILENCE == merged[-1].phone:
            merged[-1] = PhoneSegment(SILENCE, merged[-1].start, seg.end)
        else:
            merged.append(seg)
    return merged


def _add_unknown_words(decoder: Decoder, words: list[str]) -> None:
    unknown = sorted({word for word in words if decoder.lookup_word(word) is None})
    if not unknown:
        return
    log.warning("not in the pronunciation dictionary, pronounced from spelling: %s",
                ", ".join(unknown))
    for i, word in enumerate(unknown):  # rebuilding the search once, after the last, is enough
        decoder.add_word(word, spelled_phones(word), update=i == len(unknown) - 1)


def _word_share(sizes: np.ndarray, chunks: list[Chunk]) -> int:
    """How many of the remaining words (phone counts `sizes`) the first of `chunks` should
    hold: its share of the remaining speech, matched on cumulative phone counts."""
    if len(sizes) == 0:
        return 0
    share = chunks[0].speech / max(1, sum(chunk.speech for chunk in chunks))
    cumulative = np.concatenate([[0], np.cumsum(sizes)]) / sizes.sum()
    return int(np.argmin(np.abs(cumulative - share)))


def _align_chunk(
    decoder: Decoder, pcm: np.ndarray, chunk: Chunk, words: list[str], expected: int, *,
    last: bool,
) -> tuple[int, list[PhoneSegment] | None]:
    """(words used, phone segments) for one chunk, or (0, None) where alignment fails."""
    if last:
        low = high = len(words)
    else:
        slack = max(SLACK_WORDS, round(SLACK_FRACTION * expected))
        low, high = max(1, expected - slack), min(len(words), expected + slack)
    if low == 0 or low > high:
        return 0, None
    # States 0..high; word i leads from state i to i + 1; any state from `low` on may end.
    transitions = [(i, i + 1, 1.0, word) for i, word in enumerate(words[:high])]
    transitions += [(i, high, 1.0) for i in range(low, high)]
    decoder.add_fsg("chunk", decoder.create_fsg("chunk", 0, high, transitions))
    decoder.activate_search("chunk")
    audio = chunk.audio(pcm)
    try:
        _decode(decoder, audio)  # pass 1: which words, where
        hypothesis = decoder.hyp()
        if hypothesis is None:
            return 0, None
        said = len(hypothesis.hypstr.split())
        decoder.set_alignment()
        _decode(decoder, audio)  # pass 2: their phones (asking for hyp() here would crash)
    except RuntimeError:
        return 0, None
    segments = (
        chunk.segment(phone.name, phone.start, phone.start + phone.duration)
        for word in decoder.get_alignment()
        for phone in word
    )
    return said, [seg for seg in segments if seg is not None]


def _decode(decoder: Decoder, audio: bytes) -> None:
    """Runs the active search over one utterance of 16-bit PCM bytes."""
    decoder.start_utt()
    decoder.process_raw(audio, full_utt=True)
    decoder.end_utt()


def _covers_speech(speech: np.ndarray, chunk: Chunk, segments: list[PhoneSegment]) -> bool:
    """Whether the aligned words lie on most of the chunk's speech (a transcript that does
    not match the audio leaves speech under silence)."""
    if chunk.speech == 0:
        return True
    worded = np.zeros(len(speech), bool)
    for seg in segments:
        if seg.phone != SILENCE:
            worded[round(seg.start * FRAME_RATE) : round(seg.end * FRAME_RATE)] = True
    covered = sum(int((speech[a:b] & worded[a:b]).sum()) for a, b in chunk.pieces)
    return covered >= MIN_SPEECH_COVER * chunk.speech
