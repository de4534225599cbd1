// Runs MicroPython-compatible test modules on the real MicroPython 1.27 VM
// (official WebAssembly port) under node.
//
//   node tests/mpvm/run.mjs tests/portable/test_x.py ...
//
// The board filesystem is laid out as on a charger (DESIGN §2): firmware/ at
// /board and protocols/ at /board/protocols; the test modules and their
// helpers (tests/portable) at /tests; the MicroPython-compatible emulated
// hardware (sim_hardware/) at /lib/sim_hardware, off the board's tree. driver.py then imports each module and
// runs its test_ functions, printing one "@@mpvm {json}" line per test.
// Exit status: 0 all passed, 1 some failed, 2 the VM could not run them.
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");

function mount(mp, src, dst) {
  try { mp.FS.mkdir(dst); } catch (e) { /* exists */ }
  for (const name of fs.readdirSync(src)) {
    if (name === "__pycache__" || name.startsWith(".")) continue;
    const s = path.join(src, name);
    const d = dst + "/" + name;
    if (fs.statSync(s).isDirectory()) mount(mp, s, d);
    else if (/\.(py|mpy|json)$/.test(name)) mp.FS.writeFile(d, fs.readFileSync(s));
  }
}

// --script FILE runs one MicroPython program in the same layout instead
// (bench/ uses it to measure the firmware on the VM); --board-dir DIR mounts
// a built board tree (tools/flash.py --build-only: .mpy files) at /board.
let args = process.argv.slice(2);
let boardDir = null;
if (args[0] === "--board-dir") {
  boardDir = args[1];
  args = args.slice(2);
}
const script = args[0] === "--script" ? args[1] : null;
const modules = script ? [] : args.map((p) => path.basename(p, ".py"));
if (!script && modules.length === 0) {
  console.error("usage: node tests/mpvm/run.mjs tests/portable/test_x.py ... | --script FILE.py");
  process.exit(2);
}

let mp;
try {
  mp = await loadMicroPython({
    stdout: (line) => console.log(line),
    stderr: (line) => console.error(line),
  });
} catch (e) {
  console.error("mpvm: could not start the MicroPython VM: " + e);
  process.exit(2);
}
if (boardDir) {
  mount(mp, boardDir, "/board");
} else {
  mount(mp, path.join(repo, "firmware"), "/board");
  mount(mp, path.join(repo, "protocols"), "/board/protocols");
}
mount(mp, path.join(repo, "tests", "portable"), "/tests");
mp.FS.mkdir("/lib");
mount(mp, path.join(repo, "sim_hardware"), "/lib/sim_hardware");
mp.FS.writeFile("/tests/_driver.py", fs.readFileSync(path.join(here, "driver.py")));

if (script) {
  try {
    mp.runPython("import sys\nsys.path.insert(0, '/lib')\nsys.path.insert(0, '/tests')\n" +
      "sys.path.insert(0, '/board')\n" + fs.readFileSync(script, "utf8"));
  } catch (e) {
    console.error("mpvm: " + e.message);
    process.exit(1);
  }
  process.exit(0);
}

try {
  mp.runPython(
    "import sys\nsys.path.insert(0, '/lib')\nsys.path.insert(0, '/tests')\nsys.path.insert(0, '/board')\n" +
    "import _driver\n_driver.main(" + JSON.stringify(modules) + ")\n"
  );
} catch (e) {
  console.error("mpvm: driver crashed: " + e.message);
  process.exit(2);
}
const failed = mp.runPython("import _driver\n_driver.FAILED") ;
process.exit(failed ? 1 : 0);
