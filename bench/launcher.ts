// How p2pd starts node: its #! line (`#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --flag ...`) sets
// the memory settings that must be in place before node starts (young generation, V8 worker
// threads, malloc arenas). The bench's daemons and the data-path halves are started the same way,
// read from that line, so what they measure is what `p2pd` and the systemd unit run.
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

/** The launcher of a script file (its first line). */
export function launcherOf(file: string): Launcher {
  return parseShebang(readFileSync(file, 'utf8').split('\n', 1)[0]!)
}

/** argv that runs `script` the way its #! line would, with this node binary and `extra` node flags after the line's. */
export function launchArgv(l: Launcher, script: string, extra: string[] = []): string[] {
  return ['env', ...Object.entries(l.env).map(([k, v]) => `${k}=${v}`), process.execPath, ...l.nodeArgs, ...extra, script]
}
