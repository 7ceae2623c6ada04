#!/usr/bin/env bash
# generate.sh: speaks prompts.tsv into zh-CN/NAME.wav and en/NAME.wav with espeak-ng (voices cmn and en) and
# sox. The files are committed: the build and the package never need espeak. Run it after changing a prompt's
# words (apt-get install espeak-ng sox), then listen to them (aplay zh-CN/*.wav) and commit the WAVs.
#
# Format: mono, 16-bit signed PCM, 16 kHz: what aplay hands any ALSA device without a converter in the way, and
# small (the whole set stays under 1 MiB). Silence at either end is trimmed so that a prompt starts when the
# state it speaks for does; 30 ms and 80 ms are kept so a speaker's amplifier does not clip the first syllable.
# The rates are brisk on purpose (espeak's cmn is slow by default): a queue is waiting.
set -euo pipefail
cd "$(dirname "$0")"
for bin in espeak-ng sox; do command -v "$bin" >/dev/null || { echo "generate.sh: $bin missing (apt-get install espeak-ng sox)" >&2; exit 1; }; done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p zh-CN en
rm -f zh-CN/*.wav en/*.wav # a prompt taken out of prompts.tsv leaves no stale file behind
while IFS=$'\t' read -r name zh en; do
  case $name in '#'* | '') continue ;; esac
  for lang in zh-CN en; do
    if [ "$lang" = zh-CN ]; then voice=cmn rate=320 text=$zh; else voice=en rate=200 text=$en; fi
    espeak-ng -v "$voice" -s "$rate" -w "$tmp/raw.wav" "$text"
    sox "$tmp/raw.wav" -r 16000 -c 1 -b 16 -e signed-integer "$lang/$name.wav" \
      silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0.03 0.08
  done
done <prompts.tsv
du -ch zh-CN/*.wav en/*.wav | tail -1
