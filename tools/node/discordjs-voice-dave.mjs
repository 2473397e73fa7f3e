// A real @discordjs/voice client with DAVE for voice/voicetest: its Networking
// class identifies with max_dave_protocol_version 1 and runs the MLS group
// through @snazzah/davey (key package, proposals, commit/welcome, transitions),
// and its VoiceReceiver decrypts what the SFU relays (transport, then DAVE)
// before opusscript decodes it.
//
// usage: node discordjs-voice-dave.mjs ENDPOINT GUILD USER SESSION TOKEN CHANNEL LISTEN_TO
// stdout (JSON lines):
//   {"event":"ready","ssrc":…,"mode":…,"dave":V}          voice session ready (V = dave_protocol_version)
//   {"event":"transitioned","id":N,"epoch":E}              a DAVE transition executed
//   {"event":"frame","seq":S,"opus":"<hex>","samples":N,"rms":R,"t":MS}
//                                                          per frame from LISTEN_TO (RTP seq; t: unix ms)
//   {"event":"raw","seq":S,"t":MS}                         a frame discord.js passed through undecrypted
//                                                          (its DAVE session not ready yet)
//   {"event":"invalid","id":N}                             this client flagged a transition (op 31)
//   {"event":"close","code":C}
//   {"event":"sent","frames":N}                            after "speak N"
//   {"event":"said","ms":D}                                after "say FILE": the AudioPlayer went idle
//                                                          (D: playback duration, silence tail included)
// stdin lines: "speak N" sends N frames of a 440 Hz tone every 20 ms (DAVE-encrypted
//              by discord.js); "say FILE" plays FILE (raw s16le, 48 kHz, mono) through
//              discord.js's own AudioPlayer as a raw PCM resource (prism-media encodes
//              Opus; the player paces, signals speaking and ends with five silence
//              frames); "exit" leaves the call (close 1000) and quits.
// With DJS_WAIT_JOIN=1 the client loads, prints {"event":"loaded"} and joins only
// on the stdin line "join" (a test can keep warm clients and join them at once).
import {
  AudioPlayerStatus,
  Networking,
  StreamType,
  VoiceReceiver,
  createAudioPlayer,
  createAudioResource,
} from '@discordjs/voice';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import OpusScript from 'opusscript';
import readline from 'node:readline';
import { bindReceiver, cipherReady, decodeFrame, speakTone } from './djs-voice.mjs';

const [endpoint, serverId, userId, sessionId, token, channelId, listenTo] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const now = () => performance.timeOrigin + performance.now();

await cipherReady();
const rl = readline.createInterface({ input: process.stdin });
if (process.env.DJS_WAIT_JOIN) {
  out({ event: 'loaded' });
  await new Promise((resolve) => {
    const onLine = (line) => {
      if (line.trim() === 'join') {
        rl.off('line', onLine);
        resolve();
      }
    };
    rl.on('line', onLine);
    rl.once('close', () => process.exit(0)); // never joined: nothing to leave
  });
}
const networking = new Networking(
  { endpoint, serverId, userId, sessionId, token, channelId },
  { debug: !!process.env.DEBUG, daveEncryption: true },
);
networking.on('debug', (m) => process.stderr.write(`[djs ${userId}] ${m}\n`));
networking.on('error', (e) => process.stderr.write(`[djs ${userId} error] ${e?.stack ?? e}\n`));
networking.on('close', (code) => out({ event: 'close', code }));
networking.on('transitioned', (id) => {
  const epoch = networking.state.dave?.session?.epoch;
  out({ event: 'transitioned', id, epoch: epoch === undefined || epoch === null ? null : Number(epoch) });
});

