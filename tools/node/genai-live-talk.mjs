// Drives the official @google/genai SDK's Live client as a spoken
// conversation against a Live endpoint (the in-repo emulator in tests): it
// streams microphone-like audio with sendRealtimeInput and prints one JSON
// summary line of what came back.
//
// usage: node genai-live-talk.mjs '{"baseUrl":"http://127.0.0.1:PORT","apiKey":"K",
//          "apiVersion":"v1beta","speech":["/tmp/q.pcm","/tmp/stop.pcm"],"silenceMs":300}'
// Each speech file is raw PCM16LE, 16 kHz mono. The first is streamed at
// once, in 20 ms chunks, then audioStreamEnd; each later one is streamed as
// soon as the reply to the previous one starts (a barge-in), then
// audioStreamEnd. The summary covers one turn per file (the interrupted one
// included).
import { readFileSync } from 'node:fs';
import { ActivityHandling, GoogleGenAI, Modality, StartSensitivity, EndSensitivity } from '@google/genai';

const opts = JSON.parse(process.argv[2] ?? '{}');
const httpOptions = { baseUrl: opts.baseUrl };
if (opts.apiVersion) httpOptions.apiVersion = opts.apiVersion;
const ai = new GoogleGenAI({ apiKey: opts.apiKey, httpOptions });
const speech = (opts.speech ?? []).map((p) => readFileSync(p));

const summary = {
  setupComplete: false, order: [], turns: [], close: null, error: null, chunksSent: 0,
};
let turn = null;
const newTurn = () => ({ heard: '', transcript: '', audioBytes: 0, interrupted: false, complete: false });
let session;
let next = 1; // the next speech file to stream
let finish;
const done = new Promise((resolve) => { finish = resolve; });
const timer = setTimeout(() => { summary.error = 'timeout'; finish(); }, opts.timeoutMs ?? 20000);

function talk(pcm) {
  for (let lo = 0; lo < pcm.length; lo += 640) {
    const chunk = pcm.subarray(lo, Math.min(lo + 640, pcm.length));
    session.sendRealtimeInput({ audio: { data: chunk.toString('base64'), mimeType: 'audio/pcm;rate=16000' } });
    summary.chunksSent++;
  }
  session.sendRealtimeInput({ audioStreamEnd: true });
}

function onmessage(msg) {
  if (msg.setupComplete) { summary.setupComplete = true; return; }
  turn ??= newTurn();
  const va = msg.voiceActivity;
  const vaType = va?.type ?? va?.voiceActivityType;
  if (vaType === 'ACTIVITY_START') summary.order.push('activityStart');
  if (vaType === 'ACTIVITY_END') summary.order.push('activityEnd');
  const sc = msg.serverContent;
  if (sc?.inputTranscription?.text) { turn.heard += sc.inputTranscription.text; summary.order.push('inputTranscription'); }
  for (const p of sc?.modelTurn?.parts ?? []) {
    if (!p.inlineData) continue;
    turn.audioBytes += Buffer.from(p.inlineData.data, 'base64').length;
    if (summary.order.at(-1) !== 'audio') summary.order.push('audio');
    if (next < speech.length) talk(speech[next++]);
  }
  if (sc?.outputTranscription?.text) turn.transcript += sc.outputTranscription.text;
  if (sc?.interrupted) { turn.interrupted = true; summary.order.push('interrupted'); }
  if (sc?.turnComplete) {
    turn.complete = true;
    summary.turns.push(turn);
    summary.order.push('turnComplete');
    turn = null;
    if (summary.turns.length >= speech.length) finish();
  }
}

try {
  session = await ai.live.connect({
    model: opts.model ?? 'gemini-3.8-live',
    config: {
      responseModalities: [Modality.AUDIO],
      inputAudioTranscription: {},
      outputAudioTranscription: {},
      realtimeInputConfig: {
        automaticActivityDetection: {
          disabled: false,
          startOfSpeechSensitivity: StartSensitivity.START_SENSITIVITY_HIGH,
          endOfSpeechSensitivity: EndSensitivity.END_SENSITIVITY_HIGH,
          prefixPaddingMs: 20,
          silenceDurationMs: opts.silenceMs ?? 300,
        },
        activityHandling: ActivityHandling.START_OF_ACTIVITY_INTERRUPTS,
      },
    },
    callbacks: {
      onmessage,
      onerror: (e) => { summary.error = String(e?.message ?? e); },
      onclose: (e) => { summary.close = { code: e.code, reason: e.reason }; finish(); },
    },
  });
  if (opts.context) session.sendClientContent({ turns: opts.context, turnComplete: false });
  talk(speech[0]);
  await done;
  session.close();
} catch (e) {
  summary.error = String(e?.message ?? e);
}
clearTimeout(timer);
process.stdout.write(JSON.stringify(summary) + '\n');
