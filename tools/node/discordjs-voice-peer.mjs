// A real @discordjs/voice client for voice/voicetest: its Networking class
// joins the emulator (wss via NODE_EXTRA_CA_CERTS), its VoiceReceiver
// decrypts what the SFU relays, and opusscript decodes it.
//
// usage: node discordjs-voice-peer.mjs ENDPOINT GUILD USER SESSION TOKEN CHANNEL LISTEN_TO
// stdout (JSON lines): {"event":"ready","ssrc":…,"mode":…}
//                      {"event":"frame","opus":"<hex>","samples":N,"rms":R}  per frame from LISTEN_TO
//                      {"event":"sent","frames":N}                           after "speak N"
//                      {"event":"receive_error","message":"…"}              the receive stream failed
// stdin lines: "speak N" sends N frames of a 440 Hz tone (opusscript) through
//              prepareAudioPacket/dispatchAudio every 20 ms; "exit" quits.
import { Networking, VoiceReceiver } from '@discordjs/voice';
import OpusScript from 'opusscript';
import readline from 'node:readline';
import { bindReceiver, cipherReady, decodeFrame, speakTone } from './djs-voice.mjs';

const [endpoint, serverId, userId, sessionId, token, channelId, listenTo] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

await cipherReady();
const networking = new Networking(
  { endpoint, serverId, userId, sessionId, token, channelId },
  { debug: !!process.env.DEBUG, daveEncryption: false },
);
networking.on('debug', (m) => process.stderr.write(`[djs] ${m}\n`));
networking.on('error', (e) => process.stderr.write(`[djs error] ${e?.stack ?? e}\n`));
networking.on('close', (code) => {
  out({ event: 'close', code });
});

// The stand-in connection is never "ready" with DAVE, so no E2EE is applied.
const receiver = new VoiceReceiver({ state: { status: 'signalling' } });
bindReceiver(networking, receiver, receiver.onUdpMessage, (state) =>
  out({ event: 'ready', ssrc: state.connectionData.ssrc, mode: state.connectionData.encryptionMode }),
);

const decoder = new OpusScript(48000, 2, OpusScript.Application.AUDIO);
const stream = receiver.subscribe(listenTo);
stream.on('data', (opus) => {
  const { samples, rms } = decodeFrame(decoder, opus);
  out({ event: 'frame', opus: Buffer.from(opus).toString('hex'), samples, rms });
});
// A decryption error destroys the stream: say so, so the test fails at once.
stream.on('error', (e) => {
  process.stderr.write(`[djs receive error] ${e?.stack ?? e}\n`);
  out({ event: 'receive_error', message: String(e?.message ?? e) });
});

const encoder = new OpusScript(48000, 2, OpusScript.Application.AUDIO);
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'speak') speakTone(networking, encoder, Number(arg), (frames) => out({ event: 'sent', frames }));
  if (cmd === 'exit') {
    networking.destroy();
    process.exit(0);
  }
});
rl.on('close', () => {
  networking.destroy();
  process.exit(0);
});
