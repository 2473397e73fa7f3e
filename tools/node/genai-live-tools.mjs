// Drives the official @google/genai SDK's Live client through a tool round
// trip and an image turn (the wire forms of tools, toolCall, toolResponse,
// toolCallCancellation, groundingMetadata and inline image parts are the
// SDK's own) and prints one JSON summary line.
//
// usage: node genai-live-tools.mjs '{"baseUrl":"http://127.0.0.1:PORT","apiKey":"K",
//          "prompt":"What time is it?","imageBase64":"…","imageMime":"image/png",
//          "toolOutput":"09:41","badId":false}'
// Every toolCall's calls are answered (unless cancelled before the answer) with
// {"output": toolOutput} and scheduling WHEN_IDLE; with badId the answer
// carries an id the server never issued.
import { GoogleGenAI, Modality, Behavior, FunctionResponseScheduling } from '@google/genai';

const opts = JSON.parse(process.argv[2] ?? '{}');
const ai = new GoogleGenAI({ apiKey: opts.apiKey, httpOptions: { baseUrl: opts.baseUrl, apiVersion: 'v1beta' } });

const summary = {
  setupComplete: false, calls: [], cancelled: [], sources: [], queries: [], transcript: '',
  turnComplete: false, close: null, error: null,
};
let session;
let finish;
const done = new Promise((resolve) => { finish = resolve; });
const timer = setTimeout(() => { summary.error = 'timeout'; finish(); }, opts.timeoutMs ?? 20000);
const cancelled = new Set();

function onmessage(msg) {
  if (msg.setupComplete) summary.setupComplete = true;
  if (msg.toolCall) {
    const calls = msg.toolCall.functionCalls ?? [];
    for (const c of calls) summary.calls.push({ id: c.id, name: c.name, args: c.args });
    // Answer on the next tick, after a cancellation in the same burst is seen.
    setTimeout(() => {
      const functionResponses = calls.filter((c) => !cancelled.has(c.id)).map((c) => ({
        id: opts.badId ? 'function-call-never-issued' : c.id, name: c.name,
        response: { output: opts.toolOutput ?? 'ok' }, scheduling: FunctionResponseScheduling.WHEN_IDLE,
      }));
      if (functionResponses.length) session.sendToolResponse({ functionResponses });
    }, 20);
  }
  if (msg.toolCallCancellation) {
    for (const id of msg.toolCallCancellation.ids ?? []) { cancelled.add(id); summary.cancelled.push(id); }
  }
  const sc = msg.serverContent;
  const gm = sc?.groundingMetadata;
  if (gm) {
    for (const ch of gm.groundingChunks ?? []) if (ch.web) summary.sources.push({ uri: ch.web.uri, title: ch.web.title });
    summary.queries.push(...(gm.webSearchQueries ?? []));
  }
  if (sc?.outputTranscription?.text) summary.transcript += sc.outputTranscription.text;
  if (sc?.turnComplete) { summary.turnComplete = true; finish(); }
}

try {
  session = await ai.live.connect({
    model: opts.model ?? 'gemini-3.8-live',
    config: {
      responseModalities: [Modality.AUDIO],
      outputAudioTranscription: {},
      tools: [
        { functionDeclarations: [{
          name: 'current_time', description: 'The current date and time.', behavior: Behavior.NON_BLOCKING,
          parametersJsonSchema: { type: 'object', properties: { zone: { type: 'string' } } },
        }] },
        { googleSearch: {} },
      ],
    },
    callbacks: {
      onmessage,
      onerror: (e) => { summary.error = String(e?.message ?? e); },
      onclose: (e) => { summary.close = { code: e.code, reason: e.reason }; finish(); },
    },
  });
  const parts = [];
  if (opts.imageBase64) parts.push({ inlineData: { mimeType: opts.imageMime ?? 'image/png', data: opts.imageBase64 } });
  parts.push({ text: opts.prompt ?? 'Hello' });
  session.sendClientContent({ turns: [{ role: 'user', parts }], turnComplete: true });
  await done;
  session.close();
} catch (e) {
  summary.error = String(e?.message ?? e);
}
clearTimeout(timer);
process.stdout.write(JSON.stringify(summary) + '\n');
