// Shared set-up for the @discordjs/voice peers (discordjs-voice-peer.mjs,
// discordjs-voice-dave.mjs): what both do the same way around a Networking.
import { NetworkingStatusCode, VoiceReceiver } from '@discordjs/voice';

const NO_CIPHER = 'no valid encryption package';

// cipherReady resolves once @discordjs/voice has loaded its XChaCha20-Poly1305
// package. The library imports it asynchronously at start-up and, until then,
// every xchacha decrypt throws; a receive stream that throws is destroyed. On a
// loaded CI box the first packets won that race, so peers wait for this before
// they join. It probes with a garbage packet: once the cipher is there the
// decrypt fails on the tag instead of on the missing package.
export async function cipherReady(timeoutMs = 15000) {
  const probe = new VoiceReceiver({ state: { status: 'signalling' } });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      probe.decrypt(Buffer.alloc(48, 1), 'aead_xchacha20_poly1305_rtpsize', Buffer.alloc(24), Buffer.alloc(32));
      return;
    } catch (e) {
      if (!String(e?.message ?? e).includes(NO_CIPHER)) return;
    }
    if (Date.now() > deadline) throw new Error(`@discordjs/voice loaded no XChaCha20 package in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// bindReceiver keeps a VoiceReceiver attached to the Networking's current
// WebSocket and UDP socket as the state machine replaces them (the way
// VoiceConnection.updateReceiveBindings does) and calls onReady once.
export function bindReceiver(networking, receiver, onUdp, onReady) {
  networking.state.ws?.on('packet', receiver.onWsPacket); // created in the constructor
  let ready = false;
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
    if (newState.code === NetworkingStatusCode.Ready && !ready) {
      ready = true;
      onReady(newState);
    }
  });
}

// decodeFrame decodes one Opus packet with opusscript: samples per channel
// (-1 when it does not decode) and the RMS of the PCM.
export function decodeFrame(decoder, opus) {
  try {
    const pcm = decoder.decode(opus);
    const s16 = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.byteLength / 2);
    let acc = 0;
    for (const v of s16) acc += v * v;
    return { samples: s16.length / 2, rms: s16.length ? Math.sqrt(acc / s16.length) : 0 };
  } catch {
    return { samples: -1, rms: 0 };
  }
}

// speakTone sends n Opus frames of a 440 Hz tone every 20 ms through the
// Networking (which encrypts them: DAVE when on, then the transport AEAD) and
// calls done(n) after the last.
export function speakTone(networking, encoder, n, done) {
  let i = 0;
  const pcm = Buffer.alloc(960 * 2 * 2);
  const timer = setInterval(() => {
    if (i >= n) {
      clearInterval(timer);
      done(n);
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