// VoiceReceiver decrypts DAVE through connection.state.networking.state.dave
// when the connection is "ready"; this stand-in gives it our Networking.
const receiver = new VoiceReceiver({
  get state() {
    return { status: 'ready', networking };
  },
});
// Each Opus packet the receiver yields, mapped to the RTP sequence number of
// the datagram it came from (the stream is in object mode: the same Buffer
// reaches the data event).
// discord.js hands packets through undecrypted while its DAVE session is not
// ready yet (a joiner before its Welcome): those are reported as "raw".
const seqOf = new WeakMap();
const raw = new WeakSet();
const parsePacket = receiver.parsePacket.bind(receiver);
receiver.parsePacket = (buffer, ...rest) => {
  const dave = networking.state.dave;
  const undecrypted = !!dave && dave.protocolVersion > 0 && !dave.session?.ready;
  const packet = parsePacket(buffer, ...rest);
  if (packet) {
    seqOf.set(packet, buffer.readUInt16BE(2));
    if (undecrypted) raw.add(packet);
  }
  return packet;
};
const onUdp = (msg) => receiver.onUdpMessage(msg);
bindReceiver(networking, receiver, onUdp, (state) =>
  out({
    event: 'ready',
    ssrc: state.connectionData.ssrc,
    mode: state.connectionData.encryptionMode,
    dave: state.dave?.protocolVersion ?? 0,
  }),
);
networking.on('stateChange', (oldState, newState) => {
  if (oldState.dave !== newState.dave && newState.dave) {
    newState.dave.on('invalidateTransition', (id) => out({ event: 'invalid', id }));
  }
});

const decoder = new OpusScript(48000, 2, OpusScript.Application.AUDIO);
function subscribe() {
  const stream = receiver.subscribe(listenTo);
  stream.on('data', (opus) => {
    const t = now();
    const seq = seqOf.get(opus) ?? -1;
    if (raw.has(opus)) {
      out({ event: 'raw', seq, t });
      return;
    }
    const { samples, rms } = decodeFrame(decoder, opus);
    out({ event: 'frame', seq, opus: Buffer.from(opus).toString('hex'), samples, rms, t });
  });
  // A decryption error destroys the stream (discord.js gives up on it):
  // report it and subscribe again, so the test sees every later frame.
  stream.on('error', (e) => {
    process.stderr.write(`[djs ${userId} receive error] ${e?.message ?? e}\n`);
    out({ event: 'receive_error', message: String(e?.message ?? e) });
  });
  stream.once('close', () => setImmediate(subscribe));
}
subscribe();

// "speak N": discord.js encrypts each frame with davey (DAVE) before the
// transport AEAD.
const encoder = new OpusScript(48000, 2, OpusScript.Application.AUDIO);
const quit = () => {
  networking.destroy();
  setTimeout(() => process.exit(0), 50);
};
// The AudioPlayer plays to VoiceConnections; this stand-in is one whose
// networking is ours (what VoiceConnection does in its ready state).
const connection = {
  state: { status: 'ready' },
  prepareAudioPacket: (packet) => networking.prepareAudioPacket(packet),
  dispatchAudio: () => networking.dispatchAudio(),
  setSpeaking: (on) => networking.setSpeaking(on),
  onSubscriptionRemoved: () => {},
};
function say(file) {
  const mono = readFileSync(file);
  const stereo = Buffer.alloc(mono.length * 2);
  for (let i = 0; i + 1 < mono.length; i += 2) {
    const v = mono.readInt16LE(i);
    stereo.writeInt16LE(v, 2 * i);
    stereo.writeInt16LE(v, 2 * i + 2);
  }
  const player = createAudioPlayer();
  player.on('error', (e) => process.stderr.write(`[djs ${userId} player error] ${e?.stack ?? e}\n`));
  player['subscribe'](connection);
  player.play(createAudioResource(Readable.from([stereo]), { inputType: StreamType.Raw }));
  player.on('stateChange', (oldState, newState) => {
    if (newState.status === AudioPlayerStatus.Idle && oldState.status !== AudioPlayerStatus.Idle) {
      out({ event: 'said', ms: oldState.playbackDuration ?? 0 });
      player.stop(true);
    }
  });
}
rl.on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'speak') speakTone(networking, encoder, Number(arg), (frames) => out({ event: 'sent', frames }));
  if (cmd === 'say') say(arg);
  if (cmd === 'exit') quit();
});
rl.on('close', quit);
