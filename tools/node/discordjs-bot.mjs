// A tiny bot written with discord.js (@discordjs/core, /ws, /rest) that the
// Go test discordtest.TestDiscordJSFidelity runs against the in-repo Discord
// emulator: it logs in, registers commands, answers /ping with a message
// (type 4), /slow with a defer (type 5) then an edit carrying an attachment
// and a burst of edits past the rate limit,
// /pick's autocomplete with choices, and asks to join a voice channel.
// It prints one JSON line per event on stdout and exits when stdin closes.
//
// usage: node discordjs-bot.mjs API_BASE TOKEN APP_ID
import { REST } from '@discordjs/rest';
import { WebSocketManager } from '@discordjs/ws';
import {
  Client,
  GatewayDispatchEvents,
  GatewayIntentBits,
  GatewayOpcodes,
  InteractionType,
  MessageFlags,
} from '@discordjs/core';

const [api, token, appId] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const rest = new REST({ api, version: '10' }).setToken(token);
const gateway = new WebSocketManager({
  token,
  intents: GatewayIntentBits.Guilds | GatewayIntentBits.GuildVoiceStates,
  rest,
});
const client = new Client({ rest, gateway });
// Diagnostics on stderr, which the Go test prints only when it fails.
const diag = (tag) => (...args) => process.stderr.write(`[${tag}] ${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}\n`);
rest.on('restDebug', diag('rest'));
rest.on('rateLimited', diag('rest rate limited'));
rest.on('response', (req, res) => diag('rest')(`${req.method} ${req.path} -> ${res.status}`));
gateway.on('debug', diag('ws'));
gateway.on('error', diag('ws error'));

client.on(GatewayDispatchEvents.Ready, async ({ data }) => {
  try {
    const cmds = await client.api.applicationCommands.bulkOverwriteGlobalCommands(appId, [
      { name: 'ping', description: 'Replies at once' },
      {
        name: 'slow',
        description: 'Defers, then edits with a file',
        options: [{ name: 'channel', description: 'voice channel to join', type: 3 }],
      },
      {
        name: 'pick',
        description: 'Autocompletes',
        options: [{ name: 'what', description: 'thing', type: 3, required: true, autocomplete: true, max_length: 20 }],
      },
    ]);
    out({ event: 'ready', user: data.user.id, commands: cmds.map((c) => c.name) });
  } catch (e) {
    out({ event: 'error', where: 'register', message: String(e) });
  }
});

client.on(GatewayDispatchEvents.GuildCreate, ({ data }) => {
  out({ event: 'guild', id: data.id, channels: data.channels.length, voice_states: data.voice_states.length });
});

client.on(GatewayDispatchEvents.VoiceServerUpdate, ({ data }) => {
  out({ event: 'voice_server', guild: data.guild_id, endpoint: data.endpoint, token: data.token });
});

client.on(GatewayDispatchEvents.InteractionCreate, async ({ data: ia, api }) => {
  try {
    if (ia.type === InteractionType.ApplicationCommandAutocomplete) {
      const typed = ia.data.options.find((o) => o.focused).value;
      await api.interactions.createAutocompleteResponse(ia.id, ia.token, {
        choices: ['apple', 'apricot', 'banana'].filter((c) => c.startsWith(typed)).map((c) => ({ name: c, value: c })),
      });
      out({ event: 'handled', name: 'autocomplete' });
      return;
    }
    switch (ia.data.name) {
      case 'ping':
        await api.interactions.reply(ia.id, ia.token, {
          content: `pong <@${ia.member.user.id}> @everyone`,
          allowed_mentions: { parse: [] },
        });
        break;
      case 'slow':
        await api.interactions.defer(ia.id, ia.token, { flags: MessageFlags.Ephemeral });
        await api.interactions.editReply(appId, ia.token, {
          content: 'done',
          files: [{ name: 'hello.txt', data: Buffer.from('hello from discord.js') }],
        });
        // A burst past the webhook bucket: @discordjs/rest must pace it
        // from the emulator's X-RateLimit-* headers (or retry a 429).
        for (let i = 1; i <= 4; i++) {
          await api.interactions.editReply(appId, ia.token, { content: `done ${i}` });
        }
        gateway.send(0, {
          op: GatewayOpcodes.VoiceStateUpdate,
          d: { guild_id: ia.guild_id, channel_id: ia.data.options?.[0]?.value ?? null, self_mute: false, self_deaf: true },
        });
        break;
    }
    out({ event: 'handled', name: ia.data.name });
  } catch (e) {
    out({ event: 'error', where: ia.data.name, message: String(e) });
  }
});

process.stdin.on('end', async () => {
  await gateway.destroy();
  process.exit(0);
});
process.stdin.resume();
await gateway.connect();
