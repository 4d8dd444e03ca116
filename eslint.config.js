// @ts-check
import tseslint from 'typescript-eslint'

// CommonJS packages the daemon's code loads: with requireCjs (protocol/cjs.ts), not import, whose
// CommonJS lexer costs an idle daemon some 3 MB (README, "Memory"). Type-only imports are fine.
const cjsPackages = ['fastify', '@fastify/*', 'pino', 'commander', 'ipaddr.js', 'sodium-universal', 'sodium-native', 'udx-native', 'compact-encoding', 'compact-encoding-net', 'noise-handshake', 'noise-curve-ed', 'prom-client', 'systeminformation', '@hyperswarm/secret-stream', 'b4a', 'ws']

const nodeIo = ['node:*', 'dgram', 'net', 'fs', 'os', 'child_process', 'http', 'timers', 'udx-native', 'fastify', 'pino']

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/switch-exhaustiveness-check': 'off',
    },
  },
  {
    // The purity fence: protocol/ is I/O-free. Time and randomness are passed in.
    files: ['protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: nodeIo, message: 'protocol/ is pure: no sockets, files, timers or other I/O.' },
          { group: ['../common/*', '../daemon/*', '../broker/*', '../ctl/*'], message: 'protocol/ imports nothing of the other layers.' },
        ],
      }],
      'no-restricted-globals': ['error',
        { name: 'setTimeout', message: 'protocol/ has no timers: return a deadline instead.' },
        { name: 'setInterval', message: 'protocol/ has no timers.' },
        { name: 'setImmediate', message: 'protocol/ has no timers.' },
        { name: 'process', message: 'protocol/ does not touch the process.' },
        { name: 'fetch', message: 'protocol/ does no I/O.' },
      ],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'protocol/ takes time as an argument.' },
        { object: 'Math', property: 'random', message: 'protocol/ takes randomness as an argument.' },
        { object: 'performance', property: 'now', message: 'protocol/ takes time as an argument.' },
      ],
      'no-restricted-syntax': ['error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'protocol/ takes time as an argument.' },
      ],
    },
  },
  {
    // protocol/cjs.ts loads modules (what an import does); it is protocol/'s one node: import.
    files: ['protocol/cjs.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../common/*', '../daemon/*', '../broker/*', '../ctl/*'], message: 'protocol/ imports nothing of the other layers.' }] }] },
  },
  {
    files: ['daemon/**/*.ts', 'common/**/*.ts', 'protocol/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [{ group: cjsPackages, allowTypeImports: true, message: 'load CommonJS packages with requireCjs (protocol/cjs.ts): importing one costs the daemon some 3 MB of RSS.' }],
      }],
    },
  },
  {
    // Layering: daemon and broker never import each other; ctl talks HTTP only.
    files: ['daemon/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../broker/*', '../../broker/*'], message: 'daemon/ never imports broker/.' }] }] },
  },
  {
    files: ['broker/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../daemon/*', '../../daemon/*'], message: 'broker/ never imports daemon/.' }] }] },
  },
  {
    files: ['ctl/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../daemon/**', '!../daemon/api', '../daemon/api/**', '!../daemon/api/schemas.js', '../../daemon/**', '!../../daemon/api', '../../daemon/api/**', '!../../daemon/api/schemas.js', '../broker/**', '../../broker/**', '../protocol/**', '../../protocol/**'], message: 'ctl/ speaks HTTP to the daemon; it may import only the API schema types.' }] }] },
  },
)
