#!/usr/bin/env bash
# Regenerates the speech clips of the quality benchmark. Needs espeak-ng (1.51) and sox
# (14.4); the WAVs are committed, so the benchmark never runs this.
#
#   german.wav   non-English speech: three German sentences by espeak-ng's German voice
#   noisy.wav    assets/speech.wav with pink noise added at 10 dB signal-to-noise ratio
#                (RMS over the whole clip, pauses included, so ~13 dB while words are spoken)
#
# All outputs: 16 kHz, mono, 16-bit PCM. sox runs with -R -D (repeatable noise, no dither), so
# every run writes the same bytes.
set -euo pipefail
cd "$(dirname "$0")"
SPEECH=../../assets/speech.wav
SNR_DB=10
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

rms_db() { sox "$1" -n stats 2>&1 | awk '/^RMS lev dB/ {print $4}'; }

espeak-ng -v de -s 140 -w "$TMP/german.wav" \
    "Guten Morgen. Heute sprechen wir über das Wetter in Berlin. Am Nachmittag wird es warm und sonnig."
sox -R -D "$TMP/german.wav" -r 16000 -c 1 -b 16 german.wav gain -1

duration=$(soxi -D "$SPEECH")
sox -R -D -n -r 16000 -c 1 -b 16 "$TMP/noise.wav" synth "$duration" pinknoise
gain=$(awk -v s="$(rms_db "$SPEECH")" -v n="$(rms_db "$TMP/noise.wav")" -v snr="$SNR_DB" 'BEGIN {print s - snr - n}')
sox -R -D "$TMP/noise.wav" "$TMP/noise_scaled.wav" gain "$gain"
sox -R -D -m -v 1 "$SPEECH" -v 1 "$TMP/noise_scaled.wav" -b 16 noisy.wav
