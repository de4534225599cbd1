// The charger's engine (sim_hardware/engine.py) on the real MicroPython 1.27
// VM (the official WebAssembly port, as tests/mpvm/run.mjs uses it), for
// `python -m sim_hardware --vm micropython`. The filesystem is laid out as on
// a charger (DESIGN §2): firmware/ at /board, protocols/ at /board/protocols,
// sim_hardware/ at /lib/sim_hardware.
//
// Protocol: one JSON request per line on stdin, one JSON reply per line on
// stdout (Engine.handle_line). The first line out is {"ok": true, "vm": ...}
// once the VM is up. Whatever the Python code prints goes to stderr.
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..");

function mount(mp, src, dst) {
  try { mp.FS.mkdir(dst); } catch (e) { /* exists */ }
  for (const name of fs.readdirSync(src)) {
    if (name === "__pycache__" || name.startsWith(".")) continue;
    const s = path.join(src, name);
    const d = dst + "/" + name;
    if (fs.statSync(s).isDirectory()) mount(mp, s, d);
    else if (/\.(py|json)$/.test(name)) mp.FS.writeFile(d, fs.readFileSync(s));
  }
}

let mp;
try {
  mp = await loadMicroPython({
    stdout: (line) => process.stderr.write(line + "\n"),
    stderr: (line) => process.stderr.write(line + "\n"),
  });
  mount(mp, path.join(repo, "firmware"), "/board");
  mount(mp, path.join(repo, "protocols"), "/board/protocols");
  mp.FS.mkdir("/lib");
  mount(mp, path.join(repo, "sim_hardware"), "/lib/sim_hardware");
  mp.runPython("import sys\nsys.path.insert(0, '/lib')\nsys.path.insert(0, '/board')\n" +
    "from sim_hardware.engine import Engine\n_engine = Engine()\n" +
    "_vm = sys.implementation.name + ' ' + sys.version\n");
} catch (e) {
  process.stderr.write("vm_host: could not start the MicroPython VM: " + e + "\n");
  process.exit(2);
}
process.stdout.write(JSON.stringify({ ok: true, vm: mp.globals.get("_vm") }) + "\n");

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  let out;
  try {
    mp.globals.set("_line", line);
    mp.runPython("_out = _engine.handle_line(_line)");
    out = mp.globals.get("_out");
  } catch (e) {
    out = JSON.stringify({ ok: false, error: "VM: " + e.message });
  }
  process.stdout.write(out + "\n");
}
