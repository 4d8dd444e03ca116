// @ts-check
import tseslint from 'typescript-eslint'

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
