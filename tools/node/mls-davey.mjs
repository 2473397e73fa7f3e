// mls-davey.mjs: drives @snazzah/davey (OpenMLS) sessions at the MLS level for
// voice/mls's interop test. One JSON request per stdin line, one reply per
// stdout line; binary values are hex.
//   {"cmd":"new","user":"2","channel":"12345","ext":"<op-25 hex>"} -> {"kp":"<key package hex>"}
//   {"cmd":"proposals","user":"2","vec":"<hex>","users":["1","2"]} -> {"commit":"…","welcome":"…"}
//   {"cmd":"commit","user":"2","data":"<hex>"}                   -> {}
//   {"cmd":"welcome","user":"2","data":"<hex>"}                  -> {}
//   {"cmd":"state","user":"2"}                                   -> {"epoch":"1","leaf":0,"auth":"<hex>"}
// Failures reply {"error":"…"}.
import { createInterface } from 'node:readline';
import davey from '@snazzah/davey';

const sessions = new Map();
const hex = (b) => (b ? Buffer.from(b).toString('hex') : undefined);
const buf = (h) => Buffer.from(h, 'hex');

function handle(req) {
  switch (req.cmd) {
    case 'new': {
      const s = new davey.DAVESession(1, req.user, req.channel);
      s.setExternalSender(buf(req.ext));
      sessions.set(req.user, s);
      return { kp: hex(s.getSerializedKeyPackage()) };
    }
    case 'proposals': {
      // vec is the op-27 payload after its operation-type byte (append = 0).
      const r = sessions.get(req.user).processProposals(0, buf(req.vec), req.users);
      return { commit: hex(r.commit), welcome: hex(r.welcome) };
    }
    case 'commit':
      sessions.get(req.user).processCommit(buf(req.data));
      return {};
    case 'welcome':
      sessions.get(req.user).processWelcome(buf(req.data));
      return {};
    case 'state': {
      const s = sessions.get(req.user);
      return { epoch: String(s.epoch), leaf: s.ownLeafIndex, auth: hex(s.getEpochAuthenticator()) };
    }
    default:
      throw new Error(`unknown cmd ${req.cmd}`);
  }
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let reply;
  try {
    reply = handle(JSON.parse(line));
  } catch (e) {
    reply = { error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
});
