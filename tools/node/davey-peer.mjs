// davey-peer.mjs: drives real @snazzah/davey sessions for voice/dave's interop
// tests. One JSON request per stdin line, one JSON reply per stdout line:
//   {"id":1,"cmd":"new","user":"1","channel":"2"}            -> {"id":1}
//   {"id":2,"cmd":"op","user":"1","op":25,"data":"<base64>"}  -> {"id":2,"out":[{"op":26,"data":"<b64>","binary":true}],"error":"..."}
//   {"id":3,"cmd":"encrypt","user":"1","data":"<b64 opus>"}   -> {"id":3,"data":"<b64 frame>"}
//   {"id":4,"cmd":"decrypt","user":"1","from":"2","data":"…"} -> {"id":4,"data":"…"} or {"id":4,"error":"…"}
//   {"id":5,"cmd":"state","user":"1"}                         -> {"id":5,"epoch":"1","status":3,"ready":true,"users":[…]}
//   {"id":6,"cmd":"bench","user":"1","to":"2","n":1000,"size":160} -> {"id":6,"encryptNs":…,"decryptNs":…} (per frame)
// Binary ops carry the payload after the opcode; JSON ops carry "d" as base64
// of its JSON text. Op handling follows @discordjs/voice's DAVESession.
import { createInterface } from 'node:readline';
import davey from '@snazzah/davey';

const sessions = new Map(); // user id -> peer state

function out(op, payload, binary) {
  return { op, data: Buffer.from(payload).toString('base64'), binary };
}
function json(op, d) {
  return out(op, Buffer.from(JSON.stringify(d)), false);
}

class Peer {
  constructor(user, channel) {
    this.user = user;
    this.channel = channel;
    this.version = 0;
    this.session = null;
    this.recognized = new Set();
    this.pending = new Map(); // transition id -> protocol version
  }

  reinit(res) {
    if (this.version > 0) {
      if (this.session) {
        this.session.reinit(this.version, this.user, this.channel);
      } else {
        this.session = new davey.DAVESession(this.version, this.user, this.channel);
        // op 25 may come before op 4 selects DAVE.
        if (this.externalSender) this.session.setExternalSender(this.externalSender);
      }
      res.push(out(26, this.session.getSerializedKeyPackage(), true));
    } else if (this.session) {
      this.session.reset();
      this.session.setPassthroughMode(true, 10);
    }
  }

  handle(op, data) {
    const res = [];
    const d = () => JSON.parse(data.toString());
    switch (op) {
      case 4: this.version = d().dave_protocol_version ?? 0; this.reinit(res); break;
      case 11: for (const id of d().user_ids) this.recognized.add(id); break;
      case 13: this.recognized.delete(d().user_id); break;
      case 21: {
        const { transition_id: tid, protocol_version: v } = d();
        this.pending.set(tid, v);
        if (tid === 0) this.execute(0);
        else res.push(json(23, { transition_id: tid }));
        break;
      }
      case 22: this.execute(d().transition_id); break;
      case 24: {
        const { epoch, protocol_version: v } = d();
        if (epoch === 1) { this.version = v; this.reinit(res); }
        break;
      }
      case 25:
        this.externalSender = Buffer.from(data);
        this.session?.setExternalSender(this.externalSender);
        break;
      case 27: {
        const ids = [...this.recognized, this.user];
        const { commit, welcome } = this.session.processProposals(data[0], data.subarray(1), ids);
        if (commit) res.push(out(28, welcome ? Buffer.concat([commit, welcome]) : commit, true));
        break;
      }
      case 29:
      case 30: {
        const tid = data.readUInt16BE(0);
        try {
          if (op === 29) this.session.processCommit(data.subarray(2));
          else this.session.processWelcome(data.subarray(2));
        } catch (err) {
          res.push(json(31, { transition_id: tid }));
          this.reinit(res);
          throw Object.assign(err, { res });
        }
        if (tid !== 0) { this.pending.set(tid, this.version); res.push(json(23, { transition_id: tid })); }
        break;
      }
    }
    return res;
  }

  execute(tid) {
    if (!this.pending.has(tid)) return;
    this.version = this.pending.get(tid);
    this.pending.delete(tid);
  }
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const req = JSON.parse(line);
  const reply = { id: req.id };
  try {
    const data = req.data === undefined ? undefined : Buffer.from(req.data, 'base64');
    switch (req.cmd) {
      case 'new': sessions.set(req.user, new Peer(req.user, req.channel)); break;
      case 'op': reply.out = sessions.get(req.user).handle(req.op, data); break;
      case 'encrypt': reply.data = sessions.get(req.user).session.encryptOpus(data).toString('base64'); break;
      case 'decrypt':
        reply.data = sessions.get(req.user).session.decrypt(req.from, davey.MediaType.AUDIO, data).toString('base64');
        break;
      case 'state': {
        const s = sessions.get(req.user).session;
        Object.assign(reply, {
          epoch: s?.epoch == null ? null : String(s.epoch),
          status: s?.status ?? 0,
          ready: s?.ready ?? false,
          users: s?.getUserIds() ?? [],
          privacyCode: s?.voicePrivacyCode ?? '',
        });
        break;
      }
      case 'bench': {
        // Times davey's own encrypt and decrypt loops, without the pipe in between.
        const from = sessions.get(req.user).session;
        const to = sessions.get(req.to).session;
        const opus = Buffer.alloc(req.size);
        const frames = new Array(req.n);
        let t = process.hrtime.bigint();
        for (let i = 0; i < req.n; i++) frames[i] = from.encryptOpus(opus);
        reply.encryptNs = Number(process.hrtime.bigint() - t) / req.n;
        t = process.hrtime.bigint();
        for (let i = 0; i < req.n; i++) to.decrypt(req.user, davey.MediaType.AUDIO, frames[i]);
        reply.decryptNs = Number(process.hrtime.bigint() - t) / req.n;
        break;
      }
      default: throw new Error(`unknown command ${req.cmd}`);
    }
  } catch (err) {
    reply.error = String(err?.message ?? err);
    if (err?.res) reply.out = err.res;
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
});
rl.on('close', () => process.exit(0));
