// CommonJS packages are loaded with require(), not import. node's ESM loader reads the export
// names of every CommonJS module it imports with cjs-module-lexer, a WebAssembly module, and what
// that leaves resident costs an idle daemon some 3 MB of RSS (README, "Memory"). require() returns
// the same module.exports a default import does, without the lexer. Types come from a type-only
// import: `import type pkg from 'pkg'` then `requireCjs('pkg') as typeof pkg`.
// The one node: import protocol/ has: it loads modules, as `import` does, and no other I/O.
import { createRequire } from 'node:module'

/** require() for the CommonJS packages this code uses (resolved from this package's node_modules). */
export const requireCjs: NodeJS.Require = createRequire(import.meta.url)
