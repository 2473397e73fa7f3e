// A real @discordjs/voice client for voice/voicetest: its Networking class
// joins the emulator (wss via NODE_EXTRA_CA_CERTS), its VoiceReceiver
// decrypts what the SFU relays, and opusscript decodes it.
//
// usage: node discordjs-voice-peer.mjs ENDPOINT GUILD USER SESSION TOKEN CHANNEL LISTEN_TO
// stdout (JSON lines): {"event":"ready","ssrc":…,"mode":…}
//                      {"event":"frame","opus":"<hex>","samples":N,"rms":R}  per frame from LISTEN_TO
//                      {"event":"sent","frames":N}                           after "speak N"
// stdin lines: "speak N" sends N frames of a 440 Hz tone (opusscript) through
//              prepareAudioPacket/dispatchAudio every 20 ms; "exit" quits.
import { Networking, NetworkingStatusCode, VoiceReceiver } from '@discordjs/voice';
import OpusScript from 'opusscript';
import readline from 'node:readline';

const [endpoint, serverId, userId, sessionId, token, channelId, listenTo] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const networking = new Networking(
  { endpoint, serverId, userId, sessionId, token, channelId },
  { debug: !!process.env.DEBUG, daveEncryption: false },
);
networking.on('debug', (m) => process.stderr.write(`[djs] ${m}\n`));
networking.on('error', (e) => process.stderr.write(`[djs error] ${e?.stack ?? e}\n`));
networking.on('close', (code) => {
  out({ event: 'close', code });
});

// VoiceReceiver wired the way VoiceConnection.updateReceiveBindings does it;
// the stand-in connection is never "ready" with DAVE, so no E2EE is applied.
const receiver = new VoiceReceiver({ state: { status: 'signalling' } });
networking.state.ws?.on('packet', receiver.onWsPacket); // created in the constructor
let readyOnce = false;
networking.on('stateChange', (oldState, newState) => {
  if (oldState.ws !== newState.ws) {
    oldState.ws?.off('packet', receiver.onWsPacket);
    newState.ws?.on('packet', receiver.onWsPacket);
  }
  if (oldState.udp !== newState.udp) {
    oldState.udp?.off('message', receiver.onUdpMessage);
    newState.udp?.on('message', receiver.onUdpMessage);
  }
  receiver.connectionData = newState.connectionData ?? {};
  if (newState.code === NetworkingStatusCode.Ready && !readyOnce) {
    readyOnce = true;
    out({ event: 'ready', ssrc: newState.connectionData.ssrc, mode: newState.connectionData.encryptionMode });
  }
});

const decoder = new OpusScript(48000, 2, OpusScript.Application.AUDIO);
const stream = receiver.subscribe(listenTo);
stream.on('data', (opus) => {
  let samples = 0;
  let rms = 0;
  try {
    const pcm = decoder.decode(opus);
    const s16 = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.byteLength / 2);
    samples = s16.length / 2;
    let acc = 0;
    for (const v of s16) acc += v * v;
    rms = s16.length ? Math.sqrt(acc / s16.length) : 0;
  } catch (e) {
    samples = -1;
  }
  out({ event: 'frame', opus: Buffer.from(opus).toString('hex'), samples, rms });
});
stream.on('error', (e) => process.stderr.write(`[djs receive error] ${e?.stack ?? e}\n`));

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

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'speak') speak(Number(arg));
  if (cmd === 'exit') {
    networking.destroy();
    process.exit(0);
  }
});
rl.on('close', () => {
  networking.destroy();
  process.exit(0);
});
