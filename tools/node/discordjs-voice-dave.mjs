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
// stdin lines: "speak N" sends N frames of a 440 Hz tone every 20 ms (DAVE-encrypted
//              by discord.js); "exit" leaves the call (close 1000) and quits.
import { Networking, NetworkingStatusCode, VoiceReceiver } from '@discordjs/voice';
import OpusScript from 'opusscript';
import readline from 'node:readline';

const [endpoint, serverId, userId, sessionId, token, channelId, listenTo] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const now = () => performance.timeOrigin + performance.now();

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
networking.state.ws?.on('packet', receiver.onWsPacket);
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
let readyOnce = false;
networking.on('stateChange', (oldState, newState) => {
  if (oldState.ws !== newState.ws) {
    oldState.ws?.off('packet', receiver.onWsPacket);
    newState.ws?.on('packet', receiver.onWsPacket);
  }
  if (oldState.udp !== newState.udp) {
    oldState.udp?.off('message', onUdp);
    newState.udp?.on('message', onUdp);
  }
  receiver.connectionData = newState.connectionData ?? {};
  if (oldState.dave !== newState.dave && newState.dave) {
    newState.dave.on('invalidateTransition', (id) => out({ event: 'invalid', id }));
  }
  if (newState.code === NetworkingStatusCode.Ready && !readyOnce) {
    readyOnce = true;
    out({
      event: 'ready',
      ssrc: newState.connectionData.ssrc,
      mode: newState.connectionData.encryptionMode,
      dave: newState.dave?.protocolVersion ?? 0,
    });
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
    let samples = 0;
    let rms = 0;
    try {
      const pcm = decoder.decode(opus);
      const s16 = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.byteLength / 2);
      samples = s16.length / 2;
      let acc = 0;
      for (const v of s16) acc += v * v;
      rms = s16.length ? Math.sqrt(acc / s16.length) : 0;
    } catch {
      samples = -1;
    }
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

// speak sends n frames of a 440 Hz tone: discord.js encrypts each with
// davey (DAVE) before the transport AEAD.
const encoder = new OpusScript(48000, 2, OpusScript.Application.AUDIO);
function speak(n) {
  let i = 0;
  const pcm = Buffer.alloc(960 * 2 * 2);
  const timer = setInterval(() => {
    if (i >= n) {
      clearInterval(timer);
      out({ event: 'sent', frames: n });
      return;
    }
    for (let k = 0; k < 960; k++) {
      const v = Math.round(8000 * Math.sin((2 * Math.PI * 440 * (i * 960 + k)) / 48000));
      pcm.writeInt16LE(v, 4 * k);
      pcm.writeInt16LE(v, 4 * k + 2);
    }
    networking.prepareAudioPacket(encoder.encode(pcm, 960));
    networking.dispatchAudio();
    i++;
  }, 20);
}

const quit = () => {
  networking.destroy();
  setTimeout(() => process.exit(0), 50);
};
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'speak') speak(Number(arg));
  if (cmd === 'exit') quit();
});
rl.on('close', quit);
