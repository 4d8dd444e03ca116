// How p2pd starts node: its first two lines (`#!/bin/sh`, then `//bin/true; exec env
// MALLOC_ARENA_MAX=2 node --flag ... "$0" "$@"`, which sh runs and JavaScript reads as a comment)
// set the memory settings that must be in place before node starts (young generation, V8 worker
// threads, malloc arenas). The bench's daemons and the data-path halves are started the same way,
// read from those lines, so what they measure is what `p2pd` and the systemd unit run.
import { readFileSync } from 'node:fs'

/** Environment and node flags a #! line starts node with. */
export interface Launcher {
  env: Record<string, string>
  nodeArgs: string[]
}

/** Parse `#!/usr/bin/env node` or `#!/usr/bin/env -S [NAME=VALUE ...] node [--flag ...]`. */
export function parseShebang(line: string): Launcher {
  const m = /^#!\/usr\/bin\/env(?: -S)? (.+)$/.exec(line.trim())
  if (!m) throw new Error(`not an env #! line: ${line}`)
  const words = m[1]!.split(/\s+/)
  const env: Record<string, string> = {}
  let i = 0
  for (; i < words.length && /^[A-Z_][A-Z0-9_]*=/.test(words[i]!); i++) {
    const w = words[i]!
    env[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1)
  }
  if (words[i] !== 'node') throw new Error(`the #! line does not run node: ${line}`)
  return { env, nodeArgs: words.slice(i + 1) }
}

/** Parse the sh launcher line: `//bin/true; exec env [NAME=VALUE ...] node [--flag ...] "$0" "$@"`. */
export function parseShLine(line: string): Launcher {
  const m = /^\/\/bin\/true; exec env (.+) "\$0" "\$@"$/.exec(line.trim())
  if (!m) throw new Error(`not a //bin/true; exec env ... "$0" "$@" line: ${line}`)
  return parseShebang(`#!/usr/bin/env -S ${m[1]!}`)
}

/** The launcher of a script file: its #! line, or with `#!/bin/sh` the line after it. */
export function launcherOf(file: string): Launcher {
  const [first, second] = readFileSync(file, 'utf8').split('\n', 2)
  return first === '#!/bin/sh' ? parseShLine(second ?? '') : parseShebang(first!)
}

/** argv that runs `script` the way its launcher would, with this node binary and `extra` node flags after the line's. */
export function launchArgv(l: Launcher, script: string, extra: string[] = []): string[] {
  return ['env', ...Object.entries(l.env).map(([k, v]) => `${k}=${v}`), process.execPath, ...l.nodeArgs, ...extra, script]
}
