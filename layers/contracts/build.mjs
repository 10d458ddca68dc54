// Compile src/*.sol offline with the pinned npm `solc` (its JS API, standard JSON) and write one artifact per
// contract (ABI + creation and runtime bytecode) to layers/luxxon/contracts/artifacts/, where the Python side loads
// them. Nothing is downloaded: the compiler is the emscripten build inside node_modules/solc.
//
//   node build.mjs              rebuild the committed artifacts (`make contracts`)
//   node build.mjs --out DIR    write them elsewhere (the test that checks the committed ones does this)
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");

const HERE = dirname(fileURLToPath(import.meta.url));
const SOURCES = join(HERE, "src");
const DEFAULT_OUT = resolve(HERE, "..", "luxxon", "contracts", "artifacts");
const COMPILER = "0.8.37+commit.f401782d";

// Pinned: changing any of these changes the bytecode (and the committed artifacts must be rebuilt).
const SETTINGS = {
  evmVersion: "cancun",
  optimizer: { enabled: true, runs: 10_000 },
  viaIR: true,
  metadata: { bytecodeHash: "ipfs" },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

function outDir(argv) {
  const at = argv.indexOf("--out");
  return at === -1 ? DEFAULT_OUT : resolve(argv[at + 1]);
}

function findImports(path) {
  try {
    return { contents: readFileSync(require.resolve(path), "utf8") };
  } catch {
    return { error: `import not found: ${path}` };
  }
}

function main() {
  if (!solc.version().startsWith(COMPILER)) {
    throw new Error(`solc ${solc.version()} is not the pinned ${COMPILER}: run npm ci in layers/contracts`);
  }
  const files = readdirSync(SOURCES).filter((name) => name.endsWith(".sol")).sort();
  const sources = Object.fromEntries(
    files.map((name) => [`src/${name}`, { content: readFileSync(join(SOURCES, name), "utf8") }]),
  );
  const input = { language: "Solidity", sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const problems = output.errors ?? [];
  for (const problem of problems) process.stderr.write(problem.formattedMessage ?? problem.message);
  // Warnings fail the build too: the sources compile clean.
  if (problems.length > 0) process.exit(1);

  const out = outDir(process.argv);
  mkdirSync(out, { recursive: true });
  for (const name of files) {
    const sourceName = `src/${name}`;
    for (const [contractName, contract] of Object.entries(output.contracts[sourceName] ?? {})) {
      const artifact = {
        contractName,
        sourceName,
        compiler: {
          version: COMPILER,
          settings: { evmVersion: SETTINGS.evmVersion, optimizer: SETTINGS.optimizer, viaIR: SETTINGS.viaIR },
        },
        abi: contract.abi,
        bytecode: `0x${contract.evm.bytecode.object}`,
        deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
      };
      writeFileSync(join(out, `${contractName}.json`), `${JSON.stringify(artifact, null, 2)}\n`);
      process.stdout.write(`${contractName}: ${contract.evm.deployedBytecode.object.length / 2} bytes runtime\n`);
    }
  }
}

main();
