#!/bin/sh
# Renders the phrases once (the WAVs are committed; tests never run this).
# Needs espeak-ng and sox (Debian: apt-get install espeak-ng sox).
set -eu
cd "$(dirname "$0")"
render() { # name voice text
	espeak-ng -v "$2" -s 165 -w /tmp/livecord-phrase.wav "$3"
	# 16 kHz mono 16-bit, peak at -3 dBFS, leading/trailing silence cut to 100 ms.
	sox /tmp/livecord-phrase.wav -r 16000 -c 1 -b 16 "$1.wav" \
		silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse pad 0.1 0.1 norm -3
	rm -f /tmp/livecord-phrase.wav
}
render hello     en-us   "Hello, can you hear me?"
render weather   en-us   "What is the weather like in Paris today?"
render interrupt en-us   "Wait, stop. I have another question."
render name      en-gb   "My name is Alice, and this is Bob."
render count     en-us+f3 "One, two, three, four, five."
render thanks    en-gb+f2 "Thank you, that was really helpful."
