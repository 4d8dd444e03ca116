import { execFile } from 'node:child_process'
import { access, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { launchArgv, launcherOf, parseShLine, parseShebang } from '../../../bench/launcher.js'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../../..')
const P2PD = join(ROOT, 'dist/daemon/bin.js')

describe('the lines p2pd starts node with', () => {
  it('parses env assignments and node flags, and refuses lines that do not run node', () => {
    expect(parseShebang('#!/usr/bin/env node')).toEqual({ env: {}, nodeArgs: [] })
    expect(parseShebang('#!/usr/bin/env -S A_B=2 node --x=1 --y')).toEqual({ env: { A_B: '2' }, nodeArgs: ['--x=1', '--y'] })
    expect(() => parseShebang('#!/bin/sh')).toThrow(/not an env/)
    expect(() => parseShebang('#!/usr/bin/env -S A=1 python3')).toThrow(/does not run node/)
    expect(parseShLine('//bin/true; exec env A_B=2 node --x=1 "$0" "$@"')).toEqual({ env: { A_B: '2' }, nodeArgs: ['--x=1'] })
    expect(() => parseShLine('//bin/true; exec env node')).toThrow(/not a/)
  })

  it('are the same lines in the source and the build', async () => {
    const head = async (f: string): Promise<string[]> => (await readFile(f, 'utf8')).split('\n', 2)
    expect(await head(P2PD)).toEqual(await head(join(ROOT, 'daemon/bin.ts')))
    expect((await head(P2PD))[0]).toBe('#!/bin/sh')
    expect(launcherOf(P2PD).nodeArgs).toContain('--max-semi-space-size=1')
  })

  it('start p2pd the way the kernel runs the bin (sh FILE ARGS), under any POSIX sh', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2pd-launch-'))
    // dash is Debian's /bin/sh; busybox's sh is Alpine's, where it is installed.
    const shells = ['/bin/sh', ...(await Promise.all(['/bin/dash', '/bin/busybox'].map(async (s) => (await access(s).then(() => s, () => null))))).filter((s) => s !== null)]
    try {
      for (const sh of shells) {
        const argv = sh.endsWith('busybox') ? [sh, 'sh'] : [sh]
        const { stdout, stderr } = await run(argv[0]!, [...argv.slice(1), P2PD, '--check-config', '--state-dir', dir, '--api-socket', join(dir, 's.sock')], { env: { ...process.env, P2PD_CONFIG: '' } })
        expect(stdout, sh).toContain('configuration is valid')
        expect(stderr, sh).toBe('')
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('keeps the young generation small under allocation, with the settings in force', async () => {
    // A million objects that survive scavenges (as a start-up does): node's defaults grow the young generation to 32 MB on this.
    const code = `const v8=require('v8');let keep=[];for(let i=0;i<1e6;i++)keep.push({i});keep=null;
      const n=v8.getHeapSpaceStatistics().find((s)=>s.space_name==='new_space');
      console.log(JSON.stringify({newSpace:n.space_size,arenas:process.env.MALLOC_ARENA_MAX,execArgv:process.execArgv}))`
    const [cmd, ...args] = launchArgv(launcherOf(P2PD), '-e')
    const out = JSON.parse((await run(cmd!, [...args, code])).stdout) as { newSpace: number; arenas: string; execArgv: string[] }
    expect(out.arenas).toBe('2')
    expect(out.execArgv).toEqual(expect.arrayContaining(['--max-semi-space-size=1', '--v8-pool-size=1']))
    expect(out.newSpace).toBeLessThanOrEqual(3 * 1024 * 1024)
  })
})
