// Drives the official @google/genai SDK's Live client against a Live
// endpoint (the in-repo emulator in tests) and prints one JSON summary line.
//
// usage: node genai-live.mjs '{"baseUrl":"http://127.0.0.1:PORT","apiKey":"K",
//          "apiVersion":"v1beta","model":"gemini-3.8-live","prompt":"Hello",
//          "interruptWith":"Stop"}'
// apiVersion may be omitted (the SDK's default, v1, is then used). With
// interruptWith, that second prompt is sent as soon as the first audio chunk
// arrives; the summary then covers both turns (turns, interrupted).
import { GoogleGenAI, Modality } from '@google/genai';

const opts = JSON.parse(process.argv[2] ?? '{}');
const httpOptions = { baseUrl: opts.baseUrl };
if (opts.apiVersion) httpOptions.apiVersion = opts.apiVersion;
const ai = new GoogleGenAI({ apiKey: opts.apiKey, httpOptions });

const summary = {
  setupComplete: false, audioBytes: 0, audioChunks: 0, mimeTypes: [], transcript: '',
  generationComplete: false, turnComplete: false, usage: null, handle: '', order: [],
  close: null, error: null, turns: 0, interrupted: false,
};
let session;
let interruptSent = false;
let finish;
const done = new Promise((resolve) => { finish = resolve; });
const timer = setTimeout(() => { summary.error = 'timeout'; finish(); }, opts.timeoutMs ?? 20000);

function onmessage(msg) {
  if (msg.setupComplete) summary.setupComplete = true;
  const sc = msg.serverContent;
  if (sc?.modelTurn?.parts) {
    for (const p of sc.modelTurn.parts) {
      if (p.inlineData) {
        summary.audioBytes += Buffer.from(p.inlineData.data, 'base64').length;
        summary.audioChunks++;
        if (!summary.mimeTypes.includes(p.inlineData.mimeType)) summary.mimeTypes.push(p.inlineData.mimeType);
        summary.order.push('audio');
        if (opts.interruptWith && !interruptSent) {
          interruptSent = true;
          session.sendClientContent({ turns: opts.interruptWith, turnComplete: true });
        }
      }
    }
  }
  if (sc?.outputTranscription?.text) { summary.transcript += sc.outputTranscription.text; summary.order.push('transcript'); }
  if (sc?.generationComplete) { summary.generationComplete = true; summary.order.push('generationComplete'); }
  if (sc?.interrupted) { summary.interrupted = true; summary.order.push('interrupted'); }
  if (sc?.turnComplete) {
    summary.turns++;
    summary.turnComplete = summary.turns >= (opts.interruptWith ? 2 : 1);
    summary.usage = msg.usageMetadata ?? null;
    summary.order.push('turnComplete');
  }
  if (msg.sessionResumptionUpdate?.resumable && msg.sessionResumptionUpdate.newHandle) {
    summary.handle = msg.sessionResumptionUpdate.newHandle;
    if (summary.turnComplete) finish();
  }
}

try {
  session = await ai.live.connect({
    model: opts.model ?? 'gemini-3.8-live',
    config: {
      responseModalities: [Modality.AUDIO],
      outputAudioTranscription: {},
      sessionResumption: {},
      speechConfig: { voiceConfig: { prebuiltVoiceConfig: { voiceName: 'Kore' } } },
      systemInstruction: 'You are terse.',
      contextWindowCompression: { slidingWindow: {} },
    },
    callbacks: {
      onmessage,
      onerror: (e) => { summary.error = String(e?.message ?? e); },
      onclose: (e) => { summary.close = { code: e.code, reason: e.reason }; finish(); },
    },
  });
  session.sendClientContent({ turns: opts.prompt ?? 'Hello', turnComplete: true });
  await done;
  session.close();
} catch (e) {
  summary.error = String(e?.message ?? e);
}
clearTimeout(timer);
process.stdout.write(JSON.stringify(summary) + '\n');
